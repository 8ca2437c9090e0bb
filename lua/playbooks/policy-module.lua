-- Step 3, the Intune policy module (NDESPlugin) and the Certificate Registration Point.
-- Signatures: NDESPlugin.log, IIS lines for CertificateRegistrationSvc, the CRP .svclog: "Signing
-- certificate could not be retrieved", or the .NET exception the CRP throws when it has none
-- ("CryptographicException: m_safeCertContext is an invalid handle" in ValidateChallenge or
-- ValidationPhase1). (seeds 002, 004)
local function signing_missing(r, ctx)
  if ctx.text(r, "Signing certificate could not be retrieved") or (r.source == "svclog" and ctx.code(r, "0x409")) then return true end
  return ctx.text(r, "m_safeCertContext is an invalid handle")
         and (ctx.text(r, "ValidateChallenge") or ctx.text(r, "ValidationPhase1") or ctx.text(r, "CryptographicException"))
end

return {
  description = "NDESPlugin asks the Certificate Registration Point to verify the challenge (VerifyRequest) and the answer is a failure.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-ndes-policy-module" },
  step = 3,
  severity = "error",
  findings = {
    ["intermediate-in-root-store"] = { title = "Intermediate certificates in the NDES server's Trusted Root store",
      cause = "CertificateRegistrationSvc answers VerifyRequest with 403.16 (win32 2148204809, CERT_E_UNTRUSTEDROOT): the client certificate chain is rejected because intermediate (not self-signed) certificates sit in Trusted Root Certification Authorities.",
      fix = { "Remove intermediate certificates from the Trusted Root store: Get-ChildItem cert:\\LocalMachine\\root -Recurse | Where-Object {$_.Issuer -ne $_.Subject}.",
              "If a Group Policy pushes them, exclude the NDES server from it; restart the server." } },
    ["policy-cert-client-auth"] = { title = "The NDES policy certificate lacks Client Authentication",
      cause = "CertificateRegistrationSvc answers VerifyRequest with 403 (no substatus 16): the certificate NDESPlugin presents (NDESCertThumbprint) has no Client Authentication EKU.",
      fix = { "Issue a certificate with the Client Authentication EKU for the policy module, reinstall the Intune Certificate Connector with it, and restart the Intune Connector Service and IIS." } },
    ["policy-cert-expired"] = { title = "The NDES policy certificate expired",
      cause = "The client authentication certificate NDESPlugin presents to the CRP (NDESCertThumbprint) is expired (CERT_E_EXPIRED 0x800B0101): Initialize fails and the SCEP pool answers 503, or, when it expired while the pool ran, IIS refuses it on VerifyRequest (403.17). CAPI2's Operational log shows the chain with CERT_TRUST_IS_NOT_TIME_VALID.",
      fix = { "Enroll a new certificate with Client and Server Authentication for the NDES server.",
              "Reinstall the Intune Certificate Connector selecting the new certificate (it updates NDESCertThumbprint), then restart IIS." },
      -- Initialize fails with it: the SCEP pool stops and answers 503
      explains = { "scep-app-pool-503" } },
    ["signing-cert-missing"] = { title = "The CRP cannot retrieve its signing certificate",
      cause = "Verify challenge returns false and the Certificate Registration Point cannot use its signing certificate ('Signing certificate could not be retrieved', or a CryptographicException 'm_safeCertContext is an invalid handle' while it validates the challenge): the connector has not received the certificate it verifies challenges with.",
      fix = { "Restart the Intune Connector Service.", "Check the connector's connectivity to Intune (proxy settings, firewall) and its NDESConnector .svclog for errors." } },
    ["ssl-cn-invalid"] = { title = "The SSL certificate does not name the host (error 12175)",
      cause = "NDESPlugin's call to the Certificate Registration Point fails with WINHTTP error 12175 (CERT_CN_INVALID): the IIS SSL certificate does not name the host it is called by.",
      fix = { "Reissue the SSL certificate with the external name as CN and SANs for both the external and internal names, and bind it in IIS." } },
  },
  -- "Verify challenge returns true" is success (counted by success.lua): only the failing forms
  -- ("returns false", "returns -- 403 - Forbidden") come here, so a busy NDES's successes stay in C
  -- it judges kinds of records: of a flood of one kind (a failing NDES's 500s) the first 20 and the
  -- last, the rest counted
  sample = true,
  match = { statuses = { 403 }, hresults = { 0x800B0101 },
            contains = { "Verify challenge returns false", "Verify challenge returns --", "NDESCertThumbprint", "expired",
                                             "Signing certificate could not be retrieved", "12175",
                                             "CERT_CN_INVALID", "0x409", "m_safeCertContext is an invalid handle" } },
  check = function(records, ctx)
    local out = {}
    local verify_false, signing, forbidden_plugin, cn, vr403, vr403_16 = {}, {}, {}, {}, {}, {}
    local vr403_17, expired = false, {}
    for _, r in ipairs(records) do
      if ctx.text(r, "Verify challenge returns false") then verify_false[#verify_false + 1] = r end
      if ctx.text(r, "Verify challenge returns") and ctx.code(r, 403) then forbidden_plugin[#forbidden_plugin + 1] = r end
      if signing_missing(r, ctx) then signing[#signing + 1] = r end
      -- the policy certificate's expiry: CERT_E_EXPIRED anywhere but in NDES's own RA certificates
      -- (its event 2, CAPI2's chain for HOST-MSCEP-RA: ndes-host.lua), or the words
      local ra = ctx.text(r, "cannot retrieve one of its required certificates") or ctx.text(r, "MSCEP-RA")
      if not ra and not ctx.on_device(r) and r.source ~= "iis" and (ctx.code(r, 0x800B0101) or (ctx.text(r, "NDESCertThumbprint") and ctx.text(r, "expired"))
         or (ctx.text(r, "policy") and ctx.text(r, "certificate") and ctx.text(r, "expired"))) then expired[#expired + 1] = r end
      -- NDESPlugin's own 12175 (a device's 12175 is ndes-tls-failure, in device.lua)
      if r.source == "cmtrace" and (ctx.code(r, 12175) or ctx.text(r, "CERT_CN_INVALID")) then cn[#cn + 1] = r end
      if r.source == "iis" and r.http_status == 403 and (r.scep_operation == "VerifyRequest" or r.scep_operation == "Notify") then
        -- 403.17: the client certificate expired (ndes-host's policy-cert-expired)
        if r.http_substatus == 17 then vr403_17 = true expired[#expired + 1] = r
        elseif r.http_substatus == 16 or r.win32_status == 2148204809 then vr403_16[#vr403_16 + 1] = r
        else vr403[#vr403 + 1] = r end
      end
    end
    if #vr403_16 > 0 or (#forbidden_plugin > 0 and #vr403 == 0 and not vr403_17) then
      local ev = {}
      for _, r in ipairs(vr403_16) do ev[#ev + 1] = r end
      for _, r in ipairs(forbidden_plugin) do ev[#ev + 1] = r end
      out[#out + 1] = { id = "intermediate-in-root-store", evidence = ev }
    elseif #vr403 > 0 then
      local ev = {}
      for _, r in ipairs(vr403) do ev[#ev + 1] = r end
      for _, r in ipairs(forbidden_plugin) do ev[#ev + 1] = r end
      out[#out + 1] = { id = "policy-cert-client-auth", evidence = ev }
    end
    -- the CRP's line may belong to another attempt group than NDESPlugin's (the .svclog names no
    -- request id): look for it among all records, within a minute of a "returns false"
    if #verify_false > 0 and #signing == 0 then
      for _, r in ipairs(ctx.records) do
        if signing_missing(r, ctx) then
          for _, v in ipairs(verify_false) do
            if ctx.within(v, r, 60) then signing[#signing + 1] = r break end
          end
        end
      end
    end
    if #signing > 0 then
      -- NDESPlugin's "returns false" joins the evidence when it is the same request (within a minute)
      local ev = {}
      for _, v in ipairs(verify_false) do
        for _, s in ipairs(signing) do if ctx.within(v, s, 60) then ev[#ev + 1] = v break end end
      end
      for _, s in ipairs(signing) do ev[#ev + 1] = s end
      out[#out + 1] = { id = "signing-cert-missing", evidence = ev }
    end
    if #cn > 0 then out[#out + 1] = { id = "ssl-cn-invalid", evidence = cn } end
    if #expired > 0 then
      -- NDESPlugin's "returns -- 403" is the same failure when IIS said 403.17
      if vr403_17 then for _, r in ipairs(forbidden_plugin) do expired[#expired + 1] = r end end
      out[#out + 1] = { id = "policy-cert-expired", evidence = expired }
    end
    return out
  end,
}
