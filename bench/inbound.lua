-- wrk script: POST pre-signed Twilio webhooks, one new call per request.
-- args: the requests file (one `body<TAB>X-Twilio-Signature` a line), the number of wrk threads, and the
-- text every good answer contains. Thread k takes lines k, k+n, k+2n…; past its slice it starts over, and
-- those repeats are counted (for masq they are second calls to a busy session, answered <Reject>).
local threads, started = {}, 0

function setup(thread)
  started = started + 1
  thread:set("id", started)
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  expected = args[3]
  requests, line, sent, non200, bad = {}, 0, 0, 0, 0
  for text in io.lines(file) do
    if line % nthreads == id - 1 then
      local body, signature = text:match("^([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", wrk.path, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature,
      }, body)
    end
    line = line + 1
  end
  size = #requests
end

function request()
  sent = sent + 1
  return requests[(sent - 1) % size + 1]
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  elseif not string.find(body, expected, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, reqs)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("non200")
    b = b + t:get("bad")
    c = c + math.max(0, t:get("sent") - t:get("size"))
  end
  io.write(string.format("BENCH-COUNTS non200=%d unexpected=%d repeated=%d\n", a, b, c))
end
