-- Step 3, the Certificate Registration Point verifies the challenge in three phases (seed 003):
-- 1 signature and decryption, 2 expiry (and, in sceplab serve, a challenge used already), 3 subject match. NDES itself logs events 28 and 29 when a
-- request has no usable password, and VerifyRequest or Notify may answer 404.
local FIX_RESTART = "Restart the Intune Connector Service and retry the enrollment from the device (sync)."

-- Phase 3 compares the CSR with the challenge: the subject and SANs, or the key and its usages
-- (the reason codes the validation service gives, or the CRP's wording).
local KEY_MISMATCH = { "KeyLengthMismatch", "KeyUsageMismatch", "EnhancedKeyUsageMismatch", "Key length in CSR",
                       "Key usage", "Enhanced key usage" }

-- A challenge that gave a certificate already (sceplab serve's connector says so in phase 2).
local REUSED = { "ChallengeAlreadyUsed", "challenge was used already" }

local KINDS = {
  { id = "challenge-invalid", any = { "Phase 1 validation failed", "CRPSCEPDeserialize_Failed" }, codes = { "0x410" } },
  { id = "challenge-reused", any = REUSED },
  { id = "challenge-expired", any = { "Phase 2 validation failed", "CRPSCEPChallenge_Expired", "challenge has expired" },
    codes = { "0x411" }, unless = REUSED },
  { id = "csr-key-mismatch", any = KEY_MISMATCH, phase3 = true },
  { id = "subject-mismatch", any = { "Phase 3 validation failed", "do not match" }, unless = KEY_MISMATCH },
}

-- the CRP's codes in its own spelling ("0x410"): never the decimal 1040, never digits inside an id
local function any_text(ctx, r, list, codes)
  for _, s in ipairs(list) do if ctx.text(r, s) then return true end end
  for _, c in ipairs(codes or {}) do if ctx.code(r, c) then return true end end
  return false
end

local contains = { "password", "Exiting VerifyRequest with 0x8" }
for _, k in ipairs(KINDS) do
  for _, s in ipairs(k.any) do contains[#contains + 1] = s end
  for _, c in ipairs(k.codes or {}) do contains[#contains + 1] = c end
end

return {
  description = "NDES or the Certificate Registration Point rejects the challenge the device sent.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-ndes-policy-module" },
  step = 3,
  severity = "error",
  findings = {
    ["challenge-invalid"] = { title = "The challenge could not be verified (signature or decryption)",
      cause = "The CRP could not verify the signature of the challenge or decrypt it (phase 1): the challenge was not issued by this tenant's connector, was altered, or the connector's encryption certificate changed.",
      fix = { "Check that the NDES server's connector is the one registered in the Intune tenant (Tenant administration, Connectors and tokens, Certificate connectors).",
              FIX_RESTART } },
    ["challenge-expired"] = { title = "The challenge expired before NDES verified it",
      cause = "The CRP found the challenge expired (phase 2): the device reached NDES long after Intune issued the profile, or the NDES server's clock is wrong.",
      fix = { "Check the NDES server's clock and time zone against the device's.",
              "Sync the device so Intune issues a fresh challenge; if retries are exhausted, re-assign the profile." } },
    ["challenge-reused"] = { title = "The challenge gave a certificate already",
      cause = "The challenge (its CertificateRequestId) was used for a certificate before (phase 2): one Intune challenge is for one certificate, and another key or another request tried it again, a device that lost the key it enrolled, or a copied challenge.",
      fix = { "Sync the device so Intune issues a fresh challenge (re-assign the profile if the device keeps retrying with the old one).",
              "If the request came from no managed device, treat the challenge as leaked: find where the profile or token was copied." } },
    ["subject-mismatch"] = { title = "The CSR subject does not match the challenge",
      cause = "The Subject Name in the CSR and the one the challenge was issued for differ (phase 3): typically special characters or an escaped comma in the profile's subject name format.",
      fix = { "Simplify the SCEP profile's Subject name format (avoid commas and special characters in the CN; use {{...}} variables directly).",
              "Re-assign the profile and sync the device." } },
    ["csr-key-mismatch"] = { title = "The CSR's key or key usages differ from the profile",
      cause = "The CRP compared the CSR with the challenge (phase 3) and the key length, key usage or extended key usage differs from what the SCEP profile asked for: the device made a different key (a TPM or KSP that cannot make the size asked for, or a key reused from another profile).",
      fix = { "Compare the profile's Key size, Key usage and Extended key usage with what the device's CSR asks for (sceplab decode on the request, or the reason in the CRP log).",
              "Set the profile's key size to one the device's key storage provider supports (2048 for TPM), re-assign the profile and sync the device." } },
    ["renewal-password-missing"] = { title = "A renewal arrived without a challenge NDES accepts",
      cause = "NDES event 28: the request carries no password and is not signed by a certificate that chains to a trusted root with the same subject, so NDES cannot treat it as a renewal.",
      fix = { "Let the device enroll anew with a fresh challenge (re-assign or sync the SCEP profile).",
              "If renewals by signature are intended, check that the existing certificate chains to a root NDES trusts." } },
    ["challenge-rejected"] = { title = "NDES rejected the enrollment password",
      cause = "NDES event 29: the password was wrong, already used, or badly encoded.",
      fix = { "Check that the Intune policy module is installed and registered (HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MSCEP\\Modules\\Policy).",
              "Sync the device so it gets a fresh, unused challenge." } },
    ["crp-not-found-404"] = { title = "The Certificate Registration Point answers 404",
      cause = "VerifyRequest or Notify returned 404: the CertificateRegistrationSvc application is missing from IIS or the connector install is incomplete.",
      fix = { "In IIS Manager check the CertificateRegistrationSvc application under the Default Web Site.",
              "Reinstall the Intune Certificate Connector, then restart IIS." } },
  },
  -- it judges kinds of records: of a flood of one kind (a failing NDES's 500s) the first 20 and the
  -- last, the rest counted
  sample = true,
  match = { contains = contains, event_ids = { 28, 29 }, statuses = { 404 } },
  check = function(records, ctx)
    local out = {}
    for _, k in ipairs(KINDS) do
      local ev = {}
      for _, r in ipairs(records) do
        -- (Intune's own answer to a third-party CA is intune-api.lua's)
        if r.source ~= "intune-api" and any_text(ctx, r, k.any, k.codes) and (r.source == "svclog" or r.source == "cmtrace" or ctx.text(r, "challenge")
                                        or ctx.text(r, "CRP"))
           and (not k.phase3 or ctx.text(r, "Phase 3"))
           and not (k.unless and any_text(ctx, r, k.unless)) then
          ev[#ev + 1] = r
        end
      end
      if #ev > 0 then
        -- the policy module's side of the same VerifyRequest: the failing exit nearest each phase
        -- line (the CRP logs in microseconds, CMTrace in milliseconds), within seconds
        local n = #ev
        for i = 1, n do
          local best
          for _, r in ipairs(ctx.records) do
            if r.source == "cmtrace" and r.time_us and ev[i].time_us and r.time_us >= ev[i].time_us - 5e5
               and ctx.within(ev[i], r, 5) and ctx.text(r, "Exiting VerifyRequest with 0x8")
               and (not best or math.abs(r.time_us - ev[i].time_us) < math.abs(best.time_us - ev[i].time_us)) then
              best = r
            end
          end
          if best then ev[#ev + 1] = best end
        end
        out[#out + 1] = { id = k.id, evidence = ev }
      end
    end
    -- NDES events: 28 a renewal without a password, 29 a wrong, used or badly encoded password
    local ndes = function(r) return (r.component or ""):find("NetworkDeviceEnrollment", 1, true) or ctx.text(r, "password") end
    local e28, e29, nf = {}, {}, {}
    for _, r in ipairs(records) do
      if r.event_id == 28 and ndes(r) then e28[#e28 + 1] = r end
      if r.event_id == 29 and ndes(r) then e29[#e29 + 1] = r end
      if r.http_status == 404 and r.source == "iis" and ((r.url or ""):find("/VerifyRequest", 1, true)
                                                          or (r.url or ""):find("/Notify", 1, true)) then nf[#nf + 1] = r end
    end
    if #e28 > 0 then out[#out + 1] = { id = "renewal-password-missing", evidence = e28 } end
    if #e29 > 0 then out[#out + 1] = { id = "challenge-rejected", evidence = e29 } end
    if #nf > 0 then out[#out + 1] = { id = "crp-not-found-404", evidence = nf } end
    return out
  end,
}
