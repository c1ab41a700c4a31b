"""What the console's templates are given to show values with: times, lengths, numbers and the asset URLs."""

from __future__ import annotations

from typing import Any

from flask import g

from app.console import bp
from app.console.access import shown_number, shown_text
from app.console.headers import asset_url
from routing.clock import US, from_us


def when(us: int | None) -> str:
    """Return µs as a UTC time to the second (`2026-11-23 15:00:05`), "" for None."""
    return "" if us is None else f"{from_us(us):%Y-%m-%d %H:%M:%S}"


def length(seconds: float | None) -> str:
    """Return a number of seconds as `1 h 02 min`, `3 min 05 s` or `42 s`; "" for None."""
    if seconds is None:
        return ""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def since(us: int, now: int) -> str:
    """Return how long ago (or from now) `us` is, as `length` says it: `3 min 05 s ago`, `in 42 s`."""
    gap = (now - us) / US
    return f"{length(gap)} ago" if gap >= 0 else f"in {length(-gap)}"


@bp.context_processor
def helpers() -> dict[str, Any]:
    """Give the console's templates their helpers, and who is looking (`viewer`, None on the login page)."""
    return {
        "when": when,
        "length": length,
        "since": since,
        "number": shown_number,
        "text": shown_text,
        "asset_url": asset_url,
        "viewer": g.get("viewer"),
        "tenant": g.get("tenant"),
    }
