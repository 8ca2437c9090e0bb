-- The client of Intune's third-party CA API, for the intune-api policy (lua/policies/intune-api.lua)
-- in sceplab serve: client credentials at Entra ID's v2.0 token endpoint (a client secret, or a
-- JWT client assertion signed with the app certificate's key), one token per audience (Graph for
-- discovery, Intune for the ScepActions and revocation calls) kept until shortly before it expires;
-- Graph's discovery of the services' base URIs, kept and asked again after a connection failure;
-- ScepActions (validateRequest, successNotification, failureNotification) and the PKI connector's
-- revocation calls. Every call goes over the libcurl transport (proxy with credentials, a timeout
-- per attempt, bounded retries with backoff, all inside one budget per operation, since a policy's
-- check runs under the sandbox's time limit) and is written to the API call log
-- (intune_api_log.lua). Secrets stay in this module: never in a log line, an error or an answer.
local core = require "sceplab.core"
local http = require "sceplab.core.http"
local pkey = require "sceplab.core.pkey"
local sys = require "sceplab.core.sys"
local x509 = require "sceplab.core.x509"
local codec = require "sceplab.core.codec"
local json = require "sceplab.json"
local jwt = require "sceplab.serve.jwt"
local codes = require "sceplab.serve.intune_codes"
local apilog = require "sceplab.serve.intune_api_log"

local M = {}

M.USER_AGENT = "sceplab/" .. core.version .. " (intune-api)"

-- Percent-encoding of a form value or a URL's user info: everything but RFC 3986's unreserved.
local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function num(v, dflt, lo, hi, name)
  if v == nil then return dflt end
  local n = tonumber(v)
  if not n or n < lo or n > hi then error(("--set %s=%s: expected a number from %g to %g"):format(name, tostring(v), lo, hi), 0) end
  return n
end

local function read(path, what)
  local text, err = sys.read_file(path, 1 << 20)
  if not text then error(("--set %s=%s: %s"):format(what, path, err), 0) end
  return text
end

--- A client from the policy's settings (config: --set key=value) and the environment (env(name)):
-- tenant, client_id (required); the secret from SCEPLAB_INTUNE_CLIENT_SECRET, or client_cert and
-- client_key (PEM files) for a certificate assertion; authority, graph (base URLs, for a sovereign
-- cloud or `sceplab intune cloud`); proxy (URL; its password from SCEPLAB_INTUNE_PROXY_PASSWORD
-- with proxy_user), cacert, timeout, retries, budget (seconds); api_log (file). Raises a one-line
-- error naming the setting.
function M.client(config, env, opts)
  opts = opts or {}
  env = env or os.getenv
  local self = { tokens = {}, services = {}, now = opts.now or os.time }
  local tenant, client_id = config.tenant, config.client_id
  if type(tenant) ~= "string" or tenant == "" then error("the intune-api policy needs --set tenant=TENANT (ID or domain)", 0) end
  if type(client_id) ~= "string" or client_id == "" then error("the intune-api policy needs --set client_id=APP_ID", 0) end
  local secret = env("SCEPLAB_INTUNE_CLIENT_SECRET")
  local cert_pem, key
  if config.client_cert then
    cert_pem = read(config.client_cert, "client_cert")
    local kerr
    key, kerr = pkey.load(read(config.client_key or config.client_cert, "client_key"), env("SCEPLAB_INTUNE_KEY_PASSWORD"))
    if not key then error("--set client_key: " .. tostring(kerr), 0) end
    local d = x509.certs(cert_pem)
    local c = d and d.certificates and d.certificates[1]
    if not c then error("--set client_cert=" .. config.client_cert .. ": no certificate in it", 0) end
    if key:matches(cert_pem) ~= true then error("--set client_key: the key is not the certificate's", 0) end
    self.x5t = jwt.x5t(c.sha1)
  elseif not secret or secret == "" then
    error("the intune-api policy needs SCEPLAB_INTUNE_CLIENT_SECRET in the environment, or --set client_cert=PEM (and client_key=PEM)", 0)
  end
  local authority = (config.authority or "https://login.microsoftonline.com"):gsub("/+$", "")
  local graph = (config.graph or "https://graph.microsoft.com"):gsub("/+$", "")
  local token_url = authority .. "/" .. tenant .. "/oauth2/v2.0/token"
  local proxy = config.proxy
  if proxy and config.proxy_user then
    -- credentials go into the URL libcurl is given, never into a log line
    local pw = env("SCEPLAB_INTUNE_PROXY_PASSWORD") or ""
    local scheme, rest = proxy:match("^(%a[%w+.-]*://)(.*)$")
    if not scheme then scheme, rest = "http://", proxy end
    proxy = scheme .. urlencode(config.proxy_user) .. ":" .. urlencode(pw) .. "@" .. rest
  end
  local timeout = num(config.timeout, 4, 0.1, 60, "timeout")
  local retries = math.tointeger(num(config.retries, 2, 0, 5, "retries"))
  local budget = num(config.budget, 8, 0.5, 9, "budget")
  local log = apilog.open(config.api_log or opts.api_log)
  local session = http.session()
  local notifier = opts.notifier

  -- One request: on a thread of its own when the caller runs this in a coroutine and gave a
  -- notifier (serve: the loop goes on, and resumes the coroutine when the notifier says so),
  -- else here and now (the CLI).
  local function perform(req)
    if notifier and coroutine.isyieldable() then
      req.session = nil -- a session's connections belong to one thread
      local job = http.start(req, notifier)
      while not job:done() do coroutine.yield() end
      return job:result()
    end
    return http.request(req)
  end

  local function pause(seconds)
    if notifier and coroutine.isyieldable() then
      local job = http.start({}, notifier, seconds)
      while not job:done() do coroutine.yield() end
      job:result()
      return
    end
    sys.sleep(seconds)
  end

  -- One HTTP exchange, retried on a connection failure, a timeout, 429 and 5xx with backoff, all
  -- before deadline: the response, or nil, why, the last response. log: {endpoint, transaction_id}.
  local function exchange(req, deadline, entry)
    local attempt, last, why = 0, nil, nil
    while true do
      local left = deadline - sys.now()
      if left < 0.05 then
        why = why or "no time left"
        break
      end
      req.timeout = math.min(timeout, left)
      req.connect_timeout = math.min(timeout, left)
      req.proxy, req.cacert, req.user_agent, req.session = proxy, config.cacert, M.USER_AGENT, session
      local t0 = sys.now()
      local resp, err, kind = perform(req)
      local ms = math.floor((sys.now() - t0) * 1000 + 0.5)
      entry.attempt = attempt + 1
      if resp then
        last = resp
        entry.status, entry.ms = resp.status, ms
        if resp.status ~= 429 and resp.status < 500 then return resp end
        why = ("HTTP %d"):format(resp.status)
        entry.code = entry.code or why
      else
        entry.status, entry.ms = 0, ms
        why = err
        entry.code = kind == "network" and (err:find("imed out") and "timeout" or "connect-failed") or "failed"
      end
      entry.message = why
      log:write(entry)
      entry.code, entry.message = nil, nil
      if attempt >= retries then break end
      attempt = attempt + 1
      local wait = 0.2 * (2 ^ (attempt - 1))
      if deadline - sys.now() < wait + 0.05 then break end
      pause(wait)
      if entry.on_retry then entry.on_retry(resp == nil) end
    end
    return nil, why, last
  end

  local function form(t)
    local out = {}
    for _, k in ipairs({ "client_id", "scope", "grant_type", "client_secret", "client_assertion_type", "client_assertion" }) do
      if t[k] then out[#out + 1] = k .. "=" .. urlencode(t[k]) end
    end
    return table.concat(out, "&")
  end

  --- An access token for scope: the token | nil, why, code (AADSTS..., HTTP, timeout).
  function self.token(scope, deadline, tid)
    local t = self.tokens[scope]
    if t and self.now() < t.refresh_at then return t.token end
    local f = { client_id = client_id, scope = scope, grant_type = "client_credentials" }
    if key then
      local now = self.now()
      f.client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
      f.client_assertion = jwt.sign({ x5t = self.x5t }, { aud = token_url, iss = client_id, sub = client_id,
        jti = jwt.uuid(), nbf = now, iat = now, exp = now + 600 }, key)
    else
      f.client_secret = secret
    end
    local entry = { endpoint = scope == codes.GRAPH_SCOPE and "token:graph" or "token:intune", transaction_id = tid,
                    client_request_id = jwt.uuid() }
    local resp, why = exchange({ method = "POST", url = token_url, body = form(f),
      content_type = "application/x-www-form-urlencoded", headers = { ["client-request-id"] = entry.client_request_id } },
      deadline or sys.now() + budget, entry)
    if not resp then
      -- each attempt is in the log already; a call that never started is logged here
      if not entry.attempt then
        entry.code, entry.message = "timeout", why
        log:write(entry)
      end
      return nil, "the token endpoint " .. token_url .. ": " .. why, why:find("imed out") and "timeout" or "network"
    end
    local doc = json.decode(resp.body) or {}
    if resp.status ~= 200 or type(doc.access_token) ~= "string" then
      local n = type(doc.error_codes) == "table" and math.tointeger(doc.error_codes[1])
      local code = n and ("AADSTS" .. n) or ("HTTP " .. resp.status)
      local desc = type(doc.error_description) == "string" and doc.error_description:match("^[^\r\n]*") or ""
      entry.code, entry.message = code, (doc.error or "") .. ": " .. desc
      log:write(entry)
      return nil, ("the token endpoint refused the app (%s %s): %s"):format(tostring(doc.error or resp.status), code, desc), code
    end
    local life = math.tointeger(doc.expires_in) or tonumber(doc.expires_in) or 3599
    -- kept until shortly before it expires: 5 minutes, or a tenth of a short lifetime
    self.tokens[scope] = { token = doc.access_token, refresh_at = self.now() + life - math.min(300, life // 10 + 1) }
    entry.code = "issued"
    log:write(entry)
    return doc.access_token
  end

  --- The base URI of an Intune service (ScepRequestValidationFEService, PkiConnectorFEService),
  -- from Graph's discovery, kept: uri | nil, why, code.
  function self.discover(service, deadline, tid)
    if self.services[service] then return self.services[service] end
    local tok, terr, tcode = self.token(codes.GRAPH_SCOPE, deadline, tid)
    if not tok then return nil, terr, tcode end
    local entry = { endpoint = "discovery", transaction_id = tid, client_request_id = jwt.uuid() }
    local resp, why = exchange({ method = "GET", url = graph .. "/v1.0/servicePrincipals/appId=" .. codes.INTUNE_APP_ID .. "/endpoints",
      headers = { Authorization = "Bearer " .. tok, ["client-request-id"] = entry.client_request_id } }, deadline, entry)
    if not resp then
      -- each attempt is in the log already; a call that never started is logged here
      if not entry.attempt then
        entry.code, entry.message = "timeout", why
        log:write(entry)
      end
      return nil, "Graph's service discovery: " .. why, "network"
    end
    local doc = json.decode(resp.body) or {}
    if resp.status == 401 then self.tokens[codes.GRAPH_SCOPE] = nil end
    if resp.status ~= 200 or type(doc.value) ~= "table" then
      local msg = type(doc.error) == "table" and tostring(doc.error.message) or resp.body:sub(1, 200)
      entry.code, entry.message = type(doc.error) == "table" and tostring(doc.error.code) or ("HTTP " .. resp.status), msg
      log:write(entry)
      return nil, ("Graph's service discovery answered %d: %s"):format(resp.status, msg), "HTTP " .. resp.status
    end
    for _, e in ipairs(doc.value) do
      if type(e) == "table" and type(e.providerName) == "string" and type(e.uri) == "string" then
        self.services[e.providerName] = e.uri:gsub("/+$", "")
      end
    end
    entry.code = self.services[service] and "found" or "ServiceNotFound"
    if not self.services[service] then
      entry.message = service .. " is not among the endpoints Graph lists"
      log:write(entry)
      return nil, ("Graph's service discovery lists no %s: the tenant has no Intune, or it is not licensed"):format(service),
             "ServiceNotFound"
    end
    log:write(entry)
    return self.services[service]
  end

  --- POST {service uri}/{path} with the Intune token: the answer document, the log entry | nil,
  -- why, code. A connection failure drops the service's URI, so the next attempt discovers it again.
  function self.post(service, path, version, body, tid, deadline)
    deadline = deadline or sys.now() + budget
    local uri, derr, dcode = self.discover(service, deadline, tid)
    if not uri then return nil, derr, dcode end
    local tok, terr, tcode = self.token(codes.INTUNE_SCOPE, deadline, tid)
    if not tok then return nil, terr, tcode end
    local entry = { endpoint = path:match("[^/]+$"), transaction_id = tid, client_request_id = jwt.uuid() }
    local req = { method = "POST", url = uri .. "/" .. path, body = json.encode(body, true),
                  content_type = "application/json",
                  headers = { Authorization = "Bearer " .. tok, ["api-version"] = version,
                              ["client-request-id"] = entry.client_request_id } }
    entry.on_retry = function(connection_failed)
      if connection_failed then
        -- the service moved or is down: ask Graph again where it is
        self.services[service] = nil
        local nuri = self.discover(service, deadline, tid)
        if nuri then req.url = nuri .. "/" .. path end
      end
    end
    local resp, why = exchange(req, deadline, entry)
    entry.on_retry = nil
    if not resp then
      -- each attempt is in the log already; a call that never started is logged here
      if not entry.attempt then
        entry.code, entry.message = "timeout", why
        log:write(entry)
      end
      local code = why:find("imed out") and "timeout" or why:match("^HTTP %d+") or "network"
      return nil, ("%s: %s"):format(entry.endpoint, why), code
    end
    local doc = json.decode(resp.body)
    if resp.status == 401 then self.tokens[codes.INTUNE_SCOPE] = nil end
    if resp.status ~= 200 or type(doc) ~= "table" then
      local msg = type(doc) == "table" and tostring(doc.errorDescription or doc.Message or doc.message or "") or resp.body:sub(1, 200)
      entry.code, entry.message = "HTTP " .. resp.status, msg
      log:write(entry)
      local what = resp.status == 403 and " (the app lacks the Intune permission for SCEP challenge validation?)" or ""
      return nil, ("%s answered %d%s: %s"):format(entry.endpoint, resp.status, what, msg), "HTTP " .. resp.status
    end
    entry.code = type(doc.code) == "string" and doc.code or "ok"
    entry.message = type(doc.errorDescription) == "string" and doc.errorDescription ~= "" and doc.errorDescription or nil
    log:write(entry)
    return doc, entry
  end

  --- validateRequest: code ("Success" or the service's error), description, client-request-id |
  -- nil, why, failure code (fail closed: the caller refuses).
  function self.validate(tid, csr_der, caller)
    local doc, entry, code = self.post(codes.VALIDATION_SERVICE, "ScepActions/validateRequest", codes.API_VERSION,
      { request = { transactionId = tid, certificateRequest = codec.b64encode(csr_der), callerInfo = caller } }, tid)
    if not doc then return nil, entry, code end
    if type(doc.code) ~= "string" then return nil, "validateRequest answered no code", "Unknown" end
    return doc.code, type(doc.errorDescription) == "string" and doc.errorDescription or "", entry.client_request_id
  end

  function self.notify_success(n)
    return self.post(codes.VALIDATION_SERVICE, "ScepActions/successNotification", codes.API_VERSION, { notification = n },
                     n.transactionId)
  end

  function self.notify_failure(n)
    return self.post(codes.VALIDATION_SERVICE, "ScepActions/failureNotification", codes.API_VERSION, { notification = n },
                     n.transactionId)
  end

  --- The revocation requests Intune has for this CA: list | nil, why.
  function self.revocation_requests(max, issuer)
    local doc, err = self.post(codes.PKI_SERVICE, "CertificateAuthorityRequests/downloadRevocationRequests",
      codes.PKI_API_VERSION, { downloadParameters = { maxRequests = max or 100, issuerName = issuer } }, nil)
    if not doc then return nil, err end
    return type(doc.value) == "table" and doc.value or {}
  end

  function self.upload_revocation_results(results)
    local doc, err = self.post(codes.PKI_SERVICE, "CertificateAuthorityRequests/uploadRevocationResults",
      codes.PKI_API_VERSION, { results = json.array(results) }, nil)
    if not doc then return nil, err end
    return doc.value == true, doc.value ~= true and "Intune did not take the results" or nil
  end

  self.close = function() log:close() session:close() end
  return self
end

return M
