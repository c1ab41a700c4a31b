"""Redis' clock as this process reads it: the local clock corrected by its measured offset from Redis' `TIME`.

Every process that writes "now" into the store (web, worker, CLI) reads it through here, so a host whose clock
runs fast or slow neither ends sessions early nor dates them wrong: all of them agree with the one Redis clock
(a cluster's nodes keep theirs in step with NTP, as any servers do). The offset is measured with one `TIME` every
`EVERY` µs, taking the midpoint of the round trip as the moment Redis read its clock.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from routing import clock

EVERY = 10 * clock.US  # µs between two measurements of the offset


class RedisClock:
    """This process's clock, corrected by its offset from Redis' clock (thread-safe; one `TIME` per `every` µs)."""

    def __init__(self, every: int = EVERY) -> None:
        self.every_ns = every * 1000
        self.offset = 0  # µs to add to the local clock
        self._measured_at: int | None = None  # time.monotonic_ns() of the last measurement
        self._lock = threading.Lock()

    def now_us(self, client: Any) -> int:
        """Return Redis' time now, in µs since the epoch, measuring the offset first with `client` when it is due.

        Raises redis-py's errors when the measurement cannot be made.
        """
        if self._due():
            with self._lock:
                if self._due():
                    self._measure(client)
        return clock.now_us() + self.offset

    def _due(self) -> bool:
        measured = self._measured_at
        return measured is None or time.monotonic_ns() - measured >= self.every_ns

    def _measure(self, client: Any) -> None:
        before = clock.now_us()
        seconds, micros = client.time()
        after = clock.now_us()
        self.offset = int(seconds) * clock.US + int(micros) - (before + after) // 2
        self._measured_at = time.monotonic_ns()
