-- wrk script for bench/run_serve_bench.sh: each connection's requests append one event
-- (a 200-byte JSON payload, like bench/store_bench.cc's) to one of 64 streams of its own, as
-- the library benchmark's appender threads do.
local counter = 0
local prefix = "order-" .. tostring(math.random(1, 1000000000)) .. "-"
local body = '{"type":"OrderPlaced","data":{"orderId":"o-12345","customer":"c-67890",' ..
             '"items":[{"sku":"sku-1","qty":2,"price":19.99},{"sku":"sku-2","qty":1,' ..
             '"price":5.5}],"total":45.48,"currency":"EUR","note":"' ..
             string.rep("x", 38) .. '"}}'
local headers = {["Content-Type"] = "application/json"}

request = function()
  counter = counter + 1
  return wrk.format("POST", "/v1/streams/" .. prefix .. (counter % 64) .. "/events", headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format("wrk_done requests=%d non2xx=%d errors=%d p99_us=%d\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, latency:percentile(99)))
end
