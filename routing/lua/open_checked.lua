-- A whole create in one round trip: check the credential and count the request against the tenant's rate limit,
-- then, only if both pass, open the session (pool.lua's `allocate`).
-- ARGV: NOW, `allocation`'s (pool.lua, 14 of them), then `credential`'s (credentials.lua).
-- Reply: `check`'s, with `allocate`'s (number or error) when the request was admitted.
--! include credentials.lua
--! include pool.lua
local a = allocation(2)
local c = credential(16)
local verdict = check(c)
whole()  -- the request is counted: a script stopped after this (its slot on the move) is a request refused
if verdict.verdict == 'ok' and verdict.wait == 0 then
  for name, value in pairs(allocate(a)) do verdict[name] = value end
end
return reply(verdict)
