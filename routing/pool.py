"""The DIDs a tenant holds: adding, suspending, resuming, releasing, and the billing history."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from routing.clock import US, to_us
from routing.errors import Conflict, InvalidInput, NotFound
from routing.phone import country_of, to_e164
from routing.store import Store

ASSIGNMENT_STATUSES = ("active", "suspended", "released", "all")
_RECLAIM_LIMIT = 1000  # sessions and cooled DIDs a release ends first, at most


@dataclass(frozen=True)
class Assignment:
    """One holding of a DID by a tenant, kept forever for billing."""

    id: int
    number: str
    country: str
    assigned_at: int
    released_at: int | None
    status: str

    def held_during(self, start: int, end: int) -> bool:
        """Return whether the holding overlaps [start, end)."""
        return self.assigned_at < end and (self.released_at is None or self.released_at >= start)


def add_numbers(store: Store, auth_id: str, raw_numbers: list[str], now: int) -> list[str]:
    """Put DIDs in the tenant's pool; a DID held by another tenant is a conflict."""
    numbers = [to_e164(raw, "number") for raw in raw_numbers]
    added = []
    for number in numbers:
        owner_key = store.keys.did_owner(number)
        if not store.redis.set(owner_key, auth_id, nx=True) and store.redis.get(owner_key) != auth_id:
            raise Conflict(f"{number} belongs to another account")
        record = {
            "number": number,
            "country": country_of(number),
            "assigned_at": now,
            "released_at": None,
            "status": "active",
        }
        added_now = store.run("add_number.lua", auth_id, now, number, record["country"], json.dumps(record))
        if added_now["outcome"] == "added":
            added.append(number)
    return added


def set_suspended(store: Store, auth_id: str, raw_number: str, suspended: bool, now: int) -> None:
    """Suspend a DID (it is never handed out) or resume it."""
    number = to_e164(raw_number, "number")
    result = store.run("set_number_status.lua", auth_id, now, number, "suspended" if suspended else "active")["outcome"]
    if result == "missing":
        raise NotFound(f"{number} is not in this account's pool")


def release_number(store: Store, auth_id: str, raw_number: str, now: int) -> None:
    """Give a DID up; its assignment is closed but kept. A DID with an open session (its own, or a shared one on it)
    cannot go; the tombstones of shared sessions that ended on it go with it.

    Two steps, as the pool and the global DID → tenant index live in different slots of a cluster: the DID leaves
    the tenant's pool first (one script, which ends what is due first), then the index forgets the tenant. A
    release cut between the two leaves the DID out of every pool but still reserved for the tenant (no other
    tenant can take it, the tenant can add it back); releasing it again completes the release.
    """
    number = to_e164(raw_number, "number")
    result = store.run("release_number.lua", auth_id, now, number, _RECLAIM_LIMIT)["outcome"]
    if result == "busy":
        raise Conflict(f"{number} carries an open session; complete it first")
    if result == "shared":
        raise Conflict(f"{number} carries open shared sessions; complete them first")
    forgotten = store.run_global("forget_owner.lua", store.keys.did_owner(number), now, auth_id)["forgotten"]
    if result == "missing" and not forgotten:
        raise NotFound(f"{number} is not in this account's pool")


def assignments(store: Store, auth_id: str, status: str | None = None, on: str | None = None) -> list[Assignment]:
    """Return the tenant's assignments with `status`, or those held at any time on day `on`.

    Without a status: the active ones, or with `on`, every one held that day whatever it is now. `on` is
    `YYYY-MM-DD` and nothing else (not the other forms `date.fromisoformat` reads).
    """
    if status is None:
        status = "all" if on is not None else "active"
    if status not in ASSIGNMENT_STATUSES:
        raise InvalidInput("status", "must be one of " + ", ".join(ASSIGNMENT_STATUSES))
    records = [Assignment(**json.loads(raw)) for raw in store.redis.hvals(store.keys.assignments(auth_id))]
    if status != "all":
        records = [a for a in records if a.status == status]
    if on is not None:
        try:
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", on):
                raise ValueError(on)
            day = date.fromisoformat(on)
        except ValueError as exc:
            raise InvalidInput("on", "must be a date, YYYY-MM-DD") from exc
        start = to_us(datetime(day.year, day.month, day.day, tzinfo=UTC))
        end = start + 86_400 * US
        records = [a for a in records if a.held_during(start, end)]
    return sorted(records, key=lambda a: a.id)


# The states a DID of the pool is in, as `pool_numbers` names them.
FREE, IN_USE, COOLING, SUSPENDED = "free", "in use", "cooling", "suspended"
_READ_AT_ONCE = 500  # the DIDs read per round trip


@dataclass(frozen=True)
class PoolNumber:
    """A DID in the tenant's pool now: its country, its state (FREE, IN_USE, COOLING, SUSPENDED), the exclusive
    session it carries ("" when none) and the parties holding it in shared sessions (`routing.number_mode`)."""

    number: str
    country: str
    state: str
    session_uuid: str
    parties: int = 0


def pool_numbers(store: Store, auth_id: str) -> list[PoolNumber]:
    """Return every DID the tenant holds, sorted, each with its state: suspended whatever else it does, else in use
    while it carries an open session (its own, or shared ones), else cooling off after one (an exclusive session's
    cool-off, or parties of ended shared sessions still holding it), else free.

    Reads every DID's record, _READ_AT_ONCE per round trip: for a person looking at the pool, not for a request path.
    """
    numbers = sorted(str(n) for n in store.redis.smembers(store.keys.numbers(auth_id)))
    found = []
    for start in range(0, len(numbers), _READ_AT_ONCE):
        chunk = numbers[start : start + _READ_AT_ONCE]
        with store.redis.pipeline(transaction=False) as pipe:
            for number in chunk:
                pipe.hmget(store.keys.number(auth_id, number), "country", "status", "session", "parties")
                pipe.exists(store.keys.did_sessions(auth_id, number))
            pipe.zmscore(store.keys.cooling(auth_id), chunk)
            *replies, cooling = pipe.execute()
        for number, record, shared_open, cool in zip(chunk, replies[::2], replies[1::2], cooling, strict=True):
            country, status, session, held = record
            parties = int(held or 0)
            busy = session or shared_open
            resting = cool is not None or parties > 0
            state = SUSPENDED if status == "suspended" else IN_USE if busy else COOLING if resting else FREE
            found.append(PoolNumber(number, str(country or ""), state, str(session or ""), parties))
    return found
