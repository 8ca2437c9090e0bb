-- Step 1, the profile: the CAThumbprint names a certificate that is not the root of NDES's chain.
-- Windows: event 32 "The hash value is not correct", usually after 307 "Failed to Initialize SCEP
-- enrollment with NDES Server ..., CA cert thumbprint ...". (seed 000)
return {
  id = "ca-thumbprint-mismatch",
  title = "CAThumbprint does not match the root of the NDES CA chain",
  step = 1,
  severity = "error",
  description = "The trusted certificate profile (the SCEP profile's CAThumbprint) is not the root of the NDES CA's chain: often an intermediate, or a stale copy of the CA certificate.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-device-to-ndes" },
  match = { event_ids = { 32, 307 }, contains = { "hash value is not correct", "CA cert thumbprint" } },
  check = function(records, ctx)
    local hash, init
    for _, r in ipairs(records) do
      if ctx.text(r, "hash value is not correct") then hash = hash or r end
      if ctx.text(r, "CA cert thumbprint") then init = init or r end
    end
    if not hash then return {} end
    local ev = { hash }
    if init and ctx.within(init, hash, 300) then table.insert(ev, 1, init) end
    return { {
      cause = "The device compared the CA certificate NDES returned with the SCEP profile's CAThumbprint"
        .. (init and init.thumbprint and (" (" .. init.thumbprint .. ")") or "") .. " and they differ: the trusted certificate profile is not the root of the NDES CA chain.",
      fix = {
        "Download the CA's certificate again (or export it from the CA) and check its SHA-1 thumbprint against the one in the event.",
        "Reconfigure the trusted certificate profile with that certificate; in a multi-tier PKI use the CA NDES is configured with and deploy root and intermediate profiles to the same group as the SCEP profile.",
        "Redeploy the profile and check the DeviceManagement-Enterprise-Diagnostics-Provider Admin log for event 32 again.",
      },
      evidence = ev,
    } }
  end,
}
