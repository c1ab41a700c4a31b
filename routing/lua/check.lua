-- Check a credential and count the request against the tenant's rate limit (see `routing.tenants`).
-- ARGV: NOW, then `credential`'s (credentials.lua). Reply: `check`'s.
--! include credentials.lua
local c = credential(2)
return reply(check(c))
