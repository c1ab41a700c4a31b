"""Lanes: the deliveries to one endpoint (scheme, host, port) go out at most `bound` at a time, the rest wait in its
lane in order, while other endpoints' go on. A slow or dead endpoint fills its own lane and no other."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from routing.urls import parse_url

Endpoint = tuple[str, str, int]
Job = TypeVar("Job")


def endpoint_of(url: str) -> Endpoint:
    """Return the endpoint a callback URL points at; a URL that cannot be read is an endpoint of its own."""
    try:
        parsed = parse_url(url)
    except ValueError:
        return ("", url, 0)
    return (parsed.scheme, parsed.host, parsed.port)


class Lanes(Generic[Job]):
    """Per-endpoint lanes; `start(job)` sends a job (without waiting for it), `done(endpoint)` says one finished."""

    def __init__(self, bound: int, start: Callable[[Job], None]) -> None:
        self.bound = bound
        self._start = start
        self._in_flight: dict[Endpoint, int] = {}
        self._waiting: dict[Endpoint, deque[Job]] = {}

    def offer(self, endpoint: Endpoint, job: Job) -> None:
        """Start `job` now if its endpoint has fewer than `bound` in flight; else queue it in the endpoint's lane."""
        if self._in_flight.get(endpoint, 0) < self.bound:
            self._in_flight[endpoint] = self._in_flight.get(endpoint, 0) + 1
            self._start(job)
        else:
            self._waiting.setdefault(endpoint, deque()).append(job)

    def done(self, endpoint: Endpoint) -> None:
        """Note that a job to `endpoint` finished, and start the next one waiting in its lane, if any."""
        waiting = self._waiting.get(endpoint)
        if waiting:
            job = waiting.popleft()
            if not waiting:
                del self._waiting[endpoint]
            self._start(job)
            return
        left = self._in_flight.get(endpoint, 0) - 1
        if left > 0:
            self._in_flight[endpoint] = left
        else:
            self._in_flight.pop(endpoint, None)

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
        return dropped

    def in_flight(self, endpoint: Endpoint | None = None) -> int:
        """Return how many jobs are in flight to `endpoint`, or to every endpoint."""
        if endpoint is not None:
            return self._in_flight.get(endpoint, 0)
        return sum(self._in_flight.values())

    def waiting(self) -> int:
        """Return how many jobs wait in every lane."""
        return sum(len(lane) for lane in self._waiting.values())
