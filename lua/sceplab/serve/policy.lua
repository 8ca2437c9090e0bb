-- Challenge policies (lua/policies/*.lua, or a file of yours, docs/policies.md): loaded through the
-- sandbox and checked; the ctx a policy's check gets; and the handler the server calls for each
-- request, which decodes the CSR for the policy, runs it under the time limit and checks its answer.
--
-- A policy is data plus a function:
--   return {
--     description = "...",
--     check = function(req, ctx) return ctx.allow() | ctx.deny(reason [, fail_info]) | ctx.pending(reason) end,
--   }
-- req: {transaction_id, message_type ("PKCSReq" | "RenewalReq"), challenge, renewal (renews the
-- certificate this CA issued that signed it: valid, not revoked, same subject and SANs),
-- renewal_refused (why a certificate of ours that signed it is not renewed), subject, subject_rdns,
-- san, key = {type, bits}, key_usage, eku, template_name, client_ip, user_agent}. ctx: config (--set
-- key=value, and SCEPLAB_CHALLENGE as config.challenge), now(), use_challenge(pw) (the CA's one-time
-- passwords), intune_verify(token), token_used(request_id), allow{days, ekus, template, profile,
-- ...}, deny(reason, fail_info, extra), pending(reason, extra), equal(a, b)
-- (a comparison that takes the same time however much matches). extra: phases, device_id,
-- user_id, request_id (the connector's logs), event (the NDES event a refusal logs). A policy
-- with connector = true stands for the Intune connector: the server writes its logs.
local sandbox = require "sceplab.sandbox"
local core = require "sceplab.core.serve"
local x509 = require "sceplab.core.x509"

local M = {}

local POLICY_FIELDS = { description = "string", check = "function", references = "table", connector = "boolean",
                        admin_page = "boolean", intune_api = "boolean", outcome = "function", tick = "function" }
local FAIL_INFOS = { badAlg = true, badMessageCheck = true, badRequest = true, badTime = true, badCertId = true }
-- What a certificate profile (allow{profile = ...}) may name: the names the CSR decoder gives.
local KEY_USAGES = { digitalSignature = true, nonRepudiation = true, keyEncipherment = true, dataEncipherment = true,
                     keyAgreement = true, keyCertSign = true, cRLSign = true, encipherOnly = true, decipherOnly = true }
local SAN_TYPES = { dns = true, email = true, ip = true, uri = true, upn = true, dirname = true, rid = true,
                    othername = true }

--- The file of a policy named on the command line: a path, or a bundled name (lua/policies/NAME.lua).
function M.policy_path(name) return sandbox.script_path("policies", name) end

--- The bundled policies' names.
function M.bundled() return sandbox.bundled("policies") end

--- Loads and checks a policy file: the table, or nil, "file: field 'x' ...".
function M.load_policy(path)
  local env, res = sandbox.load(path, "policy")
  if not env then return nil, res end
  local pol = res[1]
  if type(pol) ~= "table" then return nil, path .. ": a policy must return a table" end
  for k, v in pairs(pol) do
    if not POLICY_FIELDS[k] then return nil, ("%s: unknown field '%s'"):format(path, tostring(k)) end
    if type(v) ~= POLICY_FIELDS[k] then
      return nil, ("%s: field '%s' must be a %s, not a %s"):format(path, k, POLICY_FIELDS[k], type(v))
    end
  end
  for _, k in ipairs({ "description", "check" }) do
    if pol[k] == nil then return nil, ("%s: field '%s' is required"):format(path, k) end
  end
  pol.file = path
  return pol
end

-- Compares two strings in time that depends on their lengths only.
local function equal(a, b)
  if type(a) ~= "string" or type(b) ~= "string" or #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do diff = diff | (a:byte(i) ~ b:byte(i)) end
  return diff == 0
end
M.equal = equal

-- What an answer may carry besides its decision: the connector's phases, whom the challenge was
-- issued to (for the CRS file) and the NDES event a refusal logs.
local EXTRA = { "phases", "device_id", "user_id", "request_id", "event" }

local function with_extra(a, t)
  if type(t) == "table" then for _, k in ipairs(EXTRA) do a[k] = t[k] end end
  return a
end

-- The certificate profile the --set settings give (allow_key_usage, allow_eku, allow_san: comma
-- lists; allow_wildcard=true), for a policy's allow{} that gives none: nil when none is set.
function M.config_profile(config)
  local p, any = {}, false
  for key, field in pairs({ allow_key_usage = "key_usage", allow_eku = "eku", allow_san = "san" }) do
    local v = config[key]
    if type(v) == "string" then
      local list = {}
      for name in v:gmatch("[^,%s]+") do list[#list + 1] = name end
      p[field], any = list, true
    end
  end
  if config.allow_wildcard ~= nil then p.wildcard, any = config.allow_wildcard == "true", true end
  return any and p or nil
end

local function context(ca, config, clock, api)
  local ctx = { config = config, equal = equal, intune_api = api }
  function ctx.now() return clock and clock() or os.time() end
  function ctx.use_challenge(pw) return type(pw) == "string" and ca:use_challenge(pw) == true end
  -- Phases 1 and 2 of a CertEnrollToken (signature by the registered certificate, decryption,
  -- expiry): the claims, or nil, message, reason code, phase, CRP error name, its code.
  function ctx.intune_verify(token)
    if type(token) ~= "string" or token == "" then
      return nil, "the request carries no challenge", "ChallengeMalformed", 1, "CRPSCEPDeserialize_Failed", 0x410
    end
    return ca:intune_verify(token, ctx.now())
  end
  -- The serial of the certificate an Intune challenge (its request ID) gave already, or nil.
  function ctx.token_used(request_id)
    if type(request_id) ~= "string" or request_id == "" then return nil end
    return ca:once_used(request_id) or nil
  end
  function ctx.allow(t)
    t = t or {}
    return with_extra({ decision = "allow", days = t.days, ekus = t.ekus, template = t.template, profile = t.profile }, t)
  end
  function ctx.deny(reason, fail_info, t)
    return with_extra({ decision = "deny", reason = reason, fail_info = fail_info or "badRequest" }, t)
  end
  function ctx.pending(reason, t) return with_extra({ decision = "pending", reason = reason }, t) end
  -- no decision yet (a policy waiting for Intune's API): the request waits, and the policy is
  -- asked again when the server is woken
  function ctx.defer() return { decision = "defer" } end
  return ctx
end

-- What is wrong with a certificate profile table, or nil.
function M.profile_error(p)
  if type(p) ~= "table" then return "profile must be a table" end
  for k, v in pairs(p) do
    local names = k == "key_usage" and KEY_USAGES or k == "san" and SAN_TYPES or k == "eku" and true or nil
    if k == "wildcard" then
      if type(v) ~= "boolean" then return "profile.wildcard must be a boolean" end
    elseif not names then
      return ("profile has no field '%s' (key_usage, eku, san, wildcard)"):format(tostring(k))
    elseif type(v) ~= "table" then
      return ("profile.%s must be a list"):format(k)
    else
      for i, name in ipairs(v) do
        if type(name) ~= "string" or (names ~= true and not names[name]) then
          return ("profile.%s[%d] is no %s: %s"):format(k, i,
            k == "key_usage" and "key usage name" or k == "san" and "SAN type" or "EKU", tostring(name))
        end
      end
    end
  end
  -- the server's own reading (an EKU is a name or OID OpenSSL knows)
  local ok, err = core.profile_check(p)
  if not ok then return (err:gsub("^policy: ", "")) end
end

-- The checked answer, or error naming the policy (the request then gets HTTP 500 and the log says why).
local function answer_of(pol, a)
  if a == "allow" or a == "pending" or a == "deny" then a = { decision = a } end
  if type(a) ~= "table" then error(("%s: check must return a decision table, not %s"):format(pol.file, type(a)), 0) end
  if a.decision ~= "allow" and a.decision ~= "deny" and a.decision ~= "pending"
     and not (a.decision == "defer" and pol.intune_api) then
    error(("%s: decision must be allow, deny or pending, not %s"):format(pol.file, tostring(a.decision)), 0)
  end
  if a.fail_info ~= nil and not FAIL_INFOS[a.fail_info] then
    error(("%s: fail_info must be badAlg, badMessageCheck, badRequest, badTime or badCertId"):format(pol.file), 0)
  end
  if a.days ~= nil and (math.type(a.days) ~= "integer" or a.days < 1 or a.days > 36500) then
    error(("%s: days must be an integer from 1 to 36500"):format(pol.file), 0)
  end
  if a.phases ~= nil then
    if type(a.phases) ~= "table" then error(("%s: phases must be a list"):format(pol.file), 0) end
    for i, ph in ipairs(a.phases) do
      if type(ph) ~= "table" or math.type(ph.phase) ~= "integer" or ph.phase < 1 or ph.phase > 3
         or type(ph.message) ~= "string" then
        error(("%s: phases[%d] must be {phase = 1..3, ok = bool, message = string, code = string?}"):format(pol.file, i), 0)
      end
    end
  end
  if a.profile ~= nil then
    local perr = M.profile_error(a.profile)
    if perr then error(("%s: %s"):format(pol.file, perr), 0) end
  end
  if a.event ~= nil and math.type(a.event) ~= "integer" then
    error(("%s: event must be an NDES event ID (28 or 29)"):format(pol.file), 0)
  end
  return a
end

-- The fields an answer may have (ctx.allow, deny, pending and EXTRA), and how deep its tables go
-- (profile.eku is the deepest: answer, profile, list).
local ANSWER = { "decision", "reason", "fail_info", "days", "ekus", "template", "profile", "phases", "event",
                 "device_id", "user_id", "request_id" }
local ANSWER_DEPTH = 3

-- Plain data: tables copied without their metatables, to a depth; anything else as it is.
local function plain(v, where, depth)
  if type(v) ~= "table" then return v end
  if depth > ANSWER_DEPTH then error(where .. ": the answer is nested too deep (a table in itself?)", 0) end
  local out = {}
  for k, x in pairs(v) do
    if type(k) == "string" or math.type(k) == "integer" then out[k] = plain(x, where, depth + 1) end
  end
  return out
end

-- The policy's answer as plain data, read inside the call that runs the policy (protected, and
-- under the time limit): a field that raises or never returns when read (a metatable's __index, a
-- __pairs) fails the request there, as an error in the policy does, instead of in the server's C
-- code, which reads the answer outside any protected call (the server exited) and with no limit.
local function read_answer(pol, a)
  if type(a) ~= "table" then return a end
  local out = {}
  for _, k in ipairs(ANSWER) do out[k] = plain(a[k], pol.file, 1) end
  return out
end

--- The handler the server calls for each PKCSReq and RenewalReq: decodes the CSR for the policy
-- and runs its check under the sandbox's time limit. on_decision(req, answer) sees each outcome.
-- api: what ctx.intune_api gives a policy with intune_api = true (serve/intune_policy.lua).
-- Also returns the server's hooks for the policy's outcome(req, result, ctx) and tick(ctx), each
-- run under the time limit too: {outcome = f(transaction_id, cert_der, refusal, why), tick = f()}.
function M.handler(pol, ca, config, on_decision, clock, api)
  local ctx = context(ca, config, clock, api)
  -- the requests allowed, until the CA says what it did with them (outcome)
  local allowed, hooks = {}, {}
  local default_profile = M.config_profile(config)
  local function check(req, c) return read_answer(pol, pol.check(req, c)) end
  if pol.outcome then
    function hooks.outcome(tid, der, refusal, why)
      local req = allowed[tid]
      allowed[tid] = nil
      if not req then return end
      local result = { refusal = refusal, reason = why ~= "" and why or nil }
      if der then
        local d = x509.certs(der)
        local c = d and d.certificates and d.certificates[1]
        result.certificate = c and { der = der, serial = c.serial, sha1 = c.sha1, not_after = c.not_after,
                                     issuer = c.issuer, subject = c.subject } or nil
      end
      local ok, err = sandbox.call(pol.file .. ": outcome", pol.outcome, req, result, ctx)
      if not ok then io.stderr:write("sceplab: ", tostring(err), "\n") end
    end
  end
  if pol.tick then
    function hooks.tick()
      local ok, err = sandbox.call(pol.file .. ": tick", pol.tick, ctx)
      if not ok then io.stderr:write("sceplab: ", tostring(err), "\n") end
    end
  end
  return function(raw)
    local doc = raw.doc or x509.csr(raw.csr) or {}
    local req = { transaction_id = raw.transaction_id, message_type = raw.message_type, challenge = raw.challenge,
                  csr = raw.csr,
                  renewal = raw.renewal, renewal_refused = raw.renewal_refused, client_ip = raw.client_ip,
                  user_agent = raw.user_agent,
                  subject = doc.subject, subject_rdns = doc.subject_rdns, san = doc.san, key = doc.key,
                  key_usage = doc.key_usage, eku = doc.eku, template_name = doc.template_name }
    local ok, a, why = sandbox.call(pol.file .. ": check", check, req, ctx)
    if not ok then error(why == "timeout" and a or tostring(a), 0) end
    a = answer_of(pol, a)
    -- the --set profile, for a policy whose allow{} gives none
    if a.decision == "allow" and a.profile == nil then a.profile = default_profile end
    if on_decision and a.decision ~= "defer" then on_decision(req, a) end
    if a.decision == "allow" and pol.outcome then allowed[req.transaction_id] = req end
    return a
  end, hooks
end

return M
