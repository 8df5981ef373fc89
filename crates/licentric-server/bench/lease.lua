-- wrk script for floating seats: each connection checks out a seat (POST /v1/leases), then
-- releases it with the lease's secret (POST /v1/leases/{id}/release), and again: half the
-- requests take a seat, half give one back. The licence has more seats than can be held.
local key = os.getenv("LICENTRIC_BENCH_KEY")
local checkout_body = '{"fingerprint":"' .. string.rep("cd", 32) .. '","nonce":"bench-nonce","label":"bench"}'
wrk.method = "POST"
wrk.headers["Authorization"] = "License " .. key
wrk.headers["Content-Type"] = "application/json"

-- Leases this thread checked out and has not released yet.
local held = {}
local released, taken = 0, 0

request = function()
  local lease = table.remove(held)
  if lease then
    return wrk.format("POST", "/v1/leases/" .. lease.id .. "/release", nil,
      '{"lease_secret":"' .. lease.secret .. '"}')
  end
  return wrk.format("POST", "/v1/leases", nil, checkout_body)
end

response = function(status, headers, body)
  if status == 201 then
    local id = body:match('"lease_id":"([^"]+)"')
    local secret = body:match('"lease_secret":"([^"]+)"')
    if id and secret then
      table.insert(held, { id = id, secret = secret })
      taken = taken + 1
    end
  elseif status == 204 then
    released = released + 1
  end
end

done = function(summary, latency, requests)
  io.write(string.format("checkouts and releases/s: %.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("latency p50: %.2f ms  p99: %.2f ms  max: %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("errors: connect %d, read %d, write %d, status %d, timeout %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout))
end
