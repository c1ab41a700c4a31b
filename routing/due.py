"""When each tenant's work falls due, and the doorbell that says it fell due sooner.

A tenant's work is: ending sessions past their expiry and freeing DIDs past their cool-off (the sweep), asking the
carrier about live calls gone quiet (reconcile), and delivering its outbox (new events, retries at their time,
deliveries a dead worker left pending past the claim time). `next_due` reads when each falls due next in one script
(routing/lua/next_due.lua), which also writes the earliest as the tenant's hint (`Keys.next_due`): the time by which
the tenant's worker looks at it anyway. A script that makes work due sooner than the hint lowers it and publishes a
`Ring` on `Keys.due_channel` (routing/lua/doorbell.lua); a burst of them publishes once.

Times are µs. A due the scripts read from Redis is shifted onto the caller's clock by the difference between the
script's `now` and the caller's, so a worker's plan holds whichever clock the scripts read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routing.lua import Reply
from routing.store import Store

# Tenants per pipelined round trip when many are read at once.
BATCH = 500
_NEVER = -1


@dataclass(frozen=True)
class Due:
    """When a tenant's work falls due next (µs on the caller's clock; None: never), as next_due.lua reads it."""

    due: int | None  # the earliest of those the hint counts (see `next_due`'s `waiting`)
    sweep: int | None  # the first session expiry or cooled DID
    reconcile: int | None  # the first live call quiet for long enough
    retry: int | None  # the first event retry
    stale: int | None  # when the first pending delivery may be taken over
    new: int | None  # now, when the outbox has events no worker read yet

    @property
    def deliver(self) -> int | None:
        """Return when the outbox next needs its worker: the earliest of `new`, `retry` and `stale`."""
        return _earliest(self.new, self.retry, self.stale)


@dataclass(frozen=True)
class Ring:
    """One message of the due channel: tenant `auth_id` has work due at `due`, `delay` µs after it was published."""

    auth_id: str
    due: int
    delay: int


def next_due(store: Store, auth_id: str, now: int, claim_ms: int, quiet: int, waiting: bool = False) -> Due:
    """Return when the tenant's work falls due next, and write the earliest as its hint.

    `claim_ms` is the outbox's claim time (ms), `quiet` how long a live call goes unheard of before reconciling (µs).
    With `waiting` (the worker holds as many of the tenant's deliveries as it may) the outbox's dues are left out of
    the hint, and a new event rings no doorbell until the hint is written again.
    """
    reply = store.run("next_due.lua", auth_id, now, claim_ms, quiet, int(waiting))
    return _due(reply, now)


def next_dues(store: Store, auth_ids: Sequence[str], now: int, claim_ms: int, quiet: int) -> list[Due | Exception]:
    """Return `next_due` of each tenant of `auth_ids` (none waiting), in order, BATCH tenants per round trip; a tenant
    whose due could not be read (its slot moving, its node down) gets the error in its place."""
    dues: list[Due | Exception] = []
    for start in range(0, len(auth_ids), BATCH):
        replies = store.run_each("next_due.lua", auth_ids[start : start + BATCH], now, claim_ms, quiet, 0)
        dues.extend(reply if isinstance(reply, Exception) else _due(reply, now) for reply in replies)
    return dues


def ring(store: Store, auth_id: str, due: int, now: int, outbox: bool = True) -> None:
    """Ring the tenant's doorbell for work made due at `due` outside the scripts (`outbox`: a delivery)."""
    store.run("ring.lua", auth_id, now, due, int(outbox))


def parse_ring(message: str) -> Ring | None:
    """Return the `Ring` a due-channel message (`due now auth_id`) holds, or None when it is not one."""
    due, _, rest = message.partition(" ")
    published, _, auth_id = rest.partition(" ")
    if not (due.isdigit() and published.isdigit() and auth_id):
        return None
    return Ring(auth_id, int(due), int(due) - int(published))


def _due(reply: Reply, now: int) -> Due:
    shift = now - int(reply["now"])

    def at(name: str) -> int | None:
        value = int(reply[name])
        return None if value == _NEVER else value + shift

    return Due(at("due"), at("sweep"), at("reconcile"), at("retry"), at("stale"), at("new"))


def _earliest(*times: int | None) -> int | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None
