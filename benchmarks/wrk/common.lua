-- Shared by the suite's wrk scripts (loaded with dofile): settings from the environment,
-- per-thread status counters, and one JSON line of results (WRKJSON ...) at the end.
local M = {}

M.topics = {}
for topic in string.gmatch(os.getenv("SUITE_TOPICS") or "", "[^,]+") do
  M.topics[#M.topics + 1] = topic
end
M.range_start = os.getenv("SUITE_RANGE_START") or ""
M.range_end = os.getenv("SUITE_RANGE_END") or ""
M.login_body = string.format('{"email": "%s", "password": "%s"}',
  os.getenv("SUITE_EMAIL") or "", os.getenv("SUITE_PASSWORD") or "")

-- Per-thread counters: globals of the thread's Lua state, read back by done() via thread:get.
ok, non2xx, s429, s5xx = 0, 0, 0, 0
n_latest, n_range, n_list, n_login, n_refresh = 0, 0, 0, 0, 0

local threads = {}
local counter = 0

function M.init(args)
  math.randomseed(os.time() * 1000 + (id or 0))
end

-- Count one response by status class.
function M.count(status)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    non2xx = non2xx + 1
    if status == 429 then s429 = s429 + 1 end
    if status >= 500 then s5xx = s5xx + 1 end
  end
end

function M.setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  threads[#threads + 1] = thread
end

function M.topic()
  return M.topics[math.random(#M.topics)]
end

function M.latest()
  return wrk.format("GET", "/iot/" .. M.topic() .. "/latest")
end

function M.range()
  return wrk.format("GET", "/iot/" .. M.topic() .. "/" .. M.range_start .. "/" .. M.range_end)
end

function M.list()
  return wrk.format("GET", "/iot")
end

function M.done(summary, latency, requests)
  local ok, non2xx, s429, s5xx = 0, 0, 0, 0
  local kinds = {}
  for _, thread in ipairs(threads) do
    ok = ok + (thread:get("ok") or 0)
    non2xx = non2xx + (thread:get("non2xx") or 0)
    s429 = s429 + (thread:get("s429") or 0)
    s5xx = s5xx + (thread:get("s5xx") or 0)
    for _, name in ipairs({"n_latest", "n_range", "n_list", "n_login", "n_refresh"}) do
      kinds[name] = (kinds[name] or 0) + (thread:get(name) or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,'
    .. '"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,'
    .. '"ok":%d,"non_2xx":%d,"status_429":%d,"status_5xx":%d,'
    .. '"sent":{"latest":%d,"range":%d,"list":%d,"login":%d,"refresh":%d},'
    .. '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, ok, non2xx, s429, s5xx,
    kinds.n_latest, kinds.n_range, kinds.n_list, kinds.n_login, kinds.n_refresh,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end

return M
