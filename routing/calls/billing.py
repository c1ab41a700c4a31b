"""What calls cost: per-leg billing in whole started minutes, at the tenant's per-minute rate, in Decimal."""

from __future__ import annotations

import re
from decimal import Decimal

from routing.errors import InvalidInput
from routing.store import Store

DEFAULT_RATE = "0.0050"
RATE_FIELD = "call_rate_per_minute"
_RATE = re.compile(r"\d+(\.\d+)?")


def billed_seconds(duration: int) -> int:
    """Return the seconds a leg of `duration` seconds is billed for: every started minute counts."""
    if duration <= 0:
        return 0
    return -(-duration // 60) * 60


def charge(billed: int, rate: str | Decimal) -> Decimal:
    """Return the amount for `billed` seconds (a whole number of minutes) at `rate` per minute."""
    return Decimal(rate) * (billed // 60)


def rate_of(store: Store, auth_id: str) -> Decimal:
    """Return the tenant's per-minute call rate (kept as a string on its record)."""
    raw = store.redis.hget(store.keys.tenant(auth_id), RATE_FIELD)
    return Decimal(str(raw)) if raw else Decimal(DEFAULT_RATE)


def set_rate(store: Store, auth_id: str, rate: str) -> None:
    """Set the tenant's per-minute call rate; it must be a non-negative decimal like `0.0050`."""
    if not _RATE.fullmatch(rate):
        raise InvalidInput(RATE_FIELD, "must be a non-negative decimal like 0.0050")
    store.redis.hset(store.keys.tenant(auth_id), RATE_FIELD, rate)


def as_amount(text: str | None) -> Decimal:
    """Return an amount kept in Redis as a decimal string (absent means nothing was charged)."""
    return Decimal(text) if text else Decimal("0")
