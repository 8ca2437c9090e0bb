-- `sceplab replay`: a customer's scenario as a Lua script, played end to end: an NDES with the
-- Intune connector (sceplab serve, in a child process), Intune's side (a CertEnrollToken in a
-- SyncML profile), a device simulator that drives the real SCEP client and writes the device's
-- own logs, faults, and a virtual clock. The result is a bundle laid out like a real collection
-- (NDES/ and Device/), which `replay --check` diagnoses and compares with the scenario's expect.
local sandbox = require "sceplab.sandbox"
local sys = require "sceplab.core.sys"
local codec = require "sceplab.core.codec"
local core = require "sceplab.core.serve"
local serve = require "sceplab.serve"
local intune = require "sceplab.serve.intune"
local diagnose = require "sceplab.diagnose"

local M = {}

-- What a scenario may say (docs/scenarios.md).
local FIELDS = { description = "string", platform = "string", server = "table", profile = "table", device = "table",
                 collect = "table",
                 intune = "table", steps = "table", expect = "table", references = "table" }
local PLATFORMS = { windows = true, android = true, ios = true }
local STEPS = { deploy = true, enroll = true, advance = true, fault = true, fix = true, rotate = true, renew = true,
                offline = true, online = true }
local SERVER_FIELDS = { policy = "string", faults = "table", config = "table", key = "string", tls = "boolean",
                        tiers = "number", caps = "table" }

--- Faults, one word each in server.faults: the server's (core.faults(): each played as the real
-- system shows it) and Intune's (the token's signer).
M.FAULTS = { ["other-tenant"] = { finding = "challenge-invalid",
                                  doc = "the token was signed by another tenant's certificate (phase 1 fails)" },
             ["install-fails"] = { finding = "device-install-failed",
                                   doc = "the device gets its certificate and fails to install it (Windows 0x80090016: no usable key container)" },
             ["root-not-trusted"] = { finding = "trusted-root-missing",
                                      doc = "the device lacks the trusted root profile: it refuses the RA's response (iOS)" },
             ["ndes-unreachable"] = { finding = "ndes-unreachable",
                                      doc = "the profile's SCEP URL leads nowhere (a port nothing listens on)" },
             ["tls-name-mismatch"] = { finding = "ndes-tls-failure",
                                       doc = "NDES serves HTTPS with a certificate for another name than the URL's" } }
for _, f in ipairs(core.faults()) do M.FAULTS[f.name] = { finding = f.finding, doc = f.doc, server = true } end

--- The file of a scenario named on the command line: a path, or a bundled name (lua/scenarios/NAME.lua).
function M.scenario_path(name) return sandbox.script_path("scenarios", name) end

--- The bundled scenarios' names.
function M.bundled() return sandbox.bundled("scenarios") end

local function fail(path, fmt, ...) return nil, path .. ": " .. fmt:format(...) end

--- A customer's SCEP profile (a SyncML message as the device got it, or an Apple profile), named by
-- profile.file (relative to the scenario), fills the scenario's profile: subject, SANs, key size,
-- key usage, EKUs, RetryCount. Its CAThumbprint and challenge are the customer's: the replay's CA
-- and Intune make their own. Fields the scenario sets win.
function M.profile_from_file(sc, path)
  local f = sc.profile.file
  if type(f) ~= "string" then return fail(path, "field 'profile.file' must be a string (a SyncML or Apple profile)") end
  -- a scenario is data: it names a file beside it, never one elsewhere on the machine
  if f:sub(1, 1) == "/" or ("/" .. f .. "/"):find("/../", 1, true) then
    return fail(path, "field 'profile.file' must be a path inside the scenario's folder, not '%s'", f)
  end
  local full = (path:match("^(.*)/") or ".") .. "/" .. f
  local data, rerr = sys.read_file(full, (require "sceplab.core.decode").max_input)
  if not data then return fail(path, "profile.file: %s", tostring(rerr)) end
  local p, perr = (require "sceplab.scep.profile").from_document(data, full)
  if not p then return fail(path, "profile.file: %s", tostring(perr)) end
  local out = sc.profile
  out.subject = out.subject or p.subject
  if out.san == nil and p.san then
    out.san = {}
    for _, x in ipairs(p.san) do out.san[#out.san + 1] = x.type .. ":" .. x.value end
  end
  out.key_bits = out.key_bits or (p.key and p.key.bits)
  out.key_usage = out.key_usage or p.key_usage -- names, as the CSP's KeyUsage bits decode
  out.ekus = out.ekus or p.eku
  out.retry_count = out.retry_count or (p.retry and p.retry.count)
  if not out.user then
    for _, x in ipairs(p.san or {}) do if x.type == "upn" then out.user = x.value break end end
  end
  out.file = nil
  return true
end

--- Loads and checks a scenario: the table, or nil, "file: field ...".
function M.load(path)
  local env, res = sandbox.load(path, "scenario")
  if not env then return nil, res end
  local sc = res[1]
  if type(sc) ~= "table" then return fail(path, "a scenario must return a table") end
  for k, v in pairs(sc) do
    if not FIELDS[k] then return fail(path, "unknown field '%s'", tostring(k)) end
    if type(v) ~= FIELDS[k] then return fail(path, "field '%s' must be a %s, not a %s", k, FIELDS[k], type(v)) end
  end
  for _, k in ipairs({ "description", "platform", "profile", "steps", "expect" }) do
    if sc[k] == nil then return fail(path, "field '%s' is required", k) end
  end
  if not PLATFORMS[sc.platform] then
    return fail(path, "platform '%s' is not simulated (windows, android or ios)", tostring(sc.platform))
  end
  sc.server = sc.server or {}
  for k, v in pairs(sc.server) do
    if not SERVER_FIELDS[k] then return fail(path, "unknown field 'server.%s'", tostring(k)) end
    if type(v) ~= SERVER_FIELDS[k] then return fail(path, "field 'server.%s' must be a %s", k, SERVER_FIELDS[k]) end
  end
  if sc.server.tiers ~= nil and sc.server.tiers ~= 1 and sc.server.tiers ~= 2 then
    return fail(path, "field 'server.tiers' must be 1 (the root issues) or 2 (root and issuing CA)")
  end
  for i, c in ipairs(sc.server.caps or {}) do
    if type(c) ~= "string" or not c:match("^[%w%-]+$") then
      return fail(path, "server.caps[%d] must be a capability name (as GetCACaps lists them)", i)
    end
  end
  if sc.profile.file ~= nil then
    local ok, err = M.profile_from_file(sc, path)
    if not ok then return nil, err end
  end
  if type(sc.profile.subject) ~= "string" then return fail(path, "field 'profile.subject' (string) is required") end
  -- what the ticket's bundle holds: the NDES server's logs, the device's, or both (the default)
  local have = {}
  for i, c in ipairs(sc.collect or { "ndes", "device" }) do
    if c ~= "ndes" and c ~= "device" then return fail(path, "collect[%d] must be \"ndes\" or \"device\"", i) end
    have[c] = true
  end
  if not next(have) then return fail(path, "field 'collect' must name \"ndes\", \"device\" or both") end
  sc.collect = have
  local rt = sc.profile.renewal_threshold
  if rt ~= nil and (math.type(rt) ~= "integer" or rt < 1 or rt > 50) then
    return fail(path, "field 'profile.renewal_threshold' must be an integer percentage from 1 to 50 (Intune's range)")
  end
  for i, f in ipairs(sc.server.faults or {}) do
    if not M.FAULTS[f] then
      local names = {}
      for n in pairs(M.FAULTS) do names[#names + 1] = n end
      table.sort(names)
      return fail(path, "server.faults[%d]: unknown fault '%s' (one of %s)", i, tostring(f), table.concat(names, ", "))
    end
  end
  for i, st in ipairs(sc.steps) do
    if type(st) ~= "table" or not STEPS[st[1]] then
      return fail(path, "steps[%d] must be {\"deploy\"}, {\"enroll\"}, {\"advance\", minutes|hours|days = N}, " ..
                  "{\"renew\"}, {\"fault\", NAME}, {\"fix\", NAME}, {\"rotate\"}, {\"offline\"} or {\"online\"}", i)
    end
    if st[1] == "advance" then
      local total = 0
      for k in pairs(st) do
        if k ~= 1 and k ~= "minutes" and k ~= "hours" and k ~= "days" then
          return fail(path, "steps[%d]: advance takes minutes, hours or days, not '%s'", i, tostring(k))
        end
      end
      for unit, m in pairs({ minutes = 1, hours = 60, days = 1440 }) do
        local v = st[unit]
        if v ~= nil and (math.type(v) ~= "integer" or v < 1) then
          return fail(path, "steps[%d]: advance %s must be a positive integer", i, unit)
        end
        total = total + (v or 0) * m
      end
      if total == 0 then return fail(path, "steps[%d]: advance needs minutes, hours or days = a positive integer", i) end
      st.minutes = total
    end
    if st[1] == "renew" then
      local enrolled = false
      for j = 1, i - 1 do enrolled = enrolled or sc.steps[j][1] == "enroll" end
      if not enrolled then return fail(path, "steps[%d]: renew needs an enroll step before it (a certificate to renew)", i) end
    end
    if (st[1] == "fault" or st[1] == "fix") and not (M.FAULTS[st[2]] and M.FAULTS[st[2]].server) then
      return fail(path, "steps[%d]: %s needs the name of a server fault, not '%s'", i, st[1], tostring(st[2]))
    end
  end
  local e, eerr = diagnose.validate_expect(sc.expect, path .. ": expect")
  if not e then return nil, eerr end
  sc.file = path
  return sc
end

-- ---- the devices ----------------------------------------------------------------------------
-- One simulator drives the real SCEP client with each platform's quirks and writes each
-- platform's own log: Windows (the ClientCertificateInstall CSP's events), Android (Company
-- Portal's OMADM log, jscep's GETs), iOS (profiled in a Console copy, GET with base64 that is not
-- percent-encoded).

-- XML text: the server's answers are quoted in these events (codec.xml, as every XML writer)
local function xml_esc(s) return codec.xml(tostring(s)) end

local PLATFORM = {}

-- DeviceManagement-Enterprise-Diagnostics-Provider/Admin, as `wevtutil qe /f:RenderedXml` prints it.
PLATFORM.windows = {
  file = "DeviceManagement-Enterprise-Diagnostics-Provider-Admin.xml", retries = 3, csp_retries = true,
  client = { oaep = true, method = "auto" }, -- POST when GetCACaps offers it, as Windows does
  line = function(t, e)
    local levels = { [2] = "Error", [3] = "Warning", [4] = "Information" }
    return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>" ..
      "<Provider Name='Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider' Guid='{3da494e4-0fe2-415c-b895-fb5265c5c83b}'/>" ..
      "<EventID>%d</EventID><Version>0</Version><Level>%d</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>" ..
      "<TimeCreated SystemTime='%s.%07dZ'/><Channel>Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin</Channel>" ..
      "<Computer>DESKTOP-SCEPLAB</Computer></System><EventData><Data Name='Message1'>%s</Data></EventData>" ..
      "<RenderingInfo Culture='en-US'><Message>%s</Message><Level>%s</Level></RenderingInfo></Event>\n")
      :format(e.id, e.level, os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)), math.floor((t % 1) * 1e7), xml_esc(e.text),
              xml_esc(e.text), levels[e.level])
  end,
  -- the CSP executes the profile: 306 (0x2ab0003 is its "accepted")
  deploy = function(d)
    d:log { id = 306, level = 4, text = ("SCEP: CspExecute for UniqueId : (%s) InstallUserSid : (S-1-12-1-1-1-1-1) " ..
      "InstallLocation : (user) NodePath : (clientinstall) KeyProtection: (0x2) Result : (Unknown Win32 Error code: 0x2ab0003).")
      :format(d.node) }
  end,
  success = function(d, r, attempt, url)
    if d.faults["install-fails"] then
      d:log { id = 32, level = 2, text = "SCEP: Failed to install certificate. Result: (The operation failed (0x80090016))." }
      return false
    end
    -- as a Windows 11 device logs it: 39, the OMA-DM session that reports the result to Intune
    -- (256, alert com.microsoft:mdm.SCEPcertinstall.result), then 309 with the thumbprint
    d:log { id = 39, level = 4, text = "SCEP: Certificate installed successfully." }
    d:log { id = 256, level = 4, text = ("OmaDmLogOmaDmApiInitiateSession: Result: (The operation completed successfully.), " ..
      "Account Id: (%s), Initiation Id: ({%s}), Mode: (2), Origin: (33), AutoDelete: (false), Alert Count: (1), " ..
      "First Alert Name: (com.microsoft:mdm.SCEPcertinstall.result), User Sid: (S-1-12-1-1-1-1-1), User Only: (true), " ..
      "All Active Users: (false), Process Name: (C:\\Windows\\system32\\svchost.exe), System Or Admin: (true).")
      :format(d.account, d.run:guid()) }
    d:log { id = 309, level = 4, text = ("SCEP: InstallFromRegEntries. CorrelationGuid : ({%s}) UniqueId : (%s) " ..
      "Certificate Thumbprint : (%s) Respondent Server : (%s/pkiclient.exe) Install Status : (0x1) Current Retry Count :  (0x%x) " ..
      "Result : (The operation completed successfully.)"):format(d.run:guid(), d.node, r.certificate and r.certificate.sha1 or "",
      url, attempt) }
  end,
  -- the CSR made and about to be sent: 36 (what the seeds call the sign of a connection)
  exchanges = function(d, list, p)
    for _, ex in ipairs(list) do
      if ex.operation == "PKIOperation" and not d.csr_logged then
        d.csr_logged = true
        d:log { id = 36, level = 4, text = ("SCEP: Certificate request generated successfully. Enhanced Key Usage: (%s), " ..
          "NDES URL: (%s/pkiclient.exe), Container Name: (), KSP Setting: (0x2), Store Location: (0x1).")
          :format(table.concat(p.eku or { "1.3.6.1.5.5.7.3.2" }, ","), p.url) }
        return
      end
    end
  end,
  -- 307 for each failed try, then 32 with the HTTP status when the server answered with one
  -- each failed try: 307 as the seeds show it for any failure ("Failed to Initialize SCEP
  -- enrollment with NDES Server ..."), then 32 with the error when there is one to say
  failure = function(d, _, _, err)
    d:log { id = 307, level = 2, text = ("SCEP: Failed LogError Message : (SCEPInstallCertificateWithScepHelper: Failed to " ..
      "Initialize SCEP enrollment with NDES Server '%s/pkiclient.exe', CA cert thumbprint '%s' and server certs ''. )")
      :format(d.profile.url, d.profile.ca_thumbprint or "") }
    if tostring(err or ""):match("CAThumbprint") then
      -- the profile's CAThumbprint names no CA the server sent: Windows stops before the CSR
      d:log { id = 32, level = 2, text = "SCEP: Certificate enroll failed. Result: (The hash value is not correct.)." }
      return
    end
    local status = tonumber(tostring(err or ""):match("HTTP (%d%d%d)"))
    local said = { [500] = "Internal server error", [502] = "Bad Gateway", [503] = "Service unavailable",
                   [504] = "Gateway timeout", [413] = "Request entity too large", [414] = "Request uri too long",
                   [403] = "Forbidden", [404] = "Not found" }
    if status and said[status] then
      d:log { id = 32, level = 2, text = ("SCEP: Certificate enroll failed. Result: (%s (%d).)."):format(said[status], status) }
    elseif tostring(err or ""):match("[Cc]ouldn't connect") or tostring(err or ""):match("[Cc]ould not resolve") then
      d:log { id = 32, level = 2, text = "SCEP: Certificate enroll failed. Result: (A connection with the server could not be established (0x80072efd))." }
    elseif tostring(err or ""):match("SSL") or tostring(err or ""):match("[Cc]ertificate") and tostring(err or ""):match("TLS") then
      -- WinHTTP's ERROR_WINHTTP_SECURE_FAILURE, as HRESULT
      d:log { id = 32, level = 2, text = "SCEP: Certificate enroll failed. Result: (A security error occurred (0x80072f8f))." }
    end
  end,
}

-- Company Portal's OMADMLog.log: tab-separated, local time (UTC here), jscep's transport lines.
PLATFORM.android = {
  file = "OMADMLog.log", retries = 1, cacert_first = true,
  client = { method = "get", no_post_retry = true },
  line = function(t, e)
    return ("%s.%07d\t%s\tEvent\t%s\t%d\t%d\t%s\n"):format(os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)),
      math.floor((t % 1) * 1e7), e.level, e.component, 18327, 10, e.text)
  end,
  deploy = function(d)
    d:log { level = "VERB", component = "com.microsoft.omadm.platforms.android.certmgr.CertificateEnrollmentManager",
            text = "Trying to enroll certificate request: " .. d.request_id:gsub("/", "%%2F") }
  end,
  exchange = function(d, ex)
    local op = ex.operation == "PKIOperation" and "PkiOperation" or (ex.operation .. "(ca)")
    d:log { level = "VERB", component = "org.jscep.transport.UrlConnectionGetTransport",
            text = ("Sending %s to %s"):format(op, ex.url) }
    if ex.status then
      local reasons = { [200] = "OK", [403] = "Forbidden", [404] = "Not Found", [414] = "Request-URI Too Long",
                        [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
                        [504] = "Gateway Timeout" }
      d:log { level = "VERB", component = "org.jscep.transport.UrlConnectionGetTransport",
              text = ("Received '%d %s' when sending %s to %s"):format(ex.status, reasons[ex.status] or "Error", op, ex.url) }
    end
  end,
  success = function(d, r)
    d:log { level = "VERB", component = "org.jscep.transaction.EnrollmentTransaction",
            text = ("Response: org.jscep.message.CertRep@3150777b[failInfo=<null>,pkiStatus=SUCCESS,messageType=CERT_REP,transId=%s]")
              :format(r.transaction_id or "") }
    d:log { level = "INFO", component = "com.microsoft.omadm.platforms.android.certmgr.state.NativeScepCertInstallStateMachine",
            text = ("SCEP cert '%s' state changed from CERT_ACCESS_REQUESTED to CERT_ACCESS_GRANTED"):format(d.request_id:gsub("/", "%%2F")) }
  end,
  failure = function(d, r)
    if not r then return end -- no CertRep came back: the transport lines say what did
    d:log { level = "VERB", component = "org.jscep.transaction.EnrollmentTransaction",
            text = ("Response: org.jscep.message.CertRep@3150777b[failInfo=%s,pkiStatus=FAILURE,messageType=CERT_REP,transId=%s]")
              :format(r and r.fail_info or "<null>", r and r.transaction_id or "") }
  end,
}

-- profiled in a Console copy ("Copy" in Console.app: tab-separated, no date). Its lines follow
-- what profiled's SCEP payload handler logs (its format strings, levels and MCSCEPErrorDomain
-- codes: 22003 invalid RA response, 22004 no usable CA certificate, 22005 network error, 22013 the
-- PKIOperation answer is no certificate); an NSError is printed as its verbose description, on one
-- line.
local function ios_error(code, desc, under)
  return ("NSError: Desc   : %s US Desc: %s Domain : MCSCEPErrorDomain Code   : %d Type   : MCFatalError%s")
    :format(desc, desc, code, under and (" Underlying error: " .. under) or "")
end
local IOS_CODES = { [22003] = "The Registration Authority's response is invalid.",
                    [22004] = "The SCEP server's certificate configuration is not supported.",
                    [22005] = "A network error occurred while contacting the SCEP server.",
                    [22013] = "The SCEP server returned an invalid response." }

PLATFORM.ios = {
  file = "ios-console.txt", retries = 1, needs_date = true, cacert_first = true,
  client = { method = "get", raw_base64 = true, no_post_retry = true },
  line = function(t, e)
    return ("%s\t%s.%06d +0000\tprofiled\t%s\n"):format(e.level, os.date("!%H:%M:%S", math.floor(t)),
      math.floor((t % 1) * 1e6), e.text)
  end,
  deploy = function(d)
    d:log { level = "default", text = ('Beginning installation of profile "www.windowsintune.com.SCEP.%s"'):format(d.request_id) }
  end,
  exchange = function(d, ex)
    local url = ex.url
    if ex.operation == "PKIOperation" then
      d:log { level = "default", text = "Attempting to retrieve issued certificate..." }
      d:log { level = "debug", text = "Sending CSR via GET." }
      if #url > 160 then url = url:sub(1, 160) .. "..." end
    end
    d:log { level = "debug", text = "Performing synchronous URL request: " .. url }
    if ex.status then
      -- an HTTP error status is no NSURLSession error: profiled reads the body it got
      d:log { level = "debug", text = "URL request succeeded." }
    else
      d:log { level = "error", text = ("URL request to %s failed. Error: %s"):format(url, d.url_error) }
      d:log { level = "debug", text = "URL request failed. Status code: 0" }
    end
  end,
  success = function(d)
    d:log { level = "default", text = "Issued certificate received." }
    d:log { level = "default", text = ('Profile "www.windowsintune.com.SCEP.%s" installed.'):format(d.request_id) }
  end,
  failure = function(d, r, _, err)
    local code
    local e = tostring(err or "")
    if e:match("CAThumbprint") then
      code = 22003 -- the RA's certificate chains to no root the device has
    elseif r then
      -- a CertRep FAILURE: SecSCEPVerifyReply's error, then 22013
      d:log { level = "error", text = ("Certificate retrieval reported error: failInfo %s (pkiStatus FAILURE)")
        :format(r.fail_info or "badRequest") }
      code = 22013
      d:log { level = "default", text = "Could not retrieve issued certificate: " .. ios_error(code, IOS_CODES[code]) }
    elseif e:match("HTTP %d%d%d") then
      -- an error page instead of the CA certificates (GetCACert) or of a CertRep (PKIOperation)
      code = e:match("^PKIOperation") and 22013 or 22004
      if code == 22013 then
        d:log { level = "default", text = "Could not retrieve issued certificate: " .. ios_error(code, IOS_CODES[code]) }
      end
    else
      code = 22005
    end
    d:log { level = "error", text = "Cannot retrieve SCEP identity: " .. ios_error(code, IOS_CODES[code],
      code == 22005 and d.url_error or nil) }
    d:log { level = "error", text = "Profile installation failed. Error: " .. ios_error(code, IOS_CODES[code]) }
  end,
}

local Device = {}
Device.__index = Device

local function new_device(run, platform, faults)
  local pf = PLATFORM[platform]
  -- the MDM enrollment's account ID (event 256 names it): one per device
  return setmetatable({ run = run, pf = pf, lines = {}, retry_count = pf.retries, faults = faults or {},
                        account = run:guid() }, Device)
end

function Device:log(e)
  local t = self.run:now()
  self.first_t = self.first_t or t -- the day a dateless log (a Console copy) starts on
  self.lines[#self.lines + 1] = self.pf.line(t, e)
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
      self.run:advance(math.tointeger(delay) or 1)
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

function Device:write(dir)
  local ok, err = sys.mkdir(dir)
  if not ok then return nil, err end
  local f, ferr = io.open(dir .. "/" .. self.pf.file, "wb")
  if not f then return nil, ferr end
  f:write(table.concat(self.lines))
  f:close()
  return true
end

-- ---- the run ------------------------------------------------------------------------------

local Run = {}
Run.__index = Run

-- The virtual clock: real time plus what the advance steps added. The server reads the same offset
-- from the clock file at each request, so its logs, the connector's and the device's agree, and a
-- token expires when the story says.
function Run:now() return os.time() + self.offset end

function Run:advance(minutes)
  self.offset = self.offset + 60 * minutes
  local f = assert(io.open(self.clock_file, "wb"))
  f:write(tostring(self.offset), "\n")
  f:close()
end

function Run:guid()
  local h = (require "sceplab.core.codec").hexencode((require "sceplab.core.scep").nonce())
  return ("%s-%s-%s-%s-%s"):format(h:sub(1, 8), h:sub(9, 12), h:sub(13, 16), h:sub(17, 20), h:sub(21, 32)):upper()
end

-- The CA's state lives outside the bundle (a bundle is shared; the CA's keys are not) and is
-- removed after the run.
local function remove_state(dir)
  -- the CA's files only: keys, certificates (rolled-over ones too), its database
  for _, n in ipairs(sys.listdir(dir) or {}) do
    if n:match("%.pem$") or n:match("%.key$") or n:match("^ca%.db") then os.remove(dir .. "/" .. n) end
  end
  os.remove(dir)
end

--- "N days, N hours, N minutes" for a number of minutes (what a step line says).
function M.duration(minutes)
  local d, h, m = minutes // 1440, minutes % 1440 // 60, minutes % 60
  local parts = {}
  if d > 0 then parts[#parts + 1] = ("%d day%s"):format(d, d == 1 and "" or "s") end
  if h > 0 then parts[#parts + 1] = ("%d hour%s"):format(h, h == 1 and "" or "s") end
  if m > 0 or #parts == 0 then parts[#parts + 1] = ("%d minute%s"):format(m, m == 1 and "" or "s") end
  return table.concat(parts, " ")
end

--- When a certificate enters its renewal window: threshold percent of its lifetime left (Unix
-- seconds), or nil when it cannot be read.
function M.renewal_time(cert_pem, threshold)
  local doc = cert_pem and (require "sceplab.pure").x509.parse(cert_pem)
  local c = doc and doc.certificates and doc.certificates[1]
  local t = require "sceplab.time"
  local nb, na = c and t.parse(c.not_before), c and t.parse(c.not_after)
  if not nb or not na or na <= nb then return nil end
  return math.floor(na - (na - nb) * threshold / 100)
end

--- Plays a scenario into a bundle directory. opts: bundle (directory, made), log(line).
-- Returns {bundle, steps = {...}} | nil, message, code.
function M.run(sc, opts)
  local say = opts.log or function() end
  local bundle = opts.bundle
  local ok, err = sys.mkdir(bundle)
  if not ok then return nil, err, "input" end
  if #(sys.listdir(bundle) or {}) > 0 then return nil, bundle .. ": not empty (a bundle is written into a new directory)", "usage" end
  local work = os.tmpname()
  os.remove(work)
  ok, err = sys.mkdir(work)
  if not ok then return nil, err, "failed" end
  -- everything the run keeps outside the bundle (the CAs, the TLS key, the clock), on every path out
  local cleanup = function()
    remove_state(work .. "/ca")
    remove_state(work .. "/other-tenant")
    for _, n in ipairs({ "clock", "tls.pem", "tls.key", "root.pem" }) do os.remove(work .. "/" .. n) end
    os.remove(work)
  end
  local faults = {}
  for _, f in ipairs(sc.server.faults or {}) do faults[f] = true end
  local okc, cerr = core.ca_init(work .. "/ca", { key = sc.server.key, one_tier = sc.server.tiers == 1 })
  if not okc then cleanup() return nil, cerr, "failed" end
  local ca, oerr = core.ca_open(work .. "/ca")
  if not ca then cleanup() return nil, oerr, "failed" end
  local run = setmetatable({ offset = 0, clock_file = work .. "/clock" }, Run)
  run:advance(0)
  local server_faults = {}
  for _, f in ipairs(sc.server.faults or {}) do
    if M.FAULTS[f].server then server_faults[f] = true end
  end
  -- HTTPS (server.tls, or the name-mismatch fault): a certificate from the scenario's CA, for the
  -- address the device uses, or for another name
  local tls
  if sc.server.tls or faults["tls-name-mismatch"] then
    local names = faults["tls-name-mismatch"] and { "ndes.contoso.com" } or { "127.0.0.1", "localhost" }
    local cert, key = ca:tls_server(names)
    if not cert then ca:close() cleanup() return nil, key, "failed" end
    local certs = ca:certificates()
    tls = { cert = work .. "/tls.pem", key = work .. "/tls.key", root = work .. "/root.pem" }
    local f = assert(io.open(tls.cert, "wb")) f:write(cert, certs.issuing) f:close()
    f = assert(io.open(tls.root, "wb")) f:write(certs.root) f:close()
    local wok, werr = sys.write_private(tls.key, key)
    if not wok then ca:close() cleanup() return nil, werr, "failed" end
  end
  local srv, url
  -- (re)starts the server with the faults in play: a fault step changes them, as an admin or an
  -- outage does on the real server
  local function start()
    if srv then srv:stop() end
    local list = {}
    for f in pairs(server_faults) do list[#list + 1] = f end
    table.sort(list)
    local serr
    srv, serr = serve.spawn({
      dir = work .. "/ca", policy = sc.server.policy or "intune", port = url and tonumber(url:match(":(%d+)/")) or 0,
      log_dir = bundle .. "/NDES", faults = list, config = sc.server.config or {}, host = "NDES01",
      clock_file = run.clock_file, tls_cert = tls and tls.cert, tls_key = tls and tls.key, caps = sc.server.caps,
    })
    if not srv then return nil, serr end
    url = serr
    say(("server: %s, policy %s%s"):format(url, sc.server.policy or "intune",
      #list > 0 and (", faults " .. table.concat(list, ", ")) or ""))
    return true
  end
  local sok, serr = start()
  if not sok then ca:close() cleanup() return nil, serr, "failed" end
  local device = new_device(run, sc.platform, faults)
  device.cacert = tls and tls.root
  local steps = {}
  local function token_ca()
    if not faults["other-tenant"] then return ca end
    local other = work .. "/other-tenant"
    if sys.kind(other) ~= "directory" then core.ca_init(other) end
    return core.ca_open(other)
  end
  local result, rerr
  -- Intune sends the profile with a new challenge (a token issued now, on the virtual clock)
  local function deploy()
    local prof, ti = sc.profile, sc.intune or {}
    local tca = token_ca()
    local claims_in = { subject = ti.subject or prof.subject, user_id = prof.user, device_id = prof.device,
      san = ti.san or prof.san, key_bits = prof.key_bits or 2048,
      -- the token's KeyUsage is a list of names in one string
      key_usage = type(prof.key_usage) == "table" and table.concat(prof.key_usage, ",") or prof.key_usage,
      ekus = prof.ekus or { "clientAuth" }, issued_at = math.floor(run:now()), minutes = ti.minutes }
    local tok, terr = tca:intune_token(claims_in)
    if not tok then return nil, terr end
    -- the profile is laid out from what the token says (a token from another tenant is still read)
    local claims = { device_id = prof.device or "replay-device", user_id = prof.user, subject = prof.subject,
      san = {}, key_bits = prof.key_bits or 2048, key_usage = type(prof.key_usage) == "table" and prof.key_usage or nil }
    -- the token as its issuer reads it (its request id, its EKUs as OIDs): the tenant that signed
    -- it verifies it, whichever server it goes to
    local cl, verr = tca:intune_verify(tok, claims_in.issued_at)
    if not cl then return nil, verr end
    claims.request_id = cl.request_id
    for _, s in ipairs(prof.san or {}) do
      local t, v = s:match("^(%w+):(.+)$")
      claims.san[#claims.san + 1] = { type = t, value = v }
    end
    claims.ekus = cl.ekus
    local certs = ca:certificates()
    -- ndes-unreachable: the profile names a port nothing listens on (the discard port)
    local purl = faults["ndes-unreachable"] and url:gsub(":%d+/", ":9/", 1) or url
    local xml, perr = intune.profile({ token = tok, claims = claims, urls = { purl },
      root_der_b64 = certs.root:gsub("%-%-%-%-%-[^\n]*%-%-%-%-%-", ""):gsub("%s", ""),
      ca_thumbprint = prof.ca_thumbprint or ca:thumbprint("root") })
    if not xml then return nil, perr end
    local dok, derr = device:deploy(xml)
    if not dok then return nil, derr end
    return claims_in.subject
  end
  -- the device runs the SCEP exchange with its platform's client
  local function enroll()
    local d = sc.device or {}
    local over = {}
    -- root-not-trusted: the device holds no profile for this root; it checks the RA's chain
    -- against what it has (here: a thumbprint of nothing the server sends)
    if faults["root-not-trusted"] then over.ca_thumbprint = ("0"):rep(40) end
    if d.no_challenge then over.challenge = false end
    if d.subject then over.subject = d.subject end
    if d.key_bits then over.key = { type = "rsa", bits = d.key_bits } end
    local r, e = device:enroll(over)
    return r, e, ("the device enrolls: %s"):format(r and "certificate installed"
      or ("failed %d time%s (%s)"):format(device.attempts or 0, device.attempts == 1 and "" or "s", tostring(e)))
  end
  for i, st in ipairs(sc.steps) do
    local what = st[1]
    if what == "advance" then
      run:advance(st.minutes)
      steps[#steps + 1] = ("%d. the clock advances %s"):format(i, M.duration(st.minutes))
    elseif what == "fault" or what == "fix" then
      server_faults[st[2]] = what == "fault" or nil
      local ok3, e3 = start()
      if not ok3 then rerr = e3 break end
      steps[#steps + 1] = ("%d. %s: %s"):format(i, what == "fault" and "the server breaks" or "the admin fixes", st[2])
    elseif what == "offline" then
      -- the NDES server is down (powered off, IIS stopped): nothing listens at the URL
      if srv then srv:stop() srv = nil end
      steps[#steps + 1] = ("%d. NDES goes offline"):format(i)
    elseif what == "online" then
      local ok3, e3 = start()
      if not ok3 then rerr = e3 break end
      steps[#steps + 1] = ("%d. NDES is back online"):format(i)
    elseif what == "rotate" then
      if srv then srv:stop() end
      local ok3, e3 = ca:rollover()
      if ok3 then ok3, e3 = ca:activate() end
      if not ok3 then rerr = e3 break end
      ok3, e3 = start()
      if not ok3 then rerr = e3 break end
      steps[#steps + 1] = ("%d. the CA rolls over: a new issuing CA and NDES's RA pair re-issued"):format(i)
    elseif what == "deploy" then
      local who, derr = deploy()
      if not who then rerr = derr break end
      steps[#steps + 1] = ("%d. Intune deploys the SCEP profile (token for %s)"):format(i, who)
    elseif what == "enroll" then
      local line
      result, rerr, line = enroll()
      steps[#steps + 1] = ("%d. %s"):format(i, line)
      rerr = nil
    elseif what == "renew" then
      -- the renewal threshold (Intune's default: 20% of the lifetime left): the clock runs to it,
      -- Intune sends the profile again with a new challenge, the device enrolls a new key
      local threshold = sc.profile.renewal_threshold or 20
      local window = result and M.renewal_time(result.certificate_pem, threshold)
      if not window then
        steps[#steps + 1] = ("%d. renewal: the device has no certificate to renew"):format(i)
      else
        local wait = math.max(0, math.ceil((window - run:now()) / 60))
        if wait > 0 then run:advance(wait) end
        local who, derr = deploy()
        if not who then rerr = derr break end
        local line
        result, rerr, line = enroll()
        rerr = nil
        steps[#steps + 1] = ("%d. renewal (%d%% of the lifetime left, %s on): Intune sends the profile again (token for %s); %s")
          :format(i, threshold, M.duration(wait), who, line)
      end
    end
    say(steps[#steps])
  end
  if srv then srv:stop() end
  ca:close()
  cleanup()
  if rerr then return nil, rerr, "failed" end
  if sc.collect.device then
    local wok, werr = device:write(bundle .. "/Device")
    if not wok then return nil, werr, "failed" end
  end
  if not sc.collect.ndes then M.remove_bundle(bundle .. "/NDES") end
  return { bundle = bundle, steps = steps, result = result,
           date = os.date("!%Y-%m-%d", math.floor(device.first_t or run:now())) }
end

-- ---- from a ticket to a scenario ----------------------------------------------------------

-- NDES's RA certificates last two years: time makes them expire.
local function ra_expiry(sc)
  if sc.ra_expiry then return end
  sc.ra_expiry = true
  for _, st in ipairs({ { "advance", days = 731 }, { "deploy" }, { "enroll" } }) do sc.steps[#sc.steps + 1] = st end
end

--- How each finding a diagnosis can raise is played back when no fault (M.FAULTS) stands for it:
-- a recipe that changes the scenario's data (play), with the bundled scenario that shows it, or,
-- for a finding that is the echo or the consequence of another one (alone = false), only beside
-- that one. M.NOT_REPLAYABLE says why the others cannot be. A finding in none of these (a team's
-- own playbook's) cannot be reproduced either: --from says so and keeps it in the expect.
M.RECIPES = {
  ["challenge-expired"] = { scenario = "challenge-expired", doc = "an advance of 90 minutes before the enrollment",
    play = function(sc) table.insert(sc.steps, 2, { "advance", minutes = 90 }) end },
  ["subject-mismatch"] = { scenario = "subject-escaped-comma", doc = "the two subjects the CRP's line names (profile.subject, intune.subject)",
    play = function(sc, text, notes)
      local csr, chal = text:match("Subject Name in CSR (.-) and challenge (.-) do not match")
      if csr then
        sc.profile.subject, sc.intune = csr, { subject = chal }
      else
        sc.intune = { subject = "CN=someone else,O=Contoso" }
        notes[#notes + 1] = "subject-mismatch: the evidence names no subjects; set profile.subject and intune.subject"
      end
    end },
  ["csr-key-mismatch"] = { scenario = "key-size-mismatch", doc = "the two key sizes the CRP's line names (profile.key_bits, device.key_bits)",
    play = function(sc, text)
      local got, want = text:match("Key length in CSR (%d+) and challenge (%d+)")
      sc.profile.key_bits, sc.device = tonumber(want) or 2048, { key_bits = tonumber(got) or 1024 }
    end },
  ["ca-thumbprint-mismatch"] = { scenario = "ca-thumbprint-mismatch", doc = "the profile's CAThumbprint the device checked (no CA of the replay's)",
    play = function(sc, text)
      local t = text:match("CA cert thumbprint '(%x+)'")
      sc.profile.ca_thumbprint = t and #t == 40 and t:upper() or ("0C93E3B330AC0F3770CCED39CE5EDCBD23919305")
      sc.platform = "windows" -- Windows checks the thumbprint and logs event 32
    end },
  ["challenge-reused"] = { scenario = "challenge-reused", doc = "a second enrollment with the same profile and a new key",
    play = function(sc) sc.steps[#sc.steps + 1] = { "enroll" } end },
  ["challenge-rejected"] = { scenario = "ndes-password-rejected", doc = "NDES checking the Intune challenge as its own password (server.policy = \"static\")",
    play = function(sc)
      sc.server.policy, sc.server.config = "static", { challenge = "NDES-OWN-PASSWORD" }
    end },
  ["renewal-password-missing"] = { scenario = "renewal-password-missing", doc = "a request without a password (device.no_challenge) at NDES's own password check",
    play = function(sc)
      sc.server.policy, sc.server.config = "static", { challenge = "NDES-OWN-PASSWORD" }
      sc.device = sc.device or {}
      sc.device.no_challenge = true
    end },
  ["ra-cert-expired"] = { scenario = "ra-cert-expired", doc = "an advance of 731 days: NDES's RA certificates last two years",
    play = ra_expiry },
  ["ndes-500"] = { scenario = "ra-cert-expired", doc = "NDES's RA certificates expiring (a locked NDES service account looks the same to the device)",
    play = function(sc, _, notes, rep)
      local cause = false
      for _, g in ipairs(rep.findings) do cause = cause or g.id == "ra-cert-expired" end
      if not cause then
        notes[#notes + 1] = "ndes-500: played as NDES's RA certificates expiring; a locked NDES service account looks the same to the device"
      end
      ra_expiry(sc)
    end },
  ["retries-exhausted"] = { scenario = "challenge-expired", alone = false,
    doc = "the failure behind it, which Windows tries three times",
    why = "the failure behind the retries is not in the bundle" },
  ["ios-scep-error"] = { scenario = "subject-mismatch-ios", alone = false,
    doc = "iOS's echo of the server's failure (platform ios)",
    why = "only the device's side is in the bundle; add the server fault behind it" },
}

M.NOT_REPLAYABLE = {
  ["unclassified-error"] = "no playbook names what failed, so nothing says what to play: write a playbook for it (docs/playbooks.md), then a fault",
}

-- The faults, by the finding each stands for (the first by name when several do).
local function faults_by_finding()
  local names = {}
  for name in pairs(M.FAULTS) do names[#names + 1] = name end
  table.sort(names)
  local out = {}
  for _, name in ipairs(names) do
    local f = M.FAULTS[name].finding
    if f and not out[f] then out[f] = name end
  end
  return out
end

--- How --from plays a finding: "fault", NAME | "recipe", recipe | "info" | nil, why not.
function M.replayable(id)
  local fault = faults_by_finding()[id]
  if fault then return "fault", fault end
  if M.RECIPES[id] then return "recipe", M.RECIPES[id] end
  if id == "enrollment-succeeded" or id == "server-succeeded" then return "info" end
  if M.NOT_REPLAYABLE[id] then return nil, M.NOT_REPLAYABLE[id] end
  return nil, "no fault or recipe reproduces it yet"
end

-- The platform the bundle's strongest device evidence shows: the device's own logs, then the
-- requests IIS saw by their user agent; Windows when nothing says.
local function platform_of(rep)
  local best, best_own, best_req
  for _, p in ipairs({ "windows", "android", "ios" }) do
    local d = (rep.devices or {})[p]
    if d then
      local own, req = d.own or 0, d.requests or 0
      if own + req > 0 and (not best or own > best_own or (own == best_own and req > best_req)) then
        best, best_own, best_req = p, own, req
      end
    end
  end
  -- an older report without devices: the inputs' formats
  if not best then
    for _, i in ipairs(rep.inputs or {}) do
      if i.format == "android" or i.format == "ios" then best = i.format end
    end
  end
  return best
end

local function evidence_text(f)
  local out = {}
  for _, e in ipairs(f.evidence or {}) do out[#out + 1] = e.text or "" end
  return table.concat(out, "\n")
end

--- A scenario skeleton from a diagnosis report: the platform its strongest device evidence
-- shows, the faults and recipes its findings stand for, and its findings as the expect. Returns
-- the scenario table, notes (what to check), and the findings it cannot reproduce
-- ({id, why}): those stay in expect.raises, so `replay --check` fails until something plays them,
-- and the bundle is never rewritten as healthy.
function M.from_report(rep, name)
  local sc = { description = "Reproduction of " .. (name or "a diagnosed bundle"), platform = "windows",
               server = { policy = "intune", faults = {} }, profile = { subject = "CN=device,O=Contoso" },
               steps = { { "deploy" }, { "enroll" } }, expect = { raises = {} } }
  local notes, missing = {}, {}
  local platform = platform_of(rep)
  if platform then sc.platform = platform
  else notes[#notes + 1] = "no device log in the bundle: the skeleton plays a Windows device" end
  local seen, played = {}, 0
  local later = {}
  for _, f in ipairs(rep.findings) do
    if not seen[f.id] and f.severity ~= "info" then
      seen[f.id] = true
      local how, what = M.replayable(f.id)
      if how == "fault" then
        table.insert(sc.server.faults, what)
        played = played + 1
      elseif how == "recipe" and what.alone == false then
        later[#later + 1] = { f = f, recipe = what }
      elseif how == "recipe" then
        what.play(sc, evidence_text(f), notes, rep)
        played = played + 1
      else
        missing[#missing + 1] = { id = f.id, why = what }
      end
      table.insert(sc.expect.raises, f.id)
    end
  end
  -- an echo or a consequence is played by what it echoes, or not at all
  for _, l in ipairs(later) do
    if played == 0 then
      missing[#missing + 1] = { id = l.f.id, why = l.recipe.why }
    elseif l.f.id == "ios-scep-error" then
      sc.platform = "ios"
    end
  end
  for _, v in ipairs(rep.verdicts or {}) do
    if v.status == "failed" and (not sc.expect.failing_step or v.failing_step < sc.expect.failing_step) then
      sc.expect.verdict, sc.expect.failing_step = "failed", v.failing_step
    end
  end
  -- a bundle of the NDES server's logs alone: the skeleton collects those alone
  local server_only = false
  for _, v in ipairs(rep.verdicts or {}) do
    if v.status == "server-succeeded" then server_only = true end
    if v.status == "enrollment-succeeded" then server_only = false break end
  end
  if #sc.expect.raises == 0 then
    -- nothing failed in the bundle: a healthy enrollment, as the bundle shows it
    sc.expect = { verdict = server_only and "server-succeeded" or "enrollment-succeeded", no_errors = true }
    if server_only then sc.collect = { "ndes" } end
  end
  if #sc.server.faults == 0 then sc.server.faults = nil
  elseif sc.expect.failing_step then
    -- a fault plays as the real system shows it, which may stop a request earlier than the
    -- customer's logs did (an expired policy certificate: 503 after a restart, a failed
    -- VerifyRequest before one): the verdict is kept, not the step
    sc.expect.failing_step = nil
  end
  sc.ra_expiry = nil
  return sc, notes, missing
end

--- The scenario as a Lua file people edit.
function M.to_lua(sc, notes, source, missing)
  local head = { "-- sceplab scenario written by `sceplab replay --from " .. (source or "BUNDLE") .. "`." }
  head[#head + 1] = "-- Check it, change what the ticket says differently, then: sceplab replay FILE --check"
  for _, m in ipairs(missing or {}) do
    head[#head + 1] = ("-- CANNOT REPRODUCE %s: %s. It stays in expect.raises: replay --check fails until something plays it.")
      :format(m.id, m.why)
  end
  for _, n in ipairs(notes or {}) do head[#head + 1] = "-- NOTE " .. n end
  return table.concat(head, "\n") .. "\nreturn " .. (require "sceplab.scep.profile").lua_literal(sc, 0) .. "\n"
end

--- Removes a bundle folder the replay wrote (its files and folders only: what a replay writes).
function M.remove_bundle(dir)
  for _, n in ipairs(sys.listdir(dir) or {}) do
    local p = dir .. "/" .. n
    if sys.kind(p) == "directory" then M.remove_bundle(p) else os.remove(p) end
  end
  os.remove(dir)
end

--- Diagnoses a bundle and compares it with the scenario's expect: report, failures (a list).
-- date: the (UTC) day the device's log starts on, for a log that writes none (default today).
function M.check(sc, bundle, date)
  -- a Console copy writes no date: the run's day, as an admin passes --date
  local inputs = { bundle }
  if not bundle:match("%.zip$") then
    inputs = {}
    if sc.collect.ndes then inputs[#inputs + 1] = bundle .. "/NDES" end
    if sc.collect.device then inputs[#inputs + 1] = bundle .. "/Device" end
  end
  local rep, err = diagnose.run(inputs,
                                { date = PLATFORM[sc.platform].needs_date and (date or os.date("!%Y-%m-%d")) or nil })
  if not rep then return nil, err end
  return rep, diagnose.check_expect(rep, sc.expect)
end

return M
