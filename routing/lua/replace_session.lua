-- Replace an open session's record if it is still `expected`, moving its expiry or ending it now.
-- ARGV: NOW, uuid, expected JSON, new JSON, expiry member, new expiry µs ('' = end the session now).
-- Ending it tells the tenant, in the same step: a SessionEnded event (once, as the end happens once).
-- Reply: {outcome = 'ok' | 'changed' (the record is not `expected` any more) | 'ended' (it had already ended)}.
--! include pool.lua
local uuid, expected, new, member, expiry = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if expiry ~= '' then number_arg(6) end
local sk = T .. K.session .. uuid
if redis.call('GET', sk) ~= expected then return reply({outcome = 'changed'}) end
local score = redis.call('ZSCORE', T .. K.expiry, member)
if not score or tonumber(score) <= NOW then return reply({outcome = 'ended'}) end
if expiry == '' then keys_here(ending_keys(member, NOW)) else keys_here(ring_keys()) end
redis.call('SET', sk, new)
if expiry == '' then
  release(member, NOW)
  announce_end(uuid, NOW, 'SessionEnded')
  redis.call('HINCRBY', T, 'sessions_completed', 1)
else
  redis.call('ZADD', T .. K.expiry, expiry, member)
  ring(tonumber(expiry), false)
end
return reply({outcome = 'ok'})
