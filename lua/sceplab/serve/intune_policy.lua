-- What ctx.intune_api gives the intune-api policy (lua/policies/intune-api.lua): its calls to
-- Intune's API (intune_api.lua) in terms of the server's requests and certificates, and the
-- revocations Intune asks for, carried out in the CA. Built once by serve before it listens.
local codec = require "sceplab.core.codec"
local core = require "sceplab.core"
local intune_api = require "sceplab.serve.intune_api"
local codes = require "sceplab.serve.intune_codes"

local M = {}

-- E_ACCESSDENIED: the hResult a failureNotification carries when the validation refused the request
M.HRESULT_REFUSED = 0x80070005

local function signed32(n)
  n = n & 0xffffffff
  return n >= 0x80000000 and n - 0x100000000 or n
end

-- At most n bytes of s, not cutting a UTF-8 sequence.
local function cut(s, n)
  if #s <= n then return s end
  local i = n
  while i > 0 and (s:byte(i + 1) or 0) & 0xC0 == 0x80 do i = i - 1 end
  return s:sub(1, i)
end

--- The API for ca and the policy's settings (intune_api.client says which), logging to log_path.
-- Raises a one-line error for a setting that is missing or wrong.
function M.api(ca, config, log_path)
  local client = intune_api.client(config, os.getenv, { api_log = log_path })
  local caller = config.caller_info or ("sceplab/" .. core.version)
  local ca_config = config.ca_configuration or "sceplab serve"
  local api = {}
  local poll = tonumber(config.revocation_poll or "300")
  if not poll or poll < 0 or poll > 86400 then error("--set revocation_poll: expected seconds from 0 (off) to 86400", 0) end
  api.poll_seconds = poll >= 1 and math.floor(poll) or nil

  --- validateRequest for a request (req.transaction_id, req.csr): "Success" or the service's code,
  -- its description, the client-request-id | nil, why, code (no answer: the caller refuses).
  function api.validate(req)
    return client.validate(req.transaction_id, req.csr, caller)
  end

  --- failInfo, sentence and fix of a validation code (intune_codes.lua).
  function api.explain(code) return codes.of(code) end

  --- successNotification for an issued certificate ({serial, sha1, not_after, issuer}): true | nil, why.
  function api.notify_success(req, cert)
    local doc, err = client.notify_success({ transactionId = req.transaction_id,
      certificateRequest = codec.b64encode(req.csr), certificateThumbprint = cert.sha1,
      certificateSerialNumber = cert.serial, certificateExpirationDateUtc = cert.not_after,
      issuingCertificateAuthority = cert.issuer, caConfiguration = ca_config, certificateAuthority = cert.issuer,
      callerInfo = caller })
    if not doc then return nil, err end
    return doc.code == "Success" or nil, doc.code ~= "Success" and ("successNotification answered " .. tostring(doc.code)) or nil
  end

  --- failureNotification: hresult (default E_ACCESSDENIED), a description cut to 255 bytes.
  function api.notify_failure(req, hresult, description)
    local doc, err = client.notify_failure({ transactionId = req.transaction_id,
      certificateRequest = codec.b64encode(req.csr), hResult = signed32(hresult or M.HRESULT_REFUSED),
      errorDescription = cut(tostring(description or ""), 255), callerInfo = caller })
    if not doc then return nil, err end
    return doc.code == "Success" or nil, doc.code ~= "Success" and ("failureNotification answered " .. tostring(doc.code)) or nil
  end

  --- Intune's revocation requests: each revoked in the CA (reason 5, cessationOfOperation: a device
  -- retired or wiped), the CRL made again, the results uploaded. The number revoked | nil, why.
  function api.process_revocations()
    local list, err = client.revocation_requests(100)
    if not list then return nil, err end
    if #list == 0 then return 0 end
    local results, revoked = {}, 0
    for _, r in ipairs(list) do
      local ok, rerr
      if type(r.serialNumber) == "string" and r.serialNumber:match("^%x+$") then
        ok, rerr = ca:revoke(r.serialNumber, 5)
      else
        rerr = "no serial number"
      end
      if ok then revoked = revoked + 1 end
      results[#results + 1] = { requestContext = r.requestContext, succeeded = ok == true,
        errorCode = ok and 0 or (rerr and rerr:find("no valid certificate") and 4004 or 4002),
        errorMessage = ok and "" or cut(tostring(rerr), 255) }
    end
    -- a new CRL over the revocations, as soon as they are made
    if revoked > 0 then ca:crl(7) end
    local up, uerr = client.upload_revocation_results(results)
    if not up then return nil, uerr end
    return revoked
  end

  return api
end

return M
