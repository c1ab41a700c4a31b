"""Calls in progress now: the tenant's index of live calls (`Keys.live_calls`), each with its interaction."""

from __future__ import annotations

from dataclasses import dataclass

from routing.calls.history import Interaction
from routing.store import Store

MOST = 200  # the most live calls read at once
LIVE_STATES = ("dialling", "pin")  # an interaction in another state is over (reconcile's `live_calls_due.lua` agrees)


@dataclass(frozen=True)
class LiveCall:
    """A call in progress: its session, the virtual number called, and the interaction so far."""

    session_uuid: str
    virtual_number: str
    call: Interaction


def live_calls(store: Store, auth_id: str, most: int = MOST) -> list[LiveCall]:
    """Return up to `most` of the tenant's calls in progress (the longest unheard of, when there are more), the
    longest-running first; two round trips."""
    sids = [str(sid) for sid in store.redis.zrange(store.keys.live_calls(auth_id), 0, most - 1)]
    if not sids:
        return []
    with store.redis.pipeline(transaction=False) as pipe:
        for sid in sids:
            pipe.hgetall(store.keys.interaction(auth_id, sid))
        hashes = pipe.execute()
    calls = [
        LiveCall(str(raw.get("session", "")), str(raw.get("to", "")), Interaction.from_hash(raw))
        for raw in hashes
        if raw.get("state") in LIVE_STATES
    ]
    return sorted(calls, key=lambda live: live.call.started)
