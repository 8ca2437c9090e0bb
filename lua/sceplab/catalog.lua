-- What an HTTP status on the way from a device to NDES means, and what to do: one catalog for the
-- probe (a live URL) and the ndes-http playbook (the same status in a log). Causes and fixes follow
-- Microsoft's NDES troubleshooting guidance (seed 004). Pure data: data scripts may require it.
local M = {}

M.HTTP = {
  [500] = { id = "ndes-500", title = "NDES fails the request (HTTP 500)",
    cause = "mscep.dll fails: the NDES service account is locked or its password expired, or the MSCEP-RA certificates expired.",
    fix = { "Unlock the NDES service account or reset its password.",
            "If the MSCEP-RA certificates (CEP Encryption, Exchange Enrollment Agent (Offline request)) expired, request new ones or reinstall the NDES role, then give the NDES service account Read on their private keys." } },
  [503] = { id = "scep-app-pool-503", title = "The SCEP application pool is stopped or crashing (HTTP 503)",
    cause = "The SCEP application pool in IIS is not running, usually because it crashes on requests: intermediate certificates in the NDES server's Trusted Root store, unreachable CRLs for the connector's certificates, Windows Authentication on CertificateRegistrationSvc, or an expired NDESPolicy certificate.",
    fix = { "Start the SCEP application pool in IIS Manager and look in the Application log for w3wp.exe crashes (event 1000, ntdll.dll, 0xc0000005) and in the System log for WAS events 5002, 5059 and 5117.",
            "Remove intermediate certificates from Trusted Root Certification Authorities (Get-ChildItem cert:\\LocalMachine\\root -Recurse | Where-Object {$_.Issuer -ne $_.Subject}) and restart.",
            "Enable the CAPI2 Operational log to find revocation (CRL) failures; enable Anonymous and disable Windows Authentication on CertificateRegistrationSvc; renew an expired NDESPolicy certificate and reinstall the connector." } },
  [504] = { id = "app-proxy-504", title = "Gateway Timeout in front of NDES (HTTP 504)",
    cause = "The Microsoft Entra application proxy connector service is not running, so the proxy gets no answer from NDES.",
    fix = { "Run services.msc and start the Microsoft Entra application proxy Connector service; set it to Automatic." } },
  [502] = { id = "proxy-502", title = "Bad Gateway between the proxy and NDES (HTTP 502)",
    cause = "The proxy (Entra application proxy, WAP) cannot reach the internal NDES URL, or NDES closes the connection.",
    fix = { "Check that the proxy reaches the internal SCEP URL and that NDES answers it there (403 on the bare URL)." } },
  [414] = { id = "uri-too-long-414", title = "Request-URI Too Long (HTTP 414)",
    cause = "IIS request filtering refuses the long GET URLs SCEP uses for PKIOperation. Devices send PKIOperation as GET (Windows, Android's jscep, iOS) whatever GetCACaps says about POST.",
    fix = { "IIS Manager, Default Web Site, Request Filtering, Edit Feature Settings: Maximum URL length and Maximum query string = 65534.",
            "HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters: MaxFieldLength and MaxRequestBytes = 65534 (DWORD), then restart the server." } },
  [413] = { id = "request-too-large-413", title = "Request Entity Too Large (HTTP 413)",
    cause = "IIS or a proxy refuses the size of the request.",
    fix = { "Raise the request size limits (request filtering, uploadReadAheadSize, the proxy's limits) on the path to NDES." } },
  [404] = { id = "ndes-not-found-404", title = "Nothing at the SCEP URL (HTTP 404)",
    cause = "The Server URL in the SCEP profile, or the external URL of the application proxy, does not reach mscep.dll.",
    fix = { "Check the Server URL in the SCEP profile (https://host/certsrv/mscep/mscep.dll) and, behind the Entra application proxy, its external URL (yourtenant.msappproxy.net)." } },
}

-- HTTP 500 with IIS's win32 status 1346 (ERROR_BAD_IMPERSONATION_LEVEL) has a cause of its own.
M.IMPERSONATION = { id = "iis-impersonation-500", title = "IIS_IUSRS cannot impersonate (HTTP 500, win32 status 1346)",
  cause = "IIS logs win32 status 1346 (ERROR_BAD_IMPERSONATION_LEVEL): the IIS_IUSRS group lacks the 'Impersonate a client after authentication' user right on the NDES server.",
  fix = { "Local Security Policy, User Rights Assignment: add IIS_IUSRS to 'Impersonate a client after authentication'.",
          "Restart IIS (iisreset) and browse to the SCEP URL: it should answer 403." } }

--- The statuses the catalog knows, in order.
function M.statuses()
  local out = {}
  for s in pairs(M.HTTP) do out[#out + 1] = s end
  table.sort(out)
  return out
end

return M
