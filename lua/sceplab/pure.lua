-- The pure part of the public API: decoding, detection and codecs over the C core, with no file,
-- socket or process anywhere in it. The facade (init.lua) is this plus logs and the Lua modules;
-- data scripts (profiles, policies, playbooks, scenarios) get this plus json and time, and the
-- modules below the facade use it instead of the facade, which requires them.
local core = require "sceplab.core"
local decode = require "sceplab.core.decode"
local x509 = require "sceplab.core.x509"

local M = {
  version = core.version,
  codec = require "sceplab.core.codec",
  syncml = require "sceplab.core.syncml",
  token = require "sceplab.core.token",
  pkimsg = require "sceplab.core.pkimsg",
  crs = require "sceplab.core.crs",
  intune_id = require "sceplab.core.intuneid",
  x509 = { parse = x509.certs, certs = x509.certs, csr = x509.csr },
  mobileconfig = { parse = (require "sceplab.core.plist").parse },
}

--- Detects the kind from the content and decodes it: returns kind, table | nil, message, code.
-- opts: {show_secrets = bool, key = PEM/DER private key string, key_pass = string}; kind forces one.
function M.decode(bytes, opts, kind)
  if type(bytes) ~= "string" then
    error(("bad argument #1 to 'decode' (string expected, got %s)"):format(type(bytes)), 2)
  end
  local doc, err, code = decode.decode(bytes, opts, kind)
  if not doc then return nil, err, code end
  return doc.kind, doc
end

--- Detects the kind only: {kind, layers, why, data}.
M.detect = decode.detect
M.kinds = decode.kinds()

--- The names of the fields above, in the order docs/lua-api.md lists them.
M.FIELDS = { "version", "decode", "detect", "kinds", "codec", "syncml", "token", "pkimsg", "crs", "x509", "mobileconfig",
             "intune_id" }

return M
