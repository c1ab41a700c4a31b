-- Find the call an id belongs to, for the Call and Recording resources: the caller's CallSid names its interaction,
-- the dialled leg's CallSid and a recording's id lead to it through their index (calls.lua's index_call).
-- ARGV: NOW (unused), the id.
-- Reply: {interaction = the call's hash as a flat list (empty when the id is not the tenant's), rate = the tenant's
--         per-minute rate now}.
--! include base.lua
--! include billing.lua
local id = ARGV[2]
local sid = id
if redis.call('EXISTS', T .. K.interaction .. sid) == 0 then
  sid = redis.call('GET', T .. K.leg .. id) or redis.call('GET', T .. K.recording .. id) or ''
end
local interaction = {}
if sid ~= '' then interaction = redis.call('HGETALL', T .. K.interaction .. sid) end
return reply({interaction = interaction, rate = call_rate()})
