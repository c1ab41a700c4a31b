-- A session's calls: each call is an interaction hash keyed by the caller leg's CallSid (I below: its fields), the
-- session's call state hash holds the live call and the totals, and every change is told as a session event.
-- A hangup event's HangupCause is the call's outcome in `routing.calls.hangup_causes` words ('completed', 'busy 486',
-- 'pin-failed', …): that module's table turns it into what the tenant hears.
--! include base.lua
--! include billing.lua
--! include events.lua

-- A call's or a leg's status as the carrier reports it, ranked in the order it comes: a status not ranked above
-- the one recorded is a replay or arrived late and changes nothing; rank 4 is the end of the call.
local CALL_RANKS = {queued = 1, initiated = 1, ringing = 2, ['in-progress'] = 3, completed = 4, busy = 4,
                    ['no-answer'] = 4, failed = 4, canceled = 4}

local function ikey(sid) return T .. K.interaction .. sid end
local function ckey(uuid) return T .. K.call_state .. uuid end

-- The keys the functions below touch for the calls of session `uuid`, and for its interaction `sid` when given: the
-- interaction, the session's record, call state and list of calls, the tenant's index of live calls, and what
-- `append_event` and `ring` touch (events.lua's `event_keys`, doorbell.lua's `ring_keys`), for a script to name before
-- its first write (base.lua's keys_here). The indexes `index_call` writes, `T .. K.leg .. leg` and
-- `T .. K.recording .. id`, and `remember`'s `seen_keys`, are named by the script that knows their ids.
local function call_keys(uuid, sid)
  local keys = {ckey(uuid), T .. K.session .. uuid, T .. K.interactions .. uuid, T .. K.live_calls}
  if sid then keys[#keys + 1] = ikey(sid) end
  for _, list in ipairs({event_keys(uuid), ring_keys()}) do
    for _, key in ipairs(list) do keys[#keys + 1] = key end
  end
  return keys
end

-- Append the call event `name` about the leg `call_uuid` of interaction I, now; `extra` is a flat list of more fields.
-- Every call event is built here; a call not yet an interaction passes a table of the same fields (I.session, the
-- caller I.from, the callee I.callee, the virtual number I.to).
local function emit(I, name, call_uuid, extra)
  local f = {'CallUUID', call_uuid, 'From', I.from or '', 'To', I.callee or '', 'VirtualNumber', I.to or '',
             'PinAuthenticationStatus', I.pin or '', 'PinRetryCounter', I.tries or '0'}
  for k = 1, #extra do f[#f + 1] = extra[k] end
  append_event(I.session, name, NOW, f)
end

-- The `<Dial timeLimit>` masq gives the calls of session `s`, in s (the carrier's range: 1 s to 4 h).
local function dial_time_limit(s)
  return math.min(math.max(tonumber(s['call_time_limit']) or 14400, 1), 14400)
end

-- The outcome of interaction I's dialled leg that the carrier reports ended `cause` after `duration` s: a completed
-- leg that lasted the session's time limit was cut at masq's `<Dial timeLimit>` ('time-limit'); any other is as told.
local function leg_outcome(I, cause, duration)
  if cause ~= 'completed' or duration <= 0 then return cause end
  local blob = redis.call('GET', T .. K.session .. I.session)
  if blob and duration >= dial_time_limit(cjson.decode(blob)) then return 'time-limit' end
  return cause
end

-- Keep the live call `sid` in the tenant's index of live calls, scored by when it was last heard of (µs): the
-- worker asks the carrier about calls that have been quiet too long (see `routing.calls.reconcile`). A new one tells
-- the worker to look (it alone knows how long `quiet` is); a later report only puts the call's turn off.
local function watch_call(sid, at)
  if redis.call('ZADD', T .. K.live_calls, at, sid) == 1 then ring(at, false) end
end

-- Keep the way from `key` (another id of call I: its dialled leg's CallSid, a recording's id) back to I, for as long
-- as I is kept: the Call and Recording resources are found through these (read_resource.lua).
local function index_call(key, I)
  local ttl = redis.call('PTTL', ikey(I.sid))
  if ttl > 0 then redis.call('SET', key, I.sid, 'PX', ttl) else redis.call('SET', key, I.sid) end
end

-- The dialled leg `leg` of call I is heard of: note when it first was, and index its CallSid.
local function dialled(I, leg)
  if leg == '' or (I.b_started or '') ~= '' then return end
  I.b_started = tostring(NOW)
  redis.call('HSET', ikey(I.sid), 'b_started', NOW)
  index_call(T .. K.leg .. leg, I)
end

-- Add a leg's charge to the interaction and to the session's totals.
local function add_charge(I, billed, amount)
  I.billed = tostring(stored_number(I.billed) + billed)
  I.amount = dec_add(I.amount or '0', amount)
  redis.call('HSET', ikey(I.sid), 'billed', I.billed, 'amount', I.amount)
  local ck = ckey(I.session)
  local totals = redis.call('HMGET', ck, 'billed', 'amount')
  redis.call('HSET', ck, 'billed', tostring(stored_number(totals[1]) + billed),
             'amount', dec_add(totals[2] or '0', amount), 'last', NOW)
end

-- How long the caller's leg has lasted, in whole seconds: from its answer to now, and never less than the dialled
-- leg's talk time (the caller is on the line for all of the bridge, whatever the clocks of the reports say).
local function caller_duration(I)
  local elapsed = 0
  if (I.a_answered or '') ~= '' then elapsed = math.max(0, math.ceil((NOW - stored_number(I.a_answered)) / 1000000)) end
  return math.max(elapsed, stored_number(I.b_duration))
end

-- The caller's leg is over: bill it for `duration` s (default: `caller_duration`), free the session for the next call.
-- `at` is when it ended (default: now; the reconciler knows it from the carrier).
local function finish_caller(I, state, cause, duration, at)
  duration = duration or caller_duration(I)
  at = at or NOW
  local billed = billed_seconds(duration)
  local rate = call_rate()
  local amount = charge(billed, rate)
  I.state = state
  redis.call('HSET', ikey(I.sid), 'state', state, 'ended', at, 'a_duration', duration, 'a_billed', billed,
             'a_status', 'completed', 'a_amount', amount, 'a_rate', rate, 'a_cause', cause)
  add_charge(I, billed, amount)
  local ck = ckey(I.session)
  if redis.call('HGET', ck, 'live') == I.sid then redis.call('HDEL', ck, 'live', 'live_until') end
  redis.call('ZREM', T .. K.live_calls, I.sid)
  emit(I, 'SessionFirstPartyHangup', I.sid,
       {'Duration', duration, 'BilledDuration', billed, 'Amount', amount, 'HangupCause', cause})
end

-- The dialled leg is over (answered and hung up, or never answered).
local function finish_callee(I, leg_sid, duration, cause)
  local billed = billed_seconds(duration)
  local rate = call_rate()
  local amount = charge(billed, rate)
  I.b_rank, I.b_duration = '4', tostring(duration)
  redis.call('HSET', ikey(I.sid), 'b_rank', 4, 'b_duration', duration, 'b_billed', billed, 'b_amount', amount,
             'b_rate', rate, 'b_cause', cause)
  add_charge(I, billed, amount)
  emit(I, 'SessionSecondPartyHangup', leg_sid,
       {'Duration', duration, 'BilledDuration', billed, 'Amount', amount, 'HangupCause', cause})
end

-- A bridged call is over (its dialled leg, already finished, ended it): end the caller's leg and tell the whole
-- call's end. `status` is the dial's outcome (DialCallStatus's words); `duration` as for finish_caller. The caller's
-- leg ends normally, unless the time limit cut both legs.
local function end_bridge(I, status, cause, duration, at)
  redis.call('HSET', ikey(I.sid), 'dial_status', status)
  duration = duration or caller_duration(I)
  at = at or NOW
  local caller_cause = 'completed'
  if cause == 'time-limit' then caller_cause = cause end
  finish_caller(I, 'ended', caller_cause, duration, at)
  local started = stored_number(I.started)
  local answered = started
  if (I.a_answered or '') ~= '' then answered = stored_number(I.a_answered) end
  -- From the call's start to its end: the wait before the caller's answer, then the caller's leg.
  local length = math.max(math.ceil((at - started) / 1000000), math.ceil((answered - started) / 1000000) + duration, 0)
  emit(I, 'SessionPartiesHangup', I.sid,
       {'Duration', length, 'BilledDuration', I.billed, 'Amount', I.amount, 'HangupCause', cause})
end

-- Idempotency tokens of carrier retries: seen once, ignored after.
local function seen(token)
  return token ~= '' and redis.call('EXISTS', T .. K.seen .. token) == 1
end

local function remember(token)
  if token ~= '' then redis.call('SET', T .. K.seen .. token, '1', 'EX', 86400) end
end

-- The key `seen` and `remember` touch for `token`, as a list, for a script to name before its first write.
local function seen_keys(token)
  if token == '' then return {} end
  return {T .. K.seen .. token}
end
