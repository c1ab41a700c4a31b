--! include base.lua

-- How long an ended session and its calls stay readable: Plivo keeps 90 days of sessions.
local RETENTION_MS = 90 * 86400000

-- The TTL in ms (at least 1) that keeps what belongs to a session ending at `at` (µs) for the retention period.
local function retained_ms(at)
  return math.max(1, math.floor((at - NOW) / 1000) + RETENTION_MS)
end
