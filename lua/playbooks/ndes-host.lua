-- The NDES server itself: the connector is not (properly) installed, the RA certificates chain to an
-- old CA ("terminated in a root certificate which is not trusted by the trust provider"), NDES's own
-- RA certificates expired, the CRL of the connector's certificates is out of reach, or Network
-- Service cannot write to C:\Windows\Temp.
local UNTRUSTED = "terminated in a root certificate which is not trusted by the trust provider"

return {
  description = "The NDES server is not set up as the Intune connector needs it.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-device-to-ndes",
                 "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-ndes-policy-module" },
  step = 2,
  severity = "error",
  findings = {
    ["connector-not-installed"] = { title = "The Intune connector is not installed on NDES",
      cause = "The Intune Certificate Connector's installation failed (SetupMsi.log), or the bare SCEP URL answers 200 (the generic NDES page) instead of 403: NDES has no Intune policy module.",
      fix = { "Install (or repair) the Intune Certificate Connector with the SCEP feature on the NDES server and read SetupMsi.log if it fails.",
              "Browse to https://HOST/certsrv/mscep/mscep.dll: it must answer 403 once the connector is installed." },
      -- without the Intune policy module NDES checks the Intune challenge as its own password (event 29)
      explains = { "challenge-rejected" } },
    ["ra-chain-untrusted"] = { title = "The RA certificates chain to a CA that is no longer trusted",
      cause = "CERT_E_UNTRUSTEDROOT (0x800B0109, 'A certificate chain processed, but terminated in a root certificate which is not trusted by the trust provider') after a CA renewal: the NDES RA certificates were issued by the old CA certificate.",
      fix = { "Remove and reinstall the NDES role so it enrolls new RA certificates from the renewed CA.",
              "Reinstall the Intune Certificate Connector, then redeploy the trusted certificate profile with the new root." },
      -- NDES cannot use its RA pair and answers 500 to everything
      explains = { "ndes-500" } },
    ["ra-cert-expired"] = { title = "NDES's RA certificates expired (every SCEP request gets 500)",
      cause = "NDES cannot use its RA certificates, Exchange Enrollment Agent (Offline request) and CEP Encryption: they are past their validity (Application event 2, CERT_E_EXPIRED 0x800B0101; they last two years from the NDES installation), so mscep.dll answers 500 to every request.",
      fix = { "Request new CEP Encryption and Exchange Enrollment Agent (Offline request) certificates with the expired ones' subject (or reinstall the NDES role), and give the NDES service account Read on their private keys.",
              "Run iisreset and browse to the SCEP URL: it should answer 403 again." },
      explains = { "ndes-500" } },
    ["connector-crl-unreachable"] = { title = "The CRL of the connector's certificates cannot be reached (SCEP answers 503)",
      cause = "The revocation check of a certificate the Intune connector uses on NDES fails offline (CAPI2: CRYPT_E_REVOCATION_OFFLINE 0x80092013, 'the revocation server was offline'; CERT_TRUST_IS_OFFLINE_REVOCATION): the policy module does not start and the SCEP application pool stops.",
      fix = { "From the NDES server, download the CRLs and AIA of the connector's certificates' chain (certutil -url, or certutil -verify -urlfetch on the certificate) and open the firewall or proxy to their distribution points.",
              "Publish a fresh CRL if it has expired, then restart the SCEP application pool (iisreset)." },
      -- the policy module does not start: the SCEP pool stops and answers 503
      explains = { "scep-app-pool-503" } },
    ["crp-500-temp-permission"] = { title = "Network Service cannot write to C:\\Windows\\Temp", step = 3,
      cause = "VerifyRequest answers 500 with WAS 5009 / ASP.NET 1310: the CertificateRegistrationSvc worker (Network Service) lacks write access to C:\\Windows\\Temp.",
      fix = { "Give NETWORK SERVICE Modify on C:\\Windows\\Temp.", "Run iisreset and retry." } },
  },
  -- "mscep.dll -> 200" is how an IIS record of the bare URL answering 200 reads; asking for every
  -- status 200 would send nearly all of an IIS log to Lua
  -- it judges kinds of records: of a flood of one kind (a failing NDES's 500s) the first 20 and the
  -- last, the rest counted
  sample = true,
  match = { hresults = { 0x800B0109, 0x800B0101, 0x80092013 }, event_ids = { 5009, 1310 }, statuses = { 500 },
            contains = { "Installation failed", "error status: 1603", UNTRUSTED, "mscep.dll -> 200",
                         "cannot retrieve one of its required certificates", "MSCEP-RA",
                         "CERT_TRUST_IS_OFFLINE_REVOCATION" } },
  check = function(records, ctx)
    local msi, bare200, chain, vr500, temp, ra_expired, crl = {}, {}, {}, {}, {}, {}, {}
    for _, r in ipairs(records) do
      if r.source == "msi" and r.level == "error" and (ctx.text(r, "Installation failed") or ctx.code(r, 1603)) then msi[#msi + 1] = r end
      -- the bare SCEP URL answers 403 once the Intune policy module is in place; 200 is the generic NDES page
      local url = (r.url or ""):lower()
      if r.source == "iis" and r.http_status == 200 and url:match("/mscep%.dll/?$") and (r.scep_operation == nil) then
        bare200[#bare200 + 1] = r
      end
      -- IIS's VerifyRequest 403.16 carries the same code: that is the client certificate's chain (policy-module)
      if r.source ~= "iis" and (ctx.code(r, 0x800B0109) or ctx.text(r, UNTRUSTED)) then chain[#chain + 1] = r end
      -- NDES's own "cannot retrieve one of its required certificates": its RA pair, not the policy module's
      local ndes_own = ctx.text(r, "cannot retrieve one of its required certificates")
      -- CAPI2's chain for an RA certificate (NDES names them HOST-MSCEP-RA) is NDES's own too
                       or (ctx.text(r, "CertGetCertificateChain") and ctx.text(r, "MSCEP-RA"))
      -- (an expired policy module certificate is policy-module.lua's)
      if ndes_own and ctx.code(r, 0x800B0101) then ra_expired[#ra_expired + 1] = r end
      if r.source == "iis" and r.http_status == 500 and url:find("/verifyrequest", 1, true) then vr500[#vr500 + 1] = r end
      if r.event_id == 5009 or r.event_id == 1310 then temp[#temp + 1] = r end
      -- an offline revocation check on NDES (CAPI2 logs the failing ones at error level), or the
      -- policy module's Initialize failing with it; a RADIUS server's check of a device's
      -- certificate (NPS's, in svchost.exe) is revocation.lua's
      if (r.level == "error" or r.level == "critical") and (ctx.code(r, 0x80092013) or ctx.text(r, "CERT_TRUST_IS_OFFLINE_REVOCATION"))
         and (((r.component or ""):find("CAPI2", 1, true) and not ctx.text(r, "ProcessName=svchost.exe"))
              or (r.source == "cmtrace" and ctx.text(r, "Initialize"))) then
        crl[#crl + 1] = r
      end
    end
    local out = {}
    if #msi > 0 or #bare200 > 0 then
      local ev = {}
      for _, r in ipairs(msi) do ev[#ev + 1] = r end
      for _, r in ipairs(bare200) do ev[#ev + 1] = r end
      out[#out + 1] = { id = "connector-not-installed", evidence = ev }
    end
    if #chain > 0 then out[#out + 1] = { id = "ra-chain-untrusted", evidence = chain } end
    if #ra_expired > 0 then out[#out + 1] = { id = "ra-cert-expired", evidence = ra_expired } end
    if #crl > 0 then out[#out + 1] = { id = "connector-crl-unreachable", evidence = crl } end
    if #vr500 > 0 and #temp > 0 then
      local ev = {}
      for _, r in ipairs(vr500) do ev[#ev + 1] = r end
      for _, r in ipairs(temp) do ev[#ev + 1] = r end
      out[#out + 1] = { id = "crp-500-temp-permission", evidence = ev }
    end
    return out
  end,
}
