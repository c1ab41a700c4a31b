"""Redis memory per open session: `used_memory` before and after opening 100,000 sessions.

The DIDs are added before the first reading, so what they cost on their own is not counted; what a session
adds to its DID's record (the session's id in the number hash) is. Sampled `MEMORY USAGE` readings show
which keys the memory goes to.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

from bench import fixtures
from bench.common import PREFIX, Figure
from routing import tenants
from routing.clock import now_us
from routing.store import Store

SAMPLE = 200
TARGET_BYTES = 1536


def used_memory(store: Store) -> int:
    """Return Redis's used_memory once freed memory has been given back and the reading is steady."""
    store.redis.memory_purge()
    time.sleep(0.2)
    return int(store.redis.info("memory")["used_memory"])


def run(workdir: Path, quick: bool, redis_url: str) -> list[Figure]:
    """Return bytes per open session, with where they go."""
    count = 10_000 if quick else 100_000
    store = Store.connect(redis_url, PREFIX)
    now = now_us()
    auth_id = tenants.create_tenant(store, "bench-memory", now).auth_id
    numbers = fixtures.did_numbers(count, start=3_000_000)
    fixtures.add_numbers(store, auth_id, numbers, now)
    sampled = random.Random(7).sample(numbers, SAMPLE)
    number_before = [_usage(store, store.keys.number(auth_id, n)) for n in sampled]
    keys_before = int(store.redis.dbsize())
    before = used_memory(store)
    opened = fixtures.open_sessions(store, auth_id, fixtures.session_request(), count, now)
    after = used_memory(store)
    per_session = (after - before) / count
    by_number = dict((number, uuid) for uuid, number in opened)
    parts = {
        "session JSON (string key)": statistics.mean(
            _usage(store, store.keys.session(auth_id, by_number[n])) for n in sampled
        ),
        "route hash (route:{DID} → session)": statistics.mean(
            _usage(store, store.keys.route(auth_id, n)) for n in sampled
        ),
        "session id in the DID's hash": statistics.mean(_usage(store, store.keys.number(auth_id, n)) for n in sampled)
        - statistics.mean(number_before),
        "expiry index (sorted set member)": _usage(store, store.keys.open_by_expiry(auth_id), whole=True) / count,
        "creation index (sorted set member)": _usage(store, store.keys.sessions_by_created(auth_id), whole=True)
        / count,
    }
    parts = {name: round(value, 1) for name, value in parts.items()}
    parts["the rest (key table growth, allocator)"] = round(per_session - sum(parts.values()), 1)
    detail = {
        "sessions": count,
        "used_memory_before": before,
        "used_memory_after": after,
        "keys_before": keys_before,
        "keys_after": int(store.redis.dbsize()),
        "bytes_per_session_by_key": parts,
    }
    store.redis.close()
    return [
        Figure(
            f"Redis memory per open session ({count:,} sessions)",
            round(per_session, 1),
            "bytes",
            "≤ 1.5 KB",
            per_session <= TARGET_BYTES,
            None,
            None,
            detail,
        )
    ]


def _usage(store: Store, key: str, whole: bool = False) -> int:
    # SAMPLES 0 reads every element of a sorted set; single keys are exact anyway.
    return int(store.redis.memory_usage(key, samples=0 if whole else None) or 0)
