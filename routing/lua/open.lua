-- Open a session on a free DID for a tenant whose right to it was checked already (a parent opening in its
-- subaccount: the parent's credential and rate limit were checked in the parent's own keys).
-- ARGV: NOW, `allocation`'s (pool.lua, 14 of them). Reply: `allocate`'s (number or error).
--! include pool.lua
return reply(allocate(allocation(2)))
