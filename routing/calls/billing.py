"""Call charges as masq keeps them: decimal strings, computed in Redis (routing/lua/billing.lua) and read as Decimal.

They leave masq as JSON numbers: `app.plivo_format.amount_number` holds the one rule.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def as_amount(text: str | None) -> Decimal:
    """Return an amount kept in Redis as a decimal string; absent, or not a finite decimal, reads as 0."""
    try:
        amount = Decimal(text) if text else Decimal("0")
    except InvalidOperation:
        return Decimal("0")
    return amount if amount.is_finite() else Decimal("0")
