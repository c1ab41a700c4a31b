--! include base.lua

-- The GCRA step (see `routing.rate_limit`): `key` holds the tenant's theoretical arrival time (TAT); once NOW
-- passes it the tenant has its whole burst again, so it expires then. `interval` and `tolerance` are in µs.
-- Returns 0 when the request may go, else the µs until it could.
local function gcra(key, interval, tolerance)
  local tat = math.max(tonumber(redis.call('GET', key) or NOW), NOW)
  if tat - NOW > tolerance then
    return tat - NOW - tolerance
  end
  tat = tat + interval
  redis.call('SET', key, string.format('%d', tat), 'PX', math.floor((tat - NOW) / 1000) + 1)
  return 0
end
