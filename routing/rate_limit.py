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

# ARGV: T, NOW, the interval between requests (µs), the burst tolerance (µs). The key holds the tenant's
# theoretical arrival time (TAT); once NOW passes it the tenant has its whole burst again, so it expires then.
# Returns 0 when the request may go, else the µs until it could.
ADMIT = r"""
local interval, tolerance = tonumber(ARGV[3]), tonumber(ARGV[4])
local key = T .. '$rate_limit'
local tat = math.max(tonumber(redis.call('GET', key) or NOW), NOW)
if tat - NOW > tolerance then
  return tat - NOW - tolerance
end
tat = tat + interval
redis.call('SET', key, string.format('%d', tat), 'PX', math.floor((tat - NOW) / 1000) + 1)
return 0
"""


@dataclass(frozen=True)
class Admission:
    """Whether one request may go, and if not, how many whole seconds to wait (an HTTP `Retry-After`)."""

    allowed: bool
    retry_after: int = 0


ADMITTED = Admission(True)


def admit(store: Store, auth_id: str, now: int, limit: int, window: float) -> Admission:
    """Count one request of the tenant against `limit` requests per `window` seconds; `limit` 0 admits all."""
    if limit <= 0 or window <= 0:
        return ADMITTED
    interval = max(1, round(window * US) // limit)
    wait = int(store.run(ADMIT, auth_id, now, interval, (limit - 1) * interval))
    if wait <= 0:
        return ADMITTED
    return Admission(False, max(1, -(-wait // US)))
