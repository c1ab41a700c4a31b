-- Shared virtual numbers (see `routing.number_mode`): many sessions on one DID, a call resolved by (DID, caller).
-- On one DID a real number is in at most one session, open or cooling off: that (DID, party) is a holding. A holding
-- is the party's route field on the DID (keys.py's `route`), the DID in the party's `held` set, one of the DID's
-- `parties` and one of the party's DIDs in `dids_held`. The DID's open sessions are its `did_sessions` (those with
-- PINs also its `did_pin_sessions`), from which strangers are answered; an active DID with one is in its country's
-- `shared_live` (in use: the other shared DIDs only cool off). When a session ends, it leaves those, and each
-- of its routes (parties and PINs) becomes a tombstone until the cool-off is over (`shared_cooling`); the holding ends
-- with the tombstone. A DID that no party holds leaves shared use and goes back to the free pool, for either mode.
--! include base.lua
--! include capacity.lua
--! include numbers.lua
--! include doorbell.lua

-- A holding's end while its session is open: 2^53 µs, after any real time.
local LIVE = 9007199254740992
-- How long the DID two parties last shared is remembered, to give it to them again when it is free: a week.
local PAIR_MS = 7 * 86400000
-- The most parties on one DID unless the tenant sets `parties_per_number` (Twilio Proxy's advice).
local DEFAULT_PARTIES = 100

-- The mode a session asked with `mode` ('' = the tenant's setting) and second party `second` ('' = none) opens in,
-- and the most parties one shared DID takes. A single-party session is exclusive whatever is asked.
local function number_mode(mode, second)
  local setting = redis.call('HMGET', T, 'number_mode', 'parties_per_number')
  if mode == '' then mode = setting[1] or 'exclusive' end
  if mode ~= 'shared' or second == '' then mode = 'exclusive' end
  local cap = stored_number(setting[2])
  if cap < 2 then cap = DEFAULT_PARTIES end
  return mode, cap
end

-- `party` holds `num` (of country `cc`) from now while its session is open; return how many DIDs of `cc` it holds.
local function add_holding(party, num, cc)
  redis.call('ZADD', T .. K.held .. party, LIVE, num)
  redis.call('HINCRBY', T .. K.shared_figures, cc, 1)
  redis.call('ZADD', T .. K.shared .. cc, redis.call('HINCRBY', T .. K.number .. num, 'parties', 1), num)
  return tonumber(redis.call('ZINCRBY', T .. K.dids_held .. cc, 1, party))
end

-- The holding of `party` on `num` ends: the DID counts a party less and the party a DID less. A DID no one holds any
-- more leaves shared use (its route hash goes: `route_gone` says the caller emptied it already, so that the script
-- does not touch a key it deleted, which a moving slot's node would stop it at) and goes back to the free pool.
local function drop_holding(party, num, route_gone)
  if redis.call('ZREM', T .. K.held .. party, num) == 0 then return end
  local nk = T .. K.number .. num
  local cc = redis.call('HGET', nk, 'country')
  if not cc then return end
  if tonumber(redis.call('ZINCRBY', T .. K.dids_held .. cc, -1, party)) <= 0 then
    redis.call('ZREM', T .. K.dids_held .. cc, party)
  end
  redis.call('HINCRBY', T .. K.shared_figures, cc, -1)
  local parties = redis.call('HINCRBY', nk, 'parties', -1)
  if parties > 0 then
    redis.call('ZADD', T .. K.shared .. cc, 'XX', parties, num)  -- XX: a suspended DID stays out
    return
  end
  redis.call('HDEL', nk, 'parties')
  redis.call('ZREM', T .. K.shared .. cc, num)
  if not route_gone then redis.call('DEL', T .. K.route .. num) end
  free_number(num)
end

-- The keys `drop_holding` touches for `party` on `num` (of country `cc`, '' for a DID gone from the pool), for a
-- script to name before its first write (base.lua's keys_here).
local function holding_keys(party, num, cc)
  local keys = number_keys(num, cc, NOW)
  for _, key in ipairs({T .. K.held .. party, T .. K.dids_held .. cc, T .. K.route .. num}) do keys[#keys + 1] = key end
  return keys
end

-- The keys `end_tombstone` touches for the route `field` on `num`, with the sweep's `shared_cooling`.
local function tombstone_keys(num, field)
  local keys = holding_keys(field, num, redis.call('HGET', T .. K.number .. num, 'country') or '')
  keys[#keys + 1] = T .. K.shared_cooling
  return keys
end

-- Whether `field` of a route hash names a party (a real number) rather than a PIN (`#…`).
local function is_party(field)
  return string.sub(field, 1, 1) ~= '#'
end

-- The cool-off of route `field` on `num` is over: its tombstone goes, and with a party's, the party's holding.
local function end_tombstone(num, field)
  local rk = T .. K.route .. num
  local value = redis.call('HGET', rk, field)
  if not value or string.sub(value, 1, 1) ~= '~' then return end
  local left = redis.call('HLEN', rk) - redis.call('HDEL', rk, field)
  if is_party(field) then drop_holding(field, num, left == 0) end
end

-- End the holdings of `party` whose cool-off is over, whether or not the sweep (`reclaim_shared`) reached them;
-- each one ended is a whole (base.lua's `whole`).
local function expire_party(party)
  for _, num in ipairs(redis.call('ZRANGEBYSCORE', T .. K.held .. party, '-inf', NOW)) do
    keys_here(tombstone_keys(num, party))
    redis.call('ZREM', T .. K.shared_cooling, num .. '|' .. party)
    end_tombstone(num, party)
    whole()
  end
end

-- End up to `limit` tombstones whose cool-off is over, each a whole.
local function reclaim_shared(limit)
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', T .. K.shared_cooling, '-inf', NOW, 'LIMIT', 0, limit)) do
    local bar = string.find(member, '|', 1, true)
    local num, field = string.sub(member, 1, bar - 1), string.sub(member, bar + 1)
    keys_here(tombstone_keys(num, field))
    redis.call('ZREM', T .. K.shared_cooling, member)
    end_tombstone(num, field)
    whole()
  end
end

-- The keys `release_shared` touches for a session (its JSON `blob`) on `num` ended at `at`.
local function release_shared_keys(num, at, blob)
  local s = cjson.decode(blob)
  local cc = redis.call('HGET', T .. K.number .. num, 'country') or ''
  local keys = {T .. K.did_sessions .. num, T .. K.did_pin_sessions .. num, T .. K.shared_cooling, (figures(at)),
                T .. K.next_due}
  for _, party in ipairs({s.first_party or '', s.second_party or ''}) do
    for _, key in ipairs(holding_keys(party, num, cc)) do keys[#keys + 1] = key end
  end
  return keys
end

-- End the shared session `uuid` (its JSON `blob`) on `num` at `at`: each of its routes becomes a tombstone until
-- `cool` s later, or goes now when it has no cool-off. A session whose routes are gone already changes nothing.
local function release_shared(uuid, num, cool, at, blob)
  local rk = T .. K.route .. num
  local s = cjson.decode(blob)
  if (s.first_party or '') == '' or redis.call('HGET', rk, s.first_party) ~= uuid then return end
  -- Everything is read before the first write: which routes are the session's, how many fields the route hash
  -- keeps besides, whether the DID carries another open session. Once the script has emptied a key it does not
  -- touch it again (a moving slot's node would stop it there: see base.lua's keys_here).
  local fields, listed = {}, {}
  for _, field in ipairs({s.first_party_pin and s.first_party_pin ~= '' and '#' .. s.first_party_pin or '',
                          s.second_party_pin and s.second_party_pin ~= '' and '#' .. s.second_party_pin or '',
                          s.first_party, s.second_party or ''}) do
    if field ~= '' and not listed[field] then
      listed[field] = true
      fields[#fields + 1] = field
    end
  end
  local values = redis.call('HMGET', rk, unpack(fields))
  local own = {}
  for i, field in ipairs(fields) do
    if values[i] == uuid then own[#own + 1] = field end
  end
  local kept = redis.call('HLEN', rk) - #own
  local dk = T .. K.did_sessions .. num
  local others = redis.call('ZCARD', dk) - (redis.call('ZSCORE', dk, uuid) and 1 or 0)
  local cc = redis.call('HGET', T .. K.number .. num, 'country')
  redis.call('ZREM', dk, uuid)
  redis.call('ZREM', T .. K.did_pin_sessions .. num, uuid)
  if cc and others == 0 then shared_in_use(num, cc, false, at) end
  redis.call('HINCRBY', T .. K.shared_figures, 'sessions', -1)
  if cool > 0 then
    local ends = string.format('%.0f', at + cool * 1000000)
    for _, field in ipairs(own) do
      redis.call('HSET', rk, field, '~' .. uuid)
      redis.call('ZADD', T .. K.shared_cooling, ends, num .. '|' .. field)
      if is_party(field) then redis.call('ZADD', T .. K.held .. field, 'XX', ends, num) end
    end
    ring(at + cool * 1000000, false)
    return
  end
  redis.call('HDEL', rk, unpack(own))
  for _, field in ipairs(own) do
    if is_party(field) then drop_holding(field, num, kept == 0) end
  end
end

-- End every holding on `num`, which no open session uses any more, now (the DID leaves the pool), each a whole:
-- false when an open session still uses it.
local function drop_all_holdings(num)
  local rk = T .. K.route .. num
  if redis.call('ZCARD', T .. K.did_sessions .. num) > 0 then return false end
  local route = redis.call('HGETALL', rk)
  for i = 1, #route, 2 do
    local field = route[i]
    if field ~= '*' then
      keys_here(tombstone_keys(num, field))
      redis.call('ZREM', T .. K.shared_cooling, num .. '|' .. field)
      end_tombstone(num, field)
      whole()
    end
  end
  return true
end

-- The arguments of a shared open beyond `allocation`'s first eight (pool.lua): the parties, their PINs ('' without
-- PINs) and whether masq generated them ('1'), as a.first, a.second, a.first_pin, a.second_pin, a.generated.

-- The DIDs `party` holds now (live or cooling off) as a set, and how many (`expire_party` ends those past their
-- cool-off first).
local function holdings(party)
  local set, n = {}, 0
  for _, num in ipairs(redis.call('ZRANGE', T .. K.held .. party, 0, -1)) do
    set[num] = true
    n = n + 1
  end
  return set, n
end

local function pair_key(a)
  if a.first < a.second then return T .. K.pair .. a.first .. '|' .. a.second end
  return T .. K.pair .. a.second .. '|' .. a.first
end

-- The PIN field of `a` ('first_party_pin' or 'second_party_pin') whose PIN a session on `num` has (open or cooling
-- off), or nil. Generated PINs never clash: `free_pin` moves them.
local function pin_clash(num, a)
  if a.first_pin == '' or a.generated then return nil end
  local taken = redis.call('HMGET', T .. K.route .. num, '#' .. a.first_pin, '#' .. a.second_pin)
  if taken[1] then return 'first_party_pin' end
  if taken[2] then return 'second_party_pin' end
  return nil
end

-- Whether `num` cools off from the pair's own last session (both routes are tombstones of one session): the pair
-- may take it again at once, since no one else reaches them there.
local function pair_cooling(num, a)
  local route = redis.call('HMGET', T .. K.route .. num, a.first, a.second)
  return route[1] and route[1] == route[2] and string.sub(route[1], 1, 1) == '~' and not pin_clash(num, a)
end

-- Whether the pair `a` may newly take `num`, which `load` parties hold: neither party holds it, two more fit under
-- `cap`, and the given PINs are free on it. Return true, or false and why not ('held', 'full' or a PIN field).
local function fits(num, a, hf, hs, cap, load)
  if hf[num] or hs[num] then return false, 'held' end
  if load + 2 > cap then return false, 'full' end
  local clash = pin_clash(num, a)
  if clash then return false, clash end
  return true
end

-- The pair's DID of last time when they may take it now: the DID, 'new' or 'reuse' (`pair_cooling`), its country.
local function sticky(a, country, hf, hs, cap)
  local num = redis.call('GET', pair_key(a))
  if not num then return nil end
  local st = redis.call('HMGET', T .. K.number .. num, 'status', 'country', 'session', 'parties')
  if st[1] ~= 'active' or (st[3] and st[3] ~= '') or (country ~= '*' and st[2] ~= country) then return nil end
  if hf[num] and hs[num] and pair_cooling(num, a) then return num, 'reuse', st[2] end
  local load = stored_number(st[4])
  if load == 0 and redis.call('SISMEMBER', T .. K.free .. st[2], num) == 0 then return nil end  -- cooling off
  if fits(num, a, hf, hs, cap, load) then return num, 'new', st[2] end
  return nil
end

-- The most loaded DID of country `cc` in shared use that the pair may take (so that DIDs stay free for new pairs and
-- for exclusive sessions, and the cap spreads the load): the DID, or nil and a PIN field that clashed. At most
-- `nf + ns` DIDs are held by the parties, so the first page holds one they may take unless given PINs clash; then the
-- scan goes on a page at a time.
local function fitting_in(cc, a, hf, hs, nf, ns, cap)
  local page, offset, clash = nf + ns + 1, 0, nil
  repeat
    local found = redis.call('ZREVRANGEBYSCORE', T .. K.shared .. cc, cap - 2, '-inf', 'WITHSCORES',
                             'LIMIT', offset, page)
    for i = 1, #found, 2 do
      local ok, why = fits(found[i], a, hf, hs, cap, tonumber(found[i + 1]))
      if ok then return found[i] end
      if why ~= 'held' and why ~= 'full' then clash = clash or why end
    end
    offset = offset + page
  until #found < 2 * page
  return nil, clash
end

-- `fitting_in`'s DID, else a free one of `cc` (which `take_shared` takes out of the free set): the DID, or nil and a
-- PIN field that clashed.
local function pick_in(cc, a, hf, hs, nf, ns, cap)
  local num, clash = fitting_in(cc, a, hf, hs, nf, ns, cap)
  if num then return num end
  num = redis.call('SRANDMEMBER', T .. K.free .. cc)
  if num then return num end
  return nil, clash
end

-- `pin`, or the next number of as many digits after it that no PIN on the route hash `rk` has and that is not
-- `other`: a generated PIN names one session of the DID. nil when none is free among the next 10,000 (a DID far
-- past its cap, asked for by number; a DID that `take_shared` took from the free pool has no PIN at all).
local function free_pin(rk, pin, other)
  local width = #pin
  local span = 10 ^ width
  local n = tonumber(pin)
  for _ = 1, math.min(span, 10000) do
    local candidate = string.format('%0' .. width .. '.0f', n)
    if candidate ~= other and redis.call('HEXISTS', rk, '#' .. candidate) == 0 then return candidate end
    n = (n + 1) % span
  end
  return nil
end

-- Why no DID of the countries `list` fits the pair `a`, for pool.lua's `allocate_shared`, which adds what the other
-- DIDs there are doing (`exhausted`) and `routing.sessions.shortage`, which words it. Each active shared DID there is
-- counted once: held by both parties (`both`), else full (`full`: no room for two more parties under `cap`), else held
-- by the first party or by the second (`first`, `second`); `shared_dids` of them in all. With geomatch,
-- `free_elsewhere` lists the other countries where the pair could take a DID.
local function shared_shortage(a, list, hf, hs, nf, ns, cap)
  local why = {error = 'exhausted', shared = 1, cap = cap, both = 0, full = 0, first = 0, second = 0, shared_dids = 0}
  for _, cc in ipairs(list) do
    local zk = T .. K.shared .. cc
    why.shared_dids = why.shared_dids + redis.call('ZCARD', zk)
    why.full = why.full + redis.call('ZCOUNT', zk, '(' .. (cap - 2), '+inf')
    for name, set in pairs({first = hf, second = hs}) do
      for num in pairs(set) do
        local score = redis.call('ZSCORE', zk, num)
        local room = score and tonumber(score) <= cap - 2
        if score and hf[num] and hs[num] then
          -- Held by both: counted once, from the first party's holdings, and no longer as full.
          if name == 'first' then
            why.both = why.both + 1
            if not room then why.full = why.full - 1 end
          end
        elseif room then
          why[name] = why[name] + 1
        end
      end
    end
  end
  if a.country ~= '*' then
    why.free_elsewhere = {}
    for _, cc in ipairs(redis.call('SMEMBERS', T .. K.countries)) do
      if cc ~= a.country and (redis.call('SCARD', T .. K.free .. cc) > 0 or fitting_in(cc, a, hf, hs, nf, ns, cap)) then
        table.insert(why.free_elsewhere, cc)
      end
    end
    table.sort(why.free_elsewhere)
  end
  return why
end

-- The countries a shared open may take a DID from, in order: the first party's, or with geomatch off (`a.country`
-- '*') the preferred one first, then every other.
local function shared_countries(a)
  if a.country ~= '*' then return {a.country} end
  local list = {a.preferred}
  for _, cc in ipairs(redis.call('SMEMBERS', T .. K.countries)) do
    if cc ~= a.preferred then list[#list + 1] = cc end
  end
  return list
end

-- Check the DID `a.wanted` for a shared open: its country and 'new' or 'reuse', or nil and the refusal's name.
local function wanted_shared(a, hf, hs)
  local st = redis.call('HMGET', T .. K.number .. a.wanted, 'status', 'session', 'country', 'parties')
  if not st[1] then return nil, 'not_in_pool' end
  if st[1] ~= 'active' then return nil, 'suspended' end
  if st[2] and st[2] ~= '' then return nil, 'taken' end
  if redis.call('ZSCORE', T .. K.cooling, a.wanted) then return nil, 'cooling' end
  if a.country ~= '*' and st[3] ~= a.country then return nil, 'country' end
  if hf[a.wanted] and hs[a.wanted] and pair_cooling(a.wanted, a) then return st[3], 'reuse' end
  if hf[a.wanted] then return nil, 'held_first' end
  if hs[a.wanted] then return nil, 'held_second' end
  local clash = pin_clash(a.wanted, a)
  if clash then return nil, clash end
  return st[3], 'new'
end

-- The keys `take_shared` writes when the pair `a` takes `num` of country `cc`.
local function taking_keys(a, num, cc)
  return {T .. K.held .. a.first, T .. K.held .. a.second, T .. K.shared_figures, T .. K.shared .. cc,
          T .. K.number .. num, T .. K.dids_held .. cc, T .. K.shared_cooling, T .. K.route .. num,
          T .. K.did_sessions .. num, T .. K.did_pin_sessions .. num, T .. K.shared_live .. cc, pair_key(a),
          T .. K.free .. cc, (figures(NOW))}
end

-- Take a DID for the shared open `a` under `cap` parties a DID: {number, cc, first_pin, second_pin} with its routes,
-- holdings and the pair's memory written, or {error = why not}. The DID: `a.wanted` when given, else the pair's
-- last one when they may take it, else `pick_in` in each country of `shared_countries`. The parties' holdings past
-- their cool-off end first, each a whole; nothing is written until the DID is chosen.
local function take_shared(a, cap)
  expire_party(a.first)
  expire_party(a.second)
  local hf, nf = holdings(a.first)
  local hs, ns = holdings(a.second)
  local num, how, cc, clash
  local list = shared_countries(a)
  if a.wanted ~= '' then
    cc, how = wanted_shared(a, hf, hs)
    if not cc then return {error = how} end
    num = a.wanted
  else
    num, how, cc = sticky(a, a.country, hf, hs, cap)
    for _, c in ipairs(num and {} or list) do
      local why
      num, why = pick_in(c, a, hf, hs, nf, ns, cap)
      clash = clash or why
      if num then
        cc, how = c, 'new'
        break
      end
    end
  end
  if not num then
    if clash then return {error = clash} end
    return shared_shortage(a, list, hf, hs, nf, ns, cap)
  end
  local rk = T .. K.route .. num
  local first_pin, second_pin = a.first_pin, a.second_pin
  if a.generated and first_pin ~= '' then
    first_pin = free_pin(rk, first_pin, '')
    second_pin = first_pin and free_pin(rk, second_pin, first_pin)
    if not second_pin then return {error = 'first_party_pin'} end  -- nothing written yet: the DID had PINs
  end
  keys_here(taking_keys(a, num, cc))
  if how == 'new' then redis.call('SREM', T .. K.free .. cc, num) end  -- a free DID leaves the free set
  local k
  if how == 'reuse' then
    for _, party in ipairs({a.first, a.second}) do
      redis.call('ZADD', T .. K.held .. party, LIVE, num)
      redis.call('ZREM', T .. K.shared_cooling, num .. '|' .. party)
    end
    k = math.max(stored_number(redis.call('ZSCORE', T .. K.dids_held .. cc, a.first)),
                 stored_number(redis.call('ZSCORE', T .. K.dids_held .. cc, a.second)))
  else
    k = math.max(add_holding(a.first, num, cc), add_holding(a.second, num, cc))
  end
  redis.call('HSET', rk, a.first, a.uuid, a.second, a.uuid)
  redis.call('ZADD', T .. K.did_sessions .. num, NOW, a.uuid)
  shared_in_use(num, cc, true, NOW)
  if first_pin ~= '' then
    redis.call('HSET', rk, '#' .. first_pin, a.uuid, '#' .. second_pin, a.uuid)
    redis.call('ZADD', T .. K.did_pin_sessions .. num, NOW, a.uuid)
  end
  redis.call('SET', pair_key(a), num, 'PX', PAIR_MS)
  redis.call('HINCRBY', T .. K.shared_figures, 'sessions', 1)
  raise_figure(NOW, 'k-' .. cc, k)
  raise_figure(NOW, 'held-' .. cc, stored_number(redis.call('HGET', T .. K.shared_figures, cc)))
  raise_figure(NOW, 'dids-' .. cc, redis.call('ZCARD', T .. K.shared .. cc))
  return {number = num, cc = cc, first_pin = first_pin, second_pin = second_pin}
end
