-- The end of a call's `<Dial>`: bill the dialled leg if no callback did, then end the caller's leg and the call.
-- A dial whose dialled leg already reported its final status was ended then (leg_status.lua): this changes nothing.
-- ARGV: NOW, caller CallSid, DialCallStatus, DialCallSid, DialCallDuration (s), the carrier's outcome, token.
-- Reply: {outcome = 'ok' | 'duplicate' | 'unknown' (no such call)}.
--! include calls.lua
local sid, leg, cause, token = ARGV[2], ARGV[4], ARGV[6], ARGV[7]
local status = word_arg(3, {completed = true, answered = true, busy = true, ['no-answer'] = true, failed = true,
                            canceled = true})
local duration = number_arg(5, 0, MAX_SECONDS)
if seen(token) then return reply({outcome = 'duplicate'}) end
local I = read_hash(ikey(sid))
if not I.session then return reply({outcome = 'unknown'}) end
if I.state ~= 'dialling' then
  remember(token)
  return reply({outcome = 'duplicate'})
end
if leg ~= '' and (I.b_sid or '') == '' then I.b_sid = leg end
-- Before the first write, the keys of all the writes that follow: the call's and its session's, the dialled leg's
-- index and the token's.
local leg_keys = {}
if (I.b_sid or '') ~= '' then leg_keys = {T .. K.leg .. I.b_sid} end
keys_here(call_keys(I.session, I.sid), leg_keys, seen_keys(token))
dialled(I, I.b_sid or '')
cause = leg_outcome(I, cause, duration)
if stored_number(I.b_rank) < 4 then
  redis.call('HSET', ikey(sid), 'b_status', status, 'b_sid', I.b_sid or '')
  finish_callee(I, I.b_sid or '', duration, cause)
end
-- A bridged dial whose answer callback never came: the caller's leg was answered when the bridge began.
if (I.a_answered or '') == '' and status == 'completed' and duration > 0 then
  I.a_answered = NOW - duration * 1000000
end
end_bridge(I, status, cause)
remember(token)
return reply({outcome = 'ok'})
