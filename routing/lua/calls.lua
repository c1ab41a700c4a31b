-- A session's calls: each call is an interaction hash keyed by the caller leg's CallSid (I below: its fields), the
-- session's call state hash holds the live call and the totals, and every change is told as a session event.
--! include base.lua
--! include billing.lua
--! include events.lua

local function ikey(sid) return T .. K.interaction .. sid end
local function ckey(uuid) return T .. K.call_state .. uuid end

-- Append the call event `name` about the leg `call_uuid` of interaction I, now; `extra` is a flat list of more fields.
local function emit(I, name, call_uuid, extra)
  local f = {'CallUUID', call_uuid, 'From', I.from or '', 'To', I.callee or '', 'VirtualNumber', I.to or '',
             'PinAuthenticationStatus', I.pin or '', 'PinRetryCounter', I.tries or '0'}
  for k = 1, #extra do f[#f + 1] = extra[k] end
  append_event(I.session, name, NOW, f)
end

-- Add a leg's charge to the interaction and to the session's totals.
local function add_charge(I, billed, amount)
  I.billed = tostring((tonumber(I.billed) or 0) + billed)
  I.amount = dec_add(I.amount or '0', amount)
  redis.call('HSET', ikey(I.sid), 'billed', I.billed, 'amount', I.amount)
  local ck = ckey(I.session)
  redis.call('HINCRBY', ck, 'billed', billed)
  redis.call('HSET', ck, 'amount', dec_add(redis.call('HGET', ck, 'amount') or '0', amount), 'last', NOW)
end

-- The caller's leg is over: bill it from its answer to now, free the session for the next call.
local function finish_caller(I, state, cause)
  local duration = 0
  if (I.a_answered or '') ~= '' then duration = math.ceil((NOW - tonumber(I.a_answered)) / 1000000) end
  local billed = billed_seconds(duration)
  local amount = charge(billed)
  I.state = state
  redis.call('HSET', ikey(I.sid), 'state', state, 'ended', NOW, 'a_duration', duration, 'a_billed', billed,
             'a_status', 'completed')
  add_charge(I, billed, amount)
  local ck = ckey(I.session)
  if redis.call('HGET', ck, 'live') == I.sid then redis.call('HDEL', ck, 'live', 'live_until') end
  emit(I, 'SessionFirstPartyHangup', I.sid,
       {'Duration', duration, 'BilledDuration', billed, 'Amount', amount, 'HangupCause', cause})
end

-- The dialled leg is over (answered and hung up, or never answered).
local function finish_callee(I, leg_sid, duration, cause)
  local billed = billed_seconds(duration)
  local amount = charge(billed)
  redis.call('HSET', ikey(I.sid), 'b_rank', 4, 'b_duration', duration, 'b_billed', billed)
  add_charge(I, billed, amount)
  emit(I, 'SessionSecondPartyHangup', leg_sid,
       {'Duration', duration, 'BilledDuration', billed, 'Amount', amount, 'HangupCause', cause})
end

-- Idempotency tokens of carrier retries: seen once, ignored after.
local function seen(token)
  return token ~= '' and redis.call('EXISTS', T .. K.seen .. token) == 1
end

local function remember(token)
  if token ~= '' then redis.call('SET', T .. K.seen .. token, '1', 'EX', 86400) end
end
