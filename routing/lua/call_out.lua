-- The call masq places to a session's first party (`routing.calls.outbound`), in one hash per session: the first
-- attempt's time (`started`), the lease of the worker placing it now (`lease_until`), the call once known (`sid`),
-- and the rank and status of its last status callback. One operation per run:
--   claim DEADLINE LEASE: may this worker place the call? Reply {outcome = 'placed' (sid known) | 'expired' (the
--     ring window is over) | 'busy' (another worker holds the lease) | 'first' | 'retry' (an earlier attempt may
--     have reached the carrier: look for its call first), started = µs of the first attempt}.
--   placed SID: the call is known to exist; a later `claim` answers 'placed'. Reply {outcome = 'ok'}.
--   release: the attempt certainly reached no carrier (or ended); drop the lease. Reply {outcome = 'ok'}.
--   status SID STATUS DURATION OUTCOME TOKEN: a status callback of the call. Reply {outcome = 'ok' | 'duplicate'}.
--   failed OUTCOME: the call could not be placed at all; tell the tenant once. Reply {outcome = 'ok' | 'duplicate'}.
-- ARGV: NOW, session uuid, operation, the operation's arguments.
--! include calls.lua
local uuid, op = ARGV[2], ARGV[3]
local key = T .. K.call_out .. uuid
local TTL = 86400

-- A first-party event of the call-out: the call as `emit` sees one, from the party masq rang to the second party.
local function tell(name, call_uuid, extra)
  local blob = redis.call('GET', T .. K.session .. uuid)
  local s = blob and cjson.decode(blob) or {}
  emit({session = uuid, from = s['first_party'], callee = s['second_party'], to = s['virtual_number']},
       name, call_uuid, extra)
end

local function unanswered(call_uuid, cause)
  tell('SessionFirstPartyFailed', call_uuid,
       {'Duration', '0', 'BilledDuration', '0', 'Amount', charge(0), 'HangupCause', cause})
end

local O = read_hash(key)
if op == 'claim' then
  local deadline, lease = number_arg(4), number_arg(5)
  if (O.sid or '') ~= '' then return reply({outcome = 'placed', sid = O.sid, started = O.started or ''}) end
  if NOW > deadline then return reply({outcome = 'expired', started = O.started or ''}) end
  if tonumber(O.lease_until or '0') > NOW then return reply({outcome = 'busy', started = O.started}) end
  local outcome = O.started and 'retry' or 'first'
  local started = O.started or ARGV[1]
  redis.call('HSET', key, 'started', started, 'lease_until', string.format('%d', NOW + lease))
  redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('EXPIRE', key, TTL)
  return reply({outcome = outcome, started = started})
elseif op == 'placed' then
  local sid = ARGV[4]
  if (O.sid or '') == '' then redis.call('HSET', key, 'sid', sid) end
  redis.call('HDEL', key, 'lease_until')
  redis.call('EXPIRE', key, TTL)
  return reply({outcome = 'ok'})
elseif op == 'release' then
  redis.call('HDEL', key, 'lease_until')
  return reply({outcome = 'ok'})
elseif op == 'status' then
  local sid, status, cause, token = ARGV[4], ARGV[5], ARGV[7], ARGV[8]
  number_arg(6)
  local rank = CALL_RANKS[status]
  if seen(token) then return reply({outcome = 'duplicate'}) end
  if (O.sid or '') ~= '' and O.sid ~= sid then return reply({outcome = 'duplicate'}) end
  if not rank or rank <= tonumber(O.rank or '0') or O.failed then return reply({outcome = 'duplicate'}) end
  -- Before the first write, the keys of all the writes that follow: the session's record and events, the token's.
  keys_here({key}, call_keys(uuid), seen_keys(token))
  -- A callback for this session's call proves the call exists, even before the worker recorded it.
  redis.call('HSET', key, 'sid', sid, 'rank', rank, 'status', status)
  redis.call('EXPIRE', key, TTL)
  if status == 'initiated' then
    tell('SessionFirstPartyInitiated', sid, {})
  elseif status == 'ringing' then
    tell('SessionFirstPartyRinging', sid, {})
  elseif rank == 4 and status ~= 'completed' then
    redis.call('HSET', key, 'failed', status)
    unanswered(sid, cause)
  end
  remember(token)
  return reply({outcome = 'ok'})
elseif op == 'failed' then
  if O.failed or (O.sid or '') ~= '' then return reply({outcome = 'duplicate'}) end
  -- Before the first write, the keys of all the writes that follow: the session's record and events.
  keys_here({key}, call_keys(uuid))
  redis.call('HSET', key, 'failed', 'not-placed')
  redis.call('HDEL', key, 'lease_until')
  redis.call('EXPIRE', key, TTL)
  unanswered('', ARGV[4])
  return reply({outcome = 'ok'})
end
error('unknown call-out operation ' .. tostring(op))
