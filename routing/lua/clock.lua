-- Format µs since the epoch as Plivo prints times (`2024-02-01 06:28:15.000000 +0000 UTC`), as
-- `routing.clock.plivo_time` does for the API's JSON.
local function plivo_time(us)
  local secs = math.floor(us / 1000000)
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468  -- days to a civil date, after Howard Hinnant's algorithm
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02d %02d:%02d:%02d.%06d +0000 UTC', year, month,
    doy - math.floor((153 * mp + 2) / 5) + 1, math.floor(rem / 3600), math.floor(rem % 3600 / 60), rem % 60,
    us - secs * 1000000)
end
