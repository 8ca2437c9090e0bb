-- The simulated devices: one per platform, each driving the real SCEP client with its platform's
-- quirks (windows.lua, android.lua, ios.lua) and writing its platform's own log through the C
-- writer of that format, which sits beside its reader (sceplab.core.artifacts). What is common
-- lives here: the
-- profile as the device reads it, the tries, the records kept in memory and written at the end.
local sys = require "sceplab.core.sys"
local artifacts = require "sceplab.core.artifacts"

local M = {}

--- The platforms, by the name a scenario gives: {log, retries, client, deploy, success, failure,
-- exchange? (each request), exchanges? (all of a try), csp_retries?, cacert_first?, needs_date?}.
M.PLATFORMS = {
  windows = require "sceplab.replay.devices.windows",
  android = require "sceplab.replay.devices.android",
  ios = require "sceplab.replay.devices.ios",
}

local Device = {}
Device.__index = Device

--- A device of platform on the run's virtual clock (clock:now(), clock:advance(minutes)); faults:
-- the scenario's, by name.
function M.new(clock, platform, faults)
  local pf = M.PLATFORMS[platform]
  local d = setmetatable({ clock = clock, pf = pf, lines = {}, retry_count = pf.retries, faults = faults or {} }, Device)
  -- the MDM enrollment's account ID (event 256 names it): one per device
  d.account = d:guid()
  return d
end

--- A new GUID, upper case, as Windows prints them.
function Device:guid()
  local h = (require "sceplab.core.codec").hexencode((require "sceplab.core.scep").nonce())
  return ("%s-%s-%s-%s-%s"):format(h:sub(1, 8), h:sub(9, 12), h:sub(13, 16), h:sub(17, 20), h:sub(21, 32)):upper()
end

--- Keeps one record of the device's log, written now on the virtual clock by write (a function of
-- the platform's log writer) from the fields given.
function Device:record(platform, rec)
  local t = self.clock:now()
  self.first_t = self.first_t or t -- the day a dateless log (a Console copy) starts on
  self.lines[#self.lines + 1] = artifacts.device_line(platform, t, rec)
end

function Device:deploy(profile_xml)
  local p, err = (require "sceplab.scep.profile").from_document(profile_xml, "the SyncML profile")
  if not p then return nil, err end
  self.profile, self.node = p, p.name
  -- Windows tries as often as the profile's RetryCount says (the CSP's node)
  if self.pf.csp_retries and p.retry and math.type(p.retry.count) == "integer" and p.retry.count >= 1 then
    self.retry_count = math.min(p.retry.count, 30)
  end
  -- as Company Portal and profiled name it: "ModelName=AC_.../LogicalName_...;Hash=..."
  self.request_id = p.request_id and ("ModelName=" .. p.request_id) or p.name
  self.pf.deploy(self)
  return true
end

-- Enrolls with the platform's client settings (Windows: RSA-OAEP, POST; Android: GET; iOS: GET
-- with raw base64), the profile's CAThumbprint checked, up to the platform's retry count.
function Device:enroll(overrides)
  if not self.profile then return nil, "enroll before deploy: the device has no SCEP profile" end
  local p = {}
  for k, v in pairs(self.profile) do p[k] = v end
  for k, v in pairs(overrides or {}) do p[k] = v end
  if p.challenge == false then p.challenge = nil end -- a device that sends no challengePassword
  local scep = require "sceplab.scep"
  -- Windows makes its key and request once (event 36) and retries with them: one transaction ID
  -- across the tries, as NDES sees it
  local key
  if self.pf.csp_retries then
    local kerr
    key, kerr = (require "sceplab.core.pkey").generate(scep.key_spec(p))
    if not key then return nil, kerr end
  end
  self.csr_logged = false
  for attempt = 1, self.retry_count do
    self.attempts = attempt
    -- Windows waits RetryDelay (the profile's, in minutes; 1 by default) between tries: on the
    -- virtual clock, so the logs space them as a device does
    if attempt > 1 and self.pf.csp_retries then
      local delay = p.retry and p.retry.delay and math.max(1, p.retry.delay // 60) or 1
      self.clock:advance(math.tointeger(delay) or 1)
    end
    local opts = { url = p.url, ca_thumbprint = p.ca_thumbprint, ndes = true, cacert = self.cacert }
    for k, v in pairs(self.pf.client) do opts[k] = v end
    local c = scep.client(opts)
    local r, err
    -- jscep and profiled ask for the CA certificates before the capabilities
    if self.pf.cacert_first then
      local cas, cerr = c:ca_certs()
      if not cas then err = cerr end
    end
    if not err then r, err = c:enroll(p, { key = key }) end
    c:close()
    -- NSURLSession's error for a request that got no HTTP answer (iOS logs it)
    local e = tostring(err or "")
    self.url_error = (e:match("SSL") or e:match("TLS") or e:match("[Cc]ertificate verify"))
      and 'Error Domain=NSURLErrorDomain Code=-1202 "The certificate for this server is invalid."'
      or 'Error Domain=NSURLErrorDomain Code=-1004 "Could not connect to the server."'
    if self.pf.exchange then for _, ex in ipairs(c.exchanges) do self.pf.exchange(self, ex) end end
    if self.pf.exchanges then self.pf.exchanges(self, c.exchanges, p) end
    if r and r.status == "SUCCESS" then
      if self.pf.success(self, r, attempt, p.url) == false then return nil, "the certificate did not install" end
      return r
    end
    self.last_error = err or (r and ("pkiStatus " .. tostring(r.status) .. " " .. tostring(r.fail_info))) or "?"
    self.pf.failure(self, r, attempt, err)
  end
  return nil, self.last_error
end

--- Writes the device's log into dir (made), under its platform's file name.
function Device:write(dir)
  local ok, err = sys.mkdir(dir)
  if not ok then return nil, err end
  local f, ferr = io.open(dir .. "/" .. self.pf.log, "wb")
  if not f then return nil, ferr end
  f:write(table.concat(self.lines))
  f:close()
  return true
end

return M
