-- wrk script for `make bench` (harness/loadgen.py runs it).
--
--   wrk ... -s harness/wrk/events.lua URL -- RUN [FIXED]
--
-- With FIXED (a JSON object's text without its closing brace), each request is a POST of a
-- call event whose call_session_id is unique in the run: RUN, the wrk thread's number and a
-- counter of the thread's own. Without FIXED, each request is a plain GET of URL (the token,
-- if any, stays in URL's query string). Answers are counted by status class; done() prints one
-- line, "WRK_JSON {...}", with the counts, wrk's errors and latency percentiles in µs.

local threads = {}
local started = 0

function setup(thread)
  started = started + 1
  thread:set("thread_number", started)
  table.insert(threads, thread)
end

function init(args)
  run = args[1] or "wrk"
  fixed = args[2]
  sent = 0
  s2xx, s3xx, s4xx, s5xx, sother = 0, 0, 0, 0, 0
  post_headers = { ["Content-Type"] = "application/json" }
end

function request()
  if fixed == nil then
    return wrk.format("GET")
  end
  sent = sent + 1
  local body = string.format(
    '%s, "call_session_id": "%s-%d-%d", "visitor_id": %d}', fixed, run, thread_number, sent, sent
  )
  return wrk.format("POST", nil, post_headers, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    s2xx = s2xx + 1
  elseif status >= 300 and status < 400 then
    s3xx = s3xx + 1
  elseif status >= 400 and status < 500 then
    s4xx = s4xx + 1
  elseif status >= 500 and status < 600 then
    s5xx = s5xx + 1
  else
    sother = sother + 1
  end
end

function done(summary, latency, requests)
  local counts = { s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0, sother = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(counts) do
      counts[name] = counts[name] + (thread:get(name) or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %.0f, "duration_us": %.0f, "bytes": %.0f, '
      .. '"status_2xx": %.0f, "status_3xx": %.0f, "status_4xx": %.0f, "status_5xx": %.0f, "status_other": %.0f, '
      .. '"errors_connect": %.0f, "errors_read": %.0f, "errors_write": %.0f, "errors_timeout": %.0f, '
      .. '"errors_status": %.0f, "latency_mean_us": %.1f, "latency_p50_us": %.0f, "latency_p90_us": %.0f, '
      .. '"latency_p99_us": %.0f, "latency_max_us": %.0f}\n',
    summary.requests, summary.duration, summary.bytes,
    counts.s2xx, counts.s3xx, counts.s4xx, counts.s5xx, counts.sother,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max
  ))
end
