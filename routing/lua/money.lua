-- Exact decimal money. Amounts never become Lua numbers: they are non-negative decimal strings ('12', '0.0050')
-- added and multiplied digit by digit, so Redis holds the same exact strings Python reads back as `Decimal`.

-- The integer digits and the fraction digits of `a`.
local function dec_parts(a)
  local i, f = string.match(a, '^(%d*)%.?(%d*)$')
  if not i then i, f = '0', '' end
  if i == '' then i = '0' end
  return i, f
end

local function dec_join(digits, scale)
  local ip = string.sub(digits, 1, #digits - scale)
  local fp = string.sub(digits, #digits - scale + 1)
  ip = string.gsub(ip, '^0+', '')
  if ip == '' then ip = '0' end
  if scale == 0 then return ip end
  return ip .. '.' .. fp
end

-- a + b, exactly, keeping the longer scale.
local function dec_add(a, b)
  local a_int, a_frac = dec_parts(a)
  local b_int, b_frac = dec_parts(b)
  local scale = math.max(#a_frac, #b_frac)
  a_frac = a_frac .. string.rep('0', scale - #a_frac)
  b_frac = b_frac .. string.rep('0', scale - #b_frac)
  local width = math.max(#a_int, #b_int)
  local x = string.rep('0', width - #a_int) .. a_int .. a_frac
  local y = string.rep('0', width - #b_int) .. b_int .. b_frac
  local out, carry = {}, 0
  for k = #x, 1, -1 do
    local s = tonumber(string.sub(x, k, k)) + tonumber(string.sub(y, k, k)) + carry
    table.insert(out, 1, tostring(s % 10))
    carry = math.floor(s / 10)
  end
  if carry > 0 then table.insert(out, 1, tostring(carry)) end
  return dec_join(table.concat(out), scale)
end

-- a × n for a whole n ≥ 0, exactly.
local function dec_mul(a, n)
  local a_int, a_frac = dec_parts(a)
  local digits, out, carry = a_int .. a_frac, {}, 0
  for k = #digits, 1, -1 do
    local s = tonumber(string.sub(digits, k, k)) * n + carry
    table.insert(out, 1, tostring(s % 10))
    carry = math.floor(s / 10)
  end
  if carry > 0 then table.insert(out, 1, tostring(carry)) end
  return dec_join(table.concat(out), #a_frac)
end
