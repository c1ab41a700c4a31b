-- wrk script: the same Plivo create request again and again (each one opens a new session).
-- args: HTTP Basic credentials (`auth_id:auth_token`, base64), the JSON body, and the text every good
-- answer contains.
local threads, started = {}, 0

function setup(thread)
  started = started + 1
  table.insert(threads, thread)
end

function init(args)
  expected = args[3]
  non200, bad = 0, 0
  prepared = wrk.format("POST", wrk.path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Basic " .. args[1],
  }, args[2])
end

function request()
  return prepared
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  elseif not string.find(body, expected, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, reqs)
  local a, b = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("non200")
    b = b + t:get("bad")
  end
  io.write(string.format("BENCH-COUNTS non200=%d unexpected=%d\n", a, b))
end
