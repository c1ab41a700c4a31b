-- A tenant's share of the operator's metrics: its counters since it began, and its pool and outbox now. Reads only.
-- ARGV: NOW, then the names of the counters on the tenant's record.
-- Reply: {counters = the counters' values in the order named (0 when never counted), free, in_use, cooling,
-- suspended (DIDs in each state), pending (events still owed), retrying (waiting to be sent again), dead}.
--! include numbers.lua
local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 2))
local counters = {}
for i = 1, #ARGV - 1 do counters[i] = stored_number(values[i]) end
local free = 0
local countries = redis.call('SMEMBERS', T .. K.countries)
for _, cc in ipairs(countries) do free = free + redis.call('SCARD', T .. K.free .. cc) end
return reply({
  counters = counters,
  free = free,
  in_use = dids_in_use(),
  cooling = dids_cooling(countries),
  suspended = redis.call('SCARD', T .. K.suspended),
  pending = redis.call('XLEN', T .. K.events),
  retrying = redis.call('ZCARD', T .. K.event_retries),
  dead = redis.call('HLEN', T .. K.dead_letters),
})
