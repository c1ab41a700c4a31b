--! include base.lua

-- Append the event `name` of session `uuid` to the tenant's outbox stream: stamped `at` (µs), then `fields` (a flat
-- list of names and values), then the session's next SequenceNumber. Every event a tenant hears of is written here.
-- Times stay integer µs in the stream (`routing.outbox.wire_fields` formats them for the tenant).
local function append_event(uuid, name, at, fields)
  local seq = redis.call('HINCRBY', T .. K.call_state .. uuid, 'seq', 1)
  local f = {'EventName', name, 'EventTimestamp', string.format('%d', at), 'SessionUUID', uuid}
  for k = 1, #fields do f[#f + 1] = tostring(fields[k]) end
  f[#f + 1] = 'SequenceNumber'
  f[#f + 1] = tostring(seq)
  redis.call('XADD', T .. K.events, '*', unpack(f))
end
