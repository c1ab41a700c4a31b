-- Suspend a DID (it is never handed out) or make it active again. A suspended DID in shared use keeps its holdings
-- but leaves its country's sets of shared DIDs (`shared`, and `shared_live` with an open session), so that no new
-- session takes it and it counts as suspended only; resumed, it is back in them.
-- ARGV: NOW, number, 'suspended' | 'active'. Reply: {outcome = 'ok' | 'missing'}.
--! include numbers.lua
local num, status = ARGV[2], ARGV[3]
if status ~= 'suspended' and status ~= 'active' then error('ARGV[3] must be suspended or active') end
local nk = T .. K.number .. num
local st = redis.call('HMGET', nk, 'status', 'country', 'parties')
if not st[1] then return reply({outcome = 'missing'}) end
keys_here({T .. K.suspended, T .. K.did_sessions .. num}, number_keys(num, st[2], NOW))
redis.call(status == 'suspended' and 'SADD' or 'SREM', T .. K.suspended, num)
if st[1] == status then return reply({outcome = 'ok'}) end
redis.call('HSET', nk, 'status', status)
local parties = stored_number(st[3])
if status == 'suspended' then
  redis.call('SREM', T .. K.free .. st[2], num)
  redis.call('ZREM', T .. K.shared .. st[2], num)
  shared_in_use(num, st[2], false, NOW)
elseif parties > 0 then
  redis.call('ZADD', T .. K.shared .. st[2], parties, num)
  if redis.call('EXISTS', T .. K.did_sessions .. num) == 1 then
    shared_in_use(num, st[2], true, NOW)
    raise_figure(NOW, 'peak_dids', dids_in_use())
  end
elseif not redis.call('ZSCORE', T .. K.cooling, num) then
  free_number(num)
end
set_assignment(num, {status = status})
return reply({outcome = 'ok'})
