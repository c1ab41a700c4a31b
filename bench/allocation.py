"""Allocation cost as the pool grows: opening a session on a pool of 100 DIDs and on one of 100,000.

Half of each pool carries open sessions, as a busy pool does, so the indexes ALLOCATE touches (the free
set, the expiry and creation indexes) are as large as the pool makes them. Each round opens 40 sessions
on each pool through `routing.sessions.lifecycle.open_session` and then ends them through `end_session`, so the pools
stay as they were; the pools take turns going first. Redis's SLOWLOG (threshold 0) gives the time the
open script (open_checked.lua: the credential check, then the allocation) took in Redis for every open; the
client side times the whole domain call.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench import fixtures
from bench.common import PREFIX, Figure
from routing import tenants
from routing.clock import now_us
from routing.sessions import lifecycle
from routing.store import Store

PER_ROUND = 40


def _pool(store: Store, name: str, size: int, start: int) -> tenants.Credential:
    now = now_us()
    credentials = tenants.create_tenant(store, name, now)
    fixtures.add_numbers(store, credentials.auth_id, fixtures.did_numbers(size, start=start), now)
    fixtures.open_sessions(store, credentials.auth_id, fixtures.session_request(), size // 2, now)
    return tenants.basic_credential(credentials.auth_id, credentials.auth_token)


def run(workdir: Path, quick: bool, redis_url: str) -> list[Figure]:
    """Return the allocation figure: median open-script time in Redis, pool of 100,000 over pool of 100."""
    large_size, rounds = (10_000, 10) if quick else (100_000, 25)
    store = Store.connect(redis_url, PREFIX)
    pools = {
        100: _pool(store, "bench-pool-100", 100, 5_000_000),
        large_size: _pool(store, "bench-pool-large", large_size, 5_100_000),
    }
    sha = store.script("open_checked.lua").sha
    store.redis.config_set("slowlog-max-len", 4 * PER_ROUND)
    request = fixtures.session_request()
    in_redis: dict[int, list[int]] = {size: [] for size in pools}
    whole_call: dict[int, list[float]] = {size: [] for size in pools}
    try:
        store.redis.config_set("slowlog-log-slower-than", 0)
        for round_number in range(rounds):
            order = list(pools) if round_number % 2 == 0 else list(reversed(pools))
            for size in order:
                credential = pools[size]
                store.redis.slowlog_reset()
                opened = []
                for _ in range(PER_ROUND):
                    began = time.perf_counter()
                    opened.append(lifecycle.open_session(store, credential, request, now_us()))
                    whole_call[size].append((time.perf_counter() - began) * 1e6)
                entries = store.redis.slowlog_get(4 * PER_ROUND)
                in_redis[size].extend(int(e["duration"]) for e in entries if sha in str(e["command"]))
                for session in opened:
                    lifecycle.end_session(store, credential.auth_id, session.session_uuid, now_us())
    finally:
        store.redis.config_set("slowlog-log-slower-than", 10_000)
    small, large = (statistics.median(in_redis[100]), statistics.median(in_redis[large_size]))
    detail = {
        f"pool_{size}": {
            "allocations": len(whole_call[size]),
            "open_sessions_meanwhile": size // 2,
            "allocate_in_redis_us_median": statistics.median(in_redis[size]),
            "allocate_in_redis_us_p90": _p90(in_redis[size]),
            "open_session_call_us_median": round(statistics.median(whole_call[size]), 1),
            "open_session_call_us_p90": round(_p90(whole_call[size]), 1),
        }
        for size in pools
    }
    detail["open_session_call_ratio"] = round(
        statistics.median(whole_call[large_size]) / statistics.median(whole_call[100]), 3
    )
    store.redis.close()
    value = round(large / small, 3)
    return [
        Figure(
            f"allocation cost, pool of {large_size:,} vs pool of 100 (ALLOCATE in Redis)",
            value,
            "×",
            "ratio ≤ 1.2",
            value <= 1.2,
            None,
            value,
            detail,
        )
    ]


def _p90(values: list[int] | list[float]) -> float:
    return float(statistics.quantiles(values, n=10)[-1])
