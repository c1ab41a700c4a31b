"""Shared virtual numbers on the real Redis: a busy day's worth of sessions, and parallel creates for one person."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from routing.calls import inbound
from routing.calls.inbound import Bridge, TurnAway
from routing.clock import US, now_us
from routing.sessions import lifecycle
from tests.sessions_helpers import credential
from tests.shared_helpers import check_shared_state, dids, open_sessions, people, shared_tenant
from tests.twilio_helpers import new_sid

PEOPLE = people(300)
# The most sessions (open or cooling off) one person is in, k: a pair always finds a DID neither holds among 40, since
# the two hold at most 2k − 2 others and at most 21 DIDs are full at 100 parties (2,100 holdings at the busiest).
MOST_SESSIONS = 8


def pairs(count: int, seed: int, held: Counter[str] | None = None) -> list[tuple[str, str]]:
    """Return `count` pairs of distinct people, no one in more than MOST_SESSIONS of them with those `held`."""
    draw = random.Random(seed)
    load = Counter(held or {})
    found = []
    while len(found) < count:
        first, second = draw.sample([p for p in PEOPLE if load[p] < MOST_SESSIONS], 2)
        load[first] += 1
        load[second] += 1
        found.append((first, second))
    return found


def ring(store, number: str, caller: str, now: int) -> inbound.Decision:
    return inbound.identify_caller(store, inbound.incoming_call(new_sid(), caller, number), now)


def test_a_thousand_sessions_among_300_people_share_40_dids_with_no_one_twice_on_a_did(real_store):
    tenant = shared_tenant(real_store, dids(40))
    now = now_us()

    opened = [
        lifecycle.open_session(
            real_store,
            credential(tenant),
            {"first_party": first, "second_party": second, "virtual_number_cooloff_period": 60 * (i % 2)},
            now + i,
        )
        for i, (first, second) in enumerate(pairs(1000, seed=16))
    ]

    assert len(open_sessions(real_store, tenant.auth_id, now + 1000)) == 1000
    assert len({s.virtual_number for s in opened}) <= 40
    check_shared_state(real_store, tenant.auth_id, now + 1000)
    for i, session in enumerate(opened[::3]):
        caller, callee = (session.first_party, session.second_party)[:: 1 if i % 2 else -1]
        decision = ring(real_store, session.virtual_number, caller, now + 2000)
        assert isinstance(decision, Bridge) and decision.session.session_uuid == session.session_uuid
        assert decision.callee == callee

    # Half end (those with a cool-off leave tombstones), and 300 new sessions open among the same people.
    for session in opened[:500]:
        lifecycle.end_session(real_store, tenant.auth_id, session.session_uuid, now + 3000)
    still = [s for i, s in enumerate(opened) if i >= 500 or i % 2]
    held = Counter(party for s in still for party in (s.first_party, s.second_party))
    later = [
        lifecycle.open_session(real_store, credential(tenant), {"first_party": a, "second_party": b}, now + 4000 + i)
        for i, (a, b) in enumerate(pairs(300, seed=61, held=held))
    ]
    check_shared_state(real_store, tenant.auth_id, now + 5000)
    for ended in opened[:500:5]:
        late = ring(real_store, ended.virtual_number, ended.second_party, now + 6000)
        assert not isinstance(late, Bridge) or late.session.session_uuid != ended.session_uuid
        if isinstance(late, Bridge):  # the caller is a party of a newer session there: that one, never a stranger's
            assert ended.second_party in (late.session.first_party, late.session.second_party)
    assert len(later) == 300


def test_fifty_parallel_creates_for_one_person_never_give_them_one_did_twice(live_server, real_store):
    tenant = shared_tenant(real_store, dids(50))
    rider, drivers = people(1, 900)[0], people(50, 500)

    def create(driver: str) -> requests.Response:
        return requests.post(
            f"{live_server}{tenant.plivo_base}",
            json={"first_party": rider, "second_party": driver},
            auth=tenant.basic,
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(create, drivers))

    assert [a.status_code for a in answers] == [200] * 50
    numbers = [a.json()["virtual_number"] for a in answers]
    assert len(set(numbers)) == 50
    check_shared_state(real_store, tenant.auth_id, now_us())


def test_parallel_creates_past_the_pool_are_refused_naming_the_person_with_no_did_left(live_server, real_store):
    tenant = shared_tenant(real_store, dids(30))
    rider, drivers = people(1, 900)[0], people(50, 500)

    def create(driver: str) -> tuple[int, dict[str, Any]]:
        answer = requests.post(
            f"{live_server}{tenant.plivo_base}",
            json={"first_party": rider, "second_party": driver},
            auth=tenant.basic,
            timeout=30,
        )
        return answer.status_code, answer.json()

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(create, drivers))

    taken = [body["virtual_number"] for status, body in answers if status == 200]
    refused = [body["error"] for status, body in answers if status != 200]
    assert len(taken) == len(set(taken)) == 30
    assert len(refused) == 20 and {status for status, _ in answers} == {200, 409}
    assert all(error.startswith("no virtual number in US left for first_party") for error in refused)


@pytest.mark.parametrize("cooloff", [0, 120])
def test_a_late_call_after_close_reaches_no_newer_session_on_the_real_redis(real_store, cooloff):
    tenant = shared_tenant(real_store, dids(1))
    rider, driver, other_rider, other_driver = people(4, 700)
    now = now_us()
    old = lifecycle.open_session(
        real_store,
        credential(tenant),
        {"first_party": rider, "second_party": driver, "virtual_number_cooloff_period": cooloff},
        now,
    )
    lifecycle.end_session(real_store, tenant.auth_id, old.session_uuid, now + 1)
    newer = lifecycle.open_session(
        real_store, credential(tenant), {"first_party": other_rider, "second_party": other_driver}, now + 2
    )

    assert newer.virtual_number == old.virtual_number
    assert isinstance(ring(real_store, old.virtual_number, driver, now + 3), TurnAway)
    assert isinstance(ring(real_store, old.virtual_number, rider, now + 4 + cooloff * US), TurnAway)
    check_shared_state(real_store, tenant.auth_id, now + 5)
