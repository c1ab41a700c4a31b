-- A stranger's PIN on a shared DID (incoming.lua's `stranger`): the PIN names the session, since the PINs of one DID
-- differ (shared.lua). A right one records the call on its session as that party's, as if they had been asked by the
-- session itself; a wrong one counts against the DID's budget of wrong PINs (pin_guesses.lua), whatever session it
-- aimed at: every PIN on the DID is a target for each guess, so the DID, not one session, takes the guesses.
--! include incoming.lua

-- Decide the PIN `digits` of the stranger's call I (fields from, to, tries, started) with the budget `interval`,
-- `tolerance`, `lockout` (µs, as pin_check.lua takes them). They hear the prompts of the DID's newest open session
-- with PINs; with none left open, no PIN can name a session and the call hangs up.
local function shared_pin(I, sid, digits, interval, tolerance, lockout)
  local num = I.to
  local _, prompt = newest_open(T .. K.did_pin_sessions .. num)
  if not prompt then return refusal('no-call') end
  local function finish(pin, kind)
    redis.call('HSET', ikey(sid), 'state', 'failed', 'pin', pin)
    return decision(kind, prompt, '', I.tries)
  end
  if pin_locked(num) then return finish('locked', 'locked') end
  local uuid = digits ~= '' and redis.call('HGET', T .. K.route .. num, '#' .. digits)
  local blob = uuid and string.sub(uuid, 1, 1) ~= '~' and redis.call('GET', T .. K.session .. uuid)
  if blob then
    local s = cjson.decode(blob)
    local party = ''
    if digits == s['first_party_pin'] then party = 'first' elseif digits == s['second_party_pin'] then party = 'second' end
    -- A PIN that would bridge the caller to the number they are calling from is as wrong as any other PIN.
    if party ~= '' and tonumber(s['expiry']) > NOW and other(s, party) ~= I.from then
      if pin_locked(uuid) then return finish('locked', 'locked') end
      if busy(uuid) then return finish('failed', 'closed') end
      local call = {sid = sid, session = uuid, from = I.from, to = num, caller = party, callee = other(s, party),
                    state = 'dialling', pin = 'success', tries = I.tries, started = I.started}
      begin_call(call, s, blob, true)
      return standing(call, blob)
    end
  end
  -- Before the first write, the keys of all the writes that follow: the call's, and the DID's budget of wrong PINs
  -- and its lock (pin_guesses.lua).
  keys_here({ikey(sid)}, pin_keys(num))
  I.tries = tostring(tonumber(I.tries) + 1)
  redis.call('HSET', ikey(sid), 'tries', I.tries, 'pin', 'failed')
  -- An empty entry guesses nothing: only keyed PINs count against the DID's budget.
  if digits ~= '' and count_wrong_pin(num, interval, tolerance, lockout) > 0 then return finish('locked', 'locked') end
  if tonumber(I.tries) > (tonumber(cjson.decode(prompt)['pin_retry']) or 1) then return finish('failed', 'failed') end
  local again = decision('retry', prompt, '', I.tries)
  again.any_length = 1
  return again
end
