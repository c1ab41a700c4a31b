"""What the operator's metrics report, read from Redis so that every web and worker process agrees.

The counters are kept by the steps that change things (the Lua scripts and the outbox), on each tenant's
record; gauges are read at scrape time from small per-tenant structures. Nothing here scans sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing import capacity
from routing.store import Store

SESSION_COUNTERS = ("sessions_opened", "sessions_refused", "sessions_completed", "sessions_expired")
CALLBACK_COUNTERS = ("callbacks_delivered", "callbacks_failed", "callbacks_dead")


@dataclass(frozen=True)
class TenantFigures:
    """One tenant's counters since it began, and its pool and outbox now."""

    auth_id: str
    counters: dict[str, int]
    free: int
    in_use: int
    cooling: int
    suspended: int
    outbox: int
    retrying: int
    dead: int


def tenant_figures(store: Store, auth_id: str, now: int) -> TenantFigures:
    """Return one tenant's figures."""
    stats = capacity.pool_stats(store, auth_id, now, days=1)
    keys = store.keys
    with store.redis.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.tenant(auth_id), [*SESSION_COUNTERS, *CALLBACK_COUNTERS])
        pipe.xlen(keys.events(auth_id))
        pipe.zcard(keys.event_retries(auth_id))
        pipe.hlen(keys.dead_letters(auth_id))
        values, outbox, retrying, dead = pipe.execute()
    names = (*SESSION_COUNTERS, *CALLBACK_COUNTERS)
    return TenantFigures(
        auth_id=auth_id,
        counters={name: int(value or 0) for name, value in zip(names, values, strict=True)},
        free=stats.free,
        in_use=stats.in_use,
        cooling=stats.cooling,
        suspended=stats.suspended,
        outbox=int(outbox),
        retrying=int(retrying),
        dead=int(dead),
    )


def all_figures(store: Store, now: int) -> list[TenantFigures]:
    """Return every tenant's figures, in auth_id order."""
    tenants = sorted(str(a) for a in store.redis.smembers(store.keys.tenants()))
    return [tenant_figures(store, auth_id, now) for auth_id in tenants]
