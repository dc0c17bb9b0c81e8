-- Telemetry-only surge (hot spot): the mix without its logins, i.e. latest, 1-hour range and
-- topic list in the mix's proportions 70 : 20 : 8.
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
  local r = math.random(980)
  if r <= 700 then
    n_latest = n_latest + 1
    return common.latest()
  elseif r <= 900 then
    n_range = n_range + 1
    return common.range()
  end
  n_list = n_list + 1
  return common.list()
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
