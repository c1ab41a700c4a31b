"""Who is calling a virtual number, and what happens to the call: refuse it, ask for a PIN, or bridge it.

Each decision is one frozen dataclass; `routing.calls.twiml` turns it into the carrier's instructions. Reaching a
decision costs two Redis round trips: the DID → tenant index, then one script (routing/lua/inbound.lua)
that reads the route, the session and the call state, and records the new interaction atomically. The route is
the DID's own session, or on a shared DID (`routing.number_mode`) the session of the caller's number there; a
caller no open session of a shared DID has is a stranger: turned away, or asked for the PIN that names a session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from routing.calls import carrier_input
from routing.calls.pin_guesses import DEFAULT_BUDGET, PinBudget
from routing.errors import InvalidInput
from routing.lua import Reply
from routing.phone import to_e164
from routing.sessions.session import Session
from routing.store import Store

TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
FIRST, SECOND = "first", "second"


@dataclass(frozen=True)
class IncomingCall:
    """The carrier's facts about a new call: its id, the caller's number (`""` when withheld) and the DID."""

    call_sid: str
    caller: str
    virtual_number: str


@dataclass(frozen=True)
class Refuse:
    """Connect no one. `busy` when another call is live on the session; otherwise nothing to say."""

    reason: str


@dataclass(frozen=True)
class TurnAway:
    """An unknown caller on a session without PINs: play the session's message (or a spoken one), hang up."""

    play_url: str


@dataclass(frozen=True)
class AskPin:
    """Ask the caller for a PIN; `wrong` PINs were entered so far on this call. `any_length`: the PIN may be of any
    length the session's are not (a stranger on a shared DID, whose PIN names one of the DID's sessions)."""

    auth_id: str
    call_sid: str
    session: Session
    wrong: int = 0
    any_length: bool = False


@dataclass(frozen=True)
class PinFailed:
    """The last PIN attempt was wrong: say so and hang up."""

    incorrect_pin_play: str


@dataclass(frozen=True)
class PinLocked:
    """The session takes no PIN for now, after too many wrong ones (`routing.calls.pin_guesses`): say so, hang up."""


@dataclass(frozen=True)
class Bridge:
    """Dial the other party. `answered`: an earlier step (a PIN prompt) already answered the call."""

    auth_id: str
    call_sid: str
    session: Session
    caller_party: str
    answered: bool = False

    @property
    def callee(self) -> str:
        """Return the number to dial: the party that did not call."""
        return self.session.second_party if self.caller_party == FIRST else self.session.first_party

    @property
    def caller_play_url(self) -> str:
        """Return what the caller hears before the dial."""
        return self.session.first_party_play_url if self.caller_party == FIRST else self.session.second_party_play_url

    @property
    def callee_play_url(self) -> str:
        """Return what the dialled party hears when it answers, before the bridge."""
        return self.session.second_party_play_url if self.caller_party == FIRST else self.session.first_party_play_url


@dataclass(frozen=True)
class HangUp:
    """End a call that is already answered (its session closed while it ran, or it is over)."""


Decision = Refuse | TurnAway | AskPin | PinFailed | PinLocked | Bridge | HangUp


def incoming_call(call_sid: str, caller: str, virtual_number: str) -> IncomingCall:
    """Return the call's facts with both numbers in E.164; a withheld or odd caller id becomes `""`.

    InvalidInput when `call_sid` is not a carrier call id (routing.calls.carrier_input, the one check of those).
    """
    return IncomingCall(carrier_input.sid(call_sid, "CallSid"), e164_or_empty(caller), e164_or_empty(virtual_number))


# The form a carrier gives numbers in (Twilio's From and To): E.164, its `+` optional.
CARRIER_E164 = re.compile(r"\+?[1-9][0-9]{6,14}")


def e164_or_empty(raw: str) -> str:
    """Return a carrier's number in E.164, or `""` when it is not a phone number (`anonymous`, `client:…`).

    A number already in E.164 form is taken as it is, without phonenumbers' validation (tens of µs for each
    number not seen before): the call only compares it with DIDs and parties that were validated when they
    were stored, so a well-formed number that is not a real one simply matches nothing. Any other form is
    parsed and validated.
    """
    if CARRIER_E164.fullmatch(raw or ""):
        return raw if raw.startswith("+") else "+" + raw
    try:
        return to_e164(raw, "number")
    except InvalidInput:
        return ""


def owner(store: Store, virtual_number: str) -> str | None:
    """Return the tenant holding the DID, read from the DID → tenant index (round trip 1), and remember it.

    The store remembers each DID's owner (`Store.did_owners`). A DID changes hands rarely, and a stale entry
    cannot misroute: the inbound script finds the DID no longer held by that tenant (`not-held`), and the call
    is decided again from a fresh read. Only owners are remembered, never "nobody".
    """
    found = store.client.get(store.keys.did_owner(virtual_number))
    if not found:
        return None
    store.remember_owner(virtual_number, str(found))
    return str(found)


def identify_caller(store: Store, call: IncomingCall, now: int) -> Decision:
    """Decide what a new call to a virtual number does, recording it on its session when it proceeds.

    Two Redis round trips at most: the DID's owner (skipped when this process already knows it), then one
    script that decides and records.
    """
    if not call.virtual_number:
        return Refuse("no-session")
    known = store.did_owners.get(call.virtual_number)
    auth_id = known or owner(store, call.virtual_number)
    if auth_id is None:
        return Refuse("no-session")
    result = _inbound(store, auth_id, call, now)
    # A DID this process remembered changed hands since: read its owner again.
    if known and result["kind"] == "refuse" and result["reason"] == "not-held":
        store.did_owners.pop(call.virtual_number, None)
        auth_id = owner(store, call.virtual_number)
        if auth_id is None:
            return Refuse("no-session")
        result = _inbound(store, auth_id, call, now)
    return decision_from(auth_id, call.call_sid, result, answered=False)


def _inbound(store: Store, auth_id: str, call: IncomingCall, now: int) -> Reply:
    return store.run("inbound.lua", auth_id, now, call.virtual_number, call.caller, call.call_sid)


def check_pin(
    store: Store, auth_id: str, call_sid: str, digits: str, now: int, budget: PinBudget = DEFAULT_BUDGET
) -> Decision:
    """Decide what the PIN a caller entered does: bridge as that party, ask again, or give up.

    A wrong PIN is counted against the session's `budget`, whatever call or number it came from; the one that
    spends it locks the session's PIN entry (`PinLocked`), and while it is locked no PIN is compared.
    """
    digits = "".join(ch for ch in digits if ch.isdigit())
    result = store.run("pin_check.lua", auth_id, now, call_sid, digits, *budget.script_args())
    return decision_from(auth_id, call_sid, result, answered=True)


def decision_from(auth_id: str, call_sid: str, result: Reply, answered: bool) -> Decision:
    """Return the decision a call script's reply stands for (`answered`: masq already answered the call).

    The reply is routing/lua/incoming.lua's: `kind` and a `reason`, or `kind`, `session`, `caller` and `wrong` (and
    `any_length` on a stranger's PIN prompt on a shared DID).
    """
    kind = result["kind"]
    if kind == "refuse":
        reason = str(result["reason"])
        return HangUp() if answered else Refuse("no-session" if reason == "not-held" else reason)
    session = Session.from_json(str(result["session"]))
    wrong = int(result["wrong"])
    if kind == "unknown":
        return TurnAway(session.unknown_caller_play)
    if kind in ("pin", "retry"):
        return AskPin(auth_id, call_sid, session, wrong, any_length=bool(result.get("any_length")))
    if kind == "failed":
        return PinFailed(session.incorrect_pin_play)
    if kind == "locked":
        return PinLocked()
    if kind == "bridge":
        return Bridge(auth_id, call_sid, session, str(result["caller"]), answered=answered)
    return HangUp()


def whisper_url(store: Store, auth_id: str, call_sid: str) -> str:
    """Return what the dialled party of call `call_sid` hears on answering (`""` for nothing)."""
    session_uuid, caller = store.redis.hmget(store.keys.interaction(auth_id, call_sid), "session", "caller")
    if not session_uuid or caller not in (FIRST, SECOND):
        return ""
    text = store.redis.get(store.keys.session(auth_id, str(session_uuid)))
    if text is None:
        return ""
    session = Session.from_json(str(text))
    return session.second_party_play_url if caller == FIRST else session.first_party_play_url
