-- Ring the tenant's doorbell (doorbell.lua) for work that something outside the scripts made due at `due` (µs).
-- ARGV: NOW, due, 1 for a delivery (an event written, a retry made due) or 0. Reply: {}.
--! include doorbell.lua
local due = number_arg(2)
local outbox = number_arg(3, 0, 1) == 1
ring(due, outbox)
return reply({})
