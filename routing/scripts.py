"""The Lua scripts that make pool and session changes atomic.

Each script works inside one tenant: KEYS[1] is the tenant's record (it routes the script to the
tenant's cluster slot) and ARGV[1] the tenant's key base, from which every other name is built with the
suffixes of `routing.keys`. ARGV[2] is always `now` in µs since the epoch.
"""

from __future__ import annotations

from string import Template

from routing.keys import lua_names

# How long an ended session stays readable (Plivo keeps 90 days of sessions).
RETENTION_DAYS = 90
# How long a day's pool figures are kept after their last change: the longest window read (30 days) spans 31 days.
CAPACITY_DAYS = 32

_PRELUDE = r"""
local T = ARGV[1]
local NOW = tonumber(ARGV[2])
local RETENTION_MS = $retention_ms
local CAPACITY_MS = $capacity_ms

-- The tenant's pool figures for the hour holding `at` (µs): that UTC day's hash, and the hour's field suffix.
local function figures(at)
  local hour = math.floor(at / 3600000000)
  return T .. '$capacity' .. string.format('%d', math.floor(hour / 24)), ':' .. string.format('%d', hour % 24)
end

-- Add `by` to the figure `name` of the hour holding `at`.
local function tally(at, name, by)
  local k, h = figures(at)
  redis.call('HINCRBY', k, name .. h, string.format('%.0f', by))
  redis.call('PEXPIRE', k, CAPACITY_MS)
end

-- Put an idle, active DID back in its country's free set.
local function free_number(num)
  local st = redis.call('HMGET', T .. '$number' .. num, 'status', 'session', 'country')
  if st[1] == 'active' and (not st[2] or st[2] == '') then
    redis.call('SADD', T .. '$free' .. st[3], num)
  end
end

-- End an open session's hold on its DID. `member` is `uuid|number|cooloff`; `at` is when it ended.
local function release(member, at)
  local a = string.find(member, '|', 1, true)
  local b = string.find(member, '|', a + 1, true)
  local uuid = string.sub(member, 1, a - 1)
  local num = string.sub(member, a + 1, b - 1)
  local cool = tonumber(string.sub(member, b + 1))
  if redis.call('ZREM', T .. '$expiry', member) == 1 then
    -- The session's length, for the pool's figures; `created` is read as written (cjson would round it).
    local created = tonumber(string.match(redis.call('GET', T .. '$session' .. uuid) or '', '"created":(%d+)'))
    if created then
      tally(at, 'ended', 1)
      tally(at, 'ended_us', at - created)
    end
  end
  -- An ended session stays readable for the retention period, then Redis forgets it.
  redis.call('PEXPIRE', T .. '$session' .. uuid, math.max(1, math.floor((at - NOW) / 1000) + RETENTION_MS))
  local nk = T .. '$number' .. num
  if redis.call('HGET', nk, 'session') == uuid then
    redis.call('HSET', nk, 'session', '')
    local rk = T .. '$route' .. num
    if redis.call('HGET', rk, '*') == uuid then redis.call('HDEL', rk, '*') end
    if cool > 0 and redis.call('HGET', nk, 'status') == 'active' then
      redis.call('ZADD', T .. '$cooling', at + cool * 1000000, num)
    else
      free_number(num)
    end
  end
  return uuid
end

-- Format µs since the epoch as Plivo prints times (`2024-02-01 06:28:15.000000 +0000 UTC`).
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

-- Tell the tenant a session ran out its TTL: a SessionTimeout event in its outbox, next in the session's sequence.
local function announce_timeout(uuid, at)
  local text = redis.call('GET', T .. '$session' .. uuid)
  if not text then return end
  local s = cjson.decode(text)
  local ck = T .. '$call_state' .. uuid
  local seq = redis.call('HINCRBY', ck, 'seq', 1)
  redis.call('PEXPIRE', ck, math.max(1, math.floor((at - NOW) / 1000) + RETENTION_MS))
  redis.call('HINCRBY', T, 'sessions_expired', 1)
  redis.call('XADD', T .. '$events', '*', 'EventName', 'SessionTimeout', 'EventTimestamp', plivo_time(at),
    'SessionUUID', uuid, 'From', s.first_party or '', 'To', s.second_party or '',
    'VirtualNumber', s.virtual_number or '', 'SequenceNumber', tostring(seq))
end

-- Release sessions whose TTL has passed (announcing each) and DIDs whose cool-off is over; `limit` of each.
local function reclaim(limit)
  local due = redis.call('ZRANGEBYSCORE', T .. '$expiry', '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #due, 2 do
    local at = tonumber(due[i + 1])
    announce_timeout(release(due[i], at), at)
  end
  redis.call('ZREMRANGEBYSCORE', T .. '$created', '-inf', NOW - RETENTION_MS * 1000)
  local cooled = redis.call('ZRANGEBYSCORE', T .. '$cooling', '-inf', NOW, 'LIMIT', 0, limit)
  for _, num in ipairs(cooled) do
    redis.call('ZREM', T .. '$cooling', num)
    free_number(num)
  end
  return #due / 2
end

-- cjson writes numbers with 14 significant digits, too few for µs times: write flat records by hand.
local function encode_record(rec)
  local parts = {}
  for k, v in pairs(rec) do
    local text = cjson.encode(v)
    if type(v) == 'number' and v == math.floor(v) then text = string.format('%.0f', v) end
    table.insert(parts, cjson.encode(k) .. ':' .. text)
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

local function set_assignment(num, fields)
  local id = redis.call('HGET', T .. '$number' .. num, 'assignment')
  if not id then return end
  local rec = cjson.decode(redis.call('HGET', T .. '$assignments', id))
  for k, v in pairs(fields) do rec[k] = v end
  redis.call('HSET', T .. '$assignments', id, encode_record(rec))
end
"""

# ARGV: T, NOW, uuid, blob, expiry_us, created_us, cooloff_s, country ('*' = any), preferred, wanted
# A function, so that a script can run it after steps of its own (see `routing.sessions.lifecycle.OPEN_CHECKED`).
ALLOCATE_FUNCTION = r"""
local function allocate()
  reclaim(100)
  local uuid, blob, expiry, created, cool = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local country, preferred, wanted = ARGV[8], ARGV[9], ARGV[10]
  local num
  if wanted ~= '' then
    local st = redis.call('HMGET', T .. '$number' .. wanted, 'status', 'session', 'country')
    if not st[1] then return {'err', 'not_in_pool'} end
    if st[1] ~= 'active' then return {'err', 'suspended'} end
    if st[2] and st[2] ~= '' then return {'err', 'taken'} end
    if redis.call('ZSCORE', T .. '$cooling', wanted) then return {'err', 'cooling'} end
    if country ~= '*' and st[3] ~= country then return {'err', 'country'} end
    redis.call('SREM', T .. '$free' .. st[3], wanted)
    num = wanted
  elseif country ~= '*' then
    num = redis.call('SPOP', T .. '$free' .. country)
  else
    num = redis.call('SPOP', T .. '$free' .. preferred)
    if not num then
      for _, cc in ipairs(redis.call('SMEMBERS', T .. '$countries')) do
        num = redis.call('SPOP', T .. '$free' .. cc)
        if num then break end
      end
    end
  end
  if not num then
    tally(NOW, 'exhausted', 1)
    redis.call('HINCRBY', T, 'sessions_refused', 1)
    return {'err', 'exhausted'}
  end
  redis.call('HSET', T .. '$number' .. num, 'session', uuid)
  redis.call('HSET', T .. '$route' .. num, '*', uuid)
  local body = string.gsub(blob, '"virtual_number":""', '"virtual_number":"' .. num .. '"', 1)
  redis.call('SET', T .. '$session' .. uuid, body)
  redis.call('ZADD', T .. '$expiry', expiry, uuid .. '|' .. num .. '|' .. cool)
  redis.call('ZADD', T .. '$created', created, uuid)
  tally(NOW, 'opened', 1)
  redis.call('HINCRBY', T, 'sessions_opened', 1)
  local open, k, h = redis.call('ZCOUNT', T .. '$expiry', '(' .. ARGV[2], '+inf'), figures(NOW)
  if open > tonumber(redis.call('HGET', k, 'peak' .. h) or '0') then redis.call('HSET', k, 'peak' .. h, open) end
  return {'ok', num}
end
"""

ALLOCATE = (
    ALLOCATE_FUNCTION
    + r"""
return allocate()
"""
)

# ARGV: T, NOW, uuid, expected blob, new blob, expiry member, new expiry µs ('' = end the session now)
REPLACE_SESSION = r"""
local sk = T .. '$session' .. ARGV[3]
if redis.call('GET', sk) ~= ARGV[4] then return 'changed' end
local score = redis.call('ZSCORE', T .. '$expiry', ARGV[6])
if not score or tonumber(score) <= NOW then return 'ended' end
redis.call('SET', sk, ARGV[5])
if ARGV[7] == '' then
  release(ARGV[6], NOW)
  redis.call('HINCRBY', T, 'sessions_completed', 1)
else
  redis.call('ZADD', T .. '$expiry', ARGV[7], ARGV[6])
end
return 'ok'
"""

# ARGV: T, NOW, limit
RECLAIM = r"""
return reclaim(tonumber(ARGV[3]))
"""

# ARGV: T, NOW, number, country, assignment JSON (without id)
ADD_NUMBER = r"""
local num, cc = ARGV[3], ARGV[4]
local nk = T .. '$number' .. num
if redis.call('EXISTS', nk) == 1 then return 0 end
local id = redis.call('INCR', T .. '$assignment_seq')
local rec = cjson.decode(ARGV[5])
rec['id'] = id
redis.call('HSET', T .. '$assignments', id, encode_record(rec))
redis.call('HSET', nk, 'country', cc, 'status', 'active', 'session', '', 'assignment', id)
redis.call('SADD', T .. '$numbers', num)
redis.call('SADD', T .. '$countries', cc)
redis.call('SADD', T .. '$free' .. cc, num)
return id
"""

# ARGV: T, NOW, number, 'suspended' | 'active'
SET_NUMBER_STATUS = r"""
local num, status = ARGV[3], ARGV[4]
local nk = T .. '$number' .. num
local st = redis.call('HMGET', nk, 'status', 'country')
if not st[1] then return 'missing' end
redis.call(status == 'suspended' and 'SADD' or 'SREM', T .. '$suspended', num)
if st[1] == status then return 'ok' end
redis.call('HSET', nk, 'status', status)
if status == 'suspended' then
  redis.call('SREM', T .. '$free' .. st[2], num)
elseif not redis.call('ZSCORE', T .. '$cooling', num) then
  free_number(num)
end
set_assignment(num, {status = status})
return 'ok'
"""

# ARGV: T, NOW, number
RELEASE_NUMBER = r"""
local num = ARGV[3]
local nk = T .. '$number' .. num
local st = redis.call('HMGET', nk, 'session', 'country')
if not st[2] then return 'missing' end
if st[1] ~= '' then return 'busy' end
set_assignment(num, {status = 'released', released_at = NOW})
redis.call('SREM', T .. '$free' .. st[2], num)
redis.call('ZREM', T .. '$cooling', num)
redis.call('SREM', T .. '$suspended', num)
redis.call('SREM', T .. '$numbers', num)
redis.call('DEL', nk, T .. '$route' .. num)
return 'ok'
"""


def build(body: str) -> str:
    """Return the full source of a script: the shared prelude, then `body`, names filled in."""
    return Template(_PRELUDE + body).substitute(
        lua_names(), retention_ms=RETENTION_DAYS * 86_400_000, capacity_ms=CAPACITY_DAYS * 86_400_000
    )
