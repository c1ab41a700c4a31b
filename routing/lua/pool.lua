--! include base.lua
--! include retention.lua
--! include capacity.lua
--! include events.lua
--! include numbers.lua
--! include shared.lua

-- The session uuid, DID and cool-off (s) of the expiry member `member` (`uuid|number|cooloff`).
local function ending(member)
  local a = string.find(member, '|', 1, true)
  local b = string.find(member, '|', a + 1, true)
  return string.sub(member, 1, a - 1), string.sub(member, a + 1, b - 1), tonumber(string.sub(member, b + 1))
end

-- The keys `release` and `announce_end` touch when the session of the expiry member `member` ends at `at`, for a
-- script to name before its first write (base.lua's keys_here).
local function ending_keys(member, at)
  local uuid, num = ending(member)
  local cc = redis.call('HGET', T .. K.number .. num, 'country') or ''
  local keys = number_keys(num, cc, at)
  for _, key in ipairs({T .. K.session .. uuid, T .. K.route .. num}) do keys[#keys + 1] = key end
  local blob = redis.call('GET', T .. K.session .. uuid)
  return keys, event_keys(uuid), ring_keys(), blob and release_shared_keys(num, at, blob) or {}
end

-- End an open session's hold on its DID. `member` is `uuid|number|cooloff`; `at` is when it ended.
local function release(member, at)
  local uuid, num, cool = ending(member)
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
    tally(at, 'dids_out', 1)
    local rk = T .. K.route .. num
    if redis.call('HGET', rk, '*') == uuid then redis.call('HDEL', rk, '*') end
    if cool > 0 and redis.call('HGET', nk, 'status') == 'active' then
      redis.call('ZADD', T .. K.cooling, at + cool * 1000000, num)
      ring(at + cool * 1000000, false)
    else
      free_number(num)
    end
  elseif redis.call('HGET', nk, 'parties') then  -- the DID is in shared use: the session may be one of its own
    local blob = redis.call('GET', T .. K.session .. uuid)
    if blob then release_shared(uuid, num, cool, at, blob) end
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

-- Release sessions whose TTL has passed (announcing each) and DIDs whose cool-off is over; `limit` of each. Each
-- session's end, with its SessionTimeout, is a whole (base.lua's `whole`), as is each DID's, so that a script
-- stopped between two (its slot on the move) leaves the rest for the next sweep.
local function reclaim(limit)
  local due = redis.call('ZRANGEBYSCORE', T .. K.expiry, '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #due, 2 do
    local at = tonumber(due[i + 1])
    keys_here(ending_keys(due[i], at))
    announce_timeout(release(due[i], at), at)
    whole()
  end
  redis.call('ZREMRANGEBYSCORE', T .. K.created, '-inf', NOW - RETENTION_MS * 1000)
  whole()
  local cooled = redis.call('ZRANGEBYSCORE', T .. K.cooling, '-inf', NOW, 'LIMIT', 0, limit)
  for _, num in ipairs(cooled) do
    keys_here(number_keys(num, redis.call('HGET', T .. K.number .. num, 'country') or '', NOW))
    redis.call('ZREM', T .. K.cooling, num)
    free_number(num)
    whole()
  end
  reclaim_shared(limit)
  return #due / 2
end

-- The arguments of `allocate`, from ARGV[first] on: session uuid, session JSON, expiry µs, created µs, cool-off s,
-- country ('*' = any), preferred country, wanted DID ('' = any), then the number mode asked for ('' = the tenant's,
-- `exclusive`, `shared`), the parties ('' for a missing second), their PINs ('' without PINs) and whether masq
-- generated the PINs ('1' or '0'). Numbers stay as given, to be written as given.
local function allocation(first)
  for i = first + 2, first + 4 do number_arg(i) end
  word_arg(first + 8, {[''] = true, exclusive = true, shared = true})
  return {uuid = ARGV[first], blob = ARGV[first + 1], expiry = ARGV[first + 2], created = ARGV[first + 3],
          cool = ARGV[first + 4], country = ARGV[first + 5], preferred = ARGV[first + 6], wanted = ARGV[first + 7],
          mode = ARGV[first + 8], first = ARGV[first + 9], second = ARGV[first + 10], first_pin = ARGV[first + 11],
          second_pin = ARGV[first + 12], generated = ARGV[first + 13] == '1'}
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

-- The keys `opened` and `refused` write for the session `a`, for a script to name before its first write.
local function opened_keys(a)
  return {T .. K.session .. a.uuid, T .. K.expiry, T .. K.created, T .. K.shared_figures, (figures(NOW))}, ring_keys()
end

-- Write the session `a` opened on `num` with the JSON `blob`, and count it; return how many sessions are open.
local function opened(a, num, blob)
  redis.call('SET', T .. K.session .. a.uuid, blob)
  redis.call('ZADD', T .. K.expiry, a.expiry, a.uuid .. '|' .. num .. '|' .. a.cool)
  ring(tonumber(a.expiry), false)
  redis.call('ZADD', T .. K.created, a.created, a.uuid)
  tally(NOW, 'opened', 1)
  redis.call('HINCRBY', T, 'sessions_opened', 1)
  local open = redis.call('ZCOUNT', T .. K.expiry, string.format('(%.0f', NOW), '+inf')
  raise_figure(NOW, 'peak', open)
  raise_figure(NOW, 'peak_dids', dids_in_use())
  return open
end

-- The JSON `blob` with the field `name`'s text value `old` written as `new` (a PIN moved by `free_pin`).
local function with_text(blob, name, old, new)
  if old == new then return blob end
  return (string.gsub(blob, '"' .. name .. '":"' .. old .. '"', '"' .. name .. '":"' .. new .. '"', 1))
end

local function refused()
  tally(NOW, 'exhausted', 1)
  redis.call('HINCRBY', T, 'sessions_refused', 1)
end

-- Open the session `a` (see `allocation`) on a shared DID (shared.lua's `take_shared`): {number, mode = 'shared',
-- first_pin, second_pin} or {error = why not}. The stored JSON gains `number_mode` last, where
-- `routing.sessions.session.Session` writes it, so that the record reads back as written.
local function allocate_shared(a, cap)
  local taken = take_shared(a, cap)
  if taken.error == 'exhausted' then
    keys_here(opened_keys(a))
    refused()
    whole()  -- then only reads
    -- What the DIDs are doing, each counted once: the shared ones as `shared_shortage` counted them, the others
    -- (exclusive sessions, cool-offs, suspensions) as for an exclusive open.
    local why = exhausted(a)
    why.in_use = why.in_use - taken.shared_dids
    for name, value in pairs(taken) do why[name] = value end
    return why
  end
  if taken.error then return taken end
  keys_here(opened_keys(a))
  local num = taken.number
  local body = string.gsub(a.blob, '"virtual_number":""', '"virtual_number":"' .. num .. '"', 1)
  body = with_text(body, 'first_party_pin', a.first_pin, taken.first_pin)
  body = with_text(body, 'second_party_pin', a.second_pin, taken.second_pin)
  body = string.sub(body, 1, -2) .. ',"number_mode":"shared"}'
  opened(a, num, body)
  return {number = num, mode = 'shared', first_pin = taken.first_pin, second_pin = taken.second_pin}
end

-- Open the session `a` (see `allocation`) on a DID of its own, or on a shared one in shared mode: {number = the DID}
-- or {error = why not}; an exhausted pool says what its DIDs are doing (`exhausted`, shared.lua's `shared_shortage`).
-- What is due ends first (`reclaim`); nothing of the open is written until its DID is chosen.
local function allocate(a)
  reclaim(100)
  local mode, cap = number_mode(a.mode, a.second)
  if mode == 'shared' then return allocate_shared(a, cap) end
  local num, cc
  if a.wanted ~= '' then
    local st = redis.call('HMGET', T .. K.number .. a.wanted, 'status', 'session', 'country', 'parties')
    if not st[1] then return {error = 'not_in_pool'} end
    if st[1] ~= 'active' then return {error = 'suspended'} end
    if st[2] and st[2] ~= '' then return {error = 'taken'} end
    if stored_number(st[4]) > 0 then
      -- In shared use: taken while a session is open on it, else cooling off after shared sessions that ended.
      if redis.call('EXISTS', T .. K.did_sessions .. a.wanted) == 1 then return {error = 'taken'} end
      return {error = 'shared_cooling'}
    end
    if redis.call('ZSCORE', T .. K.cooling, a.wanted) then return {error = 'cooling'} end
    if a.country ~= '*' and st[3] ~= a.country then return {error = 'country'} end
    num, cc = a.wanted, st[3]
  elseif a.country ~= '*' then
    num, cc = redis.call('SRANDMEMBER', T .. K.free .. a.country), a.country
  else
    num, cc = redis.call('SRANDMEMBER', T .. K.free .. a.preferred), a.preferred
    if not num then
      for _, c in ipairs(redis.call('SMEMBERS', T .. K.countries)) do
        num, cc = redis.call('SRANDMEMBER', T .. K.free .. c), c
        if num then break end
      end
    end
  end
  keys_here(opened_keys(a))
  if not num then
    refused()
    whole()  -- then only reads
    return exhausted(a)
  end
  keys_here({T .. K.number .. num, T .. K.route .. num})
  redis.call('SREM', T .. K.free .. cc, num)
  redis.call('HSET', T .. K.number .. num, 'session', a.uuid)
  redis.call('HSET', T .. K.route .. num, '*', a.uuid)
  tally(NOW, 'dids_in', 1)
  local open = opened(a, num, (string.gsub(a.blob, '"virtual_number":""', '"virtual_number":"' .. num .. '"', 1)))
  raise_figure(NOW, 'peak_exclusive', open - stored_number(redis.call('HGET', T .. K.shared_figures, 'sessions')))
  return {number = num}
end
