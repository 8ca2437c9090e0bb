-- Step 1, the profile: the CAThumbprint names a certificate that is not the root of NDES's chain.
-- Windows: event 32 "The hash value is not correct", usually after 307 "Failed to Initialize SCEP
-- enrollment with NDES Server ..., CA cert thumbprint ...". (seed 000)
return {
  description = "The trusted certificate profile (the SCEP profile's CAThumbprint) is not the root of the NDES CA's chain: often an intermediate, or a stale copy of the CA certificate.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-device-to-ndes" },
  findings = {
    ["ca-thumbprint-mismatch"] = {
      title = "CAThumbprint does not match the root of the NDES CA chain", step = 1, severity = "error",
      cause = "The device compared the CA certificate NDES returned with the SCEP profile's CAThumbprint and they differ: the trusted certificate profile is not the root of the NDES CA chain.",
      fix = {
        "Download the CA's certificate again (or export it from the CA) and check its SHA-1 thumbprint against the one in the event.",
        "Reconfigure the trusted certificate profile with that certificate; in a multi-tier PKI use the CA NDES is configured with and deploy root and intermediate profiles to the same group as the SCEP profile.",
        "Redeploy the profile and check the DeviceManagement-Enterprise-Diagnostics-Provider Admin log for event 32 again.",
      },
    },
  },
  -- it judges kinds of records: of a flood of one kind (a failing NDES's 500s) the first 20 and the
  -- last, the rest counted
  sample = true,
  match = { event_ids = { 32, 307 }, hresults = { 0x80091007 }, contains = { "hash value is not correct", "CA cert thumbprint" } },
  check = function(records, ctx)
    local hash, init = {}, {}
    for _, r in ipairs(records) do
      if ctx.text(r, "hash value is not correct") or ctx.code(r, 0x80091007) then hash[#hash + 1] = r end
      if ctx.text(r, "CA cert thumbprint") then init[#init + 1] = r end
    end
    if #hash == 0 then return {} end
    -- the 307 that names the thumbprint belongs to the same failure when it is within five minutes
    local ev = {}
    for _, r in ipairs(init) do
      for _, h in ipairs(hash) do if ctx.within(r, h, 300) then ev[#ev + 1] = r break end end
    end
    for _, r in ipairs(hash) do ev[#ev + 1] = r end
    local thumb = init[1] and init[1].thumbprint
    return { { id = "ca-thumbprint-mismatch", evidence = ev,
               detail = thumb and ("The thumbprint the device checked against: " .. thumb .. ".") or nil } }
  end,
}
