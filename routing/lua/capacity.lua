--! include base.lua

-- How long a day's pool figures are kept after their last change: the longest window read (30 days,
-- `routing.capacity.MAX_DAYS`) spans 31 UTC days.
local CAPACITY_MS = 32 * 86400000

-- The tenant's pool figures for the hour holding `at` (µs): that UTC day's hash, and the hour's field suffix.
local function figures(at)
  local hour = math.floor(at / 3600000000)
  return T .. K.capacity .. string.format('%d', math.floor(hour / 24)), ':' .. string.format('%d', hour % 24)
end

-- The key `tally` and `raise_figure` touch for `at`, as a list, for a script to name before its first write.
local function figure_keys(at)
  return {(figures(at))}
end

-- Add `by` to the figure `name` of the hour holding `at`.
local function tally(at, name, by)
  local k, h = figures(at)
  redis.call('HINCRBY', k, name .. h, string.format('%.0f', by))
  redis.call('PEXPIRE', k, CAPACITY_MS)
end

-- Raise the figure `name` of the hour holding `at` to `value`, when it is below (the peaks).
local function raise_figure(at, name, value)
  local k, h = figures(at)
  if value > tonumber(redis.call('HGET', k, name .. h) or '0') then
    redis.call('HSET', k, name .. h, string.format('%.0f', value))
    redis.call('PEXPIRE', k, CAPACITY_MS)
  end
end
