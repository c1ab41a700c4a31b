"""Many callers racing for a small pool, over real HTTP and straight at the domain, on the real Redis."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests

from routing.clock import now_us
from routing.errors import PoolExhausted
from routing.sessions import lifecycle
from routing.sessions.session import Session
from tests.conftest import TenantFixture, make_tenant
from tests.sessions_helpers import credential

K = 10
THREADS = 32
REQUESTS = 120
POOL = [f"+1415555{n:04d}" for n in range(120, 120 + K)]
PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321"}

T = TypeVar("T")


def race(work: Callable[[int], T], count: int, threads: int = THREADS) -> list[T]:
    """Run `work(0..count-1)` on `threads` threads, the first wave released together; return the results."""
    start = threading.Event()

    def task(i: int) -> T:
        start.wait(timeout=10)
        return work(i)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(task, i) for i in range(count)]
        start.set()
        return [f.result(timeout=60) for f in futures]


def http(method: str, url: str, tenant: TenantFixture, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with requests.request(method, url, auth=tenant.basic, timeout=30, **kwargs) as response:
        return response.status_code, response.json()


def create_many(base: str, tenant: TenantFixture, count: int) -> list[tuple[int, dict[str, Any]]]:
    return race(lambda _: http("POST", base, tenant, json=PARTIES), count)


def assert_pool_handed_out_once(results: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Assert exactly K creates won, each with its own number of the pool, and the rest got a 409."""
    statuses = Counter(status for status, _ in results)
    won = [body for status, body in results if status in (200, 201)]
    assert len(won) == K, statuses
    assert statuses[409] == len(results) - K, statuses
    numbers = [body["virtual_number"] for body in won]
    assert sorted(numbers) == sorted(POOL), "a number was handed out twice or one never"
    assert len({body["session_uuid"] for body in won}) == K
    for status, body in results:
        assert "api_id" in body
        if status == 409:
            assert "no free virtual number" in body["error"]
    return won


def test_racing_creates_over_http_hand_out_each_number_exactly_once(live_server, real_store):
    tenant = make_tenant(real_store, POOL)
    base = f"{live_server}{tenant.plivo_base}"

    won = assert_pool_handed_out_once(create_many(base, tenant, REQUESTS))

    active = http("GET", base, tenant, params={"status": "active"})[1]["response"]["meta"]["total_count"]
    assert active == K
    ends = race(lambda i: http("DELETE", f"{base}{won[i]['session_uuid']}/", tenant), K)
    assert [status for status, _ in ends] == [200] * K
    assert http("GET", base, tenant, params={"status": "active"})[1]["response"]["meta"]["total_count"] == 0
    assert_pool_handed_out_once(create_many(base, tenant, K + 6))


def test_racing_deletes_of_one_session_end_it_exactly_once(live_server, real_store):
    tenant = make_tenant(real_store, POOL[:2])
    base = f"{live_server}{tenant.plivo_base}"
    session_uuid = http("POST", base, tenant, json=PARTIES)[1]["session_uuid"]

    ends = race(lambda _: http("DELETE", f"{base}{session_uuid}/", tenant), THREADS)

    assert sorted(status for status, _ in ends) == [200] + [409] * (THREADS - 1)
    numbers = race(lambda _: http("POST", base, tenant, json=PARTIES), 4)
    assert sorted(status for status, _ in numbers) == [200, 200, 409, 409]


def test_racing_updates_of_one_session_each_land_whole_or_not_at_all(live_server, real_store):
    tenant = make_tenant(real_store, POOL[:1])
    base = f"{live_server}{tenant.plivo_base}"
    session_uuid = http("POST", base, tenant, json=PARTIES)[1]["session_uuid"]

    results = race(
        lambda i: http(
            "POST", f"{base}{session_uuid}/", tenant, json={"ring_timeout": 15 + i, "call_time_limit": 60 + i}
        ),
        THREADS,
    )

    assert {status for status, _ in results} <= {200, 409}
    assert sum(status == 200 for status, _ in results) >= 1
    final = http("GET", f"{base}{session_uuid}/", tenant)[1]["response"]
    assert final["call_time_limit"] - 60 == final["ring_timeout"] - 15
    assert final["status"] == "active"


def test_racing_opens_against_the_domain_hand_out_each_number_exactly_once(real_store):
    tenant = make_tenant(real_store, POOL)

    def open_one(_: int) -> Session | None:
        try:
            return lifecycle.open_session(real_store, credential(tenant), PARTIES, now_us())
        except PoolExhausted:
            return None

    opened = [s for s in race(open_one, REQUESTS) if s is not None]

    assert len(opened) == K
    assert sorted(s.virtual_number for s in opened) == sorted(POOL)
    race(lambda i: lifecycle.end_session(real_store, tenant.auth_id, opened[i].session_uuid, now_us()), K)
    again = [s for s in race(open_one, K + 6) if s is not None]
    assert sorted(s.virtual_number for s in again) == sorted(POOL)
