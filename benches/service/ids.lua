-- wrk script for benches/service/run: GET /api/scans/{id} with a hot set.
--
-- 80 % of requests pick an id uniformly from 1..1000 (the hot set), 20 % from 1001..10000.
-- The environment can change the shape: IDS_HOT (1000), IDS_TOTAL (10000), IDS_HOT_SHARE (0.8).
-- Each thread seeds its own generator; the client counts nothing beyond wrk's own statistics,
-- which done() prints as one line `WRK_JSON {...}` for the harness to read.

local hot = tonumber(os.getenv("IDS_HOT") or "") or 1000
local total = tonumber(os.getenv("IDS_TOTAL") or "") or 10000
local hot_share = tonumber(os.getenv("IDS_HOT_SHARE") or "") or 0.8

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local requests

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0))
  -- Formatting every request once here keeps the client's share of the 2 cores small.
  requests = {}
  for id = 1, total do
    requests[id] = wrk.format("GET", "/api/scans/" .. id)
  end
end

function request()
  if math.random() < hot_share then
    return requests[math.random(1, hot)]
  end
  return requests[math.random(hot + 1, total)]
end

function done(summary, latency, requests)
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'WRK_JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,'
      .. '"p99_ms":%.3f,"max_ms":%.3f,"non2xx":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"timeouts":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end
