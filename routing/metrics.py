"""What the operator's metrics report: every tenant's figures summed into one hash, so a scrape reads one key.

The counters are kept by the steps that change things (the Lua scripts and the outbox) on each tenant's record;
the gauges are the sizes of small per-tenant structures. A tenant's share (one read-only script call) is kept in one
hash of shares (`Keys.tenant_figures`), and the sums of the shares are written whole.

Reading every tenant's share each time would cost a worker in proportion to the tenants, busy or not: instead each
worker reads again (`record`) the shares of the tenants it owns that it did something for since (their work fell
due, or their doorbell rang), and a few others in turn, each at least every `SHARES_EVERY` while a worker owns fewer
than a few thousand (workers/dispatcher.py); and every `EVERY`, one worker (a lease) sums the shares
(`gather_if_due`). `gather` reads every share at once (the CLI's and the tests' way). `read`, what a scrape does, is
one HGETALL whatever the number of tenants. The figures name no tenant: per-tenant figures are for the tenant
(`GET /v1/did/pool`) and the operator's `masq pool stats`, not for every reader of the metrics. Nothing here scans
sessions or numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routing.clock import US
from routing.lua import Reply
from routing.store import Store

SESSION_COUNTERS = ("sessions_opened", "sessions_refused", "sessions_completed", "sessions_expired")
CALLBACK_COUNTERS = ("callbacks_delivered", "callbacks_failed", "callbacks_dead")
COUNTERS = (*SESSION_COUNTERS, *CALLBACK_COUNTERS)
POOL_STATES = ("free", "in_use", "cooling", "suspended")
OWED_STATES = ("pending", "retrying", "dead")
# How old the sums may get before a worker sums them again (µs); a scrape every 15 s or more sees fresh ones.
EVERY = 10 * US
# How old the share of a tenant no worker did anything for may get (µs).
SHARES_EVERY = 600 * US
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


# A share's figures, in this order, as the comma-separated integers stored for it.
SHARE = (*COUNTERS, *POOL_STATES, *OWED_STATES)


def record(store: Store, auth_ids: Sequence[str], now: int) -> dict[str, Exception]:
    """Read the shares of the tenants `auth_ids` at `now` and keep them in the hash of shares (one HSET).

    One read-only script call per tenant, pipelined BATCH at a time; each call stays in its tenant's slot. A tenant
    whose share could not be read (its slot moving, its node down) keeps its previous share; it is returned with the
    error, by auth_id, and read again next time.
    """
    failed: dict[str, Exception] = {}
    for start in range(0, len(auth_ids), BATCH):
        chunk = auth_ids[start : start + BATCH]
        shares: dict[str, str] = {}
        for auth_id, reply in zip(chunk, store.run_each("metrics.lua", chunk, now, *COUNTERS), strict=True):
            if isinstance(reply, Exception):
                failed[auth_id] = reply
            else:
                shares[auth_id] = ",".join(str(n) for n in _share(reply))
        if shares:
            store.redis.hset(store.keys.tenant_figures(), mapping=shares)
    return failed


def gather(store: Store, now: int) -> Figures:
    """Read every tenant's share at `now`, then sum the shares (`sum_shares`); return the sums."""
    record(store, sorted(str(a) for a in store.redis.smembers(store.keys.tenants())), now)
    return sum_shares(store, now)


def sum_shares(store: Store, now: int) -> Figures:
    """Sum the shares of every tenant as last read, store the sums whole (one HSET) and return them.

    Three commands whatever the number of tenants; the shares of tenants that are gone are dropped.
    """
    tenants = {str(a) for a in store.redis.smembers(store.keys.tenants())}
    shares = store.redis.hgetall(store.keys.tenant_figures())
    gone = [auth_id for auth_id in shares if auth_id not in tenants]
    if gone:
        store.redis.hdel(store.keys.tenant_figures(), *gone)
    sums = dict.fromkeys(SHARE, 0)
    for auth_id, text in shares.items():
        if auth_id in tenants:
            for name, number in zip(SHARE, text.split(","), strict=False):
                sums[name] += int(number)
    figures = Figures(
        at=now,
        tenants=len(tenants),
        counters={name: sums[name] for name in COUNTERS},
        pool={name: sums[name] for name in POOL_STATES},
        owed={name: sums[name] for name in OWED_STATES},
    )
    store.redis.hset(store.keys.metrics(), mapping={"at": now, "tenants": len(tenants), **sums})
    return figures


def gather_if_due(store: Store, now: int, every: int = EVERY) -> Figures | None:
    """Sum the shares (`sum_shares`) unless some process did less than `every` µs ago; return the sums, or None
    when not due.

    A lease in Redis (`Keys.metrics_lease`) lets one of many workers sum them per period.
    """
    if not store.redis.set(store.keys.metrics_lease(), now, nx=True, px=max(1, every // 1000)):
        return None
    return sum_shares(store, now)


def _share(reply: Reply) -> list[int]:
    """Return metrics.lua's reply as the integers of SHARE."""
    return [int(value) for value in reply["counters"]] + [int(reply[name]) for name in (*POOL_STATES, *OWED_STATES)]


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
