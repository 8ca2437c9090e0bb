-- `sceplab run SCRIPT [ARGS]`: a user's program in the sandbox (kind "run": files yes, processes
-- and loading code no), with the documented API (docs/lua-api.md) under the names the docs give.
local sandbox = require "sceplab.sandbox"
local util = require "sceplab.cli.util"

local M = {}

--- The names a run script may require besides the pure ones (sandbox.PURE), and the module of
-- the tree behind each: the folders are the tree's business, the names the users'.
M.NAMES = { ["sceplab.profile"] = "sceplab.scep.profile", ["sceplab.scep"] = "sceplab.scep",
            ["sceplab.probe"] = "sceplab.scep.probe", ["sceplab.timeline"] = "sceplab.diagnose.timeline",
            ["sceplab.diagnose"] = "sceplab.diagnose", ["sceplab.report"] = "sceplab.report",
            ["sceplab.intune"] = "sceplab.serve.intune", ["sceplab.core.scep"] = "sceplab.core.scep",
            ["sceplab.core.http"] = "sceplab.core.http", ["sceplab.core.sys"] = "sceplab.core.sys",
            ["sceplab.core.pkey"] = "sceplab.core.pkey", ["sceplab.core.logs"] = "sceplab.core.logs" }

-- A run script's `sceplab`: the data scripts' (decoding, codecs, json, time) and the rest of the
-- documented API; not the sandbox.
local function facade()
  local s = require "sceplab"
  local out = sandbox.PURE["sceplab"]()
  for _, k in ipairs({ "logs", "profile", "scep", "timeline", "probe" }) do out[k] = s[k] end
  out.diagnose, out.report = require "sceplab.diagnose", require "sceplab.report"
  return out
end

--- What a run script may require beyond the pure modules: {name = function building the module}.
function M.modules()
  local out = { ["sceplab"] = facade }
  for name, module in pairs(M.NAMES) do out[name] = function() return require(module) end end
  return out
end

function M.run(args)
  local code, err = sandbox.run(args.script, args.args, M.modules())
  if err then util.stderr("%s", err) end
  return code
end

return M
