-- The script wrk runs for each case of `python -m bench.load` (bench/wrk.py starts it).
--
-- Every thread counts the answers whose status is not the one the case
-- expects (WRK_EXPECT_STATUS), whatever it is: wrk's own count only sees
-- statuses above 399, and a 200 where a 304 was expected is a failure too.
-- At the end, the main thread gathers those counts and writes one JSON
-- object to WRK_RESULTS: requests, duration, latency percentiles (µs),
-- socket errors and the unexpected statuses.

local expected = tonumber(os.getenv("WRK_EXPECT_STATUS"))
local results = os.getenv("WRK_RESULTS")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  unexpected = {}
end

function response(status, headers, body)
  if status ~= expected then
    local key = tostring(status)
    unexpected[key] = (unexpected[key] or 0) + 1
  end
end

local function unexpected_json()
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("unexpected") or {}) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%s": %d', status, count))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local errors = summary.errors
  local file = assert(io.open(results, "w"))
  file:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"unexpected": %s}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    errors.connect, errors.read, errors.write, errors.timeout,
    unexpected_json()
  ))
  file:close()
end
