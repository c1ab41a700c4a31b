-- Put a DID in the tenant's pool, free, with a new assignment record.
-- ARGV: NOW, number, country, assignment JSON (without id).
-- Reply: {outcome = 'added', assignment = its id} or {outcome = 'exists'} (the DID is in the pool already; it is
-- then put in its country's set of DIDs held, which pools filled before that set existed lack).
--! include numbers.lua
local num, cc = ARGV[2], ARGV[3]
local rec = cjson.decode(ARGV[4])
if type(rec) ~= 'table' then error('ARGV[4] must be a JSON object') end
local nk = T .. K.number .. num
if redis.call('EXISTS', nk) == 1 then
  local held = T .. K.numbers_in .. redis.call('HGET', nk, 'country')
  keys_here({nk, held})
  redis.call('SADD', held, num)
  return reply({outcome = 'exists'})
end
keys_here({nk, T .. K.assignment_seq, T .. K.assignments, T .. K.numbers, T .. K.numbers_in .. cc, T .. K.countries,
           T .. K.free .. cc})
local id = redis.call('INCR', T .. K.assignment_seq)
rec['id'] = id
redis.call('HSET', T .. K.assignments, id, encode_record(rec))
redis.call('HSET', nk, 'country', cc, 'status', 'active', 'session', '', 'assignment', id)
redis.call('SADD', T .. K.numbers, num)
redis.call('SADD', T .. K.numbers_in .. cc, num)
redis.call('SADD', T .. K.countries, cc)
redis.call('SADD', T .. K.free .. cc, num)
return reply({outcome = 'added', assignment = id})
