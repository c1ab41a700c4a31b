-- A recording status callback: `in-progress`, then `completed`, `absent` or `failed`, each told once.
-- ARGV: NOW, caller CallSid, RecordingSid, RecordingUrl, RecordingStatus, RecordingDuration (s), token,
--       start µs, end µs ('' until completed), the carrier's error code, the recording's resource URL.
-- Reply: {outcome = 'ok' | 'duplicate' | 'unknown' (no such call)}.
--! include calls.lua
local EVENTS = {['in-progress'] = 'SessionRecordingInitiated', completed = 'SessionRecordingCompleted',
                absent = 'SessionRecordingFailed', failed = 'SessionRecordingFailed'}
local sid, rec, url, duration, token = ARGV[2], ARGV[3], ARGV[4], ARGV[6], ARGV[7]
local status = word_arg(5, EVENTS)
local error_code, resource_url = ARGV[10], ARGV[11]
number_arg(6, 0, MAX_SECONDS)
-- Times go into the event as µs, as its EventTimestamp does.
local started = string.format('%d', number_arg(8, 0))
local ended = ''
if ARGV[9] ~= '' then ended = string.format('%d', number_arg(9, 0)) end
if seen(token) then return reply({outcome = 'duplicate'}) end
local I = read_hash(ikey(sid))
if not I.session then return reply({outcome = 'unknown'}) end
local rank = 2
if status == 'in-progress' then rank = 1 end
if rank <= stored_number(I.rec_rank) then
  remember(token)
  return reply({outcome = 'duplicate'})
end
-- The carrier serves a recording in the format its URL ends with: the session's record_file_format.
local session = redis.call('GET', T .. K.session .. I.session)
local format = (session and cjson.decode(session).record_file_format) or 'mp3'
if url ~= '' then url = url .. '.' .. format end
-- Before the first write, the keys of all the writes that follow: the call's and its session's, the recording's
-- index and the token's.
local rec_keys = {}
if rec ~= '' then rec_keys = {T .. K.recording .. rec} end
keys_here(call_keys(I.session, I.sid), rec_keys, seen_keys(token))
redis.call('HSET', ikey(sid), 'rec_rank', rank, 'rec_status', status, 'rec_sid', rec, 'rec_format', format,
           'rec_started', started, 'rec_duration', duration)
if url ~= '' then redis.call('HSET', ikey(sid), 'rec_url', url) end
if ended ~= '' then redis.call('HSET', ikey(sid), 'rec_ended', ended) end
if rec ~= '' then index_call(T .. K.recording .. rec, I) end
emit(I, EVENTS[status], sid, {'RecordingUUID', rec, 'RecordingURL', url, 'RecordingDuration', duration,
                              'RecordingFormat', format, 'RecordingStartTime', started,
                              'RecordingEndTime', ended, 'RecordingErrorCode', error_code,
                              'RecordingResourceURL', resource_url})
remember(token)
return reply({outcome = 'ok'})
