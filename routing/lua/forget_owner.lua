-- Forget a DID's owner in the global DID → tenant index, if the owner is still the tenant that gave the DID up.
-- Not a tenant script: KEYS[1] is the DID's owner key (a global key, in a slot of its own, and base.lua's T).
-- ARGV: NOW (unused), the tenant's auth_id. Reply: {forgotten = 1 when the key named that tenant and is gone, else 0}.
--! include base.lua
if redis.call('GET', T) ~= ARGV[2] then return reply({forgotten = 0}) end
redis.call('DEL', T)
return reply({forgotten = 1})
