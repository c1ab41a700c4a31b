"""Per-tenant request rate limits, shared by every web process: one Redis key and one script call a request.

The limiter is GCRA (the generic cell rate algorithm: a token bucket kept as one timestamp). A tenant's
bucket holds `limit` requests and refills one every `window / limit` seconds, so a tenant may send `limit`
at once and then keeps to `limit` per `window`. A fixed window gives its whole allowance back at each
boundary, letting 2 × `limit` through in the moment that straddles one; GCRA refills evenly, and a refused
request learns exactly when the next one will pass. Refused requests cost nothing, so a client that retries
too early does not push its own turn back. The step itself runs in Redis (routing/lua/gcra.lua), inside the
credential check of `routing.tenants`, so that only a request with a right credential counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.clock import US


@dataclass(frozen=True)
class Admission:
    """Whether one request may go, and if not, how many whole seconds to wait (an HTTP `Retry-After`)."""

    allowed: bool
    retry_after: int = 0


ADMITTED = Admission(True)


def spacing(limit: int, window: float) -> tuple[int, int] | None:
    """Return GCRA's interval between requests and its burst tolerance, in µs; None when there is no limit."""
    if limit <= 0 or window <= 0:
        return None
    interval = max(1, round(window * US) // limit)
    return interval, (limit - 1) * interval


def admission(wait_us: int) -> Admission:
    """Return the admission for GCRA's answer: go at 0, else wait the µs rounded up to whole seconds."""
    if wait_us <= 0:
        return ADMITTED
    return Admission(False, max(1, -(-wait_us // US)))
