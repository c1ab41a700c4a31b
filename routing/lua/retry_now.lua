-- Make the outbox entry `id`, waiting for a retry, due now, and ring the tenant's doorbell for it.
-- ARGV: NOW, entry id. Reply: {waiting = 1 when it was waiting for a retry, else 0}.
--! include doorbell.lua
local id = ARGV[2]
if redis.call('ZSCORE', T .. K.event_retries, id) == false then return reply({waiting = 0}) end
keys_here(ring_keys())  -- the doorbell's hint, which `ring` reads and writes after the ZADD
redis.call('ZADD', T .. K.event_retries, NOW, id)
ring(NOW, true)
return reply({waiting = 1})
