-- API mix: 70% latest, 20% 1-hour range, 8% topic list, 2% login + refresh.
-- The 2% alternate: a login, then a refresh with the refresh token that login returned
-- (rotated by the server; the new one is not reused, so every pair starts with a login).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

setup = common.setup
done = common.done

local pending = {}
init = common.init

request = function()
  local r = math.random(1000)
  if r <= 700 then
    n_latest = n_latest + 1
    return common.latest()
  elseif r <= 900 then
    n_range = n_range + 1
    return common.range()
  elseif r <= 980 then
    n_list = n_list + 1
    return common.list()
  end
  local token = table.remove(pending)
  if token then
    n_refresh = n_refresh + 1
    return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"},
      '{"refresh_token": "' .. token .. '"}')
  end
  n_login = n_login + 1
  return wrk.format("POST", "/auth/login", {["Content-Type"] = "application/json"},
    common.login_body)
end

response = function(status, headers, body)
  common.count(status)
  if status == 200 and #body < 4096 and string.find(body, "Successfully logged in", 1, true) then
    local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if token and #pending < 64 then
      pending[#pending + 1] = token
    end
  end
end
