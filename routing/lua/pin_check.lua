-- Check the PIN a caller entered: bridge as that party, ask again, or give up after the last try.
-- ARGV: T, NOW, CallSid, digits ('' when the caller entered nothing). Reply: a decision (decisions.lua).
--! include calls.lua
--! include decisions.lua
local sid, digits = ARGV[3], ARGV[4]
local I = read_hash(ikey(sid))
if not I.session then return reply(refusal('no-call')) end
local blob = redis.call('GET', T .. K.session .. I.session)
if not blob then return reply(refusal('no-call')) end
if I.state ~= 'pin' then
  local current = standing(I, blob)
  if I.state == 'failed' then current.kind = 'failed' end
  return reply(current)
end
local s = cjson.decode(blob)
if tonumber(s['expiry']) <= NOW then
  finish_caller(I, 'ended', 'Session Expired')
  return reply(decision('closed', blob, '', I.tries))
end

local party = ''
if digits ~= '' and digits == s['first_party_pin'] then party = 'first'
elseif digits ~= '' and digits == s['second_party_pin'] then party = 'second' end
-- A PIN that would bridge the caller to the number they are calling from is as wrong as any other PIN.
if party ~= '' and other(s, party) == I.from then party = '' end
if party ~= '' then
  I.state, I.caller, I.callee, I.pin = 'dialling', party, other(s, party), 'success'
  redis.call('HSET', ikey(sid), 'state', I.state, 'caller', party, 'callee', I.callee, 'pin', I.pin)
  redis.call('HSET', ckey(I.session), 'live_until', NOW + call_window(s), 'last', NOW)
  emit(I, 'SessionPinAuthenticationStatus', sid, {})
  return reply(standing(I, blob))
end

I.tries = tostring(tonumber(I.tries) + 1)
I.pin = 'failed'
redis.call('HSET', ikey(sid), 'tries', I.tries, 'pin', I.pin)
emit(I, 'SessionPinAuthenticationStatus', sid, {})
if tonumber(I.tries) > (tonumber(s['pin_retry']) or 1) then
  finish_caller(I, 'failed', 'PIN Authentication Failed')
  return reply(decision('failed', blob, '', I.tries))
end
redis.call('HSET', ckey(I.session), 'last', NOW)
return reply(decision('retry', blob, '', I.tries))
