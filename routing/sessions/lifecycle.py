"""Opening, reading, listing, changing and ending masking sessions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routing.clock import US
from routing.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    NumberUnavailable,
    PinUnavailable,
    PoolExhausted,
    SessionEnded,
)
from routing.lua import Reply
from routing.number_mode import SHARED
from routing.phone import country_of, to_e164
from routing.sessions.options import SessionRequest, check_create, check_update
from routing.sessions.query import SessionQuery
from routing.sessions.session import EXPIRED, Session
from routing.sessions.shortage import shortage
from routing.store import Store
from routing.tenants import Credential, admit, checked, get_tenant, run_checked, subaccount_of

_REFUSALS = {
    "not_in_pool": "is not in this account's pool",
    "suspended": "is suspended",
    "taken": "already carries an open session",
    "cooling": "was released recently and is cooling off",
    "shared_cooling": "is cooling off: parties of shared sessions that ended on it recently still hold it",
    "country": "is not in the first party's country (geomatch is on)",
    "held_first": "is already first_party's in another session (open or cooling off)",
    "held_second": "is already second_party's in another session (open or cooling off)",
}
# The PIN fields a shared number's sessions must not repeat (shared.lua's `pin_clash`).
_PIN_FIELDS = ("first_party_pin", "second_party_pin")
_CAS_TRIES = 8


@dataclass(frozen=True)
class Opening:
    """A checked create request made into a session whose DID is still to be taken: what the allocation needs."""

    session: Session
    country: str  # the first party's
    wanted: str = ""  # a DID asked for by number, in E.164
    mode: str = ""  # the number mode asked for; "" for the tenant's (routing.number_mode)

    def arguments(self) -> list[object]:
        """Return the allocation's arguments (pool.lua's `allocation`) after T and NOW."""
        session = self.session
        return [
            session.session_uuid,
            session.to_json(),
            session.expiry,
            session.created,
            session.virtual_number_cooloff_period,
            self.country if session.geomatch else "*",
            self.country,
            self.wanted,
            self.mode,
            session.first_party,
            session.second_party,
            session.first_party_pin,
            session.second_party_pin,
            "1" if session.generate_pin else "0",
        ]

    def opened(self, reply: Reply) -> Session:
        """Return the session open_checked.lua's `reply` says it opened, or raise why it could not."""
        reason = reply.get("error")
        if reason is not None:
            if reason == "exhausted":
                raise PoolExhausted(shortage(reply, self.country, self.session.geomatch))
            if reason in _PIN_FIELDS:
                raise PinUnavailable(
                    reason, "a session on the shared virtual number has this PIN already; give another"
                )
            raise NumberUnavailable(f"{self.wanted} {_REFUSALS[reason]}")
        number = str(reply["number"])
        if reply.get("mode") != SHARED:
            return self.session.evolve(virtual_number=number)
        return self.session.evolve(
            virtual_number=number,
            number_mode=SHARED,
            first_party_pin=str(reply["first_pin"]),
            second_party_pin=str(reply["second_pin"]),
        )


def open_session(
    store: Store, credential: Credential, raw: Mapping[str, Any], now: int, wanted_number: str | None = None
) -> Session:
    """Open a session for the tenant `credential` is right for, from a Plivo-style request, taking a free DID.

    The request is checked first, reading nothing (InvalidInput). Then one round trip checks the credential
    (Unauthenticated; NotFound without a tenant record; TooManyFailedLogins when its client may not try now),
    counts the request against its rate limit (RateLimited) and takes a DID (PoolExhausted, NumberUnavailable);
    a client address this process has seen fail to log in lately costs a round trip more (`tenants.run_checked`).
    A request naming a subaccount opens the session in the subaccount, in four round trips: who asks is checked
    (uncounted), the subaccount must be theirs (InvalidInput), the parent's request is counted and where the
    session will be is noted in the parent's keys, and the subaccount's pool gives the DID.
    """
    request = check_create(raw)
    if not credential.possible():
        raise credential.refusal()
    subaccount = request.fields.get("subaccount", "")
    if not subaccount:
        asked = opening(credential.auth_id, request, now, wanted_number)
        reply = run_checked(store, credential, now, "open_checked.lua", *asked.arguments())
        return asked.opened(_allocated(credential, reply))
    parent = admit(store, credential.uncounted(), now)
    subaccount_of(store, parent, subaccount)
    asked = opening(subaccount, request, now, wanted_number)
    checked(credential, _remember_for_parent(store, parent.auth_id, asked.session, credential))
    return asked.opened(store.run("open.lua", subaccount, now, *asked.arguments()))


def _remember_for_parent(store: Store, parent: str, session: Session, credential: Credential | None = None) -> Reply:
    """Note in the parent's keys where its subaccount's `session` lives; with the parent's `credential`, only if
    it passes and counting the request (subaccount_session.lua's reply)."""
    return store.run(
        "subaccount_session.lua",
        parent,
        session.modified,
        session.session_uuid,
        session.auth_id,
        session.expiry,
        *(credential.arguments() if credential else []),
    )


def _allocated(credential: Credential, reply: Reply) -> Reply:
    """Return open_checked.lua's `reply` (its allocation's `number` or `error`) once its check says it may go."""
    checked(credential, reply)
    return reply


def opening(auth_id: str, request: SessionRequest, now: int, wanted_number: str | None = None) -> Opening:
    """Return the session `request` asks for, opened at `now`, with the DID still to be taken."""
    wanted = to_e164(wanted_number, "virtual_number") if wanted_number else ""
    fields = dict(request.fields)
    mode = fields.pop("number_mode", "")
    session = Session(
        session_uuid=str(uuid.uuid4()),
        auth_id=auth_id,
        virtual_number="",
        first_party=fields.pop("first_party"),
        second_party=fields.pop("second_party", ""),
        created=now,
        modified=now,
        expiry=now + request.session_expiry * US,
        **fields,
    )
    return Opening(session, country_of(session.first_party), wanted, mode)


def get_session(store: Store, auth_id: str, session_uuid: str) -> Session:
    """Return the tenant's session `session_uuid`, or one it opened in a subaccount; another's is not found."""
    if not _is_uuid(session_uuid):
        raise NotFound(f"no session {session_uuid!r}")
    text = store.redis.get(store.keys.session(auth_id, session_uuid))
    if text is None:
        holder = store.redis.get(store.keys.subaccount_session(auth_id, session_uuid))
        if holder is not None:
            text = store.redis.get(store.keys.session(str(holder), session_uuid))
    if text is None:
        raise NotFound(f"no session {session_uuid!r}")
    return Session.from_json(str(text))


def update_session(store: Store, auth_id: str, session_uuid: str, raw: Mapping[str, Any], now: int) -> Session:
    """Change the updatable fields of an open session; a new session_expiry counts from now.

    SessionEnded when it has ended (on request or at its expiry time)."""
    for _ in range(_CAS_TRIES):
        current = get_session(store, auth_id, session_uuid)
        if current.status(now) == EXPIRED:
            raise SessionEnded(session_uuid, bool(current.ended_by), "can no longer be updated")
        changes, expiry_seconds = check_update(raw, single_party_open=not current.second_party)
        if changes.get("second_party", current.second_party) == changes.get("first_party", current.first_party):
            raise InvalidInput("second_party", "must differ from first_party")
        expiry = now + expiry_seconds * US if expiry_seconds is not None else current.expiry
        updated = current.evolve(modified=now, expiry=expiry, **changes)
        outcome = _replace(store, current, updated, now, updated.expiry)
        if outcome == "ok":
            if updated.subaccount and updated.expiry != current.expiry:
                _remember_for_parent(store, get_tenant(store, updated.auth_id).parent, updated)
            return updated
        if outcome == "ended":  # the record is as read, so no request ended it: its expiry time passed
            raise SessionEnded(session_uuid, False, "can no longer be updated")
    raise Conflict(f"session {session_uuid} is changing too fast; try again")


def end_session(store: Store, auth_id: str, session_uuid: str, now: int) -> Session:
    """Expire an open session now and return its DID to the pool (after its cool-off).

    SessionEnded when it has ended already (on request or at its expiry time)."""
    for _ in range(_CAS_TRIES):
        current = get_session(store, auth_id, session_uuid)
        if current.status(now) == EXPIRED:
            raise SessionEnded(session_uuid, bool(current.ended_by))
        ended = current.evolve(modified=now, expiry=now, ended_by="request")
        outcome = _replace(store, current, ended, now, None)
        if outcome == "ok":
            return ended
        if outcome == "ended":  # the record is as read, so no request ended it: its expiry time passed
            raise SessionEnded(session_uuid, False)
    raise Conflict(f"session {session_uuid} is changing too fast; try again")


def _replace(store: Store, current: Session, new: Session, now: int, expiry: int | None) -> str:
    """Put `new` in place of `current` unless it changed meanwhile; `expiry` None ends the session now.

    Returns replace_session.lua's outcome: `ok`, `changed` (read again and retry) or `ended` (too late).
    """
    return str(
        store.run(
            "replace_session.lua",
            current.auth_id,
            now,
            current.session_uuid,
            current.to_json(),
            new.to_json(),
            current.expiry_member,
            "" if expiry is None else expiry,
        )["outcome"]
    )


def reclaim_expired(store: Store, auth_id: str, now: int, limit: int = 1000) -> int:
    """Return DIDs of sessions past their expiry to the pool; return how many sessions ended."""
    return int(store.run("reclaim.lua", auth_id, now, limit)["ended"])


@dataclass(frozen=True)
class Page:
    """One page of a listing: the sessions, how many matched in all, and the tenant whose sessions they are."""

    sessions: list[Session]
    total_count: int
    auth_id: str


def list_sessions(store: Store, auth_id: str, query: SessionQuery, now: int) -> Page:
    """Return the sessions matching `query`, newest first; with `subaccount`, those of that subaccount of the tenant.

    InvalidInput when `subaccount` is not the tenant's own subaccount.
    """
    if query.subaccount and query.subaccount != auth_id:
        subaccount_of(store, get_tenant(store, auth_id), query.subaccount)
        auth_id = query.subaccount
    index = store.keys.sessions_by_created(auth_id)
    low, high = query.created_window(now)
    if not query.needs_sessions():
        total = int(store.redis.zcount(index, low, high))
        ids = store.redis.zrevrangebyscore(index, high, low, start=query.offset, num=query.limit)
        return Page(_load(store, auth_id, [str(i) for i in ids]), total, auth_id)
    matched: list[Session] = []
    window = [str(i) for i in store.redis.zrevrangebyscore(index, high, low)]
    for start in range(0, len(window), 500):
        matched.extend(s for s in _load(store, auth_id, window[start : start + 500]) if query.matches(s, now))
    return Page(matched[query.offset : query.offset + query.limit], len(matched), auth_id)


def _load(store: Store, auth_id: str, ids: list[str]) -> list[Session]:
    if not ids:
        return []
    texts = store.redis.mget([store.keys.session(auth_id, i) for i in ids])
    return [Session.from_json(str(t)) for t in texts if t is not None]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return False
    return True
