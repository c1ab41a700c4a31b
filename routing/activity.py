"""Every tenant at a glance, for operators: open sessions, live calls and where their callbacks stand."""

from __future__ import annotations

from dataclasses import dataclass

from routing.store import Store


@dataclass(frozen=True)
class TenantActivity:
    """One tenant now: its name and parent, sessions open, calls live, DIDs held, and callbacks owed (`owed`,
    of which `retrying` wait for a retry) or given up on (`dead`)."""

    auth_id: str
    name: str
    parent: str
    open_sessions: int
    live_calls: int
    numbers: int
    owed: int
    retrying: int
    dead: int


def tenant_ids(store: Store) -> list[str]:
    """Return every tenant's auth_id, sorted."""
    return sorted(str(auth_id) for auth_id in store.redis.smembers(store.keys.tenants()))


def activity(store: Store, auth_ids: list[str], now: int) -> list[TenantActivity]:
    """Return what each tenant of `auth_ids` is doing at `now` (µs), in the order given, in one round trip."""
    keys = store.keys
    with store.redis.pipeline(transaction=False) as pipe:
        for auth_id in auth_ids:
            pipe.hmget(keys.tenant(auth_id), "name", "parent")
            pipe.zcount(keys.open_by_expiry(auth_id), f"({now}", "+inf")
            pipe.zcard(keys.live_calls(auth_id))
            pipe.scard(keys.numbers(auth_id))
            pipe.xlen(keys.events(auth_id))
            pipe.zcard(keys.event_retries(auth_id))
            pipe.hlen(keys.dead_letters(auth_id))
        replies = pipe.execute()
    found = []
    for index, auth_id in enumerate(auth_ids):
        (name, parent), *counts = replies[index * 7 : index * 7 + 7]
        found.append(TenantActivity(auth_id, str(name or ""), str(parent or ""), *(int(n) for n in counts)))
    return found
