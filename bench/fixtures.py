"""Filling a store with DIDs and open sessions fast enough for 100,000 of each.

`routing.pool.add_numbers` and `routing.sessions.lifecycle.open_session` make a round trip or two per number or
session and read every new phone number with phonenumbers: 100,000 sessions would take over a minute
here. The functions here run the very same Lua scripts (routing/lua/add_number.lua and
open_checked.lua) with the very same arguments, thousands to a pipeline, and check the request once with
the domain's own `check_create`. tests/test_bench_smoke.py holds them to leaving exactly the state the
domain functions leave.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from routing import tenants
from routing.lua import named
from routing.phone import country_of, to_e164
from routing.sessions import lifecycle
from routing.sessions.options import SessionRequest, check_create
from routing.store import Store

CHUNK = 2000
FIRST_PARTY = "+14155551234"
SECOND_PARTY = "+14155554321"


def did_numbers(count: int, start: int = 0) -> list[str]:
    """Return `count` distinct valid US numbers (San Francisco, exchanges 200–899)."""
    return phone_numbers(count, "415", start)


def phone_numbers(count: int, area: str, start: int = 0) -> list[str]:
    """Return `count` distinct valid US numbers of area code `area` (exchanges 200–899), from the `start`-th."""
    if start + count > 7_000_000:
        raise ValueError("not that many numbers in the plan")
    numbers = [f"+1{area}{2_000_000 + start + i:07d}" for i in range(count)]
    for sample in numbers[:: max(1, count // 50)]:  # the webhook would turn away a number it cannot read
        to_e164(sample, "number")
    return numbers


def add_numbers(store: Store, auth_id: str, numbers: list[str], now: int) -> None:
    """Put E.164 `numbers` in the tenant's pool as `routing.pool.add_numbers` does, pipelined."""
    add = loaded(store, "add_number.lua")
    base = store.keys.tenant_base(auth_id)
    # In the North American plan the area code decides the country: read it once per area code.
    area_country: dict[str, str] = {}
    for start in range(0, len(numbers), CHUNK):
        with store.redis.pipeline(transaction=False) as pipe:
            for number in numbers[start : start + CHUNK]:
                if not number.startswith("+1"):
                    country = country_of(number)
                elif number[:5] in area_country:
                    country = area_country[number[:5]]
                else:
                    country = area_country[number[:5]] = country_of(number)
                record = {
                    "number": number,
                    "country": country,
                    "assigned_at": now,
                    "released_at": None,
                    "status": "active",
                }
                pipe.set(store.keys.did_owner(number), auth_id, nx=True)
                pipe.execute_command("EVALSHA", add, 1, base, now, number, country, json.dumps(record))
            replies = pipe.execute()
        owned, added = replies[0::2], [named(reply)["outcome"] for reply in replies[1::2]]
        if not all(owned) or set(added) != {"added"}:
            raise RuntimeError(f"some of {numbers[start]}… were already in a pool")


def open_sessions(store: Store, auth_id: str, raw: Mapping[str, Any], count: int, now: int) -> list[tuple[str, str]]:
    """Open `count` sessions from one Plivo-style request as `routing.sessions.lifecycle.open_session` does, pipelined.

    Session i is opened at `now + i` µs. Return each session's uuid and the virtual number it took, in order.
    """
    request = check_create(raw)
    return open_at(store, auth_id, [(request, now + i) for i in range(count)])


def open_many(store: Store, auth_id: str, requests: list[Mapping[str, Any]], now: int) -> list[tuple[str, str]]:
    """Open a session for each Plivo-style request of `requests`, the i-th at `now + i` µs, as `open_sessions` does."""
    return open_at(store, auth_id, [(check_create(raw), now + i) for i, raw in enumerate(requests)])


def open_at(store: Store, auth_id: str, timed: Sequence[tuple[SessionRequest, int]]) -> list[tuple[str, str]]:
    """Open a session for each checked request at its time (µs; in that order, as Redis runs a pipeline), with the
    domain's own `lifecycle.opening` (the session and the allocation's arguments); return each one's uuid and
    virtual number, in order. RuntimeError names the first that could not open."""
    open_checked = loaded(store, "open_checked.lua")
    # The tenant's own credential, counted against no limit: the bench fills the store, it does not measure it.
    credential = tenants.basic_credential(auth_id, tenants.auth_token_of(store, auth_id))
    base = store.keys.tenant_base(auth_id)
    taken: list[tuple[str, str]] = []
    for start in range(0, len(timed), CHUNK):
        uuids = []
        with store.redis.pipeline(transaction=False) as pipe:
            for request, at in timed[start : start + CHUNK]:
                asked = lifecycle.opening(auth_id, request, at)
                uuids.append(asked.session.session_uuid)
                pipe.execute_command("EVALSHA", open_checked, 1, base, at, *asked.arguments(), *credential.arguments())
            replies = pipe.execute()
        for session_uuid, reply in zip(uuids, replies, strict=True):
            placed = named(reply)
            if "number" not in placed:
                raise RuntimeError(f"could not open a session: {placed}")
            taken.append((session_uuid, str(placed["number"])))
    return taken


def loaded(store: Store, name: str) -> str:
    """Load the script `name` into Redis (every primary of a cluster) and return its SHA1, for pipelined EVALSHAs.

    (A cluster's pipeline refuses `evalsha` and redis-py's script objects; its `execute_command` routes an EVALSHA
    by its key.)
    """
    sha: str = store.redis.script_load(store.script(name).script)
    return sha


def session_request(expiry: int = 3600, **extra: Any) -> dict[str, Any]:
    """Return a Plivo create request between the bench's two parties."""
    return {"first_party": FIRST_PARTY, "second_party": SECOND_PARTY, "session_expiry": expiry, **extra}
