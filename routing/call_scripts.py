"""The Lua steps of an incoming call: answering it, and checking a PIN. Each is one round trip.

Bodies run through `Store.run`, so routing/scripts.py's prelude and key names apply; `call_lua.LIBRARY`
comes first in each. Both return `{kind, session JSON, caller party, wrong PIN count}` where kind is
`refuse` (with a reason instead of the JSON), `unknown`, `pin`, `bridge`, `retry`, `failed` or `closed`.
"""

from __future__ import annotations

from routing.call_lua import LIBRARY

_STEPS = r"""
-- How long a call holds its session when no callback ends it (the caller hung up during a PIN prompt).
local function pin_window(s)
  return ((tonumber(s['pin_retry']) or 1) + 1) * ((tonumber(s['pin_retry_wait']) or 5) + 60) * 1000000
end

local function call_window(s)
  local limit = math.min(tonumber(s['call_time_limit']) or 14400, 14400)
  return ((tonumber(s['ring_timeout']) or 120) + limit + 300) * 1000000
end

local function other(s, party)
  if party == 'first' then return s['second_party'] end
  return s['first_party']
end

local function reply(I, blob)
  local kind = 'bridge'
  if I.state == 'pin' then kind = 'pin' elseif I.state ~= 'dialling' then kind = 'closed' end
  return {kind, blob, I.caller or '', I.tries or '0'}
end
"""

# ARGV: T, NOW, stamp, virtual number, caller number ('' when withheld), CallSid
INBOUND = (
    LIBRARY
    + _STEPS
    + r"""
local num, from, sid = ARGV[4], ARGV[5], ARGV[6]
local status = redis.call('HGET', T .. '$number' .. num, 'status')
if not status then return {'refuse', 'not-held'} end  -- the tenant does not hold this DID (any more)
if status ~= 'active' then return {'refuse', 'suspended'} end
local uuid = redis.call('HGET', T .. '$route' .. num, '*')
if not uuid then return {'refuse', 'no-session'} end
local blob = redis.call('GET', T .. '$session' .. uuid)
if not blob then return {'refuse', 'no-session'} end
local s = cjson.decode(blob)
if tonumber(s['expiry']) <= NOW then return {'refuse', 'no-session'} end
if (s['second_party'] or '') == '' then return {'refuse', 'single-party'} end

local known = load(ikey(sid))
if known.session then return reply(known, blob) end
local ck = ckey(uuid)
local live = redis.call('HMGET', ck, 'live', 'live_until')
if live[1] and live[1] ~= '' and tonumber(live[2] or '0') > NOW then return {'refuse', 'busy'} end

local caller = ''
if from ~= '' and from == s['first_party'] then caller = 'first'
elseif from ~= '' and from == s['second_party'] then caller = 'second' end
local pin_required = s['is_pin_authentication_required'] == true
if caller == '' and not pin_required then return {'unknown', blob, '', '0'} end

local I = {sid = sid, session = uuid, from = from, to = num, caller = caller, callee = '', state = 'dialling',
           pin = '', tries = '0'}
if pin_required and (caller == '' or s['force_pin_authentication'] == true) then
  I.state = 'pin'
  I.caller = ''
elseif pin_required then
  I.pin = 'AuthorizedCaller'
end
if I.state == 'dialling' then I.callee = other(s, caller) end
local play = ''
if I.caller == 'first' then play = s['first_party_play_url'] or '' end
if I.caller == 'second' then play = s['second_party_play_url'] or '' end
local answered = I.state == 'pin' or play ~= ''

redis.call('HSET', ikey(sid), 'sid', sid, 'session', uuid, 'from', from, 'to', num, 'caller', I.caller,
           'callee', I.callee, 'state', I.state, 'pin', I.pin, 'tries', 0, 'started', NOW,
           'b_rank', 0, 'rec_rank', 0, 'billed', 0, 'amount', '0')
if answered then redis.call('HSET', ikey(sid), 'a_answered', NOW) end
redis.call('RPUSH', T .. '$interactions' .. uuid, sid)
local window = call_window(s)
if I.state == 'pin' then window = pin_window(s) end
redis.call('HSET', ck, 'live', sid, 'live_until', NOW + window, 'last', NOW)
redis.call('HINCRBY', ck, 'count', 1)
-- Kept for the retention period after the session's expiry, counted from the script's own `NOW`.
local keep = math.floor((math.max(tonumber(s['expiry']), NOW) - NOW) / 1000) + KEEP_MS
for _, key in ipairs({ikey(sid), ck, T .. '$interactions' .. uuid}) do redis.call('PEXPIRE', key, keep) end
if answered then emit(I, 'SessionFirstPartyAnswer', sid, {}) end
if I.pin ~= '' then emit(I, 'SessionPinAuthenticationStatus', sid, {}) end
return reply(I, blob)
"""
)

# ARGV: T, NOW, stamp, CallSid, digits ('' when the caller entered nothing)
PIN_CHECK = (
    LIBRARY
    + _STEPS
    + r"""
local sid, digits = ARGV[4], ARGV[5]
local I = load(ikey(sid))
if not I.session then return {'refuse', 'no-call'} end
local blob = redis.call('GET', T .. '$session' .. I.session)
if not blob then return {'refuse', 'no-call'} end
if I.state ~= 'pin' then
  local kind = reply(I, blob)
  if I.state == 'failed' then kind[1] = 'failed' end
  return kind
end
local s = cjson.decode(blob)
if tonumber(s['expiry']) <= NOW then
  finish_caller(I, 'ended', 'Session Expired')
  return {'closed', blob, '', I.tries}
end

local party = ''
if digits ~= '' and digits == s['first_party_pin'] then party = 'first'
elseif digits ~= '' and digits == s['second_party_pin'] then party = 'second' end
if party ~= '' then
  I.state, I.caller, I.callee, I.pin = 'dialling', party, other(s, party), 'success'
  redis.call('HSET', ikey(sid), 'state', I.state, 'caller', party, 'callee', I.callee, 'pin', I.pin)
  redis.call('HSET', ckey(I.session), 'live_until', NOW + call_window(s), 'last', NOW)
  emit(I, 'SessionPinAuthenticationStatus', sid, {})
  return reply(I, blob)
end

I.tries = tostring(tonumber(I.tries) + 1)
I.pin = 'failed'
redis.call('HSET', ikey(sid), 'tries', I.tries, 'pin', I.pin)
emit(I, 'SessionPinAuthenticationStatus', sid, {})
if tonumber(I.tries) > (tonumber(s['pin_retry']) or 1) then
  finish_caller(I, 'failed', 'PIN Authentication Failed')
  return {'failed', blob, '', I.tries}
end
redis.call('HSET', ckey(I.session), 'last', NOW)
return {'retry', blob, '', I.tries}
"""
)
