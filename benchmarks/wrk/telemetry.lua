-- Telemetry-only surge (hot spot): the mix without its logins, i.e. latest, 1-hour range and
-- topic list in the mix's proportions 70 : 20 : 8.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

setup = common.setup
done = common.done
init = common.init

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
  common.count(status)
end
