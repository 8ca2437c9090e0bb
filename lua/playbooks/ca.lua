-- Step 4, the CA: NDES submitted the request and the CA refused or could not be reached, as written
-- by NDESPlugin.log ("CA failed request 0x..."), NDES event 31, a CRS file's HResult, or the CA's
-- own words ("The requested certificate template is not supported by this CA").
local KINDS = {
  { id = "ca-template-unsupported", hresults = { 0x80094800 },
    words = { "requested certificate template is not supported by this CA", "CERTSRV_E_UNSUPPORTED_CERT_TYPE" } },
  { id = "ca-key-too-small", hresults = { 0x80094811 },
    words = { "public key does not meet the minimum size", "CERTSRV_E_KEY_LENGTH" } },
  { id = "ca-unreachable", hresults = { 0x800706BA, 0x80092013 },
    words = { "RPC server is unavailable", "revocation server was offline" } },
}

local function kind_of(r, ctx)
  for _, k in ipairs(KINDS) do
    for _, h in ipairs(k.hresults) do if ctx.code(r, h) then return k end end
    for _, w in ipairs(k.words) do if ctx.text(r, w) then return k end end
  end
end

-- NDES event 31, the policy module's "CA failed request", a CRS with a CERTSRV (0x8009xxxx) code:
-- a denial whose reason is none of the above
local function ca_failure(r, ctx)
  if r.event_id == 31 and ((r.component or ""):find("NetworkDeviceEnrollment", 1, true) or ctx.text(r, "certification authority")) then
    return true
  end
  if ctx.text(r, "CA failed request") or ctx.text(r, "request was denied") then return true end
  return r.source == "crs" and r.hresult ~= nil and r.hresult:sub(1, 6) == "0x8009"
end

local hresults, contains = {}, { "CA failed request", "request was denied" }
for _, k in ipairs(KINDS) do
  for _, h in ipairs(k.hresults) do hresults[#hresults + 1] = h end
  for _, w in ipairs(k.words) do contains[#contains + 1] = w end
end

return {
  description = "The CA did not issue the certificate NDES requested.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-ndes-policy-module" },
  step = 4,
  severity = "error",
  findings = {
    ["ca-template-unsupported"] = { title = "The CA does not issue the template NDES requests",
      cause = "The CA answers CERTSRV_E_UNSUPPORTED_CERT_TYPE (0x80094800, 'The requested certificate template is not supported by this CA'): the MSCEP registry values (EncryptionTemplate, GeneralPurposeTemplate, SignatureTemplate) name a template this CA does not publish, or NDES's account cannot enroll for it.",
      fix = { "Compare HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MSCEP template values with the templates the CA issues (certsrv.msc, Certificate Templates).",
              "Publish the template on the CA and give the NDES service account Read and Enroll on it; restart IIS." } },
    ["ca-key-too-small"] = { title = "The device's key is smaller than the template allows",
      cause = "The CA refused the request (0x80094811 CERTSRV_E_KEY_LENGTH): the key size in the SCEP profile is below the template's minimum key size.",
      fix = { "Set the SCEP profile's key size to at least the template's Minimum key size (Request Handling tab), usually 2048.",
              "Re-assign the profile and sync the device." } },
    ["ca-unreachable"] = { title = "NDES cannot reach the CA",
      cause = "The CA did not answer NDES (0x800706BA, RPC server unavailable) or a revocation check failed offline (0x80092013): the CA service is stopped, a firewall drops RPC, or the CRL distribution point is unreachable.",
      fix = { "On the NDES server run certutil -config \"CAHOST\\CA Name\" -ping and start Active Directory Certificate Services if it does not answer.",
              "Open TCP 135 and the dynamic RPC range from NDES to the CA; check that the CRL distribution points are reachable from NDES." } },
    ["ca-request-denied"] = { title = "The CA denied the request",
      cause = "The CA denied or failed the request NDES submitted (NDES event 31, the policy module's 'CA failed request', or a CRS file's CERTSRV code).",
      fix = { "Find the request in certsrv.msc, Failed Requests, and read its Request Status Code and Disposition Message.",
              "Check the template's issuance requirements (CA manager approval, authorized signatures) and the NDES service account's permissions." } },
  },
  -- it judges kinds of records: of a flood of one kind (a failing NDES's 500s) the first 20 and the
  -- last, the rest counted
  sample = true,
  match = { hresults = hresults, contains = contains, event_ids = { 31 } },
  check = function(records, ctx)
    local by, generic = {}, {}
    for _, r in ipairs(records) do
      -- CAPI2's chain building on NDES and the policy module's start are about NDES's own
      -- certificates (ndes-host.lua), not the CA answering a request; a RADIUS server refusing a
      -- device (NPS's 6273, FreeRADIUS) is revocation.lua's
      local own = (r.component or ""):find("CAPI2", 1, true) or (r.source == "cmtrace" and ctx.text(r, "Initialize"))
                  or r.event_id == 6273 or r.source == "freeradius"
      local k = not own and kind_of(r, ctx) or nil
      if k then by[k.id] = by[k.id] or {} table.insert(by[k.id], r)
      elseif ca_failure(r, ctx) then generic[#generic + 1] = r end
    end
    local out = {}
    for _, k in ipairs(KINDS) do
      if by[k.id] then out[#out + 1] = { id = k.id, evidence = by[k.id] } end
    end
    if #generic > 0 then
      -- a generic denial beside a named one is the same failure: its records join that evidence
      if #out > 0 then
        for _, r in ipairs(generic) do table.insert(out[1].evidence, r) end
      else
        out[#out + 1] = { id = "ca-request-denied", evidence = generic }
      end
    end
    return out
  end,
}
