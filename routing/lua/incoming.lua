-- A new call to a virtual number: the decision inbound.lua answers, and answer.lua for a call masq placed.
--! include base.lua
--! include retention.lua
--! include calls.lua
--! include decisions.lua
--! include pin_guesses.lua

-- Decide the call `sid` from `from` ('' when withheld) to the virtual number `num`, and record it when it proceeds.
local function inbound(num, from, sid)
  local status = redis.call('HGET', T .. K.number .. num, 'status')
  if not status then return refusal('not-held') end  -- the tenant does not hold this DID (any more)
  if status ~= 'active' then return refusal('suspended') end
  local uuid = redis.call('HGET', T .. K.route .. num, '*')
  if not uuid then return refusal('no-session') end
  local blob = redis.call('GET', T .. K.session .. uuid)
  if not blob then return refusal('no-session') end
  local s = cjson.decode(blob)
  if tonumber(s['expiry']) <= NOW then return refusal('no-session') end
  if (s['second_party'] or '') == '' then return refusal('single-party') end
  -- Updates refuse equal parties; a session stored otherwise still never bridges a caller to their own number.
  if s['second_party'] == s['first_party'] then return refusal('single-party') end

  local known = read_hash(ikey(sid))
  if known.session then return standing(known, blob) end
  local ck = ckey(uuid)
  local live = redis.call('HMGET', ck, 'live', 'live_until')
  if live[1] and live[1] ~= '' and stored_number(live[2]) > NOW then return refusal('busy') end

  local caller = ''
  if from ~= '' and from == s['first_party'] then caller = 'first'
  elseif from ~= '' and from == s['second_party'] then caller = 'second' end
  local pin_required = s['is_pin_authentication_required'] == true
  if caller == '' and not pin_required then return decision('unknown', blob, '', '0') end
  local asks_pin = pin_required and (caller == '' or s['force_pin_authentication'] == true)
  -- After too many wrong PINs the session asks no one for a PIN for a while: the caller is told so, nothing is kept.
  if asks_pin and pin_locked(uuid) then return decision('locked', blob, '', '0') end

  local I = {sid = sid, session = uuid, from = from, to = num, caller = caller, callee = '', state = 'dialling',
             pin = '', tries = '0'}
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
  local answered = I.state == 'pin' or play ~= ''

  redis.call('HSET', ikey(sid), 'sid', sid, 'session', uuid, 'from', from, 'to', num, 'caller', I.caller,
             'callee', I.callee, 'state', I.state, 'pin', I.pin, 'tries', 0, 'started', NOW,
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
  return standing(I, blob)
end
