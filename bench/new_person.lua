-- wrk script of bench/lead_capture.py: every request is a new person (a unique e-mail address per run,
-- thread and request), and `done` prints wrk's figures as one JSON line for the driver to read.
-- Arguments after `--`: a run tag (unique per wrk run) and the delay in ms between a connection's answer
-- and its next request (0: as fast as the server answers).
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  tag = args[1] or "run"
  pause = tonumber(args[2] or "0")
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local body = string.format(
    '{"first_name":"Bench","last_name":"Lead %d","email":"%s-%d-%d@bench.example",' ..
    '"event_type":"bruiloft","guests":100,"message":"benchmark"}', n, tag, tid, n)
  return wrk.format(nil, nil, nil, body)
end

function delay()
  return pause
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
