-- The start of every tenant script. KEYS[1] is the tenant's record (it routes the script to the tenant's cluster
-- slot), ARGV[1] the tenant's key base, from which every other name is built with the suffixes in K, and ARGV[2]
-- `now` in µs since the epoch. A script's own arguments follow from ARGV[3].
local T = ARGV[1]

-- ARGV[i] as a number. Anything else stops the script: a script that stops keeps the writes it made, so every
-- entry script reads its arguments through here before its first write.
local function number_arg(i)
  local n = tonumber(ARGV[i])
  if not n then error('ARGV[' .. i .. '] must be a number, not ' .. tostring(ARGV[i])) end
  return n
end

local NOW = number_arg(2)

-- A hash as a table of its fields.
local function read_hash(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for k = 1, #flat, 2 do t[flat[k]] = flat[k + 1] end
  return t
end

-- The script's answer: the names and values of `t` as one flat list, which `routing.lua.named` reads back.
-- Values are strings, integers or lists (never booleans: Redis would cut the list at a false).
local function reply(t)
  local out = {}
  for name, value in pairs(t) do
    out[#out + 1] = name
    out[#out + 1] = value
  end
  return out
end
