-- A status callback of the dialled leg. A status whose rank is not above the one recorded is a replay or arrived
-- late and changes nothing; so does a carrier retry already seen by its idempotency token.
-- ARGV: T, NOW, caller CallSid, dialled leg's CallSid, CallStatus, CallDuration (s), hangup cause, token.
-- Reply: {outcome = 'ok' | 'duplicate' | 'unknown' (no such call)}.
--! include calls.lua
local sid, leg, status, cause, token = ARGV[3], ARGV[4], ARGV[5], ARGV[7], ARGV[8]
local duration = number_arg(6)
local RANKS = {queued = 1, initiated = 1, ringing = 2, ['in-progress'] = 3, completed = 4, busy = 4,
               ['no-answer'] = 4, failed = 4, canceled = 4}
if seen(token) then return reply({outcome = 'duplicate'}) end
local I = read_hash(ikey(sid))
if not I.session then return reply({outcome = 'unknown'}) end
local rank = RANKS[status]
if not rank or rank <= (tonumber(I.b_rank) or 0) then
  remember(token)
  return reply({outcome = 'duplicate'})
end
I.b_sid = leg
redis.call('HSET', ikey(sid), 'b_rank', rank, 'b_status', status, 'b_sid', leg)
if status == 'ringing' then
  emit(I, 'SessionSecondPartyRing', leg, {})
elseif status == 'in-progress' then
  if (I.a_answered or '') == '' then
    I.a_answered = NOW
    redis.call('HSET', ikey(sid), 'a_answered', NOW)
    emit(I, 'SessionFirstPartyAnswer', sid, {})
  end
  redis.call('HSET', ikey(sid), 'b_answered', NOW)
  emit(I, 'SessionSecondPartyAnswer', leg, {})
elseif rank == 4 then
  finish_callee(I, leg, duration, cause)
end
redis.call('HSET', ckey(I.session), 'last', NOW)
remember(token)
return reply({outcome = 'ok'})
