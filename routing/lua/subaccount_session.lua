-- Remember, in a parent's keys, which subaccount holds a session the parent opened there, for as long as the
-- session stays readable (its expiry, then the retention period). At the open, the parent's credential comes too:
-- it is checked and the request counted against the parent's rate limit first, and nothing is written unless
-- both pass; later (a new expiry) the note is only made to last.
-- KEYS[1] is the parent's base (base.lua's T). ARGV: NOW, session uuid, the subaccount's auth_id, the session's
-- expiry µs, then at the open `credential`'s (credentials.lua). Reply: `check`'s at the open, else {verdict = 'ok', wait = 0}.
--! include credentials.lua
--! include retention.lua
local uuid, sub = ARGV[2], ARGV[3]
local expiry = number_arg(4)
local verdict = {verdict = 'ok', wait = 0}
keys_here({T .. K.subaccount_session .. uuid})
if #ARGV > 4 then verdict = check(credential(5)) end
if verdict.verdict == 'ok' and verdict.wait == 0 then
  redis.call('SET', T .. K.subaccount_session .. uuid, sub, 'PX', retained_ms(math.max(expiry, NOW)))
end
return reply(verdict)
