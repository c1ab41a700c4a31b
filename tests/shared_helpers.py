"""Shared virtual numbers in tests: numbers for people and DIDs, a tenant in shared mode, and the invariants.

`check_shared_state` reads a tenant's whole shared bookkeeping back from Redis and holds it to what
routing/lua/shared.lua promises, whatever happened before: every test that changes shared DIDs ends with it.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from routing import number_mode
from routing.sessions.session import Session
from routing.store import Store
from tests.conftest import TenantFixture, make_tenant

LIVE = 2**53  # shared.lua's score of a holding whose session is open


def people(count: int, start: int = 0) -> list[str]:
    """Return `count` distinct real numbers (San Francisco, +1 415 556 …)."""
    return [f"+1415556{start + i:04d}" for i in range(count)]


def dids(count: int, start: int = 100) -> list[str]:
    """Return `count` distinct DIDs (+1 415 555 0100 on)."""
    return [f"+1415555{start + i:04d}" for i in range(count)]


def shared_tenant(store: Store, numbers: list[str], parties_per_number: int | None = None) -> TenantFixture:
    """Make a tenant holding `numbers` whose sessions share DIDs."""
    tenant = make_tenant(store, numbers, name="rides")
    number_mode.set_number_settings(store, tenant.auth_id, number_mode.SHARED, parties_per_number)
    return tenant


def open_sessions(store: Store, auth_id: str, now: int) -> list[Session]:
    """Return the tenant's sessions open at `now`."""
    members = store.redis.zrangebyscore(store.keys.open_by_expiry(auth_id), f"({now}", "+inf")
    uuids = [str(member).split("|", 1)[0] for member in members]
    texts = store.redis.mget([store.keys.session(auth_id, u) for u in uuids]) if uuids else []
    return [Session.from_json(str(text)) for text in texts if text]


def check_shared_state(store: Store, auth_id: str, now: int) -> None:
    """Assert every invariant of the tenant's shared DIDs at `now` (after a reclaim has run, or with none due).

    On one DID a real number is in at most one open session, and two open sessions never have one PIN; each DID is
    in one mode, lists its open sessions (those with PINs apart) and no other, and is in use while active with one;
    each (DID, party) holding is a route field, an entry of the party's held set (scored by when it ends), one of
    the DID's parties and one of the party's DIDs in its country; a DID no one holds is free or taken exclusively,
    and a DID that carries parties is in neither state.
    """
    keys = store.keys
    sessions = [s for s in open_sessions(store, auth_id, now) if s.number_mode == number_mode.SHARED]
    parties_on: dict[str, list[str]] = defaultdict(list)
    pins_on: dict[str, list[str]] = defaultdict(list)
    for session in sessions:
        parties_on[session.virtual_number] += [session.first_party, session.second_party]
        pins_on[session.virtual_number] += [p for p in (session.first_party_pin, session.second_party_pin) if p]
    for number, parties in parties_on.items():
        assert len(parties) == len(set(parties)), f"{number}: a party is in two open sessions on it"
        assert len(pins_on[number]) == len(set(pins_on[number])), f"{number}: two open sessions share a PIN"
    by_uuid = {s.session_uuid: s for s in sessions}
    routes_of: dict[str, dict[str, str]] = defaultdict(dict)  # party → DID → its route field's value
    per_country: dict[str, Counter[str]] = defaultdict(Counter)
    for number in sorted(str(n) for n in store.redis.smembers(keys.numbers(auth_id))):
        record = store.redis.hgetall(keys.number(auth_id, number))
        route = store.redis.hgetall(keys.route(auth_id, number))
        country, parties = record["country"], int(record.get("parties", 0))
        party_fields = {f: v for f, v in route.items() if f.startswith("+")}
        free = store.redis.sismember(keys.free(auth_id, country), number)
        load = store.redis.zscore(keys.shared(auth_id, country), number)
        assert parties == len(party_fields), f"{number}: {parties} parties counted, {len(party_fields)} routes"
        live = store.redis.sismember(keys.shared_live(auth_id, country), number)
        if parties:
            assert "*" not in route and not record["session"] and not free, f"{number} is in two modes"
            carries_open = record["status"] == "active" and any(s.virtual_number == number for s in sessions)
            assert live == carries_open, f"{number}: in use {live}, with open sessions {carries_open}"
            assert load == (parties if record["status"] == "active" else None), f"{number}: load {load}"
        else:
            assert load is None and not live and set(route) <= {"*"}, f"{number}: shared bookkeeping without parties"
        open_here = {s.session_uuid: s for s in sessions if s.virtual_number == number}
        listed = store.redis.zrange(keys.did_sessions(auth_id, number), 0, -1)
        with_pins = store.redis.zrange(keys.did_pin_sessions(auth_id, number), 0, -1)
        assert set(listed) == set(open_here), f"{number}: open sessions {sorted(open_here)}, listed {listed}"
        assert set(with_pins) == {u for u, s in open_here.items() if s.first_party_pin}, f"{number}: PIN sessions"
        for party, value in party_fields.items():
            routes_of[party][number] = value
            per_country[country][party] += 1
    for party, routes in routes_of.items():
        held = dict(store.redis.zrange(keys.held(auth_id, party), 0, -1, withscores=True))
        assert set(held) == set(routes), f"{party}: held set {sorted(held)} against routes {sorted(routes)}"
        for number, value in routes.items():
            if value.startswith("~"):
                assert value[1:] not in by_uuid, f"{number}: {party} has a tombstone of an open session"
                assert now < held[number] < LIVE, f"{number}: {party}'s tombstone outlived its cool-off"
            else:
                assert value in by_uuid and party in (by_uuid[value].first_party, by_uuid[value].second_party)
                assert held[number] == LIVE, f"{number}: {party}'s open holding has an end"
    for session in sessions:
        route = store.redis.hmget(
            keys.route(auth_id, session.virtual_number), session.first_party, session.second_party
        )
        assert route == [session.session_uuid] * 2, f"{session.session_uuid} is not reached by its parties"
    live = sum(store.redis.scard(keys.shared_live(auth_id, c)) for c in store.redis.smembers(keys.countries(auth_id)))
    assert int(store.redis.hget(keys.shared_figures(auth_id), "live") or 0) == live, "DIDs in use miscounted"
    for country, counts in per_country.items():
        stored = dict(store.redis.zrange(keys.dids_held(auth_id, country), 0, -1, withscores=True))
        assert stored == {party: float(n) for party, n in counts.items()}, f"{country}: DIDs held by each party"
