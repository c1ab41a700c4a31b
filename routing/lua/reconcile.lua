-- Close a live call its carrier says is over, when the reports that would have closed it never came: the dialled
-- leg (if it still looks live), the caller's leg (billed for the carrier's duration) and the call, with the usual
-- events. A call already over changes nothing.
-- ARGV: NOW, caller CallSid, the carrier's final status of the caller's call, its duration (s), its outcome.
-- Reply: {outcome = 'ok' | 'duplicate' | 'unknown' (no such call)}.
--! include calls.lua
local sid, cause = ARGV[2], ARGV[5]
local status = word_arg(3, {completed = true, busy = true, ['no-answer'] = true, failed = true, canceled = true})
local duration = number_arg(4, 0, MAX_SECONDS)
local I = read_hash(ikey(sid))
if not I.session then
  redis.call('ZREM', T .. K.live_calls, sid)
  return reply({outcome = 'unknown'})
end
-- Before the first write, the keys of all the writes that follow: the call's and its session's.
keys_here(call_keys(I.session, I.sid))
-- The carrier's call ended `duration` s after the caller's leg was answered (after the call began, if never).
local began = stored_number(I.started)
if (I.a_answered or '') ~= '' then began = stored_number(I.a_answered) end
local ended = math.min(began + duration * 1000000, NOW)
if I.state == 'pin' then
  finish_caller(I, 'ended', cause, duration, ended)
  return reply({outcome = 'ok'})
end
if I.state ~= 'dialling' then
  redis.call('ZREM', T .. K.live_calls, sid)
  return reply({outcome = 'duplicate'})
end
if stored_number(I.b_rank) < 4 then
  -- The dialled leg lasted from its answer to the end of the caller's call, if it was answered at all.
  local leg_duration, leg_cause = 0, cause
  local leg_status = status
  if (I.b_answered or '') ~= '' then
    leg_duration = math.max(0, math.ceil((ended - stored_number(I.b_answered)) / 1000000))
    leg_cause, leg_status = 'completed', 'completed'
  end
  redis.call('HSET', ikey(sid), 'b_status', leg_status)
  finish_callee(I, I.b_sid or '', leg_duration, leg_cause)
end
end_bridge(I, status, cause, duration, ended)
return reply({outcome = 'ok'})
