-- The first party answered the call masq placed to them (see `routing.calls.outbound`): decide as if they had
-- called the virtual number, for the session the call was placed for only (the DID's own, or on a shared DID the
-- first party's there), and answer their leg from now.
-- ARGV: NOW, virtual number, first party, CallSid, the session the call was placed for. Reply: a decision (decisions.lua).
--! include incoming.lua
local num, first, sid, uuid = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
-- Before any write, the keys of this session's call that the writes below touch, whether or not `inbound` writes
-- before them: the call's and its session's.
keys_here(call_keys(uuid, sid))
local route = redis.call('HMGET', T .. K.route .. num, '*', first)
if route[1] ~= uuid and route[2] ~= uuid then return reply(refusal('not-this-session')) end
-- A call recorded already on another session is never answered for this one.
local known = redis.call('HGET', ikey(sid), 'session')
if known and known ~= uuid then return reply(refusal('not-this-session')) end
local result = inbound(num, first, sid)
local I = read_hash(ikey(sid))
-- masq placed this call: its caller's leg is outbound (the Call resource's call_direction).
if I.session then redis.call('HSET', ikey(sid), 'a_direction', 'outbound') end
-- The carrier asks only once the first party has picked up: their leg is answered now, whatever is played.
if result.kind == 'bridge' and (I.a_answered or '') == '' then
  I.a_answered = NOW
  redis.call('HSET', ikey(sid), 'a_answered', NOW)
  emit(I, 'SessionFirstPartyAnswer', sid, {})
end
return reply(result)
