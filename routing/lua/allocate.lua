-- Open a session on a free DID of the tenant (see `routing.sessions.lifecycle.open_session`).
-- ARGV: T, NOW, then `allocation`'s (pool.lua). Reply: {number} or {error}.
--! include pool.lua
local a = allocation(3)
return reply(allocate(a))
