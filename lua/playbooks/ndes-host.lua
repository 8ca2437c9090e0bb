-- The NDES server itself: the connector is not (properly) installed, the RA certificates chain to an
-- old CA, the policy certificate expired, or Network Service cannot write to C:\Windows\Temp.
return {
  id = "connector-not-installed",
  ids = { "connector-not-installed", "ra-chain-untrusted", "policy-cert-expired", "crp-500-temp-permission" },
  title = "The NDES server's setup is broken",
  step = 2,
  severity = "error",
  description = "The NDES server is not set up as the Intune connector needs it.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-device-to-ndes",
                 "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-ndes-policy-module" },
  -- "mscep.dll -> 200" is how an IIS record of the bare URL answering 200 reads; asking for every
  -- status 200 would send nearly all of an IIS log to Lua
  match = { contains = { "Installation failed", "error status: 1603", "0x800B0109", "0x800B0101", "expired", "mscep.dll -> 200" },
            event_ids = { 5009, 1310 }, statuses = { 500 } },
  check = function(records, ctx)
    local msi, bare200, chain, expired, vr500, temp = {}, {}, {}, {}, {}, {}
    for _, r in ipairs(records) do
      if r.source == "msi" and r.level == "error" and (ctx.text(r, "Installation failed") or ctx.text(r, "1603")) then msi[#msi + 1] = r end
      -- the bare SCEP URL answers 403 once the Intune policy module is in place; 200 is the generic NDES page
      local url = (r.url or ""):lower()
      if r.source == "iis" and r.http_status == 200 and url:match("/mscep%.dll/?$") and (r.scep_operation == nil) then
        bare200[#bare200 + 1] = r
      end
      if ctx.text(r, "0x800B0109") and r.source ~= "iis" then chain[#chain + 1] = r end
      if ctx.text(r, "0x800B0101") or (ctx.text(r, "NDESCertThumbprint") and ctx.text(r, "expired"))
         or (ctx.text(r, "policy") and ctx.text(r, "certificate") and ctx.text(r, "expired")) then expired[#expired + 1] = r end
      if r.source == "iis" and r.http_status == 500 and url:find("/verifyrequest", 1, true) then vr500[#vr500 + 1] = r end
      if r.event_id == 5009 or r.event_id == 1310 then temp[#temp + 1] = r end
    end
    local out = {}
    if #msi > 0 or #bare200 > 0 then
      local ev = ctx.first(msi)
      for _, r in ipairs(ctx.first(bare200, 2)) do ev[#ev + 1] = r end
      out[#out + 1] = { id = "connector-not-installed", step = 2, title = "The Intune connector is not installed on NDES",
        cause = #msi > 0 and "The Intune Certificate Connector's installation failed (SetupMsi.log), so NDES has no Intune policy module."
                         or "The bare SCEP URL answers 200 (the generic NDES page) instead of 403: the Intune policy module is not installed.",
        fix = { "Install (or repair) the Intune Certificate Connector with the SCEP feature on the NDES server and read SetupMsi.log if it fails.",
                "Browse to https://HOST/certsrv/mscep/mscep.dll: it must answer 403 once the connector is installed." },
        evidence = ev }
    end
    if #chain > 0 then
      out[#out + 1] = { id = "ra-chain-untrusted", step = 2, title = "The RA certificates chain to a CA that is no longer trusted",
        cause = "CERT_E_UNTRUSTEDROOT (0x800B0109) after a CA renewal: the NDES RA certificates were issued by the old CA certificate.",
        fix = { "Remove and reinstall the NDES role so it enrolls new RA certificates from the renewed CA.",
                "Reinstall the Intune Certificate Connector, then redeploy the trusted certificate profile with the new root." },
        evidence = ctx.first(chain) }
    end
    if #expired > 0 then
      out[#out + 1] = { id = "policy-cert-expired", step = 3, title = "The NDES policy certificate expired",
        cause = "The client authentication certificate NDESPlugin presents to the CRP (NDESCertThumbprint) is expired (CERT_E_EXPIRED 0x800B0101).",
        fix = { "Enroll a new certificate with Client and Server Authentication for the NDES server.",
                "Reinstall the Intune Certificate Connector selecting the new certificate (it updates NDESCertThumbprint), then restart IIS." },
        evidence = ctx.first(expired) }
    end
    if #vr500 > 0 and #temp > 0 then
      local ev = ctx.first(vr500, 2)
      for _, r in ipairs(ctx.first(temp, 3)) do ev[#ev + 1] = r end
      out[#out + 1] = { id = "crp-500-temp-permission", step = 3, title = "Network Service cannot write to C:\\Windows\\Temp",
        cause = "VerifyRequest answers 500 with WAS 5009 / ASP.NET 1310: the CertificateRegistrationSvc worker (Network Service) lacks write access to C:\\Windows\\Temp.",
        fix = { "Give NETWORK SERVICE Modify on C:\\Windows\\Temp.", "Run iisreset and retry." },
        evidence = ev }
    end
    return out
  end,
}
