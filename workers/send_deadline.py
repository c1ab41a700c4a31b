"""A hard deadline on one callback send: when it passes, the send's socket is shut, whatever the send is waiting for.

A read timeout bounds each read, not a send: an endpoint that answers a byte every few seconds never trips it. So
each send runs under a `Watch`; the connection the send uses (urllib3's, through `WatchedPools`) tells its watch
which socket it is on, and one watchdog thread shuts that socket down when the watch's deadline passes. The blocked
read then fails at once, and the send reports the overrun. A watch whose send has not connected yet is looked at
again shortly after (the connect timeout, never longer than the time left, ends that wait).
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# How soon a watch past its deadline whose send has no socket yet is looked at again, in seconds.
RECHECK = 0.05

_current = threading.local()


class Watch:
    """One send's deadline (time.monotonic() s), the connection it is on, and whether the deadline cut it short."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connection: HTTPConnection | None = None
        self.overran = False
        self.finished = False

    def left(self) -> float:
        """Return the seconds left before the deadline (0 once past)."""
        return max(0.0, self.deadline - time.monotonic())


class Watchdog:
    """One thread that shuts the socket of every watched send still running at its deadline."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watch(self, seconds: float) -> Iterator[Watch]:
        """Run the block as one send with `seconds` in all; the connections it uses on this thread are watched."""
        watch = Watch(time.monotonic() + seconds)
        self._arm(watch, watch.deadline)
        _current.watch = watch
        try:
            yield watch
        finally:
            _current.watch = None
            with self._lock:
                watch.finished = True

    def _arm(self, watch: Watch, at: float) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="masq-send-deadline", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (at, next(self._order), watch))
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._lock.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                _, _, watch = heapq.heappop(self._heap)
                if watch.finished:
                    continue
                watch.overran = True
                sock = watch.connection.sock if watch.connection is not None else None
                if sock is None:
                    heapq.heappush(self._heap, (time.monotonic() + RECHECK, next(self._order), watch))
                    continue
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: a TLS one's too
            except OSError:
                pass  # closed already


_watchdog = Watchdog()


def watch(seconds: float) -> AbstractContextManager[Watch]:
    """Return a context manager that runs its block as one send of at most `seconds` (see `Watchdog.watch`)."""
    return _watchdog.watch(seconds)


class _Watched:
    """A connection that tells the send under way on its thread which connection it uses."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        watching: Watch | None = getattr(_current, "watch", None)
        if watching is not None:
            watching.connection = self  # type: ignore[assignment]
        super().request(*args, **kwargs)  # type: ignore[misc]


class WatchedHTTPConnection(_Watched, HTTPConnection):
    """urllib3's HTTP connection, watched."""


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    """urllib3's HTTPS connection, watched."""


class WatchedHTTPConnectionPool(HTTPConnectionPool):
    """urllib3's HTTP pool, of watched connections."""

    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    """urllib3's HTTPS pool, of watched connections."""

    ConnectionCls = WatchedHTTPSConnection


WATCHED_POOLS = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}
