--! include base.lua
--! include doorbell.lua

-- The most events a session's history keeps (about: trimmed as Redis trims a stream cheaply, `MAXLEN ~`).
local HISTORY = 1000

-- The keys `append_event` and `log_event` touch for session `uuid`, for a script to name before its first write.
local function event_keys(uuid)
  return {T .. K.events, T .. K.session_events .. uuid, T .. K.call_state .. uuid, T .. K.next_due}
end

-- Keep a copy of the outbox entry `id` (a flat list of names and values `f`) in session `uuid`'s history, with the
-- flat list `extra` before it; the history lives as long as the session's call state (it expires with it).
local function log_event(uuid, id, f, extra)
  local key = T .. K.session_events .. uuid
  local copy = {'entry', id}
  for k = 1, #extra do copy[#copy + 1] = extra[k] end
  for k = 1, #f do copy[#copy + 1] = f[k] end
  redis.call('XADD', key, 'MAXLEN', '~', HISTORY, '*', unpack(copy))
  local ttl = redis.call('PTTL', T .. K.call_state .. uuid)
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end

-- Append the event `name` of session `uuid` to the tenant's outbox stream: stamped `at` (µs), then `fields` (a flat
-- list of names and values), then the session's next SequenceNumber. Every event a tenant hears of is written here,
-- and copied to the session's history; the tenant's worker is told it has an event to deliver (doorbell.lua).
-- Times stay integer µs in the stream (`routing.outbox.wire_fields` formats them for the tenant).
local function append_event(uuid, name, at, fields)
  local seq = redis.call('HINCRBY', T .. K.call_state .. uuid, 'seq', 1)
  local f = {'EventName', name, 'EventTimestamp', string.format('%d', at), 'SessionUUID', uuid}
  for k = 1, #fields do f[#f + 1] = tostring(fields[k]) end
  f[#f + 1] = 'SequenceNumber'
  f[#f + 1] = tostring(seq)
  log_event(uuid, redis.call('XADD', T .. K.events, '*', unpack(f)), f, {})
  ring(NOW, true)
end
