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
if leaving then
  redis.call('ZREM', T, id)
else
  redis.call('ZADD', T, string.format('%d', now_ms), id)
end
redis.call('ZREMRANGEBYSCORE', T, '-inf', string.format('%d', now_ms - 86400000))
return reply({workers = redis.call('ZRANGEBYSCORE', T, string.format('%d', now_ms - live_ms), '+inf')})
