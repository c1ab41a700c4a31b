"""Lanes: the deliveries to one endpoint (scheme, host, port) wait in that endpoint's lane, in order, and go out at
most `bound` at a time, while other endpoints' go on. A slow or dead endpoint fills its own lane and no other.

At most `capacity` deliveries are in flight in all (the sender's threads); when that many are, each send that
finishes makes room for the lane with the fewest in flight. An endpoint whose last answer took `slow_after` s or more
(a timeout included) is slow: it gets `slow_bound` at a time until it answers quickly again, so that a few dead
endpoints cannot hold every thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from routing.urls import parse_url

Endpoint = tuple[str, str, int]
Job = TypeVar("Job")

SLOW_AFTER = 3.0
SLOW_BOUND = 2


def endpoint_of(url: str) -> Endpoint:
    """Return the endpoint a callback URL points at; a URL that cannot be read is an endpoint of its own."""
    try:
        parsed = parse_url(url)
    except ValueError:
        return ("", url, 0)
    return (parsed.scheme, parsed.host, parsed.port)


class Lanes(Generic[Job]):
    """Per-endpoint lanes; `start(job)` sends a job (without waiting for it), `done(endpoint, seconds)` says one
    finished after `seconds`."""

    def __init__(
        self,
        bound: int,
        start: Callable[[Job], None],
        capacity: int = 1 << 30,
        slow_bound: int = SLOW_BOUND,
        slow_after: float = SLOW_AFTER,
    ) -> None:
        self.bound = bound
        self.capacity = capacity
        self.slow_bound = min(slow_bound, bound)
        self.slow_after = slow_after
        self._start = start
        self._in_flight: dict[Endpoint, int] = {}
        self._waiting: dict[Endpoint, deque[Job]] = {}
        self._turns: deque[Endpoint] = deque()  # the endpoints with jobs waiting, in the order they take turns
        self._slow: set[Endpoint] = set()
        self._total = 0

    def offer(self, endpoint: Endpoint, job: Job) -> None:
        """Queue `job` in its endpoint's lane, and start what may start."""
        lane = self._waiting.get(endpoint)
        if lane is None:
            lane = self._waiting[endpoint] = deque()
            self._turns.append(endpoint)
        lane.append(job)
        self._pump()

    def done(self, endpoint: Endpoint, seconds: float = 0.0) -> None:
        """Note that a job to `endpoint` finished after `seconds`, and start what may start."""
        left = self._in_flight.get(endpoint, 0) - 1
        if left > 0:
            self._in_flight[endpoint] = left
        else:
            self._in_flight.pop(endpoint, None)
        self._total -= 1
        if seconds >= self.slow_after:
            self._slow.add(endpoint)
        else:
            self._slow.discard(endpoint)
        self._pump()

    def drop(self, unwanted: Callable[[Job], bool]) -> list[Job]:
        """Take the waiting jobs `unwanted` picks out of their lanes (never one in flight) and return them."""
        dropped: list[Job] = []
        for endpoint in list(self._waiting):
            kept: deque[Job] = deque()
            for job in self._waiting[endpoint]:
                (dropped if unwanted(job) else kept).append(job)
            if kept:
                self._waiting[endpoint] = kept
            else:
                del self._waiting[endpoint]
                self._turns.remove(endpoint)
        return dropped

    def in_flight(self, endpoint: Endpoint | None = None) -> int:
        """Return how many jobs are in flight to `endpoint`, or to every endpoint."""
        return self._total if endpoint is None else self._in_flight.get(endpoint, 0)

    def waiting(self) -> int:
        """Return how many jobs wait in every lane."""
        return sum(len(lane) for lane in self._waiting.values())

    def is_slow(self, endpoint: Endpoint) -> bool:
        """Return whether `endpoint` answered slowly last time."""
        return endpoint in self._slow

    def _pump(self) -> None:
        """Start jobs while there is room in all: each from the lane with the fewest in flight that has room."""
        while self._turns and self._total < self.capacity:
            ready = [e for e in self._turns if self._in_flight.get(e, 0) < self._bound(e)]
            if not ready:
                return
            endpoint = min(ready, key=lambda e: self._in_flight.get(e, 0))  # the first such in turn on a tie
            self._turns.remove(endpoint)
            lane = self._waiting[endpoint]
            job = lane.popleft()
            if lane:
                self._turns.append(endpoint)  # its next job waits for the others' turns
            else:
                del self._waiting[endpoint]
            self._in_flight[endpoint] = self._in_flight.get(endpoint, 0) + 1
            self._total += 1
            self._start(job)

    def _bound(self, endpoint: Endpoint) -> int:
        return self.slow_bound if endpoint in self._slow else self.bound
