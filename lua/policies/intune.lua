-- The Intune Certificate Connector: NDES's policy module sends each request to the Certificate
-- Registration Point (VerifyRequest), which checks the challenge, a CertEnrollToken Intune put in
-- the device's SCEP profile (`sceplab intune token` makes one), in three phases:
--   1 the token is signed by the registered signing certificate and its challenge decrypts,
--   2 the challenge has not expired,
--   3 the CSR asks for what the challenge was issued for: subject, SANs, key length, key usage, EKUs.
-- Each refusal carries the reason code of the validation service; the server writes the phases to
-- the CRP's .svclog, the result to NDESPlugin.log, and a CRS file for each issued certificate.
-- A challenge gives one certificate: a second request with it fails phase 2 (ChallengeAlreadyUsed).
-- Settings (--set): days (lifetime), strict_key_length=false (accept keys larger than asked).

local function lower(s) return type(s) == "string" and s:lower() or "" end

local function rdns_equal(a, b)
  if type(a) ~= "table" or type(b) ~= "table" or #a ~= #b then return false end
  for i = 1, #a do
    if a[i].oid ~= b[i].oid or lower(a[i].value) ~= lower(b[i].value) then return false end
  end
  return true
end

local function san_text(list)
  local out = {}
  for _, s in ipairs(list or {}) do out[#out + 1] = s.type .. ":" .. s.value end
  table.sort(out)
  return table.concat(out, ", ")
end

local function oid_set(list, field)
  local set = {}
  for _, e in ipairs(list or {}) do set[type(e) == "table" and e[field] or e] = true end
  return set
end

local PHASE1_OK = "message signature verified and request decrypted."
local PHASE2_OK = "the challenge has not expired."

-- The certificate profile a challenge allows: the SAN types it names (no others), its key usages,
-- wildcards only when it names one. Phase 3 compared the CSR with the same claims.
local KEY_USAGES = { digitalSignature = true, nonRepudiation = true, keyEncipherment = true, dataEncipherment = true,
                     keyAgreement = true, encipherOnly = true, decipherOnly = true }
local SAN_TYPES = { dns = true, email = true, ip = true, uri = true, upn = true }

local function profile_of(claims)
  local p, seen = { san = {}, wildcard = false }, {}
  for _, s in ipairs(claims.san or {}) do
    if SAN_TYPES[s.type] and not seen[s.type] then
      seen[s.type] = true
      p.san[#p.san + 1] = s.type
    end
    if s.type == "dns" and tostring(s.value):find("*", 1, true) then p.wildcard = true end
  end
  if tostring(claims.subject or ""):find("*", 1, true) then p.wildcard = true end
  if claims.key_usage then
    local ku = {}
    for _, k in ipairs(claims.key_usage) do if KEY_USAGES[k] then ku[#ku + 1] = k end end
    if #ku > 0 then p.key_usage = ku end
  end
  return p
end

-- Phase 3: the first way the CSR differs from the claims, as message and reason code.
local function phase3(req, claims, cfg)
  if not rdns_equal(req.subject_rdns, claims.subject_rdns) then
    return ("Subject Name in CSR %s and challenge %s do not match"):format(req.subject or "(none)", claims.subject or "(none)"),
           "SubjectNameMismatch"
  end
  if lower(san_text(req.san)) ~= lower(san_text(claims.san)) then
    return ("Subject Alternative Name in CSR %s and challenge %s do not match"):format(san_text(req.san), san_text(claims.san)),
           "SubjectAlternativeNameMismatch"
  end
  local bits, want = req.key and req.key.bits, claims.key_bits
  if want and bits and (bits < want or (bits ~= want and cfg.strict_key_length ~= "false")) then
    return ("Key length in CSR %d and challenge %d do not match"):format(bits, want), "KeyLengthMismatch"
  end
  if claims.key_usage and req.key_usage then
    local allowed = oid_set(claims.key_usage)
    for _, ku in ipairs(req.key_usage) do
      if not allowed[ku] then
        return ("Key usage %s in CSR is not in challenge %s"):format(ku, table.concat(claims.key_usage, ",")), "KeyUsageMismatch"
      end
    end
  end
  if claims.ekus and req.eku then
    local allowed = oid_set(claims.ekus)
    for _, e in ipairs(req.eku) do
      if not allowed[e.oid] then
        return ("Enhanced key usage %s in CSR is not in challenge %s"):format(e.oid, table.concat(claims.ekus, ",")),
               "EnhancedKeyUsageMismatch"
      end
    end
  end
end

return {
  description = "The Intune connector: verify the CertEnrollToken challenge in three phases (signature, expiry, CSR match).",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-ndes-policy-module" },
  connector = true,
  check = function(req, ctx)
    local claims, msg, code, phase, crp_error, hresult = ctx.intune_verify(req.challenge)
    if not claims then
      local phases = {}
      if phase == 2 then phases[1] = { phase = 1, ok = true, message = PHASE1_OK } end
      phases[#phases + 1] = { phase = phase, ok = false, code = code,
                              message = ("%s. ErrorCode: 0x%x (%s)"):format(msg, hresult, crp_error) }
      return ctx.deny(code .. ": " .. msg, "badRequest", { phases = phases })
    end
    local who = { device_id = claims.device_id, user_id = claims.user_id, request_id = claims.request_id }
    -- a challenge is for one certificate: one that gave a certificate is spent (the server also
    -- records its request ID with the certificate it issues, so two racing requests cannot both pass)
    local serial = ctx.token_used(claims.request_id)
    if serial then
      local msg = ("the challenge was used already: certificate %s was issued for it"):format(serial)
      who.phases = { { phase = 1, ok = true, message = PHASE1_OK },
                     { phase = 2, ok = false, code = "ChallengeAlreadyUsed", message = msg } }
      return ctx.deny("ChallengeAlreadyUsed: " .. msg, "badRequest", who)
    end
    local phases = { { phase = 1, ok = true, message = PHASE1_OK }, { phase = 2, ok = true, message = PHASE2_OK } }
    local why, why_code = phase3(req, claims, ctx.config)
    if why then
      phases[3] = { phase = 3, ok = false, message = why, code = why_code }
      who.phases = phases
      return ctx.deny(why_code .. ": " .. why, "badRequest", who)
    end
    phases[3] = { phase = 3, ok = true, message = "the request matches the challenge." }
    who.phases = phases
    who.ekus = claims.ekus
    who.profile = profile_of(claims)
    who.days = tonumber(ctx.config.days) and math.tointeger(tonumber(ctx.config.days)) or nil
    return ctx.allow(who)
  end,
}
