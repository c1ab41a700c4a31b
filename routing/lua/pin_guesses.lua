-- A session's budget of wrong PINs, whatever number or call they come from (see `routing.calls.pin_guesses`); a
-- shared DID has one too, for the PINs strangers key on it (shared_pin.lua). `uuid` below is the session's, or the DID.
--! include base.lua
--! include gcra.lua

-- The keys `pin_locked` and `count_wrong_pin` touch for `uuid` (its budget, which gcra.lua writes, and its lock), for
-- a script to name before its first write.
local function pin_keys(uuid)
  return {T .. K.pin_guesses .. uuid, T .. K.pin_lock .. uuid}
end

-- Whether session `uuid` takes no PIN now: its lock holds the µs it lasts until (its TTL only tidies up).
local function pin_locked(uuid)
  return stored_number(redis.call('GET', T .. K.pin_lock .. uuid)) > NOW
end

-- Count one wrong PIN of session `uuid` against its budget: GCRA with `interval` and `tolerance` (µs; interval
-- 0: no budget). When that leaves no room for another wrong PIN, lock the session's PIN entry for `lockout` µs,
-- or until the budget has room again if that is later, and return when the lock ends (µs); otherwise 0.
local function count_wrong_pin(uuid, interval, tolerance, lockout)
  if interval <= 0 then return 0 end
  local budget = T .. K.pin_guesses .. uuid
  gcra(budget, interval, tolerance)
  local full_for = stored_number(redis.call('GET', budget)) - NOW - tolerance
  if full_for <= 0 then return 0 end
  local wait = math.max(lockout, full_for)
  local until_us = NOW + wait
  redis.call('SET', T .. K.pin_lock .. uuid, string.format('%d', until_us), 'PX', math.ceil(wait / 1000))
  return until_us
end
