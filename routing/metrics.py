"""What the operator's metrics report: every tenant's figures summed into one hash, so a scrape reads one key.

The counters are kept by the steps that change things (the Lua scripts and the outbox) on each tenant's record;
the gauges are the sizes of small per-tenant structures. `gather` reads them for every tenant (one read-only
script call each, pipelined) and writes their sums whole; the worker does it every `EVERY`, one worker at a time.
`read`, what a scrape does, is one HGETALL whatever the number of tenants. The figures name no tenant: per-tenant
figures are for the tenant (`GET /v1/did/pool`) and the operator's `masq pool stats`, not for every reader of
the metrics. Nothing here scans sessions or numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.clock import US
from routing.store import Store

SESSION_COUNTERS = ("sessions_opened", "sessions_refused", "sessions_completed", "sessions_expired")
CALLBACK_COUNTERS = ("callbacks_delivered", "callbacks_failed", "callbacks_dead")
COUNTERS = (*SESSION_COUNTERS, *CALLBACK_COUNTERS)
POOL_STATES = ("free", "in_use", "cooling", "suspended")
OWED_STATES = ("pending", "retrying", "dead")
# How old the sums may get before a worker sums them again (µs); a scrape every 15 s or more sees fresh ones.
EVERY = 10 * US
# Tenants per pipelined round trip while summing.
BATCH = 500


@dataclass(frozen=True)
class Figures:
    """Every tenant's figures summed at `at` (µs): the COUNTERS since each tenant began, the gauges then."""

    at: int
    tenants: int
    counters: dict[str, int]
    pool: dict[str, int]  # DIDs by POOL_STATES
    owed: dict[str, int]  # events by OWED_STATES: still owed in all, waiting for a retry, dead


def gather(store: Store, now: int) -> Figures:
    """Sum every tenant's figures at `now`, store the sums whole (one HSET) and return them.

    One read-only script call per tenant, pipelined BATCH at a time; each call stays in its tenant's slot.
    """
    auth_ids = sorted(str(a) for a in store.redis.smembers(store.keys.tenants()))
    counters = dict.fromkeys(COUNTERS, 0)
    gauges = dict.fromkeys((*POOL_STATES, *OWED_STATES), 0)
    for start in range(0, len(auth_ids), BATCH):
        for reply in store.run_across("metrics.lua", auth_ids[start : start + BATCH], now, *COUNTERS):
            for name, value in zip(COUNTERS, reply["counters"], strict=True):
                counters[name] += int(value)
            for name in gauges:
                gauges[name] += int(reply[name])
    figures = Figures(
        at=now,
        tenants=len(auth_ids),
        counters=counters,
        pool={name: gauges[name] for name in POOL_STATES},
        owed={name: gauges[name] for name in OWED_STATES},
    )
    store.redis.hset(store.keys.metrics(), mapping={"at": now, "tenants": len(auth_ids), **counters, **gauges})
    return figures


def gather_if_due(store: Store, now: int, every: int = EVERY) -> Figures | None:
    """Gather the figures unless some process did less than `every` µs ago; return them, or None when not due.

    A lease in Redis (`Keys.metrics_lease`) lets one of many workers sum them per period.
    """
    if not store.redis.set(store.keys.metrics_lease(), now, nx=True, px=max(1, every // 1000)):
        return None
    return gather(store, now)


def read(store: Store) -> Figures | None:
    """Return the figures last gathered, or None when none were: one HGETALL, whatever the number of tenants."""
    stored = store.redis.hgetall(store.keys.metrics())
    if not stored:
        return None
    value = {name: int(text) for name, text in stored.items() if name in _FIELDS}
    return Figures(
        at=value.get("at", 0),
        tenants=value.get("tenants", 0),
        counters={name: value.get(name, 0) for name in COUNTERS},
        pool={name: value.get(name, 0) for name in POOL_STATES},
        owed={name: value.get(name, 0) for name in OWED_STATES},
    )


_FIELDS = frozenset(("at", "tenants", *COUNTERS, *POOL_STATES, *OWED_STATES))
