-- When the tenant's worker must next look at it, and for what. The earliest is written as the tenant's next-due hint
-- (K.next_due), which doorbell.lua compares a sooner due with; writing it is all the script changes.
-- ARGV: NOW, the claim time (ms: how long a delivery may stay pending before another worker takes it over),
-- `quiet` (µs: how long a live call goes unheard of before its carrier is asked about it), `waiting` (1 while the
-- worker holds as many of the tenant's deliveries as it may: it claims more when those are settled, so the outbox's
-- dues are left out of the hint, and a new event rings no doorbell; else 0).
-- Reply, each in µs or -1 for never: {now = NOW, due = the hint's, sweep = the first session expiry, cooled DID or
-- shared route's cool-off end,
-- reconcile = the first live call quiet for `quiet`, retry = the first event retry, stale = when the first pending
-- delivery may be taken over, new = NOW when the outbox has events no worker has read yet}.
--! include base.lua
local claim_ms = number_arg(2, 0)
local quiet = number_arg(3, 0)
local waiting = number_arg(4, 0, 1) == 1
local NEVER = -1

local function earliest(a, b)
  if a == NEVER then return b end
  if b == NEVER or a <= b then return a end
  return b
end

-- The lowest score of the sorted set `key`, or NEVER.
local function first_score(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first == 0 then return NEVER end
  return tonumber(first[2])
end

-- Stream ids compared as {ms, seq}: whether `a` comes after `b`.
local function after(a, b)
  local a_ms, a_seq = string.match(a, '^(%d+)-(%d+)$')
  local b_ms, b_seq = string.match(b, '^(%d+)-(%d+)$')
  a_ms, b_ms = tonumber(a_ms), tonumber(b_ms)
  return a_ms > b_ms or (a_ms == b_ms and tonumber(a_seq) > tonumber(b_seq))
end

-- The outbox's new events (NOW if any, else NEVER) and when its first pending delivery may be taken over.
local function outbox_dues()
  local stream = T .. K.events
  if redis.call('XLEN', stream) == 0 then return NEVER, NEVER end
  local group = nil
  for _, flat in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local fields = {}
    for k = 1, #flat, 2 do fields[flat[k]] = flat[k + 1] end
    if fields.name == 'deliver' then group = fields end
  end
  if not group then return NOW, NEVER end  -- no worker read this outbox yet
  local new = NEVER
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if #last > 0 and after(last[1][1], group['last-delivered-id']) then new = NOW end
  if tonumber(group.pending) == 0 then return new, NEVER end
  -- The longest-waiting of the first pending entries (the oldest ids: entries are claimed in order).
  local idle = 0
  for _, entry in ipairs(redis.call('XPENDING', stream, 'deliver', '-', '+', 32)) do
    idle = math.max(idle, tonumber(entry[3]))
  end
  return new, NOW + math.max(0, claim_ms - idle) * 1000
end

local new, stale = outbox_dues()
local sweep = earliest(first_score(T .. K.expiry), first_score(T .. K.cooling))
sweep = earliest(sweep, first_score(T .. K.shared_cooling))
local reconcile = first_score(T .. K.live_calls)
if reconcile ~= NEVER then reconcile = reconcile + quiet end
local retry = first_score(T .. K.event_retries)
local due = earliest(sweep, reconcile)
if not waiting then due = earliest(earliest(due, retry), earliest(stale, new)) end
local hint = T .. K.next_due
if due ~= NEVER then
  redis.call('HSET', hint, 'at', string.format('%d', due), 'waiting', waiting and '1' or '0')
elseif waiting then
  redis.call('HDEL', hint, 'at')
  redis.call('HSET', hint, 'waiting', '1')
else
  redis.call('DEL', hint)
end
return reply({now = NOW, due = due, sweep = sweep, reconcile = reconcile, retry = retry, stale = stale, new = new})
