-- What ctx.intune_api gives the intune-api policy (lua/policies/intune-api.lua): its calls to
-- Intune's API (intune_api.lua) in terms of the server's requests and certificates, and the
-- revocations Intune asks for, carried out in the CA. Built once by serve before it listens.
--
-- Serving, no call holds the server's loop: each operation runs in a coroutine whose HTTP calls
-- run on threads of their own (sceplab.core.http.start); the server watches their notifier
-- (wake_fd), resumes the coroutines (pump) and asks the policy again about the requests it
-- deferred. The first validate of a request answers "pending" (the policy defers); a later one
-- takes Intune's answer. Notifications and revocations run in the background.
local codec = require "sceplab.core.codec"
local core = require "sceplab.core"
local http = require "sceplab.core.http"
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

local function answered(doc, err, what)
  if not doc then return nil, err end
  if doc.code ~= "Success" then return nil, what .. " answered " .. tostring(doc.code) end
  return true
end

local function notify_success(client, req, cert, ca_config, caller)
  return answered(client.notify_success({ transactionId = req.transaction_id,
    certificateRequest = codec.b64encode(req.csr), certificateThumbprint = cert.sha1,
    certificateSerialNumber = cert.serial, certificateExpirationDateUtc = cert.not_after,
    issuingCertificateAuthority = cert.issuer, caConfiguration = ca_config, certificateAuthority = cert.issuer,
    callerInfo = caller }), "successNotification")
end

local function notify_failure(client, req, hresult, description, caller)
  local doc, err = client.notify_failure({ transactionId = req.transaction_id,
    certificateRequest = codec.b64encode(req.csr), hResult = signed32(hresult or M.HRESULT_REFUSED),
    errorDescription = cut(tostring(description or ""), 255), callerInfo = caller })
  return answered(doc, err, "failureNotification")
end

-- Intune's revocation requests: each revoked in the CA (reason 5, cessationOfOperation: a device
-- retired or wiped), the CRL made again, the results uploaded. The number revoked | nil, why.
local function process_revocations(client, ca)
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

--- The API for ca and the policy's settings (intune_api.client says which), logging to log_path;
-- async (serving): calls on threads, the server woken through api.wake_fd and calling api.pump.
-- env(name): where the secrets come from (default os.getenv). Raises a one-line error for a
-- setting that is missing or wrong.
function M.api(ca, config, log_path, async, env)
  local notifier = async and http.notifier() or nil
  local client = intune_api.client(config, env or os.getenv, { api_log = log_path, notifier = notifier })
  local caller = config.caller_info or ("sceplab/" .. core.version)
  local ca_config = config.ca_configuration or "sceplab serve"
  local poll = tonumber(config.revocation_poll or "300")
  if not poll or poll < 0 or poll > 86400 then error("--set revocation_poll: expected seconds from 0 (off) to 86400", 0) end
  local api = { poll_seconds = poll >= 1 and math.floor(poll) or nil }
  local running = {} -- key -> {co, finished, result, forget}

  local function step(key, t, ...)
    local ok, a, b, c = coroutine.resume(t.co, ...)
    if coroutine.status(t.co) == "dead" then
      t.finished, t.result, t.finished_at = true, ok and { a, b, c } or { nil, tostring(a), "failed" }, os.time()
      if not ok then io.stderr:write("sceplab: intune-api: ", tostring(a), "\n") end
      if t.forget then running[key] = nil end
    end
  end

  -- fn in a coroutine of its own under key, run until its first call
  local function spawn(key, fn, forget)
    local t = { co = coroutine.create(fn), forget = forget }
    running[key] = t
    step(key, t)
    return t
  end

  if notifier then
    api.wake_fd = notifier:fd()
    --- The server was woken: each operation whose call ended goes on.
    function api.pump()
      local now = os.time()
      for key, t in pairs(running) do
        if not t.finished then
          step(key, t)
        elseif now - t.finished_at > 300 then
          running[key] = nil -- an answer nobody took: the device gave up on its request
        end
      end
    end
    --- How many calls nobody waits for are still running (notifications, revocations): a
    -- SIGTERM's drain waits for them, so Intune hears of a certificate issued before the stop.
    function api.pending()
      local n = 0
      for _, t in pairs(running) do if t.forget and not t.finished then n = n + 1 end end
      return n
    end
  end

  -- fn now, or in the background when serving (nobody waits for its result)
  local function background(key, fn)
    if not notifier then return fn() end
    if not running[key] then spawn(key, fn, true) end
    return true
  end

  --- validateRequest for a request (req.transaction_id, req.csr): "Success" or the service's code,
  -- its description, the client-request-id | nil, why, code (no answer: the caller refuses; serving,
  -- "pending" until the answer came).
  function api.validate(req)
    local function run() return client.validate(req.transaction_id, req.csr, caller) end
    if not notifier then return run() end
    local key = "validate\0" .. tostring(req.transaction_id) .. "\0" .. tostring(req.csr)
    local t = running[key] or spawn(key, run)
    if not t.finished then return nil, "waiting for Intune's answer", "pending" end
    running[key] = nil
    return table.unpack(t.result, 1, 3)
  end

  --- failInfo, sentence and fix of a validation code (intune_codes.lua).
  function api.explain(code) return codes.of(code) end

  --- successNotification for an issued certificate ({serial, sha1, not_after, issuer}).
  function api.notify_success(req, cert)
    return background("success\0" .. tostring(req.transaction_id) .. "\0" .. tostring(cert.serial),
      function() return notify_success(client, req, cert, ca_config, caller) end)
  end

  --- failureNotification: hresult (default E_ACCESSDENIED), a description cut to 255 bytes.
  function api.notify_failure(req, hresult, description)
    return background("failure\0" .. tostring(req.transaction_id) .. "\0" .. tostring(req.csr),
      function() return notify_failure(client, req, hresult, description, caller) end)
  end

  --- Intune's revocation requests carried out (one poll at a time).
  function api.process_revocations()
    return background("revocations", function() return process_revocations(client, ca) end)
  end

  return api
end

return M
