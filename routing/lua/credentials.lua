--! include base.lua
--! include gcra.lua
--! include login_failures.lua

-- Whether `given` equals `stored`, taking a time that depends on the length of `given` only, never on where
-- they differ (as hmac.compare_digest), so that a caller cannot guess a credential one character at a time.
-- Both are SHA-256 digests (see `credential`), so the time is the same for every credential.
local byte, abs = string.byte, math.abs  -- looked up once: per character, the lookups cost more than the sums
local function same_secret(stored, given)
  local diff = #stored == #given and 0 or 1
  for i = 1, #given do
    diff = diff + abs((byte(stored, i) or 0) - byte(given, i))
  end
  return diff == 0
end

-- The arguments of `check`, from ARGV[first] on: the tenant record's field holding the credential's digest, the
-- field holding the secret itself in a record written before its digest was kept ('' for none), the digest of the
-- credential presented (never the secret itself, so that no SLOWLOG or MONITOR shows one), GCRA's interval and
-- tolerance in µs for the rate limit (interval 0: no limit), the client's address, and GCRA's interval and
-- tolerance in µs for the failed logins from that address and for the account's from every address (interval 0:
-- no bound).
local function credential(first)
  return {field = ARGV[first], plain = ARGV[first + 1], given = ARGV[first + 2],
          interval = number_arg(first + 3), tolerance = number_arg(first + 4), address = ARGV[first + 5],
          failures = {interval = number_arg(first + 6), tolerance = number_arg(first + 7)},
          account = {interval = number_arg(first + 8), tolerance = number_arg(first + 9)}}
end

-- The µs a login from `c.address` must wait before its credential is checked, and why: the address's own failed
-- logins at this tenant ('address'), or, for an address with one on record here, every address's ('account').
-- An address with no failure on record here is never held by what other addresses did. 0: it may try now.
local function held(c, here, everywhere)
  local wait, clear = failure_wait(here, c.failures.tolerance)
  if wait > 0 then return wait, 'address' end
  if clear == 0 or c.account.interval <= 0 then return 0, '' end
  local account_wait = failure_wait(everywhere, c.account.tolerance)
  if account_wait > 0 then return math.min(account_wait, clear), 'account' end  -- clear: the address is clean
  return 0, ''
end

-- Check a credential (see `credential`) and, only if it is right, count the request against the tenant's rate
-- limit, so that a caller without the credential can never spend a tenant's allowance. A client held for its
-- failed logins is not checked at all; a wrong credential for a tenant counts a failed login from its address
-- and at the account. Returns {verdict = 'held', wait = µs, by = 'address' or 'account'},
-- {verdict = 'undigested'} (the record keeps the secret but not yet its digest: nothing was checked),
-- {verdict = 'refused'}, {verdict = 'unknown'} (a credential without a tenant record), or
-- {verdict = 'ok', name, parent, wait = µs to wait (0: admitted)}.
local function check(c)
  local here, everywhere = T .. K.failed_logins_from .. c.address, T .. K.failed_logins
  keys_here({here, everywhere, T .. K.rate_limit})
  if c.failures.interval > 0 then
    local wait, by = held(c, here, everywhere)
    if wait > 0 then return {verdict = 'held', wait = wait, by = by} end
  end
  local rec = redis.call('HMGET', KEYS[1], c.field, 'name', 'parent', c.plain)
  if not rec[1] and (rec[4] or '') ~= '' then return {verdict = 'undigested'} end
  local stored = rec[1] or ''
  if stored == '' or not same_secret(stored, c.given) then
    if rec[2] and c.failures.interval > 0 then
      gcra(here, c.failures.interval, c.failures.tolerance)
      if c.account.interval > 0 then gcra(everywhere, c.account.interval, c.account.tolerance) end
    end
    return {verdict = 'refused'}
  end
  if not rec[2] then return {verdict = 'unknown'} end
  local wait = 0
  if c.interval > 0 then wait = gcra(T .. K.rate_limit, c.interval, c.tolerance) end
  return {verdict = 'ok', name = rec[2], parent = rec[3] or '', wait = wait}
end
