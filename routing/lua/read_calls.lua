-- Read a session's call state and its latest interactions, as Redis keeps them.
-- ARGV: NOW, session uuid, how many interactions (the latest).
-- Reply: {state = the call state hash, interactions = {each interaction hash, oldest first}}, hashes as flat lists.
--! include base.lua
local uuid, most = ARGV[2], number_arg(3)
local interactions = {}
for _, sid in ipairs(redis.call('LRANGE', T .. K.interactions .. uuid, -most, -1)) do
  table.insert(interactions, redis.call('HGETALL', T .. K.interaction .. sid))
end
return reply({state = redis.call('HGETALL', T .. K.call_state .. uuid), interactions = interactions})
