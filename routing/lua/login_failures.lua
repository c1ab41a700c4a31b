-- Budgets of failed logins (see `routing.logins`): each key holds GCRA's theoretical arrival time (µs) of the
-- failures it counts, as the REST rate limit's key holds that of requests. A failure is counted with `gcra`.
--! include base.lua
--! include gcra.lua

-- The µs until the budget in `key` (GCRA's `tolerance`, µs) takes another failure (0: it takes one now), and the
-- µs until it is whole again (0: no failure on record).
local function failure_wait(key, tolerance)
  local clear = math.max(0, stored_number(redis.call('GET', key)) - NOW)
  return math.max(0, clear - tolerance), clear
end
