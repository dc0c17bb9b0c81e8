-- Only /iot/<topic>/latest over random topics: a cheap, cached request, so a fixed cost per
-- request (such as one more proxy hop) shows at its largest.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

setup = common.setup
done = common.done
ok, non2xx, s429, s5xx = 0, 0, 0, 0
n_latest, n_range, n_list, n_login, n_refresh = 0, 0, 0, 0, 0

init = function(args)
  math.randomseed(os.time() * 1000 + (id or 0))
end

request = function()
  n_latest = n_latest + 1
  return common.latest()
end

response = function(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    non2xx = non2xx + 1
    if status == 429 then s429 = s429 + 1 end
    if status >= 500 then s5xx = s5xx + 1 end
  end
end
