"""Idle cost: Redis commands per second while two `masq worker` processes look after 1,000 tenants with nothing due.

Each tenant holds two DIDs and one open session that expires in a day; nothing else happens. Both workers run as
the Procfile runs them (RQ's worker, its scheduler and the dispatcher), with the queue on a Redis of its own; the
figure is every command both Redis servers ran (INFO commandstats, the commands scripts ran included) over a
window, once the workers have settled (both registered, every tenant's next due read, the metrics shares recorded).
"""

from __future__ import annotations

import time
from pathlib import Path

from bench import fixtures
from bench.common import PREFIX, Figure, commands_run, cpu_seconds, live_workers, masq_workers, private_redis
from routing import tenants
from routing.clock import now_us
from routing.store import Store

TENANTS = 1000
GOAL = 100.0
# What the worker before the due-index cost in the same set-up (this bench, `--quick`'s 20 s window, commit
# 5c080c2, the store's 24,842/s and the queue's 9/s): each of the two polled every tenant, as fast as it could go.
BEFORE = {"commands_per_second": 24_851, "commit": "5c080c2"}


def fill(store: Store, count: int) -> None:
    """Create `count` tenants, each with two DIDs and one session open for a day."""
    now = now_us()
    for i in range(count):
        auth_id = tenants.create_tenant(store, f"idle-{i}", now).auth_id
        fixtures.add_numbers(store, auth_id, fixtures.did_numbers(2, start=5_000_000 + 2 * i), now)
        fixtures.open_sessions(store, auth_id, fixtures.session_request(expiry=86_400), 1, now)


def settled(store: Store, count: int) -> bool:
    """Return whether every tenant has its next-due hint written and a metrics share recorded."""
    hints = sum(1 for _ in store.redis.scan_iter(match=f"{PREFIX}t:*:next-due", count=1000))
    return hints >= count and store.redis.hlen(store.keys.tenant_figures()) >= count


def measure(workdir: Path, store_url: str, queue_url: str, count: int, window: float) -> dict[str, object]:
    """Start two workers on `count` idle tenants, let them settle, and count the commands over `window` s."""
    store = Store.connect(store_url, PREFIX)
    fill(store, count)
    env = {"REDIS_URL": store_url, "QUEUE_REDIS_URL": queue_url, "MASQ_KEY_PREFIX": PREFIX, "MASQ_QUEUE": "bench-idle"}
    with masq_workers(2, env, workdir) as workers:
        deadline = time.monotonic() + 120
        while not (live_workers(store_url) == 2 and settled(store, count)):
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not settle within 120 s")
            time.sleep(0.5)
        time.sleep(10)  # the first beats after both registered, and the first metrics sums, pass
        before = {url: commands_run(url) for url in (store_url, queue_url)}
        cpu_before = [cpu_seconds(w.pid, children=True) for w in workers]
        began = time.monotonic()
        time.sleep(window)
        seconds = time.monotonic() - began
        after = {url: commands_run(url) for url in (store_url, queue_url)}
        cpu = [cpu_seconds(w.pid, children=True) - b for w, b in zip(workers, cpu_before, strict=True)]
        rss = [resident_mb(w.pid) for w in workers]
    hint = next(store.redis.scan_iter(match=f"{PREFIX}t:*:next-due", count=1000))
    added = {
        "next_due_hint": int(store.redis.memory_usage(hint) or 0),
        "metrics_share": round(int(store.redis.memory_usage(store.keys.tenant_figures()) or 0) / count),
    }
    store.redis.close()
    per_server = {}
    for name, url in (("store", store_url), ("queue", queue_url)):
        counts = {c: after[url][c] - before[url].get(c, 0) for c in after[url]}
        counts = {c: n for c, n in counts.items() if n > 0}
        per_server[name] = {
            "per_second": round(sum(counts.values()) / seconds, 1),
            "commands": dict(sorted(counts.items(), key=lambda item: -item[1])),
        }
    total = sum(float(server["per_second"]) for server in per_server.values())  # type: ignore[arg-type]
    return {
        "tenants": count,
        "workers": 2,
        "window_s": round(seconds, 1),
        "per_second": round(total, 1),
        **per_server,
        "worker_cpu_percent": [round(100 * c / seconds, 2) for c in cpu],
        "worker_rss_mb": rss,
        "redis_bytes_per_tenant": added,
    }


def resident_mb(pid: int) -> float:
    """Return the resident memory of process `pid` (MB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run(workdir: Path, quick: bool) -> list[Figure]:
    """Measure the idle cost of two workers and 1,000 tenants, on a store Redis and a queue Redis of their own."""
    with private_redis(workdir) as store_url, private_redis(workdir) as queue_url:
        got = measure(workdir, store_url, queue_url, TENANTS, 20.0 if quick else 60.0)
    rate = float(got["per_second"])  # type: ignore[arg-type]
    return [
        Figure(
            "idle Redis commands/s, 1,000 tenants, 2 workers",
            rate,
            "commands/s",
            f"≤ {GOAL:.0f}/s in all",
            rate <= GOAL,
            detail={**got, "before": BEFORE},
        )
    ]
