-- serve's log of its calls to Intune's API (docs/log-formats.md, "intune-api"): one line per HTTP
-- call, W3C-style, which `sceplab timeline` and `diagnose` read:
--   #Software: sceplab intune-api
--   #Fields: date time transaction-id client-request-id endpoint attempt status code duration-ms message
-- Values escaped as W3C logs escape them (a space is '+', controls and the like %XX) by the C
-- writer beside the format's reader (sceplab.core.artifacts.api_line). Never a secret: the entry
-- carries none (no token, no form body).
local artifacts = require "sceplab.core.artifacts"
local sys = require "sceplab.core.sys"

local M = {}

local Log = {}
Log.__index = Log

function Log:write(e)
  if not self.path then return end
  local line = artifacts.api_line({ time = self.clock(), transaction_id = e.transaction_id,
    client_request_id = e.client_request_id, endpoint = e.endpoint, attempt = e.attempt or 1, status = e.status or 0,
    code = e.code, ms = e.ms or 0, message = e.message })
  local f = io.open(self.path, "a")
  if not f then return end
  if f:seek("end") == 0 then f:write(artifacts.api_header()) end
  f:write(line)
  f:close()
end

function Log:close() end

--- The log at path (nil: none). clock: Unix seconds with a fraction (default the wall clock).
function M.open(path, clock)
  if path then
    local dir = path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" then sys.mkdir(dir) end
  end
  return setmetatable({ path = path, clock = clock or artifacts.wall_clock }, Log)
end

return M
