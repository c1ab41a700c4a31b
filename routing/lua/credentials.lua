--! include base.lua
--! include gcra.lua

-- Whether `given` equals `stored`, taking a time that depends on the length of `given` only, never on where
-- they differ (as hmac.compare_digest), so that a caller cannot guess a credential one character at a time.
local byte, abs = string.byte, math.abs  -- looked up once: per character, the lookups cost more than the sums
local function same_secret(stored, given)
  local diff = #stored == #given and 0 or 1
  for i = 1, #given do
    diff = diff + abs((byte(stored, i) or 0) - byte(given, i))
  end
  return diff == 0
end

-- The arguments of `check`, from ARGV[first] on: the tenant record's field holding the credential, the
-- credential presented, and GCRA's interval and tolerance in µs (interval 0: no limit).
local function credential(first)
  return {field = ARGV[first], given = ARGV[first + 1], interval = number_arg(first + 2),
          tolerance = number_arg(first + 3)}
end

-- Check a credential (see `credential`) and, only if it is right, count the request against the tenant's rate
-- limit, so that a caller without the credential can never spend a tenant's allowance. Returns
-- {verdict = 'refused'}, {verdict = 'unknown'} (a credential without a tenant record), or
-- {verdict = 'ok', name, parent, wait = µs to wait (0: admitted)}.
local function check(c)
  local rec = redis.call('HMGET', KEYS[1], c.field, 'name', 'parent')
  local stored = rec[1] or ''
  if not same_secret(stored, c.given) or stored == '' then return {verdict = 'refused'} end
  if not rec[2] then return {verdict = 'unknown'} end
  local wait = 0
  if c.interval > 0 then wait = gcra(T .. K.rate_limit, c.interval, c.tolerance) end
  return {verdict = 'ok', name = rec[2], parent = rec[3] or '', wait = wait}
end
