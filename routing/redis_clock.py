"""Redis' clock as this process reads it: Redis' `TIME` at a measurement, plus the monotonic time elapsed since.

Every process that writes "now" into the store (web, worker, CLI) reads it through here, so a host whose clock
runs fast or slow neither ends sessions early nor dates them wrong: all of them agree with the one Redis clock
(a cluster's nodes keep theirs in step with NTP, as any servers do). The host's wall clock is never read: between
two measurements the estimate advances by `time.monotonic_ns()`, so a step of the host's clock (an NTP step, an
operator's `date -s`) changes nothing. One `TIME` every `EVERY` µs re-anchors the estimate, taking the midpoint of
the round trip as the moment Redis read its clock, so the two clocks' drift never adds up.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from routing import clock

EVERY = 10 * clock.US  # µs between two measurements of Redis' clock


class RedisClock:
    """Redis' clock estimated from its last measured `TIME` and the monotonic clock (thread-safe; one `TIME` per
    `every` µs)."""

    def __init__(self, every: int = EVERY) -> None:
        self.every_ns = every * 1000
        # (Redis' time in µs, time.monotonic_ns() at that moment), replaced whole so that readers need no lock.
        self._anchor: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def now_us(self, client: Any) -> int:
        """Return Redis' time now, in µs since the epoch, measuring it first with `client` when that is due.

        Raises redis-py's errors when the measurement cannot be made.
        """
        anchor = self._anchor
        if anchor is None or time.monotonic_ns() - anchor[1] >= self.every_ns:
            with self._lock:
                anchor = self._anchor
                if anchor is None or time.monotonic_ns() - anchor[1] >= self.every_ns:
                    anchor = self._anchor = _measure(client)
        redis_us, measured_ns = anchor
        return redis_us + (time.monotonic_ns() - measured_ns) // 1000


def _measure(client: Any) -> tuple[int, int]:
    """Return (Redis' time in µs, the monotonic ns at the midpoint of the `TIME` round trip)."""
    before = time.monotonic_ns()
    seconds, micros = client.time()
    after = time.monotonic_ns()
    return int(seconds) * clock.US + int(micros), (before + after) // 2
