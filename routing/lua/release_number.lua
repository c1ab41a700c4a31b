-- Give a DID up: first end what is due (sessions past their expiry, DIDs past their cool-off, `limit` of each, as
-- reclaim.lua does), then take the DID out of the pool, its assignment closed and kept; all in the tenant's slot.
-- The tombstones of shared sessions that ended on it go with it (nothing reaches them once the DID is gone), and
-- their holdings end.
-- ARGV: NOW, number, limit. Reply: {outcome = 'ok' | 'missing' | 'busy' (it carries an open session) | 'shared' (open
-- shared sessions are on it)}.
--! include pool.lua
--! include shared.lua
local num = ARGV[2]
reclaim(number_arg(3, 0))
local nk = T .. K.number .. num
local st = redis.call('HMGET', nk, 'session', 'country')
if not st[2] then return reply({outcome = 'missing'}) end
if st[1] ~= '' then return reply({outcome = 'busy'}) end
if not drop_all_holdings(num) then return reply({outcome = 'shared'}) end
keys_here(number_keys(num, st[2], NOW), {T .. K.suspended, T .. K.numbers, T .. K.numbers_in .. st[2],
                                        T .. K.countries, T .. K.route .. num})
set_assignment(num, {status = 'released', released_at = NOW})
redis.call('SREM', T .. K.free .. st[2], num)
redis.call('ZREM', T .. K.cooling, num)
redis.call('SREM', T .. K.suspended, num)
redis.call('SREM', T .. K.numbers, num)
-- The country's last DID takes the country out of the pool's list: told by the count read first, not by a look at
-- the set the script has just emptied (see base.lua's keys_here).
local held_in = T .. K.numbers_in .. st[2]
if redis.call('SCARD', held_in) - redis.call('SREM', held_in, num) == 0 then
  redis.call('SREM', T .. K.countries, st[2])
end
redis.call('DEL', nk, T .. K.route .. num)
return reply({outcome = 'ok'})
