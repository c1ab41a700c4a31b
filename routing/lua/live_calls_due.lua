-- The tenant's live calls no carrier report has touched for `quiet` µs, to ask their carrier about. Each one
-- returned counts as heard of `recheck` µs later than now minus `quiet`, so it is due again `recheck` µs from now
-- if still live; one that is no longer live leaves the index.
-- ARGV: NOW, how many at most, quiet (µs), recheck (µs). Reply: {calls = {caller CallSid, ...}}.
--! include base.lua
local most = number_arg(2, 1, 1000)
local quiet = number_arg(3, 0, 86400 * 1000000)
local recheck = number_arg(4, 1, 86400 * 1000000)
local due = redis.call('ZRANGEBYSCORE', T .. K.live_calls, '-inf', NOW - quiet, 'LIMIT', 0, most)
-- Every call's state is read before the first write, so that no key is first touched after it (base.lua's
-- keys_here): the calls are found in the index, so their keys cannot be named in advance.
local states = {}
for i, sid in ipairs(due) do
  states[i] = redis.call('HGET', T .. K.interaction .. sid, 'state')
end
local calls = {}
for i, sid in ipairs(due) do
  local state = states[i]
  if state == 'dialling' or state == 'pin' then
    redis.call('ZADD', T .. K.live_calls, NOW - quiet + recheck, sid)
    calls[#calls + 1] = sid
  else
    redis.call('ZREM', T .. K.live_calls, sid)
  end
end
return reply({calls = calls})
