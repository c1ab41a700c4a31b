"""Every Redis key name masq uses, and nothing else.

Tenant-scoped keys carry the tenant's hash tag (`{auth_id}`) so each atomic multi-key step touches one
Redis Cluster slot. The only global families are the DID → tenant index that inbound calls start from,
the tenant registry that operators and sweeps walk, the masq-wide metrics the worker sums from them, each
client address's failed logins over every account, and the workers' registry and wake-up channel.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "masq:"

# Suffixes after a tenant's base; every Lua script has them too, as its table K (see `lua_names`).
NUMBER = ":n:"
NUMBERS = ":numbers"
NUMBERS_IN = ":numbers-in:"
FREE = ":free:"
COUNTRIES = ":countries"
COOLING = ":cooling"
SUSPENDED = ":suspended"
CAPACITY = ":capacity:"
ROUTE = ":route:"
SESSION = ":s:"
CREATED = ":created"
EXPIRY = ":expiry"
ASSIGNMENTS = ":assignments"
ASSIGNMENT_SEQ = ":assignment-seq"
CALL_STATE = ":call:"
INTERACTION = ":i:"
INTERACTIONS = ":calls:"
LEG = ":leg:"
RECORDING = ":rec:"
EVENTS = ":events"
SESSION_EVENTS = ":s-events:"
SEEN = ":seen:"
LIVE_CALLS = ":live-calls"
EVENT_RETRIES = ":event-retries"
EVENT_FAILURES = ":event-failures"
DEAD_LETTERS = ":dead-letters"
RATE_LIMIT = ":rate-limit"
FAILED_LOGINS = ":failed-logins"
FAILED_LOGINS_FROM = ":failed-logins:"
PIN_GUESSES = ":pin-guesses:"
PIN_LOCK = ":pin-lock:"
CALL_OUT = ":call-out:"
SUBACCOUNT_SESSION = ":sub-session:"
HELD = ":held:"
SHARED = ":shared:"
DIDS_HELD = ":dids-held:"
SHARED_COOLING = ":shared-cooling"
SHARED_FIGURES = ":shared-figures"
PAIR = ":pair:"
NEXT_DUE = ":next-due"
DID_SESSIONS = ":did-sessions:"
DID_PIN_SESSIONS = ":did-pin-sessions:"
SHARED_LIVE = ":shared-live:"


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix (tests use their own prefix on a shared Redis)."""

    prefix: str = DEFAULT_PREFIX

    # -- global ---------------------------------------------------------------------------------------
    def did_owner(self, number: str) -> str:
        """String: auth_id of the tenant holding `number` now."""
        return f"{self.prefix}did:{number}"

    def tenants(self) -> str:
        """Set: every tenant's auth_id."""
        return f"{self.prefix}tenants"

    def metrics(self) -> str:
        """Hash: every tenant's metrics summed (`routing.metrics.FIELDS`) and when (`at`, µs); written whole."""
        return f"{self.prefix}metrics"

    def metrics_lease(self) -> str:
        """String with a TTL: present while the metrics are fresh, so that one worker sums them per period."""
        return f"{self.prefix}metrics-lease"

    def tenant_figures(self) -> str:
        """Hash: auth_id → that tenant's share of the metrics (`routing.metrics`), as its owning worker last read it."""
        return f"{self.prefix}tenant-figures"

    def workers(self) -> str:
        """Sorted set: the id of every running worker, scored by when it last said it lives (ms, Redis' clock)."""
        return f"{self.prefix}workers"

    def due_channel(self) -> str:
        """Pub/sub channel: `due now auth_id` when a tenant's work became due sooner than its `next_due` said
        (routing/lua/doorbell.lua publishes it; the scripts build the name from the tenant base, see `tenant_base`)."""
        return f"{self.prefix}due"

    def failed_logins_by(self, address: str) -> str:
        """String with a TTL: GCRA's theoretical arrival time (µs) of the failed logins from client `address` at
        any account; it expires when the address's whole budget is back (see `routing.logins`)."""
        return f"{self.prefix}failed-logins:{address}"

    # -- tenant-scoped ----------------------------------------------------------------------------------
    def tenant_base(self, auth_id: str) -> str:
        """The common start of every key of one tenant; Lua scripts build their names from it.

        routing/lua/doorbell.lua reads the prefix and the auth_id back from it (`<prefix>t:{<auth_id>}`).
        """
        return f"{self.prefix}t:{{{auth_id}}}"

    def tenant(self, auth_id: str) -> str:
        """Hash: the tenant's record (name, token, hashed API key, parent, rates)."""
        return self.tenant_base(auth_id)

    def number(self, auth_id: str, number: str) -> str:
        """Hash: one DID of the tenant (country, status, its exclusive open session, the `parties` holding it in
        shared sessions, assignment id)."""
        return f"{self.tenant_base(auth_id)}{NUMBER}{number}"

    def numbers(self, auth_id: str) -> str:
        """Set: every DID the tenant holds now."""
        return f"{self.tenant_base(auth_id)}{NUMBERS}"

    def numbers_in(self, auth_id: str, country: str) -> str:
        """Set: every DID the tenant holds now in one country, whatever its state (free, in use, cooling off or
        suspended), so that a refused create can say why without reading the pool."""
        return f"{self.tenant_base(auth_id)}{NUMBERS_IN}{country}"

    def free(self, auth_id: str, country: str) -> str:
        """Set: the tenant's free DIDs of one country (SPOP hands one out in O(1))."""
        return f"{self.tenant_base(auth_id)}{FREE}{country}"

    def countries(self, auth_id: str) -> str:
        """Set: the countries the tenant has DIDs in."""
        return f"{self.tenant_base(auth_id)}{COUNTRIES}"

    def cooling(self, auth_id: str) -> str:
        """Sorted set: DIDs resting after release, scored by the µs they become free."""
        return f"{self.tenant_base(auth_id)}{COOLING}"

    def suspended(self, auth_id: str) -> str:
        """Set: the tenant's suspended DIDs, so that counting them never reads the pool."""
        return f"{self.tenant_base(auth_id)}{SUSPENDED}"

    def route(self, auth_id: str, number: str) -> str:
        """Hash: who a call to `number` reaches; field `*` is the DID's exclusive session.

        A DID in shared use (`routing.number_mode`) has no `*` but one field per party instead: the party's number
        → the session it reaches, or `~` and that session's uuid once it ended, until its cool-off is over (a
        tombstone: the caller is a stranger there); `#` and a PIN, the same for the PINs of its sessions. Its open
        sessions are `did_sessions`.
        """
        return f"{self.tenant_base(auth_id)}{ROUTE}{number}"

    # -- shared numbers (routing.number_mode) ---------------------------------------------------------------
    def held(self, auth_id: str, party: str) -> str:
        """Sorted set: the DIDs the real number `party` holds in shared sessions, scored by the µs the holding ends
        (2^53 while its session is open, the end of its cool-off after)."""
        return f"{self.tenant_base(auth_id)}{HELD}{party}"

    def shared(self, auth_id: str, country: str) -> str:
        """Sorted set: the active DIDs of one country in shared use, scored by the parties holding each (live or
        cooling off): the most loaded one under the cap is handed out first."""
        return f"{self.tenant_base(auth_id)}{SHARED}{country}"

    def dids_held(self, auth_id: str, country: str) -> str:
        """Sorted set: each real number holding shared DIDs of one country, scored by how many it holds there (k)."""
        return f"{self.tenant_base(auth_id)}{DIDS_HELD}{country}"

    def shared_cooling(self, auth_id: str) -> str:
        """Sorted set: the route tombstones of ended shared sessions, as `DID|field`, scored by the µs they end."""
        return f"{self.tenant_base(auth_id)}{SHARED_COOLING}"

    def shared_figures(self, auth_id: str) -> str:
        """Hash: the holdings of shared DIDs now, by country, `sessions`, the shared sessions open now, and `live`,
        the DIDs in the `shared_live` sets of every country."""
        return f"{self.tenant_base(auth_id)}{SHARED_FIGURES}"

    def did_sessions(self, auth_id: str, number: str) -> str:
        """Sorted set: the open sessions on the shared DID `number`, scored by the µs each opened (a stranger hears
        the newest one's message); gone with the last of them."""
        return f"{self.tenant_base(auth_id)}{DID_SESSIONS}{number}"

    def did_pin_sessions(self, auth_id: str, number: str) -> str:
        """Sorted set: those of `did_sessions` with PINs (a stranger is asked for a PIN with the newest one's
        prompts)."""
        return f"{self.tenant_base(auth_id)}{DID_PIN_SESSIONS}{number}"

    def shared_live(self, auth_id: str, country: str) -> str:
        """Set: those of `shared` (active shared DIDs of one country) that carry an open session, so in use; the rest
        only cool off after sessions that ended."""
        return f"{self.tenant_base(auth_id)}{SHARED_LIVE}{country}"

    def pair(self, auth_id: str, first: str, second: str) -> str:
        """String with a TTL: the DID the two parties last shared (`first` sorts before `second`)."""
        return f"{self.tenant_base(auth_id)}{PAIR}{first}|{second}"

    def session(self, auth_id: str, session_uuid: str) -> str:
        """String: the session as compact JSON."""
        return f"{self.tenant_base(auth_id)}{SESSION}{session_uuid}"

    def sessions_by_created(self, auth_id: str) -> str:
        """Sorted set: every session uuid, scored by creation µs (the listing index)."""
        return f"{self.tenant_base(auth_id)}{CREATED}"

    def open_by_expiry(self, auth_id: str) -> str:
        """Sorted set: open sessions as `uuid|number|cooloff`, scored by expiry µs."""
        return f"{self.tenant_base(auth_id)}{EXPIRY}"

    def assignments(self, auth_id: str) -> str:
        """Hash: assignment id → JSON record of one holding of a DID (kept forever, for billing)."""
        return f"{self.tenant_base(auth_id)}{ASSIGNMENTS}"

    def assignment_seq(self, auth_id: str) -> str:
        """Counter: the last assignment id."""
        return f"{self.tenant_base(auth_id)}{ASSIGNMENT_SEQ}"

    def capacity(self, auth_id: str, day: int) -> str:
        """Hash with a TTL: one UTC day's pool figures by hour (`opened:15`, `peak:15`, …); `day` counts from 1970.

        Fields are `name:hour`, hour 0–23: sessions `opened`, the `peak` of sessions open at once, opens refused
        by an `exhausted` pool, sessions `ended` and their total length `ended_us`.
        """
        return f"{self.tenant_base(auth_id)}{CAPACITY}{day}"

    def subaccount_session(self, auth_id: str, session_uuid: str) -> str:
        """String with a TTL: the subaccount holding session `session_uuid`, which its parent `auth_id` opened.

        The parent finds its subaccounts' sessions by uuid through these, in its own keys; each lives as long as
        the session stays readable.
        """
        return f"{self.tenant_base(auth_id)}{SUBACCOUNT_SESSION}{session_uuid}"

    # -- calls --------------------------------------------------------------------------------------------
    def call_state(self, auth_id: str, session_uuid: str) -> str:
        """Hash: a session's live call (`live`, `live_until`), totals and event sequence number."""
        return f"{self.tenant_base(auth_id)}{CALL_STATE}{session_uuid}"

    def interaction(self, auth_id: str, call_sid: str) -> str:
        """Hash: one call on a session, keyed by the caller leg's CallSid (legs, PIN, recording, charges)."""
        return f"{self.tenant_base(auth_id)}{INTERACTION}{call_sid}"

    def pin_guesses(self, auth_id: str, session_uuid: str) -> str:
        """String with a TTL: the theoretical arrival time of the session's next wrong PIN, in µs (GCRA).

        The TTL ends when the session's whole budget of wrong PINs is back (see `routing.calls.pin_guesses`). A shared
        DID has one too, under its number in place of `session_uuid`, for the PINs strangers key on it.
        """
        return f"{self.tenant_base(auth_id)}{PIN_GUESSES}{session_uuid}"

    def pin_lock(self, auth_id: str, session_uuid: str) -> str:
        """String with a TTL: the µs until which the session (or the shared DID named in its place) takes no PIN,
        after too many wrong ones; TTL the same."""
        return f"{self.tenant_base(auth_id)}{PIN_LOCK}{session_uuid}"

    def call_out(self, auth_id: str, session_uuid: str) -> str:
        """Hash with a TTL: the session's call to its first party (attempt, lease, CallSid, last status)."""
        return f"{self.tenant_base(auth_id)}{CALL_OUT}{session_uuid}"

    def leg(self, auth_id: str, call_uuid: str) -> str:
        """String, kept as long as its call: the caller's CallSid of the call whose dialled leg is `call_uuid`.

        With `recording`, what finds a call's interaction from its other ids (see `routing.calls.resources`).
        """
        return f"{self.tenant_base(auth_id)}{LEG}{call_uuid}"

    def recording(self, auth_id: str, recording_id: str) -> str:
        """String, kept as long as its call: the caller's CallSid of the call recording `recording_id` was made of."""
        return f"{self.tenant_base(auth_id)}{RECORDING}{recording_id}"

    def interactions(self, auth_id: str, session_uuid: str) -> str:
        """List: the CallSids of a session's interactions, oldest first."""
        return f"{self.tenant_base(auth_id)}{INTERACTIONS}{session_uuid}"

    def events(self, auth_id: str) -> str:
        """Stream: the tenant's session events waiting for delivery to its callback_url (the outbox)."""
        return f"{self.tenant_base(auth_id)}{EVENTS}"

    def session_events(self, auth_id: str, session_uuid: str) -> str:
        """Stream: a copy of each event of the session, its outbox entry id in field `entry` (and `replay_of` on a
        replayed one), kept after delivery as the session's history; it expires with the session's call state."""
        return f"{self.tenant_base(auth_id)}{SESSION_EVENTS}{session_uuid}"

    def seen(self, auth_id: str, token: str) -> str:
        """String with a TTL: a carrier callback (by its idempotency token) that was already applied."""
        return f"{self.tenant_base(auth_id)}{SEEN}{token}"

    def live_calls(self, auth_id: str) -> str:
        """Sorted set: CallSids of the tenant's live calls, scored by the µs their carrier state is next asked for."""
        return f"{self.tenant_base(auth_id)}{LIVE_CALLS}"

    # -- deliveries ---------------------------------------------------------------------------------------
    def event_retries(self, auth_id: str) -> str:
        """Sorted set: outbox entry ids waiting to be sent again, scored by the µs they are due."""
        return f"{self.tenant_base(auth_id)}{EVENT_RETRIES}"

    def event_failures(self, auth_id: str) -> str:
        """Hash: outbox entry id → JSON of its failed attempts so far and the last error."""
        return f"{self.tenant_base(auth_id)}{EVENT_FAILURES}"

    def dead_letters(self, auth_id: str) -> str:
        """Hash: outbox entry id → JSON of an event that could not be delivered (kept until replayed)."""
        return f"{self.tenant_base(auth_id)}{DEAD_LETTERS}"

    def next_due(self, auth_id: str) -> str:
        """Hash: when the tenant's owning worker will next look at it (`at`, µs; absent: nothing is due) and whether
        it holds as many of the tenant's deliveries as it may (`waiting`, 1 or 0); routing/lua/next_due.lua writes
        it. A script that makes work due sooner publishes on `due_channel` and lowers `at` (routing/lua/doorbell.lua),
        so a burst of such changes publishes once."""
        return f"{self.tenant_base(auth_id)}{NEXT_DUE}"

    # -- the REST APIs ------------------------------------------------------------------------------------
    def rate_limit(self, auth_id: str) -> str:
        """String with a TTL: the theoretical arrival time of the tenant's next API request, in µs (GCRA)."""
        return f"{self.tenant_base(auth_id)}{RATE_LIMIT}"

    def failed_logins(self, auth_id: str) -> str:
        """String with a TTL: GCRA's theoretical arrival time (µs) of the failed logins at the tenant from every
        address; it expires when the account's whole budget is back (see `routing.logins`)."""
        return f"{self.tenant_base(auth_id)}{FAILED_LOGINS}"

    def failed_logins_from(self, auth_id: str, address: str) -> str:
        """String with a TTL: as `failed_logins`, for the failed logins at the tenant from client `address` only."""
        return f"{self.tenant_base(auth_id)}{FAILED_LOGINS_FROM}{address}"


def lua_names() -> dict[str, str]:
    """Return the tenant-key suffixes by name, for building key names inside Lua scripts."""
    return {name.lower(): value for name, value in globals().items() if name.isupper() and name != "DEFAULT_PREFIX"}
