"""Workers sharing the tenants: each says it lives every `BEAT`, and each tenant belongs to one live worker.

The registry (`Keys.workers`) scores every worker by when it last said it lives, on Redis' clock
(routing/lua/heartbeat.lua); a worker unheard of for `LIVE` is dead. A tenant's owner is chosen among the live workers
by rendezvous hashing (the highest hash of worker and tenant), so every worker computes the same owner without talking
to the others, and when a worker comes or goes only the tenants it gains or loses move. A worker that stops leaves the
registry at once; one that dies is noticed within `LIVE` plus a beat, well within the outbox's claim time.
"""

from __future__ import annotations

import hashlib

from routing.clock import US
from routing.store import Store

BEAT = 5 * US
LIVE = 15 * US


def _score(worker: str, auth_id: str) -> int:
    digest = hashlib.blake2b(f"{worker}\0{auth_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(workers: frozenset[str], auth_id: str) -> str:
    """Return which of `workers` (not empty) owns tenant `auth_id`: the same answer in every process."""
    return max(sorted(workers), key=lambda worker: _score(worker, auth_id))


class Membership:
    """One worker's place in the registry: its beats, and the live workers as last heard."""

    def __init__(self, store: Store, worker_id: str, beat: int = BEAT, live: int = LIVE) -> None:
        self.store = store
        self.worker_id = worker_id
        self.beat_every = beat
        self.live = live
        self.workers: frozenset[str] = frozenset({worker_id})
        self._next_beat: int | None = None

    def beat(self, now: int) -> bool:
        """Say this worker lives if a beat is due at `now` (µs, local clock); return whether the live workers
        changed."""
        if self._next_beat is not None and now < self._next_beat:
            return False
        self._next_beat = now + self.beat_every
        reply = self.store.run_global(
            "heartbeat.lua", self.store.keys.workers(), now, self.worker_id, self.live // 1000, 0
        )
        workers = frozenset(str(w) for w in reply["workers"]) | {self.worker_id}
        changed = workers != self.workers
        self.workers = workers
        return changed

    @property
    def next_beat(self) -> int | None:
        """Return when the next beat is due (µs), None before the first."""
        return self._next_beat

    def owns(self, auth_id: str) -> bool:
        """Return whether this worker owns tenant `auth_id` among the live workers last heard of."""
        return len(self.workers) == 1 or owner(self.workers, auth_id) == self.worker_id

    def leave(self, now: int) -> None:
        """Leave the registry now, so that the other workers take this one's tenants at their next beat."""
        self.store.run_global("heartbeat.lua", self.store.keys.workers(), now, self.worker_id, self.live // 1000, 1)
