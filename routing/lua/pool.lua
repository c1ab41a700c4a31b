--! include base.lua
--! include retention.lua
--! include capacity.lua
--! include events.lua
--! include numbers.lua

-- End an open session's hold on its DID. `member` is `uuid|number|cooloff`; `at` is when it ended.
local function release(member, at)
  local a = string.find(member, '|', 1, true)
  local b = string.find(member, '|', a + 1, true)
  local uuid = string.sub(member, 1, a - 1)
  local num = string.sub(member, a + 1, b - 1)
  local cool = tonumber(string.sub(member, b + 1))
  if redis.call('ZREM', T .. K.expiry, member) == 1 then
    -- The session's length, for the pool's figures; `created` is read as written (cjson would round it).
    local created = tonumber(string.match(redis.call('GET', T .. K.session .. uuid) or '', '"created":(%d+)'))
    if created then
      tally(at, 'ended', 1)
      tally(at, 'ended_us', at - created)
    end
  end
  -- An ended session stays readable for the retention period, then Redis forgets it.
  redis.call('PEXPIRE', T .. K.session .. uuid, retained_ms(at))
  local nk = T .. K.number .. num
  if redis.call('HGET', nk, 'session') == uuid then
    redis.call('HSET', nk, 'session', '')
    local rk = T .. K.route .. num
    if redis.call('HGET', rk, '*') == uuid then redis.call('HDEL', rk, '*') end
    if cool > 0 and redis.call('HGET', nk, 'status') == 'active' then
      redis.call('ZADD', T .. K.cooling, at + cool * 1000000, num)
      ring(at + cool * 1000000, false)
    else
      free_number(num)
    end
  end
  return uuid
end

-- Tell the tenant session `uuid` ended at `at`: the event `name` in its outbox, with the session's parties.
-- Return whether the session was still there to announce.
local function announce_end(uuid, at, name)
  local text = redis.call('GET', T .. K.session .. uuid)
  if not text then return false end
  local s = cjson.decode(text)
  append_event(uuid, name, at,
    {'From', s.first_party or '', 'To', s.second_party or '', 'VirtualNumber', s.virtual_number or ''})
  for _, key in ipairs({T .. K.call_state .. uuid, T .. K.session_events .. uuid}) do
    redis.call('PEXPIRE', key, retained_ms(at))
  end
  return true
end

-- Tell the tenant a session ran out its TTL: a SessionTimeout event in its outbox.
local function announce_timeout(uuid, at)
  if announce_end(uuid, at, 'SessionTimeout') then redis.call('HINCRBY', T, 'sessions_expired', 1) end
end

-- Release sessions whose TTL has passed (announcing each) and DIDs whose cool-off is over; `limit` of each.
local function reclaim(limit)
  local due = redis.call('ZRANGEBYSCORE', T .. K.expiry, '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #due, 2 do
    local at = tonumber(due[i + 1])
    announce_timeout(release(due[i], at), at)
  end
  redis.call('ZREMRANGEBYSCORE', T .. K.created, '-inf', NOW - RETENTION_MS * 1000)
  local cooled = redis.call('ZRANGEBYSCORE', T .. K.cooling, '-inf', NOW, 'LIMIT', 0, limit)
  for _, num in ipairs(cooled) do
    redis.call('ZREM', T .. K.cooling, num)
    free_number(num)
  end
  return #due / 2
end

-- The arguments of `allocate`, from ARGV[first] on: session uuid, session JSON, expiry µs, created µs, cool-off s,
-- country ('*' = any), preferred country, wanted DID ('' = any). Numbers stay as given, to be written as given.
local function allocation(first)
  for i = first + 2, first + 4 do number_arg(i) end
  return {uuid = ARGV[first], blob = ARGV[first + 1], expiry = ARGV[first + 2], created = ARGV[first + 3],
          cool = ARGV[first + 4], country = ARGV[first + 5], preferred = ARGV[first + 6], wanted = ARGV[first + 7]}
end

-- Why none of the DIDs in the set `scope` is free: {held = how many it has, and of those how many are suspended,
-- cooling off or in use}. A suspended DID counts as suspended whatever else it does; the rest have a session.
local function shortage(scope)
  local held = redis.call('SCARD', scope)
  local suspended = #redis.call('SINTER', scope, T .. K.suspended)
  local cooling = #redis.call('ZINTER', 2, T .. K.cooling, scope) -
                  #redis.call('ZINTER', 3, T .. K.cooling, scope, T .. K.suspended)
  return {held = held, suspended = suspended, cooling = cooling, in_use = held - suspended - cooling}
end

-- Why `allocate` found no free DID for `a`: `shortage` of the DIDs it could take (the country's with geomatch,
-- else all), and with geomatch, the other countries that have a free DID (`free_elsewhere`).
local function exhausted(a)
  local why
  if a.country == '*' then
    why = shortage(T .. K.numbers)
  else
    why = shortage(T .. K.numbers_in .. a.country)
    why.free_elsewhere = {}
    for _, cc in ipairs(redis.call('SMEMBERS', T .. K.countries)) do
      if redis.call('SCARD', T .. K.free .. cc) > 0 then table.insert(why.free_elsewhere, cc) end
    end
    table.sort(why.free_elsewhere)
  end
  why.error = 'exhausted'
  return why
end

-- Open the session `a` (see `allocation`) on a free DID: {number = the DID} or {error = why not}; an exhausted
-- pool says what its DIDs are doing (`exhausted`).
local function allocate(a)
  reclaim(100)
  local num
  if a.wanted ~= '' then
    local st = redis.call('HMGET', T .. K.number .. a.wanted, 'status', 'session', 'country')
    if not st[1] then return {error = 'not_in_pool'} end
    if st[1] ~= 'active' then return {error = 'suspended'} end
    if st[2] and st[2] ~= '' then return {error = 'taken'} end
    if redis.call('ZSCORE', T .. K.cooling, a.wanted) then return {error = 'cooling'} end
    if a.country ~= '*' and st[3] ~= a.country then return {error = 'country'} end
    redis.call('SREM', T .. K.free .. st[3], a.wanted)
    num = a.wanted
  elseif a.country ~= '*' then
    num = redis.call('SPOP', T .. K.free .. a.country)
  else
    num = redis.call('SPOP', T .. K.free .. a.preferred)
    if not num then
      for _, cc in ipairs(redis.call('SMEMBERS', T .. K.countries)) do
        num = redis.call('SPOP', T .. K.free .. cc)
        if num then break end
      end
    end
  end
  if not num then
    tally(NOW, 'exhausted', 1)
    redis.call('HINCRBY', T, 'sessions_refused', 1)
    return exhausted(a)
  end
  redis.call('HSET', T .. K.number .. num, 'session', a.uuid)
  redis.call('HSET', T .. K.route .. num, '*', a.uuid)
  local body = string.gsub(a.blob, '"virtual_number":""', '"virtual_number":"' .. num .. '"', 1)
  redis.call('SET', T .. K.session .. a.uuid, body)
  redis.call('ZADD', T .. K.expiry, a.expiry, a.uuid .. '|' .. num .. '|' .. a.cool)
  ring(tonumber(a.expiry), false)
  redis.call('ZADD', T .. K.created, a.created, a.uuid)
  tally(NOW, 'opened', 1)
  redis.call('HINCRBY', T, 'sessions_opened', 1)
  local open, k, h = redis.call('ZCOUNT', T .. K.expiry, '(' .. ARGV[2], '+inf'), figures(NOW)
  if open > tonumber(redis.call('HGET', k, 'peak' .. h) or '0') then redis.call('HSET', k, 'peak' .. h, open) end
  return {number = num}
end
