-- wrk script for POST /v1/activations.
--   LICENTRIC_BENCH_MODE=same: one machine again and again (the "already active here" path:
--     key look-up, machine look-up, last-seen update, a fresh Ed25519-signed licence file);
--   LICENTRIC_BENCH_MODE=new: a new random fingerprint every request (a new machine: seat
--     count, insert, signed file).
local key = os.getenv("LICENTRIC_BENCH_KEY")
local mode = os.getenv("LICENTRIC_BENCH_MODE") or "same"
local template = '{"fingerprint":"%s","platform":"linux","hostname":"bench","app_version":"0.1.0","nonce":"%s"}'
wrk.method = "POST"
wrk.headers["Authorization"] = "License " .. key
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format(template, string.rep("ab", 32), "bench-nonce")

local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

local sequence = 0
request = function()
  if mode ~= "new" then
    return wrk.format()
  end
  sequence = sequence + 1
  -- 64 hex characters, unique per thread and request.
  local fingerprint = string.format("%08x%056x", thread_id or 0, sequence)
  return wrk.format(nil, nil, nil, string.format(template, fingerprint, "n" .. sequence))
end

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("activations/s: %.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("latency p50: %.2f ms  p99: %.2f ms  max: %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("errors: connect %d, read %d, write %d, status %d, timeout %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout))
end
