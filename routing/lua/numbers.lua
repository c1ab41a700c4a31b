-- A tenant's DIDs: each one's hash (status, country, exclusive open session, shared `parties`) and its assignment
-- records, kept for billing.
--! include base.lua
--! include capacity.lua

-- The keys this library's functions touch for the DID `num` of country `cc` (its hash's `country`), with the pool
-- figures of the hour holding `at`: for a script to name before its first write (base.lua's keys_here).
local function number_keys(num, cc, at)
  return {T .. K.number .. num, T .. K.free .. cc, T .. K.assignments, T .. K.shared_live .. cc, T .. K.shared_figures,
          T .. K.expiry, T .. K.cooling, T .. K.shared .. cc, (figures(at))}
end

-- Put an idle, active DID back in its country's free set: one that carries no exclusive session and no party of a
-- shared one holds.
local function free_number(num)
  local st = redis.call('HMGET', T .. K.number .. num, 'status', 'session', 'country', 'parties')
  if st[1] == 'active' and (not st[2] or st[2] == '') and stored_number(st[4]) <= 0 then
    redis.call('SADD', T .. K.free .. st[3], num)
  end
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

-- Change fields of the assignment record of the DID `num` (its holding by the tenant, kept for billing).
local function set_assignment(num, fields)
  local id = redis.call('HGET', T .. K.number .. num, 'assignment')
  if not id then return end
  local rec = cjson.decode(redis.call('HGET', T .. K.assignments, id))
  for k, v in pairs(fields) do rec[k] = v end
  redis.call('HSET', T .. K.assignments, id, encode_record(rec))
end

-- The active shared DID `num` of country `cc` (shared.lua) comes into use at `at` (`in_use`: a session is open on
-- it) or goes out of it: it joins or leaves its country's `shared_live` and the count of them all (`live` of
-- `shared_figures`), and the pool's figures count a DID in or out of use. Nothing changes when it already was so.
local function shared_in_use(num, cc, in_use, at)
  local key = T .. K.shared_live .. cc
  if in_use then
    if redis.call('SADD', key, num) == 0 then return end
    redis.call('HINCRBY', T .. K.shared_figures, 'live', 1)
    tally(at, 'dids_in', 1)
  elseif redis.call('SREM', key, num) == 1 then
    redis.call('HINCRBY', T .. K.shared_figures, 'live', -1)
    tally(at, 'dids_out', 1)
  end
end

-- How many DIDs carry open sessions now: one per open exclusive session, and each active shared DID with one.
local function dids_in_use()
  local open = redis.call('ZCOUNT', T .. K.expiry, string.format('(%.0f', NOW), '+inf')
  local shared = redis.call('HMGET', T .. K.shared_figures, 'sessions', 'live')
  return math.max(open - stored_number(shared[1]), 0) + stored_number(shared[2])
end

-- How many DIDs cool off now: after an exclusive session, or, active in shared use in `countries`, after shared
-- sessions only (each still held by the parties of ended sessions, none open on it).
local function dids_cooling(countries)
  local count = redis.call('ZCARD', T .. K.cooling)
  for _, cc in ipairs(countries) do
    count = count + redis.call('ZCARD', T .. K.shared .. cc) - redis.call('SCARD', T .. K.shared_live .. cc)
  end
  return count
end
