-- A tenant's DIDs: each one's hash (status, country, open session) and its assignment records, kept for billing.
--! include base.lua

-- Put an idle, active DID back in its country's free set.
local function free_number(num)
  local st = redis.call('HMGET', T .. K.number .. num, 'status', 'session', 'country')
  if st[1] == 'active' and (not st[2] or st[2] == '') then
    redis.call('SADD', T .. K.free .. st[3], num)
  end
end

-- cjson writes numbers with 14 significant digits, too few for µs times: write flat records by hand.
local function encode_record(rec)
  local parts = {}
  for k, v in pairs(rec) do
    local text = cjson.encode(v)
    if type(v) == 'number' and v == math.floor(v) then text = string.format('%.0f', v) end
    table.insert(parts, cjson.encode(k) .. ':' .. text)
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- Change fields of the assignment record of the DID `num` (its holding by the tenant, kept for billing).
local function set_assignment(num, fields)
  local id = redis.call('HGET', T .. K.number .. num, 'assignment')
  if not id then return end
  local rec = cjson.decode(redis.call('HGET', T .. K.assignments, id))
  for k, v in pairs(fields) do rec[k] = v end
  redis.call('HSET', T .. K.assignments, id, encode_record(rec))
end
