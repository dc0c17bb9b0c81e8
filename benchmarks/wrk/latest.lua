-- Only /iot/<topic>/latest over random topics: a cheap, cached request, so a fixed cost per
-- request (such as one more proxy hop) shows at its largest.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

setup = common.setup
done = common.done
init = common.init

request = function()
  n_latest = n_latest + 1
  return common.latest()
end

response = function(status, headers, body)
  common.count(status)
end
