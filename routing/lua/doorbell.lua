-- The doorbell: a script that makes some of the tenant's work due sooner than its worker plans to look at it tells
-- the workers, once. The plan is the tenant's next-due hint (K.next_due, written by next_due.lua): a hash of `at`, the
-- µs by which the tenant's worker looks at it anyway, and `waiting` = '1' while the worker holds as many of its
-- deliveries as it may (it claims the rest as those are settled, so a new event needs no ring then).
--! include base.lua

-- The prefix of every key and the tenant's auth_id, read back from T (`<prefix>t:{<auth_id>}`, routing.keys).
local DUE_PREFIX, DUE_TENANT = string.match(T, '^(.*)t:{(.*)}$')
-- The hint as this script last read or wrote it (`at` nil: nothing planned), read on the first ring.
local due_hint = nil

-- The keys `ring` touches (it reads and writes the hint), for a script that rings after its first write to name
-- before that write (base.lua's keys_here).
local function ring_keys()
  return {T .. K.next_due}
end

-- Work of the tenant falls due at `due` (µs); `outbox` says it is a delivery (an event written, a retry made due).
-- When that is before the hint, lower the hint to it and publish `due NOW auth_id` on the channel `<prefix>due`, which
-- every worker hears; the tenant's owner looks at it by then. Until that worker writes the hint again, nothing
-- sooner can come, so a burst publishes once.
--
-- PUBLISH from a script: allowed (the command is not `noscript`). A single server propagates it to its replicas; a
-- Redis Cluster node forwards it to every other node over the cluster bus (plain channels are not sharded), so a
-- subscriber on any node hears it. SPUBLISH would not do: its channel would have to hash to the tenant's slot.
local function ring(due, outbox)
  local key = T .. K.next_due
  if not due_hint then
    local stored = redis.call('HMGET', key, 'at', 'waiting')
    due_hint = {at = tonumber(stored[1] or ''), waiting = stored[2] == '1'}
  end
  if outbox and due_hint.waiting then return end
  if due_hint.at and due_hint.at <= due then return end
  due_hint.at = due
  local text = string.format('%d', due)
  redis.call('HSET', key, 'at', text)
  redis.call('PUBLISH', DUE_PREFIX .. 'due', text .. ' ' .. string.format('%d', NOW) .. ' ' .. DUE_TENANT)
end
