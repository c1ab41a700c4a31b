"""Lanes: a tenant's deliveries to one endpoint (scheme, host, port) wait in that tenant's lane for it, in order, and
go out at most `bound` at a time, while other lanes' go on. A slow or dead endpoint fills its own lanes and no other;
a tenant's slow path holds no other tenant's deliveries to the same host.

At most `capacity` deliveries are in flight in all (the sender's threads), and at most `per_tenant` of one tenant's
(by default a `TENANT_SHARE`th of the capacity, at least 1), so that one tenant's slow endpoints, however many, leave
most threads to the others. A lane's bound is below its tenant's (when that is more than 1), so that a tenant's
endpoint that hangs leaves a thread to its other endpoints. When a thread is free, it goes to the
tenant with a delivery ready that has the fewest in flight (the tenants take turns on a tie), and within the tenant to
its lane with the fewest in flight (so a tenant's fresh events to a healthy endpoint pass its retries queued for a
dead one). A lane whose last answer took `slow_after` s or more (a deadline overrun included) is slow: it gets
`slow_bound` at a time until it answers quickly again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from routing.urls import parse_url

Endpoint = tuple[str, str, int]
Lane = tuple[str, Endpoint]  # (tenant's auth_id, endpoint)
Job = TypeVar("Job")
Key = TypeVar("Key")

SLOW_AFTER = 3.0
SLOW_BOUND = 2
TENANT_SHARE = 4


def endpoint_of(url: str) -> Endpoint:
    """Return the endpoint a callback URL points at; a URL that cannot be read is an endpoint of its own."""
    try:
        parsed = parse_url(url)
    except ValueError:
        return ("", url, 0)
    return (parsed.scheme, parsed.host, parsed.port)


def tenant_share(capacity: int) -> int:
    """Return how many of `capacity` threads one tenant may hold at once: a `TENANT_SHARE`th, at least 1."""
    return max(1, capacity // TENANT_SHARE)


class Lanes(Generic[Job]):
    """Per-tenant, per-endpoint lanes; `start(job)` sends a job (without waiting for it), `done(lane, seconds)` says
    one finished after `seconds`."""

    def __init__(
        self,
        bound: int,
        start: Callable[[Job], None],
        capacity: int = 1 << 30,
        per_tenant: int | None = None,
        slow_bound: int = SLOW_BOUND,
        slow_after: float = SLOW_AFTER,
    ) -> None:
        self.capacity = capacity
        self.per_tenant = per_tenant if per_tenant is not None else tenant_share(capacity)
        self.bound = max(1, min(bound, self.per_tenant - 1))  # a tenant's other lanes keep a thread
        self.slow_bound = max(1, min(slow_bound, self.bound))
        self.slow_after = slow_after
        self._start = start
        self._in_flight: dict[Lane, int] = {}
        self._tenant_flight: dict[str, int] = {}
        self._waiting: dict[Lane, deque[Job]] = {}
        self._turns: deque[str] = deque()  # the tenants with jobs waiting, in the order they take turns
        self._lanes_of: dict[str, deque[Lane]] = {}  # each such tenant's lanes with jobs waiting, in turn order
        self._slow: set[Lane] = set()
        self._total = 0

    def offer(self, lane: Lane, job: Job) -> None:
        """Queue `job` in its lane, and start what may start."""
        waiting = self._waiting.get(lane)
        if waiting is None:
            waiting = self._waiting[lane] = deque()
            tenant = lane[0]
            if tenant not in self._lanes_of:
                self._lanes_of[tenant] = deque()
                self._turns.append(tenant)
            self._lanes_of[tenant].append(lane)
        waiting.append(job)
        self._pump()

    def done(self, lane: Lane, seconds: float = 0.0) -> None:
        """Note that a job of `lane` finished after `seconds`, and start what may start."""
        _decrement(self._in_flight, lane)
        _decrement(self._tenant_flight, lane[0])
        self._total -= 1
        if seconds >= self.slow_after:
            self._slow.add(lane)
        else:
            self._slow.discard(lane)
        self._pump()

    def drop(self, unwanted: Callable[[Job], bool]) -> list[Job]:
        """Take the waiting jobs `unwanted` picks out of their lanes (never one in flight) and return them."""
        dropped: list[Job] = []
        for lane in list(self._waiting):
            kept: deque[Job] = deque()
            for job in self._waiting[lane]:
                (dropped if unwanted(job) else kept).append(job)
            if kept:
                self._waiting[lane] = kept
            else:
                self._forget(lane)
        return dropped

    def in_flight(self, lane: Lane | None = None) -> int:
        """Return how many jobs are in flight in `lane`, or in every lane."""
        return self._total if lane is None else self._in_flight.get(lane, 0)

    def tenant_in_flight(self, tenant: str) -> int:
        """Return how many of `tenant`'s jobs are in flight."""
        return self._tenant_flight.get(tenant, 0)

    def waiting(self) -> int:
        """Return how many jobs wait in every lane."""
        return sum(len(lane) for lane in self._waiting.values())

    def is_slow(self, lane: Lane) -> bool:
        """Return whether `lane`'s endpoint answered slowly last time."""
        return lane in self._slow

    def _pump(self) -> None:
        """Start jobs while there is room in all: each from the tenant with a lane ready that has the fewest in flight,
        from its ready lane with the fewest in flight (the first in turn on a tie, among tenants and among lanes)."""
        while self._total < self.capacity:
            picked = self._next()
            if picked is None:
                return
            tenant, lane = picked
            self._turns.remove(tenant)
            lanes = self._lanes_of[tenant]
            lanes.remove(lane)
            waiting = self._waiting[lane]
            job = waiting.popleft()
            if waiting:
                lanes.append(lane)  # its next job waits for the tenant's other lanes' turns
            else:
                del self._waiting[lane]
            if lanes:
                self._turns.append(tenant)  # its next job waits for the other tenants' turns
            else:
                del self._lanes_of[tenant]
            self._in_flight[lane] = self._in_flight.get(lane, 0) + 1
            self._tenant_flight[tenant] = self._tenant_flight.get(tenant, 0) + 1
            self._total += 1
            self._start(job)

    def _next(self) -> tuple[str, Lane] | None:
        best: tuple[str, Lane] | None = None
        fewest = self.per_tenant
        for tenant in self._turns:
            flying = self._tenant_flight.get(tenant, 0)
            if flying >= fewest:
                continue
            ready = [lane for lane in self._lanes_of[tenant] if self._in_flight.get(lane, 0) < self._bound(lane)]
            if ready:
                best, fewest = (tenant, min(ready, key=lambda lane: self._in_flight.get(lane, 0))), flying
        return best

    def _forget(self, lane: Lane) -> None:
        del self._waiting[lane]
        lanes = self._lanes_of[lane[0]]
        lanes.remove(lane)
        if not lanes:
            del self._lanes_of[lane[0]]
            self._turns.remove(lane[0])

    def _bound(self, lane: Lane) -> int:
        return self.slow_bound if lane in self._slow else self.bound


def _decrement(counts: dict[Key, int], key: Key) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
