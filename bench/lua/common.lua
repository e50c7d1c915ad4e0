-- Shared by every workload script (loaded with dofile from each).
-- Arguments after `--` on the wrk command line: <fixtures dir> <run nonce> [workload argument]

function read_lines(path)
  local t = {}
  for line in io.lines(path) do
    if #line > 0 then t[#t + 1] = line end
  end
  return t
end

-- The target URL's path is a prefix of every request: "" for a service on its own port, "/storefront"
-- for the storefront inside the all-in-one deployable (mode M).
function base()
  return (wrk.path or "/"):gsub("/+$", "")
end

local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
end

function done(summary, latency, requests)
  local e = summary.errors
  local p = function(q) return latency:percentile(q) end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev, p(50), p(90), p(99), p(99.9)))
end
