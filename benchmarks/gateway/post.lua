-- wrk script: POST a small JSON body (with the bearer key from PLINTH_BENCH_TOKEN, if set) and
-- print one JSON line of results that benchmarks/gateway parses.
wrk.method = "POST"
wrk.body = '{"inputs": "hello world"}'
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("PLINTH_BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d, "non_2xx": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    latency.max))
end
