-- `sceplab intune cloud`: the cloud side of Intune's third-party CA integration, played locally
-- (docs/intune-third-party.md). It answers as
--   Entra ID v2.0's token endpoint  POST /{tenant}/oauth2/v2.0/token (client credentials: a client
--                                   secret, or a JWT client assertion RS256 with x5t; invalid_client
--                                   and its AADSTS code otherwise)
--   Microsoft Graph's discovery     GET /v1.0/servicePrincipals/appId=0000000a-.../endpoints
--   ScepRequestValidationFEService  ScepActions/validateRequest, successNotification,
--                                   failureNotification (api-version 2018-02-20)
--   PkiConnectorFEService           CertificateAuthorityRequests/downloadRevocationRequests,
--                                   uploadRevocationResults (api-version 5019-05-05)
-- Access tokens are JWTs it signs, one audience each: Graph refuses an Intune token and Intune a
-- Graph token (401), and the ScepActions need the app role (403 without it), as the real services.
-- validateRequest checks the challenge with the very three-phase code of `--policy intune`
-- (lua/policies/intune.lua over the state directory's Intune keys), its reason codes named as the
-- validation service names them. Every call is recorded (record: JSON lines) for a spec to check,
-- and faults play the cloud's failures (FAULTS).
local core = require "sceplab.core.serve"
local codec = require "sceplab.core.codec"
local pkey = require "sceplab.core.pkey"
local x509 = require "sceplab.core.x509"
local json = require "sceplab.json"
local jwt = require "sceplab.serve.jwt"
local codes = require "sceplab.serve.intune_codes"
local policy = require "sceplab.serve.policy"

local M = {}

M.FAULTS = {
  ["token-401"] = "the token endpoint refuses the app: 401 invalid_client (AADSTS7000215, as a wrong secret)",
  ["secret-expired"] = "the app's client secret expired: 401 invalid_client (AADSTS7000222)",
  ["assertion-refused"] = "the certificate assertion is refused: 401 invalid_client (AADSTS700027)",
  ["no-permission"] = "the app lacks the Intune permission for SCEP challenge validation: validateRequest 403",
  ["discovery-without-service"] = "Graph's discovery lists no ScepRequestValidationFEService (nor PkiConnectorFEService)",
  ["service-5xx"] = "the Intune services answer 503 Service Unavailable",
  ["service-timeout"] = "the Intune services answer only after 30 seconds (a client's timeout)",
  ["token-timeout"] = "the token endpoint answers only after 30 seconds",
  ["service-slow"] = "validateRequest answers after 2 seconds (a slow service, within a client's timeout)",
  ["notification-slow"] = "successNotification answers after 2 seconds",
}
-- and code=NAME: validateRequest answers that code (intune_codes.ORDER)

local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
local SCEP_PATH = "/" .. codes.VALIDATION_SERVICE .. "/ScepActions/"
local PKI_PATH = "/" .. codes.PKI_SERVICE .. "/CertificateAuthorityRequests/"
local DISCOVERY = "/v1.0/servicePrincipals/appId=" .. codes.INTUNE_APP_ID .. "/endpoints"

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

local function form(body)
  local out = {}
  for pair in (body or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k, v = codec.urldecode((k:gsub("+", " "))), codec.urldecode((v:gsub("+", " ")))
    if k and v then out[k] = v end
  end
  return out
end

local function answer(status, doc, extra)
  local a = { status = status, content_type = "application/json; charset=utf-8", body = json.encode(doc, true) }
  if extra then for k, v in pairs(extra) do a[k] = v end end
  return a
end

--- The service for opts: {ca (open CA: its Intune keys check challenges), tenant, client_id,
-- secret (or nil), client_certs (PEM texts the app registered, or {}), faults = {name = true},
-- code (validateRequest's forced answer), record (a file, or nil), token_lifetime (s), now()}.
-- Returns an object: handle(req) (the web handler), base (set once listening), queue_revocation.
function M.new(opts)
  local self = { base = "", calls = {}, revocations = {}, next_context = 1 }
  local now = opts.now or os.time
  local key = pkey.generate("rsa:2048")          -- signs the access tokens it issues
  local key_pub = key:public_pem()
  local kid = jwt.uuid()
  local x5ts = {}
  for _, pem in ipairs(opts.client_certs or {}) do
    local d = x509.certs(pem)
    local c = d and d.certificates and d.certificates[1]
    if c then x5ts[jwt.x5t(c.sha1)] = pem end
  end
  local intune = assert(policy.load_policy(policy.policy_path("intune")))
  local check = policy.handler(intune, opts.ca, {}, nil, now)

  -- The service's URL as the client reached it (its Host: a TLS name such as localhost), as the
  -- real services answer with their own public names.
  local function base_of(req)
    local host = req.headers.host
    if type(host) ~= "string" or not host:match("^[%w.%-:%[%]]+$") then return self.base end
    return (self.base:match("^(%a+://)") or "http://") .. host
  end

  local function record(entry)
    entry.time = iso(now())
    self.calls[#self.calls + 1] = entry
    if opts.record then
      local f = io.open(opts.record, "a")
      if f then
        f:write(json.encode(entry, true), "\n")
        f:close()
      end
    end
  end

  local function aad_error(num, extra_text)
    local e = codes.AADSTS[num]
    local trace, corr = jwt.uuid(), jwt.uuid()
    local desc = ("AADSTS%d: %s%s.\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s"):format(num, e[3],
      extra_text and (" " .. extra_text) or "", trace, corr, os.date("!%Y-%m-%d %H:%M:%SZ", now()))
    return answer(e[2], { error = e[1], error_description = desc, error_codes = json.array({ num }),
      timestamp = os.date("!%Y-%m-%d %H:%M:%SZ", now()), trace_id = trace, correlation_id = corr,
      error_uri = "https://login.microsoftonline.com/error?code=" .. num })
  end

  -- The token endpoint: which credential the app used, checked; a token for the scope's audience.
  local function token(req, tenant)
    local f = form(req.body)
    local function refuse(num, why)
      record({ endpoint = "token", status = codes.AADSTS[num][2], code = "AADSTS" .. num, client_id = f.client_id,
               scope = f.scope, credential = f.client_assertion and "certificate" or f.client_secret and "secret" or "none" })
      return aad_error(num, why)
    end
    if opts.faults["token-timeout"] then return { status = 504, delay_ms = 30000, body = "" } end
    if tenant ~= opts.tenant then return refuse(90002, ("Tenant '%s' not found."):format(tenant:sub(1, 64))) end
    if f.grant_type ~= "client_credentials" then
      return answer(400, { error = "unsupported_grant_type", error_description = "AADSTS70003: The app requested an unsupported grant type." })
    end
    if f.client_id ~= opts.client_id then return refuse(700016) end
    local aud = f.scope == codes.GRAPH_SCOPE and codes.GRAPH_AUDIENCE or f.scope == codes.INTUNE_SCOPE and codes.INTUNE_AUDIENCE
    if not aud then return refuse(70011) end
    if opts.faults["token-401"] then return refuse(7000215) end
    if f.client_assertion then
      if f.client_assertion_type ~= ASSERTION_TYPE or opts.faults["assertion-refused"] then return refuse(700027) end
      local h, c, input, sig = jwt.parse(f.client_assertion)
      local pem = h and x5ts[h.x5t or ""]
      if not pem then return refuse(700027, "The key was not found (x5t names no certificate of the app).") end
      if not jwt.verify(h, input, sig, pem) then return refuse(700027) end
      local t = now()
      if c.iss ~= opts.client_id or c.sub ~= opts.client_id or c.aud ~= base_of(req) .. "/" .. tenant .. "/oauth2/v2.0/token"
         or not math.tointeger(c.exp) or c.exp < t or (tonumber(c.nbf) and c.nbf > t + 300) or not c.jti then
        return refuse(700027, "The assertion's claims (iss, sub, aud, exp, nbf, jti) are not the app's or not valid now.")
      end
    elseif f.client_secret then
      if opts.faults["secret-expired"] then return refuse(7000222) end
      if not opts.secret or not policy.equal(f.client_secret, opts.secret) then return refuse(7000215) end
    else
      return refuse(7000218)
    end
    local t, life = now(), opts.token_lifetime or 3599
    local roles = json.array(aud == codes.INTUNE_AUDIENCE and not opts.faults["no-permission"] and { codes.SCEP_ROLE } or {})
    local at = jwt.sign({ kid = kid }, { aud = aud, iss = "https://sts.windows.net/" .. opts.tenant .. "/", iat = t,
      nbf = t, exp = t + life, appid = opts.client_id, tid = opts.tenant, roles = roles, sub = jwt.uuid() }, key)
    record({ endpoint = "token", status = 200, client_id = f.client_id, scope = f.scope,
             credential = f.client_assertion and "certificate" or "secret" })
    return answer(200, { token_type = "Bearer", expires_in = life, ext_expires_in = life, access_token = at })
  end

  -- A bearer token of ours, for audience: its claims, or an answer refusing it (401), as the services do.
  local function bearer(req, audience)
    local auth = req.headers.authorization or ""
    local tok = auth:match("^[Bb]earer%s+(%S+)$")
    local h, c, input, sig = jwt.parse(tok)
    local why
    if not tok then why = "no bearer token"
    elseif not h or not jwt.verify(h, input, sig, key_pub) then why = "the token's signature does not verify"
    elseif not tonumber(c.exp) or c.exp < now() then why = "the token expired"
    elseif c.aud ~= audience then why = ("the audience is invalid (%s, not %s)"):format(tostring(c.aud), audience)
    elseif c.tid ~= opts.tenant then why = "the token is for another tenant" end
    if not why then return c end
    local hdr = { ["WWW-Authenticate"] = ('Bearer error="invalid_token", error_description="%s"'):format(why) }
    if audience == codes.GRAPH_AUDIENCE then
      return nil, answer(401, { error = { code = "InvalidAuthenticationToken", message = "Access token validation failure. " .. why } },
                         { headers = hdr })
    end
    return nil, answer(401, { Message = "Authorization has been denied for this request: " .. why }, { headers = hdr })
  end

  local function discovery(req)
    local _, refused = bearer(req, codes.GRAPH_AUDIENCE)
    if refused then
      record({ endpoint = "discovery", status = 401 })
      return refused
    end
    local value = {}
    if not opts.faults["discovery-without-service"] then
      value[1] = { id = jwt.uuid(), capability = "ScepRequestValidation", providerId = jwt.uuid(),
                   providerName = codes.VALIDATION_SERVICE, providerResourceId = codes.INTUNE_APP_ID,
                   uri = base_of(req) .. "/" .. codes.VALIDATION_SERVICE }
      value[2] = { id = jwt.uuid(), capability = "PkiConnector", providerId = jwt.uuid(),
                   providerName = codes.PKI_SERVICE, providerResourceId = codes.INTUNE_APP_ID,
                   uri = base_of(req) .. "/" .. codes.PKI_SERVICE }
    end
    record({ endpoint = "discovery", status = 200, services = #value })
    return answer(200, { ["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals('appId%3D" ..
      codes.INTUNE_APP_ID .. "')/endpoints", value = json.array(value) })
  end

  -- The validation service's reason codes from the intune policy's (ctx.intune_verify's and phase 3's).
  local function api_code(code, msg, csr)
    if code == "ChallengeMalformed" then
      return msg:find("decrypted", 1, true) and "ChallengeDecodingError" or "ChallengeDeserializationError"
    elseif code == "SignatureVerificationFailed" then
      return msg:find("thumbprint", 1, true) and "SigningCertThumbprintMismatch" or "SignatureValidationFailed"
    elseif code == "ChallengeDecryptionFailed" then return "ChallengeDecryptionError"
    elseif code == "SubjectNameMismatch" then return (csr.subject or "") == "" and "SubjectNameMissing" or code
    elseif code == "SubjectAlternativeNameMismatch" then return #(csr.san or {}) == 0 and "SubjectAltNameMissing" or "SubjectAltNameMismatch"
    elseif code == "ChallengeAlreadyUsed" then return "BadCertificateRequestIdInChallenge"
    elseif codes.CODES[code] then return code end
    return "Unknown"
  end

  -- validateRequest: the challenge in the CSR checked as the connector's three phases check it.
  local function validate(r)
    local der = type(r.certificateRequest) == "string" and codec.b64decode(r.certificateRequest)
    local csr = der and x509.csr(der, { show_secrets = true })
    if not csr or not csr.subject_rdns then return "CertificateRequestDecodingFailed", "the certificate request does not decode" end
    local cp = csr.challenge_password
    local challenge = type(cp) == "table" and cp.present and cp.value or nil
    if not challenge or challenge == "" then return "ChallengePasswordMissing", "the request has no challenge password" end
    local a = check({ csr = der, challenge = challenge, transaction_id = r.transactionId, message_type = "PKCSReq" })
    if a.decision == "allow" then return "Success", "" end
    local code, msg = tostring(a.reason):match("^(%w+): (.*)$")
    return api_code(code, msg or tostring(a.reason), csr), msg or tostring(a.reason)
  end

  local function intune_call(req, service, version, name)
    local claims, refused = bearer(req, codes.INTUNE_AUDIENCE)
    local rid = req.headers["client-request-id"]
    local entry = { endpoint = name, client_request_id = rid, api_version = req.headers["api-version"],
                    user_agent = req.headers["user-agent"] }
    if refused then
      entry.status = 401
      record(entry)
      return nil, refused
    end
    if req.headers["api-version"] ~= version then
      entry.status = 400
      record(entry)
      return nil, answer(400, { code = "BadRequest", errorDescription = ("api-version %s is required for %s"):format(version, service) })
    end
    local roles = {}
    for _, r in ipairs(claims.roles or {}) do roles[r] = true end
    if service == codes.VALIDATION_SERVICE and not roles[codes.SCEP_ROLE] then
      entry.status = 403
      record(entry)
      return nil, answer(403, { code = "Forbidden", errorDescription = "the application lacks the permission " ..
        codes.SCEP_ROLE .. " (SCEP challenge validation)" })
    end
    if opts.faults["service-5xx"] then
      entry.status = 503
      record(entry)
      return nil, answer(503, { code = "ServiceUnavailable", errorDescription = "the service is unavailable" })
    end
    if opts.faults["service-timeout"] then
      entry.status = 504
      record(entry)
      return nil, { status = 504, delay_ms = 30000, body = "" }
    end
    local body = json.decode(req.body or "")
    if type(body) ~= "table" then
      entry.status = 400
      record(entry)
      return nil, answer(400, { code = "BadRequest", errorDescription = "the body is not JSON" })
    end
    return body, entry
  end

  local function scep_action(req, action)
    local body, entry = intune_call(req, codes.VALIDATION_SERVICE, codes.API_VERSION, action)
    if not body then return entry end
    local field = action == "validateRequest" and "request" or "notification"
    local r = body[field]
    if type(r) ~= "table" or type(r.transactionId) ~= "string" or type(r.certificateRequest) ~= "string" then
      entry.status = 400
      record(entry)
      return answer(400, { code = "BadRequest", errorDescription = ("%s.transactionId and %s.certificateRequest are required"):format(field, field) })
    end
    entry.transaction_id = r.transactionId
    entry.caller_info = r.callerInfo
    local code, desc = "Success", ""
    if action == "validateRequest" then
      local forced = self.next_code or opts.code
      self.next_code = nil
      if forced then code, desc = forced, "(sceplab intune cloud answers " .. forced .. " as told)"
      else code, desc = validate(r) end
    elseif action == "successNotification" then
      for _, k in ipairs({ "certificateThumbprint", "certificateSerialNumber", "certificateExpirationDateUtc",
                           "issuingCertificateAuthority" }) do
        if type(r[k]) ~= "string" or r[k] == "" then code, desc = "Unknown", "notification." .. k .. " is required" end
      end
      entry.notification = r
    else
      -- JSON numbers decode as floats: an hResult must be a whole one
      if not math.tointeger(r.hResult) or type(r.errorDescription) ~= "string" then
        code, desc = "Unknown", "notification.hResult and notification.errorDescription are required"
      end
      entry.notification = r
    end
    entry.status, entry.code = 200, code
    record(entry)
    return answer(200, { code = code, errorDescription = desc },
                  (action == "validateRequest" and opts.faults["service-slow"] or
                   action == "successNotification" and opts.faults["notification-slow"]) and { delay_ms = 2000 } or nil)
  end

  local function pki_action(req, action)
    local body, entry = intune_call(req, codes.PKI_SERVICE, codes.PKI_API_VERSION, action)
    if not body then return entry end
    if action == "downloadRevocationRequests" then
      local p = body.downloadParameters
      local max = type(p) == "table" and math.tointeger(p.maxRequests)
      if not max or max < 1 or max > 500 then -- (tointeger takes the float a JSON number decodes to)
        entry.status = 400
        record(entry)
        return answer(400, { code = "BadRequest", errorDescription = "downloadParameters.maxRequests must be 1..500" })
      end
      local out = {}
      for _, rr in ipairs(self.revocations) do
        if not rr.sent and #out < max then
          rr.sent = true
          out[#out + 1] = { requestContext = rr.requestContext, serialNumber = rr.serialNumber, issuerName = rr.issuerName,
                            caConfiguration = rr.caConfiguration }
        end
      end
      entry.status, entry.count = 200, #out
      record(entry)
      return answer(200, { value = json.array(out) })
    end
    if type(body.results) ~= "table" then
      entry.status = 400
      record(entry)
      return answer(400, { code = "BadRequest", errorDescription = "results is required" })
    end
    for _, res in ipairs(body.results) do
      for _, rr in ipairs(self.revocations) do
        if rr.requestContext == res.requestContext then
          rr.result = { succeeded = res.succeeded == true, errorCode = res.errorCode, errorMessage = res.errorMessage }
        end
      end
    end
    entry.status, entry.results = 200, body.results
    record(entry)
    return answer(200, { value = true })
  end

  --- Intune asks the CA to revoke a certificate (a device retired or wiped): the next download hands it out.
  function self.queue_revocation(serial, issuer)
    local ctx = jwt.uuid()
    self.revocations[#self.revocations + 1] = { requestContext = ctx, serialNumber = serial, issuerName = issuer,
                                                caConfiguration = "sceplab" }
    record({ endpoint = "revocation-queued", request_context = ctx, serial = serial })
    return ctx
  end

  function self.handle(req)
    local path = req.path or ""
    local tenant = path:match("^/([^/]+)/oauth2/v2%.0/token$")
    if tenant and req.method == "POST" then return token(req, tenant) end
    if path == DISCOVERY and req.method == "GET" then return discovery(req) end
    local action = path:sub(1, #SCEP_PATH) == SCEP_PATH and path:sub(#SCEP_PATH + 1)
    if action and req.method == "POST" and (action == "validateRequest" or action == "successNotification"
                                            or action == "failureNotification") then
      return scep_action(req, action)
    end
    action = path:sub(1, #PKI_PATH) == PKI_PATH and path:sub(#PKI_PATH + 1)
    if action and req.method == "POST" and (action == "downloadRevocationRequests" or action == "uploadRevocationResults") then
      return pki_action(req, action)
    end
    -- the stand-in's own control (loopback): Intune asks for a revocation; what it was told
    if path == "/_sceplab/revocations" and req.method == "POST" then
      local b = json.decode(req.body or "")
      if type(b) ~= "table" or type(b.serialNumber) ~= "string" then
        return answer(400, { error = "give {\"serialNumber\": HEX, \"issuerName\": DN}" })
      end
      return answer(200, { requestContext = self.queue_revocation(b.serialNumber, b.issuerName) })
    end
    -- the faults played from now on, as --fault gives them: {"faults": [NAME...], "code": NAME}
    if path == "/_sceplab/faults" and req.method == "POST" then
      local b = json.decode(req.body or "")
      local faults = {}
      if type(b) ~= "table" or (b.code ~= nil and not codes.CODES[b.code]) then
        return answer(400, { error = "give {\"faults\": [NAME...], \"code\": NAME}" })
      end
      for _, f in ipairs(type(b.faults) == "table" and b.faults or {}) do
        if not M.FAULTS[f] then return answer(400, { error = "unknown fault: " .. tostring(f):sub(1, 64) }) end
        faults[f] = true
      end
      opts.faults, opts.code = faults, b.code
      return answer(200, { faults = json.array(b.faults or {}), code = b.code })
    end
    -- the next validateRequest answers this code (one request; --fault code=NAME: every one)
    if path == "/_sceplab/next-code" and req.method == "POST" then
      local b = json.decode(req.body or "")
      if type(b) ~= "table" or not codes.CODES[b.code] then
        return answer(400, { error = "give {\"code\": NAME}, a code of validateRequest" })
      end
      self.next_code = b.code
      return answer(200, { code = b.code })
    end
    if path == "/_sceplab/calls" and req.method == "GET" then
      return answer(200, { calls = json.array(self.calls), revocations = json.array(self.revocations) })
    end
    return answer(404, { error = { code = "NotFound", message = "no such endpoint: " .. path:sub(1, 200) } })
  end

  return self
end

--- Runs the service until SIGINT or SIGTERM: opts as M.new's, with bind, port, tls_cert, tls_key,
-- ready(base_url). true | nil, message, code.
function M.run(opts)
  local svc = M.new(opts)
  local scheme = opts.tls_cert and "https" or "http"
  return core.web({
    bind = opts.bind, port = opts.port, tls_cert = opts.tls_cert, tls_key = opts.tls_key,
    handler = svc.handle,
    ready = function(port)
      svc.base = ("%s://%s:%d"):format(scheme, opts.bind or "127.0.0.1", port)
      if opts.ready then opts.ready(svc.base) end
    end,
  })
end

return M
