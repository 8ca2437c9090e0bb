-- A scenario (lua/scenarios/*.lua, docs/scenarios.md): a Lua script loaded through the sandbox,
-- and checked field by field, so a mistake is one line naming the file and the field.
local sandbox = require "sceplab.sandbox"
local sys = require "sceplab.core.sys"
local core = require "sceplab.core.serve"
local expect = require "sceplab.diagnose.expect"

local M = {}

-- What a scenario may say (docs/scenarios.md).
local FIELDS = { description = "string", platform = "string", server = "table", profile = "table", device = "table",
                 collect = "table",
                 intune = "table", steps = "table", expect = "table", references = "table" }
local PLATFORMS = { windows = true, android = true, ios = true }
--- The kinds of step (steps.lua plays each).
M.STEPS = { deploy = true, enroll = true, advance = true, fault = true, fix = true, rotate = true, renew = true,
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
-- The cloud's (`sceplab intune cloud --fault`, docs/intune-third-party.md): played by the stand-in the
-- replay starts for `--policy intune-api`, which such a fault implies. code=NAME: validateRequest
-- answers NAME (one code for each finding a code gives).
for name, finding in pairs({ ["token-401"] = "intune-api-secret-invalid", ["secret-expired"] = "intune-api-secret-expired",
    ["no-permission"] = "intune-api-permission-missing", ["discovery-without-service"] = "intune-api-service-missing",
    ["service-5xx"] = "intune-api-unreachable" }) do
  M.FAULTS[name] = { finding = finding, doc = require("sceplab.serve.cloud").FAULTS[name], cloud = true }
end
for code, finding in pairs({ ScepProfileNoLongerTargetedToTheClient = "intune-profile-not-targeted",
    ChallengeExpired = "intune-challenge-expired", SignatureValidationFailed = "intune-challenge-invalid",
    SubjectNameMismatch = "intune-csr-mismatch", Unknown = "intune-validation-unknown" }) do
  M.FAULTS["code=" .. code] = { finding = finding, cloud = true,
    doc = "validateRequest answers " .. code .. ": " .. require("sceplab.serve.intune_codes").CODES[code][2] }
end

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
  -- the third-party CA path: serve asks Intune's API, played by `sceplab intune cloud`, which runs on
  -- real time (no virtual clock: no advance or renew) and takes its faults for the whole run
  local cloud_fault
  for _, f in ipairs(sc.server.faults or {}) do if M.FAULTS[f].cloud then cloud_fault = f end end
  if cloud_fault and sc.server.policy ~= nil and sc.server.policy ~= "intune-api" then
    return fail(path, "server.faults: '%s' is a fault of Intune's API, which server.policy '%s' does not call (intune-api does)",
                cloud_fault, sc.server.policy)
  end
  if cloud_fault then sc.server.policy = "intune-api" end
  if sc.server.policy == "intune-api" then
    for i, st in ipairs(sc.steps) do
      if type(st) == "table" and (st[1] == "advance" or st[1] == "renew") then
        return fail(path, "steps[%d]: %s moves the virtual clock, which the intune-api path's cloud stand-in does not follow", i, st[1])
      end
    end
  end
  for i, st in ipairs(sc.steps) do
    if type(st) ~= "table" or not M.STEPS[st[1]] then
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
    if (st[1] == "fault" or st[1] == "fix") and M.FAULTS[st[2]] and M.FAULTS[st[2]].cloud then
      return fail(path, "steps[%d]: '%s' is a fault of Intune's cloud: it goes in server.faults, for the whole run", i, st[2])
    end
    if (st[1] == "fault" or st[1] == "fix") and not (M.FAULTS[st[2]] and M.FAULTS[st[2]].server) then
      return fail(path, "steps[%d]: %s needs the name of a server fault, not '%s'", i, st[1], tostring(st[2]))
    end
  end
  local e, eerr = expect.validate(sc.expect, path .. ": expect")
  if not e then return nil, eerr end
  sc.file = path
  return sc
end

return M
