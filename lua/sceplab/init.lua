-- The public sceplab Lua API: `local sceplab = require "sceplab"`.
-- Expected failures return nil, message, code (code is "input", "crypto", "nomem", ...);
-- misuse (a wrong argument type) raises.
local core = require "sceplab.core"
local decode = require "sceplab.core.decode"

local sceplab = {
  version = core.version,
  codec = require "sceplab.core.codec",
  syncml = require "sceplab.core.syncml",
  token = require "sceplab.core.token",
  pkimsg = require "sceplab.core.pkimsg",
  crs = require "sceplab.core.crs",
  intune_id = require "sceplab.core.intuneid",
}

local x509 = require "sceplab.core.x509"
sceplab.x509 = { parse = x509.certs, certs = x509.certs, csr = x509.csr }
sceplab.mobileconfig = { parse = (require "sceplab.core.plist").parse }

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

--- Detects the kind from the content and decodes it: returns kind, table | nil, message, code.
-- opts: {show_secrets = bool, key = PEM/DER private key string, key_pass = string}; kind forces one.
function sceplab.decode(bytes, opts, kind)
  if type(bytes) ~= "string" then
    error(("bad argument #1 to 'decode' (string expected, got %s)"):format(type(bytes)), 2)
  end
  local doc, err, code = decode.decode(bytes, opts, kind)
  if not doc then return nil, err, code end
  return doc.kind, doc
end

--- Detects the kind only: {kind, layers, why, data}.
sceplab.detect = decode.detect
sceplab.kinds = decode.kinds()

-- Lua-side modules are loaded lazily so `require "sceplab"` stays cheap and cycle-free.
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
