-- Step 3, the Intune policy module (NDESPlugin) and the Certificate Registration Point.
-- Signatures: NDESPlugin.log, IIS lines for CertificateRegistrationSvc, the CRP .svclog. (seeds 002, 004)
return {
  id = "signing-cert-missing",
  ids = { "intermediate-in-root-store", "policy-cert-client-auth", "signing-cert-missing", "ssl-cn-invalid" },
  title = "The policy module cannot verify the challenge",
  step = 3,
  severity = "error",
  description = "NDESPlugin asks the Certificate Registration Point to verify the challenge (VerifyRequest) and the answer is a failure.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-ndes-policy-module" },
  match = { statuses = { 403 }, contains = { "Verify challenge returns", "Signing certificate could not be retrieved", "12175",
                                             "CERT_CN_INVALID", "0x409" } },
  check = function(records, ctx)
    local out = {}
    local verify_false, signing, forbidden_plugin, cn
    local vr403, vr403_16
    for _, r in ipairs(records) do
      if ctx.text(r, "Verify challenge returns false") then verify_false = verify_false or r end
      if ctx.text(r, "Verify challenge returns") and ctx.text(r, "403") then forbidden_plugin = forbidden_plugin or r end
      if ctx.text(r, "Signing certificate could not be retrieved") or (r.source == "svclog" and ctx.text(r, "0x409")) then
        signing = signing or r
      end
      -- NDESPlugin's own 12175 (a device's 12175 is ndes-tls-failure, in device.lua)
      if r.source == "cmtrace" and (ctx.text(r, "12175") or ctx.text(r, "CERT_CN_INVALID")) then cn = cn or r end
      if r.source == "iis" and r.http_status == 403 and (r.scep_operation == "VerifyRequest" or r.scep_operation == "Notify") then
        if r.http_substatus == 16 or r.win32_status == 2148204809 then vr403_16 = vr403_16 or r else vr403 = vr403 or r end
      end
    end
    if vr403_16 or (forbidden_plugin and not vr403) then
      local ev = {}
      if vr403_16 then ev[#ev + 1] = vr403_16 end
      if forbidden_plugin then ev[#ev + 1] = forbidden_plugin end
      out[#out + 1] = {
        id = "intermediate-in-root-store", title = "Intermediate certificates in the NDES server's Trusted Root store",
        cause = "CertificateRegistrationSvc answers VerifyRequest with 403.16 (win32 2148204809, CERT_E_UNTRUSTEDROOT): the client certificate chain is rejected because intermediate (not self-signed) certificates sit in Trusted Root Certification Authorities.",
        fix = { "Remove intermediate certificates from the Trusted Root store: Get-ChildItem cert:\\LocalMachine\\root -Recurse | Where-Object {$_.Issuer -ne $_.Subject}.",
                "If a Group Policy pushes them, exclude the NDES server from it; restart the server." },
        evidence = ev,
      }
    elseif vr403 then
      out[#out + 1] = {
        id = "policy-cert-client-auth", title = "The NDES policy certificate lacks Client Authentication",
        cause = "CertificateRegistrationSvc answers VerifyRequest with 403 (no substatus 16): the certificate NDESPlugin presents (NDESCertThumbprint) has no Client Authentication EKU.",
        fix = { "Issue a certificate with the Client Authentication EKU for the policy module, reinstall the Intune Certificate Connector with it, and restart the Intune Connector Service and IIS." },
        evidence = { vr403 },
      }
    end
    -- the CRP's line may belong to another attempt group than NDESPlugin's (the .svclog names no
    -- request id): look for it among all records, within a minute
    if verify_false and not signing then
      for _, r in ipairs(ctx.records) do
        if (ctx.text(r, "Signing certificate could not be retrieved") or (r.source == "svclog" and ctx.text(r, "0x409")))
           and ctx.within(verify_false, r, 60) then signing = r break end
      end
    end
    -- the CRP line alone is enough; NDESPlugin's "returns false" joins the evidence when it is the
    -- same request (within a minute)
    if verify_false and signing and not ctx.within(verify_false, signing, 60) then verify_false = nil end
    if signing then
      out[#out + 1] = {
        id = "signing-cert-missing", title = "The CRP cannot retrieve its signing certificate",
        cause = "Verify challenge returns false and the Certificate Registration Point logs 'Signing certificate could not be retrieved': the connector has not received the certificate it verifies challenges with.",
        fix = { "Restart the Intune Connector Service.", "Check the connector's connectivity to Intune (proxy settings, firewall) and its NDESConnector .svclog for errors." },
        evidence = verify_false and { verify_false, signing } or { signing },
      }
    end
    if cn then
      out[#out + 1] = {
        id = "ssl-cn-invalid", title = "The SSL certificate does not name the host (error 12175)",
        cause = "NDESPlugin's call to the Certificate Registration Point fails with WINHTTP error 12175 (CERT_CN_INVALID): the IIS SSL certificate does not name the host it is called by.",
        fix = { "Reissue the SSL certificate with the external name as CN and SANs for both the external and internal names, and bind it in IIS." },
        evidence = { cn },
      }
    end
    return out
  end,
}
