"""The Lua steps of the carrier's callbacks: leg status, the dial's end, recordings, and reading it all back.

Each callback moves its interaction forward only: a status whose rank is not above the one recorded is a
replay or arrived late, and changes nothing. Carrier retries with an idempotency token are also recognised
by the token. Each returns `ok`, `duplicate` or `unknown` (no such call).
"""

from __future__ import annotations

from routing.call_lua import LIBRARY

# ARGV: T, NOW, stamp, caller CallSid, dialled leg's CallSid, CallStatus, CallDuration, hangup cause, token
LEG_STATUS = (
    LIBRARY
    + r"""
local sid, leg, status, duration, cause, token = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]) or 0, ARGV[8], ARGV[9]
local RANKS = {queued = 1, initiated = 1, ringing = 2, ['in-progress'] = 3, completed = 4, busy = 4,
               ['no-answer'] = 4, failed = 4, canceled = 4}
if seen(token) then return 'duplicate' end
local I = load(ikey(sid))
if not I.session then return 'unknown' end
local rank = RANKS[status]
if not rank or rank <= (tonumber(I.b_rank) or 0) then remember(token) return 'duplicate' end
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
return 'ok'
"""
)

# ARGV: T, NOW, stamp, caller CallSid, DialCallStatus, DialCallSid, DialCallDuration, hangup cause, token
DIAL_DONE = (
    LIBRARY
    + r"""
local sid, status, leg, duration, cause, token = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]) or 0, ARGV[8], ARGV[9]
if seen(token) then return 'duplicate' end
local I = load(ikey(sid))
if not I.session then return 'unknown' end
if I.state ~= 'dialling' then remember(token) return 'duplicate' end
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
return 'ok'
"""
)

# ARGV: T, NOW, stamp, caller CallSid, RecordingSid, RecordingUrl, RecordingStatus, RecordingDuration, token,
#       start stamp, end stamp ('' until completed), carrier error code
RECORDING = (
    LIBRARY
    + r"""
local sid, rec, url, status, duration, token = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local started, ended, error_code = ARGV[10], ARGV[11], ARGV[12]
local EVENTS = {['in-progress'] = 'SessionRecordingInitiated', completed = 'SessionRecordingCompleted',
                absent = 'SessionRecordingFailed', failed = 'SessionRecordingFailed'}
if seen(token) then return 'duplicate' end
local I = load(ikey(sid))
if not I.session then return 'unknown' end
local rank = 2
if status == 'in-progress' then rank = 1 end
if not EVENTS[status] or rank <= (tonumber(I.rec_rank) or 0) then remember(token) return 'duplicate' end
-- The carrier serves a recording in the format its URL ends with: the session's record_file_format.
local session = redis.call('GET', T .. '$session' .. I.session)
local format = (session and cjson.decode(session).record_file_format) or 'mp3'
if url ~= '' then url = url .. '.' .. format end
redis.call('HSET', ikey(sid), 'rec_rank', rank, 'rec_status', status, 'rec_sid', rec)
if url ~= '' then redis.call('HSET', ikey(sid), 'rec_url', url) end
emit(I, EVENTS[status], sid, {'RecordingUUID', rec, 'RecordingURL', url, 'RecordingDuration', duration,
                              'RecordingFormat', format, 'RecordingStartTime', started,
                              'RecordingEndTime', ended, 'RecordingErrorCode', error_code})
remember(token)
return 'ok'
"""
)

# ARGV: T, NOW, session uuid, how many interactions (the latest)
READ_CALLS = r"""
local uuid, most = ARGV[3], tonumber(ARGV[4])
local out = {redis.call('HGETALL', T .. '$call_state' .. uuid)}
for _, sid in ipairs(redis.call('LRANGE', T .. '$interactions' .. uuid, -most, -1)) do
  table.insert(out, redis.call('HGETALL', T .. '$interaction' .. sid))
end
return out
"""
