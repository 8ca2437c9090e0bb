-- The Windows device: the ClientCertificateInstall CSP executing Intune's SCEP profile, as its
-- events show it. What happens is decided here; the event XML is written in C, beside its reader
-- (sceplab.core.artifacts, src/core/logs/formats).
local artifacts = require "sceplab.core.artifacts"

local M = {
  log = artifacts.device_file("windows"), retries = 3, csp_retries = true,
  client = { oaep = true, method = "auto" }, -- POST when GetCACaps offers it, as Windows does
}

local function event(d, id, level, text) d:record("windows", { id = id, level = level, text = text }) end

-- the CSP executes the profile: 306 (0x2ab0003 is its "accepted")
function M.deploy(d)
  event(d, 306, 4, ("SCEP: CspExecute for UniqueId : (%s) InstallUserSid : (S-1-12-1-1-1-1-1) " ..
    "InstallLocation : (user) NodePath : (clientinstall) KeyProtection: (0x2) Result : (Unknown Win32 Error code: 0x2ab0003).")
    :format(d.node))
end

function M.success(d, r, attempt, url)
  if d.faults["install-fails"] then
    event(d, 32, 2, "SCEP: Failed to install certificate. Result: (The operation failed (0x80090016)).")
    return false
  end
  -- as a Windows 11 device logs it: 39, the OMA-DM session that reports the result to Intune
  -- (256, alert com.microsoft:mdm.SCEPcertinstall.result), then 309 with the thumbprint
  event(d, 39, 4, "SCEP: Certificate installed successfully.")
  event(d, 256, 4, ("OmaDmLogOmaDmApiInitiateSession: Result: (The operation completed successfully.), " ..
    "Account Id: (%s), Initiation Id: ({%s}), Mode: (2), Origin: (33), AutoDelete: (false), Alert Count: (1), " ..
    "First Alert Name: (com.microsoft:mdm.SCEPcertinstall.result), User Sid: (S-1-12-1-1-1-1-1), User Only: (true), " ..
    "All Active Users: (false), Process Name: (C:\\Windows\\system32\\svchost.exe), System Or Admin: (true).")
    :format(d.account, d:guid()))
  event(d, 309, 4, ("SCEP: InstallFromRegEntries. CorrelationGuid : ({%s}) UniqueId : (%s) " ..
    "Certificate Thumbprint : (%s) Respondent Server : (%s/pkiclient.exe) Install Status : (0x1) Current Retry Count :  (0x%x) " ..
    "Result : (The operation completed successfully.)"):format(d:guid(), d.node, r.certificate and r.certificate.sha1 or "",
    url, attempt))
end

-- the CSR made and about to be sent: 36 (what the seeds call the sign of a connection)
function M.exchanges(d, list, p)
  for _, ex in ipairs(list) do
    if ex.operation == "PKIOperation" and not d.csr_logged then
      d.csr_logged = true
      event(d, 36, 4, ("SCEP: Certificate request generated successfully. Enhanced Key Usage: (%s), " ..
        "NDES URL: (%s/pkiclient.exe), Container Name: (), KSP Setting: (0x2), Store Location: (0x1).")
        :format(table.concat(p.eku or { "1.3.6.1.5.5.7.3.2" }, ","), p.url))
      return
    end
  end
end

local SAID = { [500] = "Internal server error", [502] = "Bad Gateway", [503] = "Service unavailable",
               [504] = "Gateway timeout", [413] = "Request entity too large", [414] = "Request uri too long",
               [403] = "Forbidden", [404] = "Not found" }

-- each failed try: 307 as the seeds show it for any failure ("Failed to Initialize SCEP
-- enrollment with NDES Server ..."), then 32 with the error when there is one to say
function M.failure(d, _, _, err)
  event(d, 307, 2, ("SCEP: Failed LogError Message : (SCEPInstallCertificateWithScepHelper: Failed to " ..
    "Initialize SCEP enrollment with NDES Server '%s/pkiclient.exe', CA cert thumbprint '%s' and server certs ''. )")
    :format(d.profile.url, d.profile.ca_thumbprint or ""))
  local e = tostring(err or "")
  if e:match("CAThumbprint") then
    -- the profile's CAThumbprint names no CA the server sent: Windows stops before the CSR
    event(d, 32, 2, "SCEP: Certificate enroll failed. Result: (The hash value is not correct.).")
    return
  end
  local status = tonumber(e:match("HTTP (%d%d%d)"))
  if status and SAID[status] then
    event(d, 32, 2, ("SCEP: Certificate enroll failed. Result: (%s (%d).)."):format(SAID[status], status))
  elseif e:match("[Cc]ouldn't connect") or e:match("[Cc]ould not resolve") then
    event(d, 32, 2, "SCEP: Certificate enroll failed. Result: (A connection with the server could not be established (0x80072efd)).")
  elseif e:match("SSL") or e:match("[Cc]ertificate") and e:match("TLS") then
    -- WinHTTP's ERROR_WINHTTP_SECURE_FAILURE, as HRESULT
    event(d, 32, 2, "SCEP: Certificate enroll failed. Result: (A security error occurred (0x80072f8f)).")
  end
end

return M
