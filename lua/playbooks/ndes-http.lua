-- Step 2, device to NDES: the HTTP status the SCEP URL answers with, from IIS's log or the device's
-- own report (event 32 "(504)", Android "Received '503 ..."). Causes and fixes: seed 004.
local FAMILY = {
  [500] = { "ndes-500", "NDES answers HTTP 500",
    "mscep.dll fails: the NDES service account is locked or its password expired, or the MSCEP-RA certificates expired.",
    { "Unlock the NDES service account or reset its password.",
      "If the MSCEP-RA certificates (CEP Encryption, Exchange Enrollment Agent (Offline request)) expired, request new ones or reinstall the NDES role, then give the NDES service account Read on their private keys." } },
  [503] = { "scep-app-pool-503", "The SCEP application pool is stopped or crashing (HTTP 503)",
    "The SCEP application pool in IIS is not running, usually because it crashes on requests: intermediate certificates in the NDES server's Trusted Root store, unreachable CRLs for the connector's certificates, Windows Authentication on CertificateRegistrationSvc, or an expired NDESPolicy certificate.",
    { "Start the SCEP application pool in IIS Manager and look in the Application log for w3wp.exe crashes (event 1000, ntdll.dll, 0xc0000005).",
      "Remove intermediate certificates from Trusted Root Certification Authorities (Get-ChildItem cert:\\LocalMachine\\root -Recurse | Where-Object {$_.Issuer -ne $_.Subject}) and restart.",
      "Enable the CAPI2 Operational log to find revocation (CRL) failures; enable Anonymous and disable Windows Authentication on CertificateRegistrationSvc; renew an expired NDESPolicy certificate and reinstall the connector." } },
  [504] = { "app-proxy-504", "Gateway timeout in front of NDES (HTTP 504)",
    "The Microsoft Entra application proxy connector service is not running, so the proxy gets no answer from NDES.",
    { "Run services.msc and start the Microsoft Entra application proxy Connector service; set it to Automatic." } },
  [502] = { "proxy-502", "Bad gateway between the proxy and NDES (HTTP 502)",
    "The proxy (Entra application proxy, WAP) cannot reach the internal NDES URL, or NDES closes the connection.",
    { "Check that the proxy reaches the internal SCEP URL and that NDES answers it there (403 on the bare URL)." } },
  [414] = { "uri-too-long-414", "Request URI too long (HTTP 414)",
    "IIS request filtering refuses the long GET URLs SCEP uses for PKIOperation.",
    { "IIS Manager, Default Web Site, Request Filtering, Edit Feature Settings: Maximum URL length and Maximum query string = 65534.",
      "HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters: MaxFieldLength and MaxRequestBytes = 65534 (DWORD), then restart the server." } },
  [413] = { "request-too-large-413", "Request entity too large (HTTP 413)",
    "IIS or a proxy refuses the size of the request.",
    { "Raise the request size limits (request filtering, uploadReadAheadSize, the proxy's limits) on the path to NDES." } },
  [404] = { "ndes-not-found-404", "Nothing at the SCEP URL (HTTP 404)",
    "The Server URL in the SCEP profile, or the external URL of the application proxy, does not reach mscep.dll.",
    { "Check the Server URL in the SCEP profile (https://host/certsrv/mscep/mscep.dll) and, behind the Entra application proxy, its external URL." } },
}

local statuses = {}
for s in pairs(FAMILY) do statuses[#statuses + 1] = s end
table.sort(statuses)

local function status_of(r)
  if r.http_status and FAMILY[r.http_status] then return r.http_status end
  local m = r.message or ""
  local s = tonumber(m:match("%((%d%d%d)%)%.?%)?") or m:match("Received '(%d%d%d) "))
  if s and FAMILY[s] then return s end
  if m:find("0x80190194", 1, true) then return 404 end
  return nil
end

return {
  id = "ndes-500",
  ids = { "iis-impersonation-500", "ndes-500", "scep-app-pool-503", "app-proxy-504", "proxy-502", "uri-too-long-414",
          "request-too-large-413", "ndes-not-found-404" },
  title = "The SCEP URL answers with an HTTP error",
  step = 2,
  severity = "error",
  description = "Requests from the device to the SCEP URL fail with an HTTP status other than 200.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-device-to-ndes" },
  match = { statuses = statuses, contains = { "Certificate enroll failed", "Received '5", "Received '4", "0x80190194" } },
  check = function(records, ctx)
    local out, seen = {}, {}
    for _, r in ipairs(records) do
      local s = status_of(r)
      -- IIS lines count only on the SCEP URL; a CRP call answering 500 is another playbook's
      if s and (r.source ~= "iis" or ctx.is_scep_url(r)) then
        local id, title, cause, fix = table.unpack(FAMILY[s])
        if s == 500 and r.win32_status == 1346 then
          id, title = "iis-impersonation-500", "IIS_IUSRS cannot impersonate (HTTP 500, win32 status 1346)"
          cause = "IIS logs win32 status 1346 (ERROR_BAD_IMPERSONATION_LEVEL): the IIS_IUSRS group lacks the 'Impersonate a client after authentication' user right on the NDES server."
          fix = { "Local Security Policy, User Rights Assignment: add IIS_IUSRS to 'Impersonate a client after authentication'.",
                  "Restart IIS (iisreset) and browse to the SCEP URL: it should answer 403." }
        end
        if not seen[id] then
          seen[id] = true
          out[#out + 1] = { id = id, title = title, cause = cause, fix = fix, evidence = { r } }
        else
          for _, f in ipairs(out) do if f.id == id and #f.evidence < 5 then f.evidence[#f.evidence + 1] = r end end
        end
      end
    end
    return out
  end,
}
