-- Step 4, the CA: NDES submitted the request and the CA refused or could not be reached, as written
-- by NDESPlugin.log ("CA failed request 0x..."), NDES event 31, or a CRS file's HResult.
local KINDS = {
  { id = "ca-template-unsupported", codes = { "0x80094800", "-2146875392" },
    title = "The CA does not issue the template NDES requests",
    cause = "The MSCEP registry values (EncryptionTemplate, GeneralPurposeTemplate, SignatureTemplate) name a certificate template this CA does not publish, or NDES's account cannot enroll for it.",
    fix = { "Compare HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MSCEP template values with the templates the CA issues (certsrv.msc, Certificate Templates).",
            "Publish the template on the CA and give the NDES service account Read and Enroll on it; restart IIS." } },
  { id = "ca-key-too-small", codes = { "0x80094811", "public key does not meet the minimum size" },
    title = "The device's key is smaller than the template allows",
    cause = "The CA refused the request (0x80094811 CERTSRV_E_KEY_LENGTH): the key size in the SCEP profile is below the template's minimum key size.",
    fix = { "Set the SCEP profile's key size to at least the template's Minimum key size (Request Handling tab), usually 2048.",
            "Re-assign the profile and sync the device." } },
  { id = "ca-unreachable", codes = { "0x800706ba", "RPC server is unavailable", "revocation server was offline", "0x80092013" },
    title = "NDES cannot reach the CA",
    cause = "The CA did not answer NDES (0x800706ba, RPC server unavailable) or a revocation check failed offline: the CA service is stopped, a firewall drops RPC, or the CRL distribution point is unreachable.",
    fix = { "On the NDES server run certutil -config \"CAHOST\\CA Name\" -ping and start Active Directory Certificate Services if it does not answer.",
            "Open TCP 135 and the dynamic RPC range from NDES to the CA; check that the CRL distribution points are reachable from NDES." } },
}

local function kind_of(r, ctx)
  for _, k in ipairs(KINDS) do
    for _, c in ipairs(k.codes) do
      if r.hresult == c or ctx.text(r, c) then return k end
    end
  end
end

-- An NDES event 31 (or a plugin "CA failed request") with no known code is a generic denial.
local function ca_failure(r, ctx)
  if r.event_id == 31 and ((r.component or ""):find("NetworkDeviceEnrollment", 1, true) or ctx.text(r, "certification authority")) then
    return true
  end
  if ctx.text(r, "CA failed request") or ctx.text(r, "request was denied") then return true end
  return r.source == "crs" and r.hresult ~= nil and r.hresult ~= "0x00000000" and ctx.text(r, "0x8009")
end

return {
  id = "ca-template-unsupported",
  ids = { "ca-template-unsupported", "ca-key-too-small", "ca-unreachable", "ca-request-denied" },
  title = "The CA refuses the request or cannot be reached",
  step = 4,
  severity = "error",
  description = "The CA did not issue the certificate NDES requested.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-ndes-policy-module" },
  match = { contains = { "0x80094800", "-2146875392", "0x80094811", "minimum size", "0x800706ba", "RPC server is unavailable",
                         "revocation server was offline", "0x80092013", "CA failed request", "request was denied" },
            event_ids = { 31 } },
  check = function(records, ctx)
    local by, generic = {}, {}
    for _, r in ipairs(records) do
      local k = kind_of(r, ctx)
      if k then by[k.id] = by[k.id] or { k = k } table.insert(by[k.id], r)
      elseif ca_failure(r, ctx) then generic[#generic + 1] = r end
    end
    local out = {}
    for _, k in ipairs(KINDS) do
      local ev = by[k.id]
      if ev then
        out[#out + 1] = { id = k.id, title = k.title, cause = k.cause, fix = k.fix, evidence = ctx.first(ev) }
      end
    end
    if #generic > 0 and #out == 0 then
      out[#out + 1] = { id = "ca-request-denied", title = "The CA denied the request",
        cause = "The CA denied or failed the request NDES submitted (NDES event 31 or the policy module's 'CA failed request').",
        fix = { "Find the request in certsrv.msc, Failed Requests, and read its Request Status Code and Disposition Message.",
                "Check the template's issuance requirements (CA manager approval, authorized signatures) and the NDES service account's permissions." },
        evidence = ctx.first(generic) }
    end
    return out
  end,
}
