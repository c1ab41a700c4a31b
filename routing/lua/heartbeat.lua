-- A worker says it lives (or that it leaves), and learns which workers live: the registry (T here, the one global
-- key) scores each worker by when it last said so, in ms of Redis' own clock, so no worker's clock matters.
-- KEYS[1] is the registry. ARGV: NOW (unused), the worker's id, how long a worker counts as live after it last said so
-- (ms), 1 when it leaves now (else 0). A worker silent for a day is forgotten.
-- Reply: {workers = the ids of the live workers, in no order}.
--! include base.lua
local id = ARGV[2]
local live_ms = number_arg(3, 1)
local leaving = number_arg(4, 0, 1) == 1
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
-- Read first, then write; never touch the registry again once a removal may have emptied it (a moving slot's node
-- would stop the script there: see base.lua's keys_here).
local cutoff = now_ms - 86400000
local live = redis.call('ZRANGEBYSCORE', T, string.format('%d', now_ms - live_ms), '+inf')
local size = redis.call('ZCARD', T)
local stale = redis.call('ZCOUNT', T, '-inf', string.format('%d', cutoff))
local workers = {}
for _, worker in ipairs(live) do
  if worker ~= id then workers[#workers + 1] = worker end
end
if leaving then
  if stale > 0 then redis.call('ZREMRANGEBYSCORE', T, '-inf', string.format('%d', cutoff)) end
  if size > stale then redis.call('ZREM', T, id) end  -- else the registry is gone, and the worker with it
else
  redis.call('ZADD', T, string.format('%d', now_ms), id)
  if stale > 0 then redis.call('ZREMRANGEBYSCORE', T, '-inf', string.format('%d', cutoff)) end  -- keeps `id`
  workers[#workers + 1] = id
end
return reply({workers = workers})
