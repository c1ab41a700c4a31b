-- One client address's failed logins at any account (see `routing.logins`): look at its budget, or count one
-- failure first. Not a tenant script: KEYS[1] is the address's key (a global key, in a slot of its own, and
-- base.lua's T), ARGV[1] NOW; then GCRA's interval and tolerance (µs) and `count`
-- ('1': count a failure, '0': only look).
-- Reply: {wait = µs until the address may fail again (0: now), clear = µs until its budget is whole again}.
--! include login_failures.lua
local interval, tolerance = number_arg(2, 1), number_arg(3, 0)
local count = word_arg(4, {['0'] = true, ['1'] = true})
if count == '1' then gcra(T, interval, tolerance) end
local wait, clear = failure_wait(T, tolerance)
return reply({wait = wait, clear = clear})
