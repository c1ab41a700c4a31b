"""Per-tenant request rate limits, shared by every web process: one Redis key and one script call a request.

The limiter is GCRA (the generic cell rate algorithm: a token bucket kept as one timestamp). A tenant's
bucket holds `limit` requests and refills one every `window / limit` seconds, so a tenant may send `limit`
at once and then keeps to `limit` per `window`. A fixed window gives its whole allowance back at each
boundary, letting 2 × `limit` through in the moment that straddles one; GCRA refills evenly, and a refused
request learns exactly when the next one will pass. Refused requests cost nothing, so a client that retries
too early does not push its own turn back.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.clock import US
from routing.store import Store

# The GCRA step, as a Lua function other scripts share (the combined check of `routing.tenants` runs it too).
# `key` holds the tenant's theoretical arrival time (TAT); once NOW passes it the tenant has its whole burst
# again, so it expires then. Returns 0 when the request may go, else the µs until it could.
GCRA = r"""
local function gcra(key, interval, tolerance)
  local tat = math.max(tonumber(redis.call('GET', key) or NOW), NOW)
  if tat - NOW > tolerance then
    return tat - NOW - tolerance
  end
  tat = tat + interval
  redis.call('SET', key, string.format('%d', tat), 'PX', math.floor((tat - NOW) / 1000) + 1)
  return 0
end
"""

# ARGV: T, NOW, the interval between requests (µs), the burst tolerance (µs).
ADMIT = (
    GCRA
    + r"""
return gcra(T .. '$rate_limit', tonumber(ARGV[3]), tonumber(ARGV[4]))
"""
)


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


def admit(store: Store, auth_id: str, now: int, limit: int, window: float) -> Admission:
    """Count one request of the tenant against `limit` requests per `window` seconds; `limit` 0 admits all."""
    steps = spacing(limit, window)
    if steps is None:
        return ADMITTED
    return admission(int(store.run(ADMIT, auth_id, now, *steps)))
