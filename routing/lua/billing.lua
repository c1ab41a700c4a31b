-- What calls cost: each leg is billed per started minute at the tenant's per-minute rate, the tenant record's
-- field `call_rate_per_minute` (a plain decimal string), or the default rate when it has none.
--! include base.lua
--! include money.lua

local DEFAULT_RATE = '0.0050'

-- The seconds a leg of `duration` seconds is billed for: every started minute counts.
local function billed_seconds(duration)
  if duration <= 0 then return 0 end
  return math.ceil(duration / 60) * 60
end

-- The tenant's per-minute rate now, as a decimal string. It reads only the tenant's record, T, which every script
-- names from the start.
local function call_rate()
  local rate = redis.call('HGET', T, 'call_rate_per_minute')
  if not rate or not string.match(rate, '^%d+%.?%d*$') then rate = DEFAULT_RATE end
  return rate
end

-- The amount for `billed` seconds (whole minutes) at `rate` (default: the tenant's), as a decimal string.
local function charge(billed, rate)
  return dec_mul(rate or call_rate(), math.floor(billed / 60))  -- whole minutes: digits times an integer
end
