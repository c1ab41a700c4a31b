-- A status callback of the dialled leg. A status whose rank is not above the one recorded is a replay or arrived
-- late and changes nothing; so does a carrier retry already seen by its idempotency token. The leg's final status
-- ends the whole call, as the dial's end would: the `<Dial action>` request can be lost, this one is retried.
-- ARGV: NOW, caller CallSid, dialled leg's CallSid, CallStatus, CallDuration (s), the carrier's outcome, token.
-- Reply: {outcome = 'ok' | 'duplicate' | 'unknown' (no such call)}.
--! include calls.lua
--! include decisions.lua
local sid, leg, cause, token = ARGV[2], ARGV[3], ARGV[6], ARGV[7]
local status = word_arg(4, CALL_RANKS)
local duration = number_arg(5, 0, MAX_SECONDS)
if seen(token) then return reply({outcome = 'duplicate'}) end
local I = read_hash(ikey(sid))
if not I.session then return reply({outcome = 'unknown'}) end
local rank = CALL_RANKS[status]
if rank <= stored_number(I.b_rank) then
  remember(token)
  return reply({outcome = 'duplicate'})
end
-- Before the first write, the keys of all the writes that follow: the call's and its session's, the dialled leg's
-- index and the token's.
local leg_keys = {}
if leg ~= '' then leg_keys = {T .. K.leg .. leg} end
keys_here(call_keys(I.session, I.sid), leg_keys, seen_keys(token))
I.b_sid = leg
redis.call('HSET', ikey(sid), 'b_rank', rank, 'b_status', status, 'b_sid', leg)
dialled(I, leg)
local ck = ckey(I.session)
if status == 'initiated' then
  emit(I, 'SessionSecondPartyInitiated', leg, {})
elseif status == 'ringing' then
  emit(I, 'SessionSecondPartyRing', leg, {})
elseif status == 'in-progress' then
  if (I.a_answered or '') == '' then
    I.a_answered = NOW
    redis.call('HSET', ikey(sid), 'a_answered', NOW)
    emit(I, 'SessionFirstPartyAnswer', sid, {})
  end
  redis.call('HSET', ikey(sid), 'b_answered', NOW)
  -- Answered: the call may now last its time limit, no longer.
  local blob = redis.call('GET', T .. K.session .. I.session)
  if blob and redis.call('HGET', ck, 'live') == sid then
    redis.call('HSET', ck, 'live_until', NOW + talk_window(cjson.decode(blob)))
  end
  emit(I, 'SessionSecondPartyAnswer', leg, {})
elseif rank == 4 then
  cause = leg_outcome(I, cause, duration)
  finish_callee(I, leg, duration, cause)
  if I.state == 'dialling' then
    -- A bridged leg that never reported its answer was answered `duration` s ago, as was the caller's.
    if (I.a_answered or '') == '' and status == 'completed' and duration > 0 then
      I.a_answered = NOW - duration * 1000000
    end
    end_bridge(I, status, cause)
  end
end
if I.state == 'dialling' or I.state == 'pin' then watch_call(sid, NOW) end
redis.call('HSET', ck, 'last', NOW)
remember(token)
return reply({outcome = 'ok'})
