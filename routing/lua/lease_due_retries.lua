-- Take the outbox retries now due, push each out by the lease (so no other worker takes it meanwhile), and answer
-- them as stream entries; a retry whose entry is gone is dropped.
-- ARGV: NOW, how many at most, the lease in µs. Reply: {entries = {{id, {name, value, …}}, …}}.
--! include base.lua
local count, lease = number_arg(2), number_arg(3)
local out = {}
local due = redis.call('ZRANGEBYSCORE', T .. K.event_retries, '-inf', NOW, 'LIMIT', 0, count)
-- Every entry is read before the first write, so that no key is first touched after it (base.lua's keys_here).
local entries = {}
for i, id in ipairs(due) do
  entries[i] = redis.call('XRANGE', T .. K.events, id, id)
end
for i, id in ipairs(due) do
  local entry = entries[i]
  if #entry == 0 then
    redis.call('ZREM', T .. K.event_retries, id)
  else
    redis.call('ZADD', T .. K.event_retries, NOW + lease, id)
    table.insert(out, entry[1])
  end
end
return reply({entries = out})
