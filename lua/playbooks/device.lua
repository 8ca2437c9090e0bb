-- What the device itself reports: it cannot reach NDES (DNS, connection, TLS), it lacks the trusted
-- root, it used up its retries, or it got a certificate and could not install it.
local INSTALL_FAILED = { "failed to install", "install failed", "installation failed", "cert_install_fail", "could not install",
                         "unable to install", "install certificate failed" }
local DNS = { 0x80072EE7, 0x80072EFD, 0x80072EE2 }
-- NSURLErrorDomain codes (iOS): the host not found, no connection, a timeout; and the TLS ones
local NSURL_REACH = { [-1001] = true, [-1003] = true, [-1004] = true, [-1009] = true }
local NSURL_TLS = { [-1200] = true, [-1201] = true, [-1202] = true, [-1203] = true, [-1204] = true, [-1205] = true,
                    [-1206] = true }

return {
  description = "The device reports that it cannot reach NDES, does not trust it, gave up retrying, or could not install the certificate.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-device-to-ndes",
                 "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-delivery" },
  step = 2,
  severity = "error",
  findings = {
    ["trusted-root-missing"] = { title = "The device lacks the trusted root (or intermediate) of the NDES CA", step = 1,
      cause = "The SCEP profile needs the trusted certificate profiles of the CA chain on the device; without them the device rejects the RA's response.",
      fix = { "Deploy the root (and any intermediate) trusted certificate profiles to the same group as the SCEP profile.",
              "Check that the SCEP profile references the root trusted certificate profile of the CA NDES uses, then sync." } },
    ["ndes-unreachable"] = { title = "The device cannot reach the SCEP URL",
      cause = "The device could not resolve or connect to the NDES host (WinHTTP 0x80072ee7 name not resolved, 0x80072efd cannot connect, 0x80072ee2 timeout).",
      fix = { "From the device's network, browse to the SCEP URL: it should answer 403. Fix DNS for the external name, or the application proxy publishing.",
              "Check that the Server URL in the SCEP profile is the external URL." } },
    ["ndes-tls-failure"] = { title = "TLS to the SCEP URL fails on the device",
      cause = "The device does not accept the NDES server's TLS certificate (0x80072f8f, WinHTTP 12175, CertEnroll event 86): untrusted chain, name mismatch or revocation failure.",
      fix = { "Use an SSL certificate from a CA the devices trust, with the external name in the SAN, and publish its CRL where devices reach it.",
              "Browse to the SCEP URL from the device and read the certificate error." } },
    ["retries-exhausted"] = { title = "The device used up its retries and now waits 24 hours", step = 5,
      cause = "The SCEP profile's retry count (3) is used up; the Global Re-evaluation Scheme makes the device wait 24 hours before trying again.",
      fix = { "Fix the first failure found for this enrollment, then make the device try again now: re-assign the profile or remove and re-add the device to the group, and sync." } },
    ["ios-scep-error"] = { title = "iOS reports the SCEP exchange failed (MCSCEPErrorDomain)",
      cause = "profiled could not get a certificate from the SCEP server: 22004, GetCACert did not answer with CA certificates (an error page: read the server's status for the same time); 22005, a network error (the NSURLErrorDomain error under it); 22013, the PKIOperation answer was no certificate (the server refused the request or answered with an error page); 22002, 22006-22012, the device itself (CA response, capabilities, key or CSR). 22003 is the trusted root (trusted-root-missing).",
      fix = { "Read NDES's side at the same time: IIS's status for profiled's requests and the connector's verdict (NDESPlugin.log, the CRP's svclog) name the cause the device cannot see.",
              "Once fixed, the profile installs at the next check-in; remove and re-add the device to the group to retry now." },
      severity = "warning" },
    ["device-install-failed"] = { title = "The certificate was issued but the device did not install it", step = 5,
      cause = "NDES answered the PKIOperation (or the connector reported the certificate issued) and the device reports an install failure: key storage (TPM, Passport), a full certificate store, or a profile removed meanwhile.",
      fix = { "Read the device's error right after the PKIOperation and check the key storage provider in the SCEP profile (TPM-backed keys need a working TPM).",
              "Remove stale copies of the certificate and sync the device." } },
  },
  -- it judges kinds of records: of a flood of one kind (a failing NDES's 500s) the first 20 and the
  -- last, the rest counted
  sample = true,
  match = { hresults = { 0x80072EE7, 0x80072EFD, 0x80072EE2, 0x80072F8F },
            contains = { "12175", "Registration Authority's response is invalid", "trusted root", "Retry Count", "install",
                         "SCEPInstallCertificateWithScepHelper",
                         "MCSCEPErrorDomain", "NSURLErrorDomain", "Certificate retrieval reported error" },
            -- "install" reaches the C filter; check() keeps only the failure phrases
            event_ids = { 86, 307 } },
  check = function(records, ctx)
    local dns, tls, root, retries, install, tries, scep = {}, {}, {}, {}, {}, {}, {}
    for _, r in ipairs(records) do
      local device = ctx.on_device(r)
      if device then
        for _, h in ipairs(DNS) do if ctx.code(r, h) then dns[#dns + 1] = r break end end
        if ctx.code(r, 0x80072F8F) or ctx.code(r, 12175)
           or (r.event_id == 86 and (r.component or ""):find("CertEnroll", 1, true)) then tls[#tls + 1] = r end
        if ctx.text(r, "Registration Authority's response is invalid")
           or (ctx.text(r, "trusted root") and (r.level == "error" or ctx.text(r, "missing") or ctx.text(r, "not found"))) then
          root[#root + 1] = r
        end
        -- Windows' failed tries: 307 each (with the retry count in some builds' words, not in others')
        local n = (r.message or ""):match("Current Retry Count%s*:%s*%(0x(%x+)%)")
        if r.event_id == 307 or (n and r.level == "error") then
          tries[#tries + 1] = r
          if n and tonumber(n, 16) >= 3 then retries[#retries + 1] = r end
        end
        -- iOS: NSURLSession's errors (no HTTP answer) and profiled's SCEP errors
        local nsurl = tonumber((r.message or ""):match("NSURLErrorDomain Code=(%-%d+)"))
        local claimed = root[#root] == r
        if nsurl and not claimed then
          if NSURL_TLS[nsurl] then tls[#tls + 1] = r elseif NSURL_REACH[nsurl] then dns[#dns + 1] = r end
          claimed = NSURL_TLS[nsurl] or NSURL_REACH[nsurl]
        end
        if not claimed and (ctx.text(r, "MCSCEPErrorDomain") or ctx.text(r, "Certificate retrieval reported error")) then
          scep[#scep + 1] = r -- the certificate never arrived: not an install failure
        elseif not claimed then
          for _, s in ipairs(INSTALL_FAILED) do
            if ctx.text(r, s) then install[#install + 1] = r break end
          end
        end
      end
    end
    -- what NDES and the connector show of the issuance, counted in C (the CRS file often names no
    -- attempt: any will do)
    local issued = ctx.success("pkioperation-answered") or ctx.success("certificate-issued", true)
    local out = {}
    if #root > 0 then out[#out + 1] = { id = "trusted-root-missing", evidence = root } end
    if #dns > 0 then out[#out + 1] = { id = "ndes-unreachable", evidence = dns } end
    if #tls > 0 then out[#out + 1] = { id = "ndes-tls-failure", evidence = tls } end
    -- the failed tries before the last belong to the same story: the evidence, in order
    -- the profile's RetryCount (3) used up: a try counted third, or three tries in one enrollment
    if #retries > 0 or #tries >= 3 then out[#out + 1] = { id = "retries-exhausted", evidence = tries } end
    if #scep > 0 then out[#out + 1] = { id = "ios-scep-error", evidence = scep } end
    if #install > 0 and issued then
      -- the first record of the issuance, as counted, leads the evidence
      local f = issued.first
      local ev = { { file = f.file, line = f.line, time = f.time, time_us = f.time_us, message = f.text } }
      for _, r in ipairs(install) do ev[#ev + 1] = r end
      out[#out + 1] = { id = "device-install-failed", evidence = ev }
    end
    return out
  end,
}
