-- Put the dead letter `id` back in the tenant's outbox as a new entry with the same fields, and copy it to its
-- session's history as the replay of `id`.
-- ARGV: NOW, the dead letter's entry id, its session uuid ('' when none), then its fields as names and values.
-- Reply: {entry = the new entry's id} or {entry = ''} when `id` is no dead letter (any more).
--! include base.lua
--! include events.lua
local id, uuid = ARGV[2], ARGV[3]
local f = {}
for k = 4, #ARGV do f[#f + 1] = ARGV[k] end
if #f == 0 or #f % 2 == 1 then error('the fields must be names and values') end
if redis.call('HEXISTS', T .. K.dead_letters, id) == 0 then return reply({entry = ''}) end
-- Before the first write, the keys of all the writes that follow: the outbox, the doorbell and the session's history.
local history_keys = {}
if uuid ~= '' then history_keys = event_keys(uuid) end
keys_here({T .. K.events, T .. K.dead_letters}, ring_keys(), history_keys)
local entry = redis.call('XADD', T .. K.events, '*', unpack(f))
redis.call('HDEL', T .. K.dead_letters, id)
ring(NOW, true)
if uuid ~= '' then log_event(uuid, entry, f, {'replay_of', id}) end
return reply({entry = entry})
