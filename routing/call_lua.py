"""Lua shared by the call scripts: exact decimal money, billing, interactions and the event outbox.

Every call script takes ARGV[3] = the event timestamp as Plivo prints it (Lua in Redis has no clock
formatting). Money never becomes a Lua number: amounts are decimal strings added and multiplied digit by
digit, so Redis holds the same exact strings Python reads back as `Decimal`.
"""

from __future__ import annotations

from routing.calls.billing import DEFAULT_RATE

# A session's calls stay readable as long as the session does: 90 days after it ends, as Plivo keeps them.
KEEP_DAYS = 90

_LIBRARY = r"""
local STAMP = ARGV[3]

-- Non-negative decimal strings: '12', '0.0050'. Returns integer digits and fraction digits.
local function dec_parts(a)
  local i, f = string.match(a, '^(%d*)%.?(%d*)$$')
  if not i then i, f = '0', '' end
  if i == '' then i = '0' end
  return i, f
end

local function dec_join(digits, scale)
  local ip = string.sub(digits, 1, #digits - scale)
  local fp = string.sub(digits, #digits - scale + 1)
  ip = string.gsub(ip, '^0+', '')
  if ip == '' then ip = '0' end
  if scale == 0 then return ip end
  return ip .. '.' .. fp
end

-- a + b, exactly, keeping the longer scale.
local function dec_add(a, b)
  local a_int, a_frac = dec_parts(a)
  local b_int, b_frac = dec_parts(b)
  local scale = math.max(#a_frac, #b_frac)
  a_frac = a_frac .. string.rep('0', scale - #a_frac)
  b_frac = b_frac .. string.rep('0', scale - #b_frac)
  local width = math.max(#a_int, #b_int)
  local x = string.rep('0', width - #a_int) .. a_int .. a_frac
  local y = string.rep('0', width - #b_int) .. b_int .. b_frac
  local out, carry = {}, 0
  for k = #x, 1, -1 do
    local s = tonumber(string.sub(x, k, k)) + tonumber(string.sub(y, k, k)) + carry
    table.insert(out, 1, tostring(s % 10))
    carry = math.floor(s / 10)
  end
  if carry > 0 then table.insert(out, 1, tostring(carry)) end
  return dec_join(table.concat(out), scale)
end

-- a × n for a whole n ≥ 0, exactly.
local function dec_mul(a, n)
  local a_int, a_frac = dec_parts(a)
  local digits, out, carry = a_int .. a_frac, {}, 0
  for k = #digits, 1, -1 do
    local s = tonumber(string.sub(digits, k, k)) * n + carry
    table.insert(out, 1, tostring(s % 10))
    carry = math.floor(s / 10)
  end
  if carry > 0 then table.insert(out, 1, tostring(carry)) end
  return dec_join(table.concat(out), #a_frac)
end

-- Each leg is billed per started minute.
local function billed_seconds(duration)
  if duration <= 0 then return 0 end
  return math.ceil(duration / 60) * 60
end

local function charge(billed)
  local rate = redis.call('HGET', KEYS[1], 'call_rate_per_minute')
  if not rate or not string.match(rate, '^%d+%.?%d*$$') then rate = '@DEFAULT_RATE@' end
  return dec_mul(rate, billed / 60)
end

local function load(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for k = 1, #flat, 2 do t[flat[k]] = flat[k + 1] end
  return t
end

local KEEP_MS = @KEEP_MS@

local function ikey(sid) return T .. '$interaction' .. sid end
local function ckey(uuid) return T .. '$call_state' .. uuid end

-- Append one session event, with the session's next SequenceNumber, to the tenant's outbox stream.
local function emit(I, name, call_uuid, extra)
  local seq = redis.call('HINCRBY', ckey(I.session), 'seq', 1)
  local f = {'EventName', name, 'EventTimestamp', STAMP, 'SessionUUID', I.session, 'CallUUID', call_uuid,
             'From', I.from or '', 'To', I.callee or '', 'VirtualNumber', I.to or '',
             'PinAuthenticationStatus', I.pin or '', 'PinRetryCounter', I.tries or '0'}
  for k = 1, #(extra or {}) do table.insert(f, tostring(extra[k])) end
  table.insert(f, 'SequenceNumber')
  table.insert(f, tostring(seq))
  redis.call('XADD', T .. '$events', '*', unpack(f))
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
  return token ~= '' and redis.call('EXISTS', T .. '$seen' .. token) == 1
end

local function remember(token)
  if token ~= '' then redis.call('SET', T .. '$seen' .. token, '1', 'EX', 86400) end
end
"""

LIBRARY = _LIBRARY.replace("@DEFAULT_RATE@", DEFAULT_RATE).replace("@KEEP_MS@", str(KEEP_DAYS * 86_400_000))
