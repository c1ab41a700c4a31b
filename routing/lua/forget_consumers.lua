-- Delete the consumers of the tenant's outbox group that hold nothing pending and are `consumer` (a worker leaving)
-- or idle for `idle` ms or more (workers gone). One that holds nothing loses nothing: a consumer is made again by its
-- next read or claim.
-- ARGV: NOW, consumer ('' for none), idle (ms). Reply: {deleted = how many}.
--! include base.lua
local consumer, idle = ARGV[2], number_arg(3)
if redis.call('EXISTS', T .. K.events) == 0 then return reply({deleted = 0}) end
local consumers = redis.pcall('XINFO', 'CONSUMERS', T .. K.events, 'deliver')
if consumers.err then return reply({deleted = 0}) end -- no group yet
local deleted = 0
for _, flat in ipairs(consumers) do
  local info = {}
  for i = 1, #flat, 2 do info[flat[i]] = flat[i + 1] end
  if info.pending == 0 and (info.name == consumer or info.idle >= idle) then
    redis.call('XGROUP', 'DELCONSUMER', T .. K.events, 'deliver', info.name)
    deleted = deleted + 1
  end
end
return reply({deleted = deleted})
