-- The start of every script. KEYS[1], the script's one declared key, is the tenant's key base (also the tenant's
-- record), from which every other name the script touches is built with the suffixes in K: each carries KEYS[1]'s
-- hash tag, so the script stays in the one cluster slot its key routes it to. (A script on a global key, such as
-- failed_logins_by.lua, touches that key only.) ARGV[1] is `now` in µs since the epoch; a script's own arguments
-- follow from ARGV[2].
local T = KEYS[1]

-- Where each Redis command masq's scripts run has its keys (the 'first' argument, 'all' of them, the 'second'
-- (after a subcommand), 'counted' (a count, then that many keys) or 'none'), and whether it writes.
local COMMANDS = {}
for name in string.gmatch('GET HGET HMGET HGETALL HEXISTS HLEN SMEMBERS SCARD SISMEMBER SRANDMEMBER ZSCORE ZCARD '
    .. 'ZCOUNT ZRANGE ZRANGEBYSCORE ZREVRANGE ZREVRANGEBYSCORE LRANGE LLEN XLEN XRANGE XREVRANGE XPENDING PTTL TTL '
    .. 'TYPE', '%S+') do COMMANDS[name] = {'first', false} end
for name in string.gmatch('SET HSET HSETNX HDEL HINCRBY INCR INCRBY SADD SREM SPOP ZADD ZREM ZINCRBY '
    .. 'ZREMRANGEBYSCORE RPUSH LPUSH LTRIM PEXPIRE EXPIRE PERSIST XADD XACK XCLAIM XDEL XTRIM', '%S+') do
  COMMANDS[name] = {'first', true}
end
COMMANDS.EXISTS, COMMANDS.SINTER, COMMANDS.ZINTER = {'all', false}, {'all', false}, {'counted', false}
COMMANDS.DEL, COMMANDS.UNLINK = {'all', true}, {'all', true}
COMMANDS.XINFO, COMMANDS.XGROUP = {'second', false}, {'second', true}
COMMANDS.PUBLISH, COMMANDS.TIME = {'none', false}, {'none', false}

-- The keys of the command `args` (its name, then its arguments) as a list, and whether it writes.
local function command_keys(args)
  local spec = COMMANDS[string.upper(tostring(args[1]))]
  if not spec then error('base.lua knows no keys of the command ' .. tostring(args[1])) end
  local where, keys = spec[1], {}
  if where == 'first' then keys = {args[2]}
  elseif where == 'second' then keys = {args[3]}
  elseif where == 'all' then for i = 2, #args do keys[#keys + 1] = args[i] end
  elseif where == 'counted' then for i = 3, 2 + tonumber(args[2]) do keys[#keys + 1] = args[i] end
  end
  return keys, spec[2]
end

local raw_call, raw_pcall = redis.call, redis.pcall

-- The keys the script has named (`keys_here`), as a set; T, its declared key, is named from the start.
local NAMED = {[T] = true}
-- The current whole (see `whole`): the keys it touched before its first write and not named, as a set; whether it
-- has written; and how many wholes came before it.
local WHOLE = {seen = {}, wrote = false, count = 0}

-- Name the keys of the lists given (each a list of key names) as keys the script touches; a key named twice counts
-- once. Libraries that write give the keys they write as lists (events.lua's `event_keys`, doorbell.lua's
-- `ring_keys`, capacity.lua's `figure_keys`) for the scripts that call them to name.
--
-- Redis runs a script whole only while its keys stay on one node, and stops it at the first key that is not
-- there, keeping the writes it made before. A script's keys stay together, in T's slot, except while that slot
-- moves between two nodes of a cluster: key by key, so that either node may lack some, and a node that lacks a key
-- reads it as missing. So by its first write a script names every key it touches: the keys it has read, the keys
-- it will read or write, and the keys its libraries will. On a cluster (CLUSTER) the node is asked, in one EXISTS
-- of T and the new keys, whether it holds them all: while the slot moves this stops the script before any write
-- (Redis answers a command whose keys a moving slot holds only in part with an ASK or TRYAGAIN, which stops a
-- script), as a declared key would stop it before it ran. The tenant's request fails whole, and is asked again;
-- nothing is half written, and nothing is decided on keys read as missing. Keys found in the data (a session's
-- calls, the sessions due) cannot be declared in advance, which is why this is done in the script. Redis documents
-- the rule: https://redis.io/docs/latest/develop/interact/programmability/eval-intro/
--
-- After its first write a script also never touches a key it has emptied itself (a hash, set or sorted set whose
-- last field or member it removed, which Redis deletes): the moving slot's node answers a command on it as on a key
-- that moved away. It decides from what it read before, or from the count a removal returns.
--
-- The keys read before the first write need no naming by hand: on a cluster every `redis.call` of a script is
-- built as `tracked_call`, which names them, with the write's own, at the first write (and `reply` names those of a
-- script that wrote nothing). A script names by hand, before its first write, the keys it touches after it.
local function keys_here(...)
  local new = {T}
  for _, keys in ipairs({...}) do
    for _, key in ipairs(keys) do
      if not NAMED[key] then
        NAMED[key] = true
        new[#new + 1] = key
      end
    end
  end
  if CLUSTER then
    for first = 2, #new, 500 do  -- 500 keys at a time, each time with T: Lua's unpack takes a few thousand at most
      raw_call('EXISTS', T, unpack(new, first, math.min(first + 499, #new)))
    end
  end
end

-- The keys the current whole touched and did not name, as a list.
local function unnamed_seen()
  local list = {}
  for key in pairs(WHOLE.seen) do
    if not NAMED[key] then list[#list + 1] = key end
  end
  return list
end

-- Note the keys of the command `args` before it runs: keys read before the current whole's first write are
-- remembered, and named, with the write's own keys, when it comes (see `keys_here`).
local function track(args)
  local keys, writes = command_keys(args)
  if WHOLE.wrote then return end
  if writes then
    WHOLE.wrote = true
    keys_here(unnamed_seen(), keys)
    return
  end
  for _, key in ipairs(keys) do
    if not NAMED[key] then WHOLE.seen[key] = true end
  end
end

-- redis.call and redis.pcall as a script built for a cluster runs them (`routing.lua.build`): `run` with each
-- command's keys noted first.
local function tracked(run)
  return function(...)
    track({...})
    return run(...)
  end
end
local tracked_call, tracked_pcall = tracked(raw_call), tracked(raw_pcall)

-- ARGV[i] as a number, within [lo, hi] when they are given. Anything else stops the script: a script that stops
-- keeps the writes it made, so every entry script reads its arguments through here before its first write.
local function number_arg(i, lo, hi)
  local n = tonumber(ARGV[i])
  if not n or n ~= n then error('ARGV[' .. i .. '] must be a number, not ' .. tostring(ARGV[i])) end
  if (lo and n < lo) or (hi and n > hi) then
    error('ARGV[' .. i .. '] must be within ' .. tostring(lo) .. '..' .. tostring(hi) .. ', not ' .. ARGV[i])
  end
  return n
end

-- ARGV[i] as one of the words of the set `allowed` (a table of word = true); anything else stops the script.
local function word_arg(i, allowed)
  if not allowed[ARGV[i]] then error('ARGV[' .. i .. '] is not an expected word: ' .. tostring(ARGV[i])) end
  return ARGV[i]
end

-- A stored number read back: what does not parse reads as 0, so no stored value can stop a script.
local function stored_number(text)
  local n = tonumber(text)
  if not n or n ~= n or n == math.huge or n == -math.huge then return 0 end
  return n
end

-- Seconds a carrier duration may span: a day (no call is longer).
local MAX_SECONDS = 86400

local NOW = number_arg(1)

-- A hash as a table of its fields.
local function read_hash(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for k = 1, #flat, 2 do t[flat[k]] = flat[k + 1] end
  return t
end

-- The script's answer: the names and values of `t` as one flat list, which `routing.lua.named` reads back.
-- Values are strings, integers or lists (never booleans: Redis would cut the list at a false).
local function reply(t)
  if CLUSTER and not WHOLE.wrote then keys_here(unnamed_seen()) end  -- a script that read only: see keys_here
  local out = {}
  for name, value in pairs(t) do
    out[#out + 1] = name
    out[#out + 1] = value
  end
  return out
end

-- Say that the writes the script has made so far leave the tenant's data whole: were the script stopped here (its
-- next keys_here finding the slot on the move), nothing would be half written; each session ended so far has ended
-- and been announced, say, and the next call or the worker's next turn does the rest. After `whole`, the script may
-- read keys it has not named again, and names the keys of its next writes before the first of them.
--
-- The next whole names its keys afresh: a key named before may have been emptied since (Redis deletes an emptied set
-- or hash), and only a new EXISTS finds that out, before the next whole writes.
local function whole()
  WHOLE.count, WHOLE.seen, WHOLE.wrote = WHOLE.count + 1, {}, false
  for key in pairs(NAMED) do
    if key ~= T then NAMED[key] = nil end
  end
end

