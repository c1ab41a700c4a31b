"""Call charges as masq keeps them: decimal strings, computed in Redis (routing/lua/billing.lua) and read as Decimal."""

from __future__ import annotations

from decimal import Decimal


def as_amount(text: str | None) -> Decimal:
    """Return an amount kept in Redis as a decimal string (absent means nothing was charged)."""
    return Decimal(text) if text else Decimal("0")
