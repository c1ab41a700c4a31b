-- A new call to a virtual number: the decision inbound.lua answers, and answer.lua for a call masq placed.
--! include base.lua
--! include retention.lua
--! include calls.lua
--! include decisions.lua
--! include pin_guesses.lua

-- Record the call I (fields sid, session, from, to, caller, callee, state, pin, tries, started) on its session `s`
-- (JSON `blob`): its interaction, the session's live call, and the events of its answer (`answered`: masq answers
-- it now, with a PIN prompt or a play URL) and of its PIN. It makes the script's first write (the scripts that call it
-- write nothing before), so it names there every key it writes and every key its callers touch after it.
local function begin_call(I, s, blob, answered)
  local sid, uuid, ck = I.sid, I.session, ckey(I.session)
  keys_here(call_keys(uuid, sid))
  redis.call('HSET', ikey(sid), 'sid', sid, 'session', uuid, 'from', I.from, 'to', I.to, 'caller', I.caller,
             'callee', I.callee, 'state', I.state, 'pin', I.pin, 'tries', I.tries, 'started', I.started,
             'b_rank', 0, 'rec_rank', 0, 'billed', 0, 'amount', '0')
  if answered then redis.call('HSET', ikey(sid), 'a_answered', NOW) end
  redis.call('RPUSH', T .. K.interactions .. uuid, sid)
  local window = call_window(s)
  if I.state == 'pin' then window = pin_window(s) end
  redis.call('HSET', ck, 'live', sid, 'live_until', NOW + window, 'last', NOW)
  redis.call('HINCRBY', ck, 'count', 1)
  watch_call(sid, NOW)
  -- Kept for the retention period after the session's expiry.
  local keep = retained_ms(math.max(tonumber(s['expiry']), NOW))
  for _, key in ipairs({ikey(sid), ck, T .. K.interactions .. uuid, T .. K.session_events .. uuid}) do
    redis.call('PEXPIRE', key, keep)
  end
  if answered then emit(I, 'SessionFirstPartyAnswer', sid, {}) end
  if I.pin ~= '' then emit(I, 'SessionPinAuthenticationStatus', sid, {}) end
end

-- Whether session `uuid` has a call that still holds it.
local function busy(uuid)
  local live = redis.call('HMGET', ckey(uuid), 'live', 'live_until')
  return live[1] and live[1] ~= '' and stored_number(live[2]) > NOW
end

-- The answer to a call recorded already on its session (`I.session`), asked for again (a carrier's retry, a replayed
-- webhook): the call's own session decides it as it stands, whatever session the DID and the caller lead to now,
-- and a session that has ended since hangs up.
local function replayed(I)
  local blob = redis.call('GET', T .. K.session .. I.session)
  if not blob then return refusal('no-session') end
  if tonumber(cjson.decode(blob)['expiry']) <= NOW then
    return decision('closed', blob, I.caller or '', I.tries or '0')
  end
  return standing(I, blob)
end

-- The newest session of the sorted set `key` (a shared DID's `did_sessions` or `did_pin_sessions`) still open now,
-- and its JSON, or nil: one past its expiry that no sweep has ended yet is passed over.
local function newest_open(key)
  local offset, page = 0, {}
  repeat
    page = redis.call('ZREVRANGE', key, offset, offset + 9)
    for _, uuid in ipairs(page) do
      local blob = redis.call('GET', T .. K.session .. uuid)
      if blob and tonumber(cjson.decode(blob)['expiry']) > NOW then return uuid, blob end
    end
    offset = offset + 10
  until #page < 10
  return nil
end

-- A caller none of the open sessions of the shared DID `num` has (a stranger, or a party whose session there ended:
-- a tombstone): refused when the DID carries no open session; asked for a PIN, with the prompts of its newest open
-- session with PINs, when one of its open sessions has PINs, since the PIN names the session (shared_pin.lua); else
-- turned away with its newest open session's message. A PIN prompt is noted as a call of no session yet (no
-- `session`, no `sid`: neither the session's calls nor the resources show it), and answered as it stands when asked
-- again. `known` is what is noted of the call `sid` so far.
local function stranger(num, from, sid, known)
  local uuid, blob = newest_open(T .. K.did_pin_sessions .. num)
  if not uuid then
    uuid, blob = newest_open(T .. K.did_sessions .. num)
    if not uuid then return refusal('no-session') end
    return decision('unknown', blob, '', '0')
  end
  if pin_locked(num) then return decision('locked', blob, '', '0') end
  if known.state ~= 'pin' or known.to ~= num then
    known = {tries = '0'}
    redis.call('HSET', ikey(sid), 'from', from, 'to', num, 'state', 'pin', 'tries', 0, 'started', NOW)
    redis.call('PEXPIRE', ikey(sid), math.ceil(pin_window(cjson.decode(blob)) / 1000))
  end
  local asked = decision('pin', blob, '', known.tries)
  asked.any_length = 1
  return asked
end

-- How long a call that was refused, turned away or failed its PIN is remembered as such (ms): a carrier asking
-- again for the same CallSid within it is refused again, never decided afresh against the sessions open by then.
local REFUSED_KEPT_MS = 3600000

-- Decide a call no session has taken yet (see `inbound`); `known` is what is noted of it.
local function decide(num, from, sid, known)
  local route = redis.call('HMGET', T .. K.route .. num, '*', from)
  local uuid = route[1]
  if not uuid then
    uuid = route[2]
    if not uuid or string.sub(uuid, 1, 1) == '~' then return stranger(num, from, sid, known) end
  end
  local blob = redis.call('GET', T .. K.session .. uuid)
  if not blob then return refusal('no-session') end
  local s = cjson.decode(blob)
  if tonumber(s['expiry']) <= NOW then return refusal('no-session') end
  if (s['second_party'] or '') == '' then return refusal('single-party') end
  -- Updates refuse equal parties; a session stored otherwise still never bridges a caller to their own number.
  if s['second_party'] == s['first_party'] then return refusal('single-party') end

  if busy(uuid) then return refusal('busy') end

  local caller = ''
  if from ~= '' and from == s['first_party'] then caller = 'first'
  elseif from ~= '' and from == s['second_party'] then caller = 'second' end
  local pin_required = s['is_pin_authentication_required'] == true
  if caller == '' and not pin_required then return decision('unknown', blob, '', '0') end
  local asks_pin = pin_required and (caller == '' or s['force_pin_authentication'] == true)
  -- After too many wrong PINs the session asks no one for a PIN for a while: the caller is told so, nothing is kept.
  if asks_pin and pin_locked(uuid) then return decision('locked', blob, '', '0') end

  local I = {sid = sid, session = uuid, from = from, to = num, caller = caller, callee = '', state = 'dialling',
             pin = '', tries = '0', started = NOW}
  if asks_pin then
    I.state = 'pin'
    I.caller = ''
  elseif pin_required then
    I.pin = 'AuthorizedCaller'
  end
  if I.state == 'dialling' then I.callee = other(s, caller) end
  local play = ''
  if I.caller == 'first' then play = s['first_party_play_url'] or '' end
  if I.caller == 'second' then play = s['second_party_play_url'] or '' end
  begin_call(I, s, blob, I.state == 'pin' or play ~= '')
  return standing(I, blob)
end

-- Decide the call `sid` from `from` ('' when withheld) to the virtual number `num`, and record it when it proceeds.
-- The session is the DID's own (route field `*`), or on a shared DID the caller's (route field `from`). A call asked
-- for again is answered as it was: by its own session when one took it, never by the one the route leads to now;
-- refused again when it was refused, turned away or failed its PIN.
local function inbound(num, from, sid)
  local status = redis.call('HGET', T .. K.number .. num, 'status')
  if not status then return refusal('not-held') end  -- the tenant does not hold this DID (any more)
  if status ~= 'active' then return refusal('suspended') end
  local known = read_hash(ikey(sid))
  if known.session then return replayed(known) end
  if known.state == 'refused' or known.state == 'failed' then return refusal('no-session') end
  local result = decide(num, from, sid, known)
  if result.kind == 'refuse' or result.kind == 'unknown' or result.kind == 'locked' then
    redis.call('HSET', ikey(sid), 'state', 'refused')
    redis.call('PEXPIRE', ikey(sid), REFUSED_KEPT_MS)
  end
  return result
end
