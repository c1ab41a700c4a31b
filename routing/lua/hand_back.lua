-- Hand outbox deliveries this worker claimed and did not send back to the tenant's owner, to be taken at once: each
-- pending one becomes the owner's with the claim time already idle (so its XAUTOCLAIM takes it now), each leased
-- retry is due now; then ring the doorbell, whatever the hint says (it was written by the worker letting go).
-- ARGV: NOW, the consumer to hand to, the claim time (ms), entry ids. Reply: {pending = how many were handed}.
--! include doorbell.lua
local consumer, idle = ARGV[2], number_arg(3)
local ids = {}
for i = 4, #ARGV do table.insert(ids, ARGV[i]) end
if #ids == 0 then return reply({pending = 0}) end
-- Every key the hand-back touches, named before its first write: the outbox, its retries and the doorbell's hint.
keys_here({T .. K.events, T .. K.event_retries}, ring_keys())
local handed = 0
if redis.call('EXISTS', T .. K.events) == 1 then
  local args = {'XCLAIM', T .. K.events, 'deliver', consumer, 0}
  for _, id in ipairs(ids) do table.insert(args, id) end
  for _, word in ipairs({'IDLE', idle, 'JUSTID'}) do table.insert(args, word) end
  handed = #redis.call(unpack(args))
end
for _, id in ipairs(ids) do
  redis.call('ZADD', T .. K.event_retries, 'XX', NOW, id)
end
ring(NOW, false)
return reply({pending = handed})
