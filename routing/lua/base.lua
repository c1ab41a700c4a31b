-- The start of every script. KEYS[1], the script's one declared key, is the tenant's key base (also the tenant's
-- record), from which every other name the script touches is built with the suffixes in K: each carries KEYS[1]'s
-- hash tag, so the script stays in the one cluster slot its key routes it to. (A script on a global key, such as
-- failed_logins_by.lua, touches that key only.) ARGV[1] is `now` in µs since the epoch; a script's own arguments
-- follow from ARGV[2].
local T = KEYS[1]

-- ARGV[i] as a number, within [lo, hi] when they are given. Anything else stops the script: a script that stops
-- keeps the writes it made, so every entry script reads its arguments through here before its first write.
local function number_arg(i, lo, hi)
  local n = tonumber(ARGV[i])
  if not n or n ~= n then error('ARGV[' .. i .. '] must be a number, not ' .. tostring(ARGV[i])) end
  if (lo and n < lo) or (hi and n > hi) then
    error('ARGV[' .. i .. '] must be within ' .. tostring(lo) .. '..' .. tostring(hi) .. ', not ' .. ARGV[i])
  end
  return n
end

-- ARGV[i] as one of the words of the set `allowed` (a table of word = true); anything else stops the script.
local function word_arg(i, allowed)
  if not allowed[ARGV[i]] then error('ARGV[' .. i .. '] is not an expected word: ' .. tostring(ARGV[i])) end
  return ARGV[i]
end

-- A stored number read back: what does not parse reads as 0, so no stored value can stop a script.
local function stored_number(text)
  local n = tonumber(text)
  if not n or n ~= n or n == math.huge or n == -math.huge then return 0 end
  return n
end

-- Seconds a carrier duration may span: a day (no call is longer).
local MAX_SECONDS = 86400

local NOW = number_arg(1)

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
