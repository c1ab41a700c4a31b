-- wrk script: Plivo create requests (each one opens a new session).
-- args: HTTP Basic credentials (`auth_id:auth_token`, base64), the JSON body, the text every good answer contains,
-- and optionally a first number and the number of wrk threads: then each `NNNNNNN` of the body becomes a number of
-- seven digits from the first on, one per request (the threads take turns), so that every request has parties of
-- its own; without them the same request goes again and again.
local threads, started = {}, 0

function setup(thread)
  started = started + 1
  thread:set("id", started)
  table.insert(threads, thread)
end

function init(args)
  expected = args[3]
  non200, bad, sent = 0, 0, 0
  body, first, nthreads = args[2], tonumber(args[4] or ""), tonumber(args[5] or "1")
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Basic " .. args[1]}
  prepared = wrk.format("POST", wrk.path, headers, body)
end

function request()
  if not first then return prepared end
  local n = first + sent * nthreads + id - 1
  sent = sent + 1
  return wrk.format("POST", wrk.path, headers, (string.gsub(body, "NNNNNNN", string.format("%07d", n))))
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
