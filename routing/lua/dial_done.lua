-- The end of a call's `<Dial>`: bill the dialled leg if no callback did, then end the caller's leg and the call.
-- ARGV: T, NOW, caller CallSid, DialCallStatus, DialCallSid, DialCallDuration (s), hangup cause, token.
-- Reply: {outcome = 'ok' | 'duplicate' | 'unknown' (no such call)}.
--! include calls.lua
local sid, status, leg, cause, token = ARGV[3], ARGV[4], ARGV[5], ARGV[7], ARGV[8]
local duration = number_arg(6)
if seen(token) then return reply({outcome = 'duplicate'}) end
local I = read_hash(ikey(sid))
if not I.session then return reply({outcome = 'unknown'}) end
if I.state ~= 'dialling' then
  remember(token)
  return reply({outcome = 'duplicate'})
end
if leg ~= '' and (I.b_sid or '') == '' then I.b_sid = leg end
if (tonumber(I.b_rank) or 0) < 4 then
  redis.call('HSET', ikey(sid), 'b_status', status, 'b_sid', I.b_sid or '')
  finish_callee(I, I.b_sid or '', duration, cause)
end
redis.call('HSET', ikey(sid), 'dial_status', status)
-- A bridged dial whose answer callback never came: the caller's leg was answered when the bridge began.
if (I.a_answered or '') == '' and status == 'completed' and duration > 0 then
  I.a_answered = NOW - duration * 1000000
end
finish_caller(I, 'ended', 'Normal Hangup')
local length = math.ceil((NOW - tonumber(I.started)) / 1000000)
emit(I, 'SessionPartiesHangup', sid,
     {'Duration', length, 'BilledDuration', I.billed, 'Amount', I.amount, 'HangupCause', cause})
remember(token)
return reply({outcome = 'ok'})
