-- Check the PIN a caller entered: bridge as that party, ask again, or give up after the last try; count a wrong
-- PIN against the session's budget, which locks its PIN entry once spent (pin_guesses.lua).
-- ARGV: NOW, CallSid, digits ('' when the caller entered nothing), then the budget in µs: GCRA's interval and
-- tolerance, and the lockout (interval 0: no budget). Reply: a decision (decisions.lua).
--! include shared_pin.lua
local sid, digits = ARGV[2], ARGV[3]
local interval, tolerance, lockout = number_arg(4, 0), number_arg(5, 0), number_arg(6, 0)
local I = read_hash(ikey(sid))
if not I.session then
  -- A stranger on a shared DID, asked for the PIN that names a session (shared_pin.lua).
  if I.state == 'pin' and I.to then return reply(shared_pin(I, sid, digits, interval, tolerance, lockout)) end
  return reply(refusal('no-call'))
end
local blob = redis.call('GET', T .. K.session .. I.session)
if not blob then return reply(refusal('no-call')) end
if I.state ~= 'pin' then
  -- Asked again after the PIN was settled: the call's session as it stands, hung up once it has ended.
  local current = replayed(I)
  if I.state == 'failed' then current.kind = I.pin == 'locked' and 'locked' or 'failed' end
  return reply(current)
end
local s = cjson.decode(blob)
-- Before the first write, the keys of all the writes that follow: the call's and its session's, and the session's
-- budget of wrong PINs and its lock (pin_guesses.lua).
keys_here(call_keys(I.session, I.sid), {ikey(sid)}, pin_keys(I.session))
if tonumber(s['expiry']) <= NOW then
  finish_caller(I, 'ended', 'session-expired')
  return reply(decision('closed', blob, '', I.tries))
end
-- While the session's PIN entry is locked no PIN is compared, the right one included: the lock was told already.
if pin_locked(I.session) then
  I.pin = 'locked'
  redis.call('HSET', ikey(sid), 'pin', I.pin)
  finish_caller(I, 'failed', 'pin-locked')
  return reply(decision('locked', blob, '', I.tries))
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
-- An empty entry guesses nothing: only keyed PINs count against the session's budget.
local locked_until = 0
if digits ~= '' then locked_until = count_wrong_pin(I.session, interval, tolerance, lockout) end
if locked_until > 0 then
  I.pin = 'locked'
  redis.call('HSET', ikey(sid), 'pin', I.pin)
  emit(I, 'SessionPinAuthenticationStatus', sid, {'PinLockedUntil', string.format('%d', locked_until)})
  finish_caller(I, 'failed', 'pin-locked')
  return reply(decision('locked', blob, '', I.tries))
end
if tonumber(I.tries) > (tonumber(s['pin_retry']) or 1) then
  finish_caller(I, 'failed', 'pin-failed')
  return reply(decision('failed', blob, '', I.tries))
end
redis.call('HSET', ckey(I.session), 'last', NOW)
return reply(decision('retry', blob, '', I.tries))
