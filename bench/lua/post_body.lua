-- wrk script: POSTs the bytes of $BENCH_BODY_FILE with $BENCH_CONTENT_TYPE on every request,
-- and prints one machine-readable summary line at the end (the harness parses WRK_JSON).
-- No response() callback: defining one makes wrk parse every answer's headers into Lua,
-- which costs the load generator CPU that it shares with the function.
local path = assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set")
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/octet-stream"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"latency_p50_us":%d,"latency_p99_us":%d,"latency_max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
