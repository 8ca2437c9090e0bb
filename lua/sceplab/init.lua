-- The public sceplab Lua API: `local sceplab = require "sceplab"`.
-- Expected failures return nil, message, code (code is "input", "crypto", "nomem", ...);
-- misuse (a wrong argument type) raises.
--
-- The facade sits on top of the tree: it requires the modules below it, none requires it (they
-- use sceplab.pure, the decoding part, directly).
local pure = require "sceplab.pure"

local sceplab = {}
for _, k in ipairs(pure.FIELDS) do sceplab[k] = pure[k] end

--- Logs: sceplab.logs.open(path [, filter [, opts]]) iterates normalized records (the filter runs
-- in C); sceplab.logs.timeline(paths [, opts]) merges files and groups attempts.
local core_logs = require "sceplab.core.logs"
sceplab.logs = {
  open = core_logs.open,
  open_member = core_logs.open_member,
  members = core_logs.members,
  explain = core_logs.explain,
  formats = core_logs.formats,
  find_text = core_logs.find_text,
  timeline = function(paths, opts) return (require "sceplab.diagnose.timeline").timeline(paths, opts) end,
}

-- Lua-side modules are loaded lazily so `require "sceplab"` stays cheap: sceplab.scep is
-- lua/sceplab/scep/init.lua, sceplab.probe the probe in that folder, and so on.
local lazy = { profile = "sceplab.scep.profile", json = "sceplab.json", scep = "sceplab.scep",
               timeline = "sceplab.diagnose.timeline", probe = "sceplab.scep.probe" }
return setmetatable(sceplab, {
  __index = function(t, k)
    local mod = lazy[k]
    if not mod then return nil end
    local v = require(mod)
    rawset(t, k, v)
    return v
  end,
})
