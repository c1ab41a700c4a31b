"""Time as masq keeps it: integer microseconds since the epoch, UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def now_us() -> int:
    """Return the current time in µs (the clock `datetime.now` reads, without building a datetime)."""
    return time.time_ns() // 1000


def to_us(moment: datetime) -> int:
    """Return an aware datetime as µs."""
    return (moment - _EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    """Return µs as an aware UTC datetime."""
    return _EPOCH + us * _ONE_US


def plivo_time(us: int | None) -> str:
    """Format µs the way Plivo prints timestamps: `2023-07-12 15:52:14.772699 +0000 UTC`."""
    if us is None:
        return ""
    seconds, micros = divmod(us, US)
    return f"{_second(seconds, '%Y-%m-%d %H:%M:%S')}.{micros:06d} +0000 UTC"


def voice_time(us: int | None, micros: bool = False) -> str | None:
    """Format µs as Plivo's Voice API prints a call's or a recording's times, in UTC: `2022-06-28 19:39:05+00:00`,
    with `micros` `2022-06-28 19:39:05.852059+00:00` (a recording's `add_time`); None stays None."""
    if us is None:
        return None
    seconds, fraction = divmod(us, US)
    return _second(seconds, "%Y-%m-%d %H:%M:%S") + (f".{fraction:06d}" if micros else "") + "+00:00"


def iso_time(us: int | None) -> str | None:
    """Format µs as ISO 8601 with a `Z`, for the CloudTalk dialect."""
    if us is None:
        return None
    seconds, micros = divmod(us, US)
    return f"{_second(seconds, '%Y-%m-%dT%H:%M:%S')}.{micros:06d}Z"


@lru_cache(maxsize=4096)
def _second(seconds: int, layout: str) -> str:
    """Return the whole second `seconds` (since the epoch) in `layout`: the times of one request share a few."""
    return from_us(seconds * US).strftime(layout)
