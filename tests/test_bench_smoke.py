"""The bench's own pieces that need neither wrk nor a server: its fast fixtures and its wrk report reader."""

from __future__ import annotations

import sys
import time

import fakeredis
import pytest
import requests

from bench import fixtures
from bench.common import free_port, parse_wrk, started
from routing import pool, tenants
from routing.clock import now_us
from routing.keys import Keys
from routing.sessions import lifecycle
from routing.store import Store
from tests.sessions_helpers import credential

WRK_REPORT = """Running 10s test @ http://127.0.0.1:40001/voice/inbound
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    19.71ms    9.12ms  80.17ms   70.00%
    Req/Sec   407.50     40.11   500.00     68.00%
  Latency Distribution
     50%   18.90ms
     75%   24.01ms
     90%   31.55ms
     99%  812.00us
  8150 requests in 10.01s, 6.91MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:    814.19
Transfer/sec:    706.84KB
BENCH-COUNTS non200=3 unexpected=1 repeated=0
"""


def state(store: Store, auth_id: str, session_uuids: list[str]) -> dict[str, object]:
    """Return every key of the tenant but its record, with values, with its ids replaced by placeholders."""

    def plain(text: str) -> str:
        text = text.replace(auth_id, "AUTH")
        for session_uuid in session_uuids:
            text = text.replace(session_uuid, "UUID")
        return text

    seen: dict[str, object] = {}
    for key in store.redis.scan_iter(f"{store.keys.prefix}*"):
        if key not in (store.keys.tenant(auth_id), store.keys.tenants()):
            kind = store.redis.type(key)
            seen[plain(key)] = (kind, plain(repr(value_of(store, key, kind))))
    return seen


def value_of(store: Store, key: str, kind: str) -> object:
    """Return a key's whole value, in an order that does not depend on how it was written."""
    if kind == "string":
        return store.redis.get(key)
    if kind == "hash":
        return sorted(store.redis.hgetall(key).items())
    if kind == "set":
        return sorted(store.redis.smembers(key))
    if kind == "zset":
        return store.redis.zrange(key, 0, -1, withscores=True)
    return store.redis.lrange(key, 0, -1)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"first_party_play_url": "https://media.example.com/hi.mp3"},
        {"callback_url": "https://hooks.example.com/cb", "session_expiry": 60},
    ],
)
def test_bench_fixtures_leave_what_the_domain_functions_leave(extra):
    now = now_us()
    request = fixtures.session_request(**extra)
    made = {}
    for way in ("domain", "bench"):
        store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), Keys("bench-test:"))
        credentials = tenants.create_tenant(store, "acme", now)
        auth_id = credentials.auth_id
        dids = fixtures.did_numbers(1)
        if way == "domain":
            pool.add_numbers(store, auth_id, dids, now)
            opened = [lifecycle.open_session(store, credential(credentials), request, now).session_uuid]
        else:
            fixtures.add_numbers(store, auth_id, dids, now)
            opened = [session_uuid for session_uuid, _ in fixtures.open_sessions(store, auth_id, request, 1, now)]
        made[way] = state(store, auth_id, opened)
    assert made["bench"] == made["domain"]
    assert any(":s:" in key for key in made["bench"])


def test_bench_fixtures_open_one_session_per_did():
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), Keys("bench-test:"))
    auth_id = tenants.create_tenant(store, "acme", now_us()).auth_id
    dids = fixtures.did_numbers(50, start=123)
    fixtures.add_numbers(store, auth_id, dids, now_us())
    opened = fixtures.open_sessions(store, auth_id, fixtures.session_request(), 50, now_us())
    assert sorted(number for _, number in opened) == sorted(dids)
    with pytest.raises(RuntimeError):
        fixtures.open_sessions(store, auth_id, fixtures.session_request(), 1, now_us())


def test_wrk_report_is_read_with_its_percentiles_and_counts():
    result = parse_wrk(WRK_REPORT)
    assert (result.requests, result.seconds, result.rps) == (8150, 10.01, 814.19)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (18.9, 31.55, 0.812)
    assert result.socket_errors == 3
    assert result.counts == {"non200": 3, "unexpected": 1, "repeated": 0}


@pytest.mark.integration  # runs the bench receiver as a process
def test_receiver_answers_callbacks_on_one_connection_and_counts_them():
    port = free_port()
    with started([sys.executable, "-m", "bench.receiver", str(port)], port=port), requests.Session() as http:
        for i in range(3):
            answer = http.post(f"http://127.0.0.1:{port}/cb", data={"EventName": "x", "n": str(i)}, timeout=5)
            assert (answer.status_code, answer.content) == (200, b"")
        assert http.get(f"http://127.0.0.1:{port}/cb", params={"a": "b"}, timeout=5).status_code == 200
        assert http.get(f"http://127.0.0.1:{port}/_count", timeout=5).text == "4"


@pytest.mark.integration  # runs the bench receiver as a process
def test_receiver_answers_late_when_told_and_notes_each_callbacks_latency():
    port = free_port()
    with started([sys.executable, "-m", "bench.receiver", str(port), "0.3"], port=port), requests.Session() as http:
        written = time.time_ns() // 1000 - 50_000  # 50 ms ago, in µs
        began = time.monotonic()
        answer = http.post(f"http://127.0.0.1:{port}/cb", data={"BenchWrittenUs": str(written)}, timeout=5)
        took = time.monotonic() - began
        [latency] = http.get(f"http://127.0.0.1:{port}/_latencies", timeout=5).text.split(",")

    assert answer.status_code == 200 and took >= 0.3
    assert 50 <= float(latency) < 1000
