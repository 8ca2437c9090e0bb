-- The SCEP client (RFC 8894), NDES-aware. Protocol primitives, crypto and transport are C
-- (sceplab.core.scep, .http, .pkey); this file holds the flow: which method, cipher and digest,
-- which certificate to encrypt to, retries, polling, renewal, and what to report.
--
--   local c = sceplab.scep.client{url = "https://ndes.example/certsrv/mscep/mscep.dll"}
--   local r, err, code = c:enroll(profile, {key = key})
--
-- Expected failures return nil, message, code ("network" for transport and HTTP errors,
-- "crypto" for a reply that fails verification, "input" for bad arguments or files).
local core = require "sceplab.core.scep"
local http = require "sceplab.core.http"
local pkey = require "sceplab.core.pkey"
local codec = require "sceplab.core.codec"
local sys = require "sceplab.core.sys"

local M = {}
M.pkey = pkey

local Client = {}
Client.__index = Client

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- "HTTP 500 from URL: not implemented": a short text body usually says why.
local function http_error(op, resp, url)
  local msg = ("%s: HTTP %d from %s"):format(op, resp.status, url)
  local body = resp.body or ""
  local ctype = resp.content_type or ""
  if #body > 0 and #body <= 300 and (ctype:match("^text/") or ctype == "") and not body:find("[%z\1-\8\14-\31]") then
    local first = body:gsub("<[^>]*>", " "):gsub("%s+", " "):match("^%s*(.-)%s*$")
    if first ~= "" then msg = msg .. ": " .. first:sub(1, 160) end
  end
  return msg
end
M.http_error = http_error

local function norm_fp(s)
  return s and s:gsub("[^%x]", ""):upper() or nil
end

--- Creates a client. opts: url (required), ndes (true/false/nil = detect from the Server header),
-- method (auto|get|post), cipher (auto|aes128|aes256|des3), digest (auto|sha256|sha512|sha1),
-- ca_fingerprint, ca_thumbprint (a profile's CAThumbprint, checked as devices do), root (PEM of
-- the root it names, when GetCACert does not carry it), ca_ident (GetCACert message), oaep, proxy, cacert, pin, insecure, timeout,
-- trace (a directory), log (a function receiving progress lines), reuse_connections (default
-- true: the client's requests share connections, one TLS handshake per enrollment, as devices do),
-- raw_base64 (GET PKIOperation with the base64 not percent-encoded, as iOS sends it),
-- no_post_retry (a GET answered 414 is a failure, not retried with POST, as devices that only GET).
function M.client(opts)
  if type(opts) ~= "table" or type(opts.url) ~= "string" then
    error("sceplab.scep.client: field 'url' (string) is required", 2)
  end
  if not opts.url:match("^https?://") then
    error("sceplab.scep.client: url must start with http:// or https://", 2)
  end
  for k, allowed in pairs({ method = { auto = 1, get = 1, post = 1 },
                            cipher = { auto = 1, aes128 = 1, aes256 = 1, des3 = 1 },
                            digest = { auto = 1, sha256 = 1, sha512 = 1, sha1 = 1 } }) do
    if opts[k] ~= nil and not allowed[opts[k]] then
      error(("sceplab.scep.client: %s '%s' is not one of the allowed values"):format(k, tostring(opts[k])), 2)
    end
  end
  local self = setmetatable({ opts = opts, url = opts.url, exchanges = {}, seq = 0 }, Client)
  if opts.reuse_connections ~= false then self.session = http.session() end
  if opts.trace then
    local ok, err = sys.mkdir(opts.trace)
    if not ok then error("sceplab.scep.client: trace: " .. err, 2) end
  end
  return self
end

--- Closes the client's kept-open connection now rather than when the client is collected
-- (`local c <close> = sceplab.scep.client{...}` does it at the end of the block).
function Client:close()
  if self.session then self.session:close() end
  self.session = nil -- later requests, if any, each get a connection of their own
end
Client.__close = Client.close

function Client:log(fmt, ...)
  if self.opts.log then self.opts.log(fmt:format(...)) end
end

-- Writes one exchange to the trace directory: the request, the response, and for pkiMessages the
-- decoded CMS layers as JSON (secrets redacted), so support can read them back with `sceplab decode`.
function Client:trace(op, method, url, body, resp)
  local dir = self.opts.trace
  if not dir then return end
  self.seq = self.seq + 1
  local base = ("%s/%02d-%s"):format(dir, self.seq, op)
  local f = io.open(base .. "-request.txt", "wb")
  if f then
    f:write(method, " ", url, "\n")
    if body then f:write("\n", codec.b64encode(body), "\n") end
    f:close()
  end
  if resp then
    f = io.open(base .. "-response.txt", "wb")
    if f then
      f:write("HTTP ", tostring(resp.status), "\n", resp.headers or "", "\n")
      f:close()
    end
    f = io.open(base .. "-response.bin", "wb")
    if f then f:write(resp.body or "") f:close() end
  end
  local sceplab = require "sceplab.pure"
  local json = require "sceplab.json"
  for suffix, data in pairs({ request = body, response = resp and resp.status == 200 and op == "PKIOperation" and resp.body or nil }) do
    local kind, doc = sceplab.decode(data or "")
    if data and kind then
      f = io.open(("%s-%s.json"):format(base, suffix), "wb")
      if f then f:write(json.encode(doc), "\n") f:close() end
    end
  end
end

function Client:request(op, method, message)
  local url = self.url .. (self.url:find("?", 1, true) and "&" or "?") .. "operation=" .. op
  local body, ctype
  if method == "GET" then
    -- a pkiMessage travels base64-encoded in the query; GetCACert's message is plain text
    if message and op == "PKIOperation" then message = codec.b64encode(message) end
    -- raw_base64: the message as iOS sends it, base64 not percent-encoded ('+' and '/' as they are)
    if message then
      url = url .. "&message=" .. ((self.opts.raw_base64 and op == "PKIOperation") and message or urlencode(message))
    end
  else
    body, ctype = message, "application/x-pki-message"
  end
  local o = self.opts
  local resp, err, code, partial = http.request{
    method = method, url = url, body = body, content_type = ctype, proxy = o.proxy, cacert = o.cacert,
    pin = o.pin, insecure = o.insecure, timeout = o.timeout, connect_timeout = o.connect_timeout,
    follow = o.follow, session = self.session,
  }
  self:trace(op, method, url, method == "POST" and body or (op == "PKIOperation" and message or nil), resp or partial)
  local rec = { operation = op, method = method, url = #url > 200 and (url:sub(1, 200) .. "...") or url,
                status = (resp or partial or {}).status, timings = (resp or partial or {}).timings,
                reused_connection = (resp or partial or {}).reused_connection, bytes_sent = #(message or ""),
                retry_after = tonumber((((resp or partial or {}).headers or ""):match("\n[Rr][Ee][Tt][Rr][Yy]%-[Aa][Ff][Tt][Ee][Rr]:%s*(%d+)"))) }
  self.exchanges[#self.exchanges + 1] = rec
  local answered = resp or partial
  if answered and answered.server and answered.server:match("Microsoft%-IIS") and self.opts.ndes == nil then
    self.ndes = true
  end
  if not resp then
    -- a body cut short or stalled is no answer, whatever arrived of it (partial keeps it for traces)
    rec.error = err
    return nil, err, code, partial
  end
  self:log("%s %s -> HTTP %d (%.0f ms)", method, op, resp.status, resp.timings.total * 1000)
  return resp
end

function Client:is_ndes()
  if self.opts.ndes ~= nil then return self.opts.ndes end
  return self.ndes or false
end

--- GetCACaps: {caps = {...as sent}, aes, des3, sha256, sha512, sha1, post, renewal, ..., status, timings}
function Client:caps()
  if self.caps_cache then return self.caps_cache end
  local resp, err, code = self:request("GetCACaps", "GET", self.opts.ca_ident or "")
  if not resp then return nil, err, code end
  if resp.status ~= 200 then
    return nil, http_error("GetCACaps", resp, self.url), "network", resp
  end
  local caps = core.caps(resp.body)
  caps.status, caps.timings, caps.server = resp.status, resp.timings, resp.server
  self.caps_cache = caps
  return caps
end

--- GetCACert: {ca, recipient, signer, certificates, reasons, fingerprint_match?} (PEM strings)
function Client:ca_certs()
  if self.ca_cache then return self.ca_cache end
  local resp, err, code = self:request("GetCACert", "GET", self.opts.ca_ident or "")
  if not resp then return nil, err, code end
  if resp.status ~= 200 then
    return nil, http_error("GetCACert", resp, self.url), "network", resp
  end
  local sel, serr = core.ca_select(resp.body, self:is_ndes())
  if not sel then return nil, "GetCACert: " .. serr, "input" end
  sel.content_type, sel.timings = resp.content_type, resp.timings
  local pin = norm_fp(self.opts.ca_fingerprint)
  if pin then
    local matched
    for i, pem in ipairs(sel.certificates) do
      local fp = core.fingerprints(pem)
      if fp.sha1 == pin or fp.sha256 == pin then matched = i end
    end
    if not matched then
      return nil, ("GetCACert: no certificate matches --ca-fingerprint %s; nothing was sent"):format(pin), "crypto"
    end
    sel.fingerprint_match = matched
  end
  local ok, terr = self:check_thumbprint(sel)
  if not ok then return nil, terr, "failed" end
  self.ca_cache = sel
  return sel
end

--- A profile's CAThumbprint, checked as a device checks it before sending anything: it must name a
-- CA certificate of GetCACert's answer (an RA certificate is not a CA), or the root given with
-- opts.root, which the answer's CA must chain to. true | nil, message.
function Client:check_thumbprint(sel)
  local want = norm_fp(self.opts.ca_thumbprint)
  if not want then return true end
  local function matches(pem)
    local fp = core.fingerprints(pem)
    return fp.sha1 == want or fp.sha256 == want
  end
  for _, pem in ipairs(sel.certificates) do
    if matches(pem) then
      if pem ~= sel.ca and (pem == sel.recipient or pem == sel.signer) then
        return nil, ("GetCACert: CAThumbprint %s names the RA certificate, not a CA; devices refuse this server " ..
          "(\"The hash value is not correct\"); nothing was sent"):format(want)
      end
      sel.thumbprint_match = pem
      return true
    end
  end
  local root = self.opts.root
  if root and matches(root) then
    local ok, why = core.chains_to(sel.ca, root, sel.certificates)
    if ok then
      sel.thumbprint_match = root
      return true
    end
    return nil, ("GetCACert: the CA does not chain to the root CAThumbprint %s names (%s); nothing was sent"):format(want, why)
  end
  return nil, ("GetCACert: CAThumbprint %s matches no CA certificate the server returned%s; devices refuse it " ..
    "(\"The hash value is not correct\"); nothing was sent"):format(want,
    root and " nor the --root given" or " (give the root with --root when the server does not return it)")
end

-- What to encrypt and sign with, given the server's capabilities and the user's wishes.
function Client:algorithms()
  local caps, err, code = self:caps()
  if not caps then return nil, err, code end
  local o, ndes = self.opts, self:is_ndes()
  local method = o.method or "auto"
  if method == "auto" then method = caps.post and "post" or "get" end
  local cipher = o.cipher or "auto"
  if cipher == "auto" then
    if caps.aes and not (ndes and not caps.aes) then cipher = "aes128"
    elseif caps.des3 or ndes then cipher = "des3"
    else
      return nil, "the server advertises neither AES nor DES3; sceplab does not send single DES (use --cipher to force one)", "input"
    end
  end
  local digest = o.digest or "auto"
  if digest == "auto" then
    if caps.sha256 then digest = "sha256"
    elseif caps.sha512 then digest = "sha512"
    else digest = "sha1" end -- what NDES without SHA-2 and old servers expect
  end
  return { method = method:upper(), cipher = cipher, digest = digest, ndes = ndes }
end

local function challenge_of(profile)
  local ch = profile.challenge
  if type(ch) == "function" then
    -- a profile's function: run with the sandbox's time limit
    local ok, v = (require "sceplab.sandbox").call("the profile's challenge function", ch, profile)
    if not ok then return nil, "challenge function failed: " .. tostring(v) end
    ch = v
  end
  if ch ~= nil and type(ch) ~= "string" then return nil, "challenge must be a string" end
  return ch
end

local function key_spec(profile)
  local k = profile.key
  if not k then return "rsa:2048" end
  if k.type == "ec" then return "ec:" .. (k.curve or "p256") end
  return "rsa:" .. tostring(k.bits or 2048)
end

--- The key spec ("rsa:2048", "ec:p256") a profile's key asks for.
M.key_spec = key_spec

-- Sends one pkiMessage and verifies the reply; handles GET->POST on 414 or a cut reply.
function Client:transact(alg, cas, msgtype, content, signer_cert, signer_key, txid, expect_key, result)
  local nonce = core.nonce()
  local msg = core.build{
    type = msgtype, content = content, recipient = cas.recipient, cipher = alg.cipher, oaep = self.opts.oaep,
    digest = alg.digest, signer_cert = signer_cert, signer_key = signer_key, transaction_id = txid, nonce = nonce,
  }
  local method = alg.method
  local resp, err, code = self:request("PKIOperation", method, msg)
  if method == "GET" and (not resp and err and err:match("[Tt]runcat") or resp and (resp.status == 414 or resp.truncated)) then
    local caps = self.caps_cache or {}
    -- no_post_retry: a device that knows only GET (jscep, iOS) fails here, as it does in the field
    if caps.post and not self.opts.no_post_retry then
      result.retried_with_post = ("GET answered %s; retried once with POST"):format(resp and ("HTTP " .. resp.status) or err)
      method = "POST"
      resp, err, code = self:request("PKIOperation", "POST", msg)
    end
  end
  if not resp then return nil, err, code end
  result.method = method
  if resp.status ~= 200 then
    return nil, http_error("PKIOperation", resp, self.url), "network", resp
  end
  local reply, rerr, rcode = core.verify_reply(resp.body, {
    transaction_id = txid, nonce = nonce, signers = { cas.signer, cas.ca }, key = signer_key, cert = signer_cert,
    request_key = expect_key,
  })
  if not reply then return nil, rerr, rcode end
  return reply
end

local function merge(result, reply)
  for k, v in pairs(reply) do result[k] = v end
  return result
end

-- Polls a PENDING request with CertPoll until it is decided or poll.max seconds have passed.
function Client:poll_until(alg, cas, state, key, signer_cert, result, opts)
  local interval = opts.poll_interval or 5
  local deadline = sys.now() + (opts.poll_max or 300)
  local content = core.issuer_and_subject(cas.ca, state.subject or "")
  result.polls = result.polls or 0
  while result.status == "PENDING" do
    if opts.state_file then
      local ok, err = M.save_state(opts.state_file, self, state, key, signer_cert)
      if not ok then return nil, err, "input" end
    end
    if sys.now() + interval > deadline then
      result.note = ("still PENDING after %d poll(s); resume with --resume %s"):format(result.polls, opts.state_file or "STATE")
      return result
    end
    self:log("PENDING: polling again in %g s", interval)
    sys.sleep(interval)
    result.polls = result.polls + 1
    local reply, err, code = self:transact(alg, cas, core.CERTPOLL, content, signer_cert, key, state.transaction_id, key, result)
    if not reply then return nil, err, code end
    merge(result, reply)
  end
  return result
end

--- Enrolls: returns {status, fail_info?, certificate_pem?, chain_pem?, certificate?, transaction_id,
-- method, cipher, digest, checks, exchanges, key = pkey, ...}.
-- opts: key (a sceplab.pkey to use instead of generating one), poll_interval, poll_max, state_file.
function Client:enroll(profile, opts)
  opts = opts or {}
  if type(profile) ~= "table" then error("enroll: profile table expected", 2) end
  local alg, err, code = self:algorithms()
  if not alg then return nil, err, code end
  local cas
  cas, err, code = self:ca_certs()
  if not cas then return nil, err, code end
  local challenge
  challenge, err = challenge_of(profile)
  if err then return nil, err, "input" end
  local key = opts.key
  if not key then
    key, err, code = pkey.generate(key_spec(profile))
    if not key then return nil, err, code end
  end
  local csr, cerr, ccode = core.csr(key, {
    subject = profile.subject or "", san = profile.san, eku = profile.eku, key_usage = profile.key_usage,
    challenge = challenge, template = profile.template, digest = alg.digest,
  })
  if not csr then return nil, cerr, ccode end
  local signer_cert, serr, scode = core.selfsigned(key, profile.subject or "", alg.digest)
  if not signer_cert then return nil, serr, scode end
  local txid = key:transaction_id()
  -- What the profile says and what the CSR carries, side by side (escaped commas go wrong here).
  local requested = (require "sceplab.pure").x509.csr(csr)
  local result = { transaction_id = txid, cipher = alg.cipher, digest = alg.digest, ndes = alg.ndes,
                   exchanges = self.exchanges, key = key, ca_reasons = cas.reasons,
                   profile_subject = profile.subject, csr_subject = requested and requested.subject }
  local reply
  reply, err, code = self:transact(alg, cas, core.PKCSREQ, csr, signer_cert, key, txid, key, result)
  if not reply then return nil, err, code, result end
  merge(result, reply)
  if result.status == "FAILURE" and key:type() == "ec" then
    result.hint = "EC keys need a server that answers with ECDH key agreement; NDES and many others only do RSA key transport"
  end
  if result.status == "PENDING" then
    local state = { transaction_id = txid, subject = profile.subject or "" }
    return self:poll_until(alg, cas, state, key, signer_cert, result, opts)
  end
  return result
end

-- Whether two PEM (or DER) certificates are the same certificate.
local function same_cert(a, b)
  local x509 = (require "sceplab.pure").x509
  local da, db = x509.parse(a), x509.parse(b)
  local ca, cb = da and da.certificates and da.certificates[1], db and db.certificates and db.certificates[1]
  return ca ~= nil and cb ~= nil and ca.sha256 ~= nil and ca.sha256 == cb.sha256
end

--- Renews with an existing certificate and key: RenewalReq when the server advertises Renewal,
-- else a PKCSReq signed with the old certificate (what servers without Renewal expect).
-- opts.key: the new key (generated from the profile when absent); opts.reuse_key keeps the old one.
function Client:renew(cert_pem, old_key, profile, opts)
  opts = opts or {}
  profile = profile or {}
  local alg, err, code = self:algorithms()
  if not alg then return nil, err, code end
  local cas
  cas, err, code = self:ca_certs()
  if not cas then return nil, err, code end
  local key = opts.key or (opts.reuse_key and old_key)
  if not key then
    key, err, code = pkey.generate(key_spec(profile))
    if not key then return nil, err, code end
  end
  -- the identity renewed is the certificate's: its subject and SANs unless the profile says
  -- otherwise (a server renews only that identity without a challenge, as NDES does)
  local subject, san = profile.subject, profile.san
  if not subject or not san then
    local doc = (require "sceplab.pure").x509.parse(cert_pem)
    local old = doc and doc.certificates[1] or {}
    subject = subject or old.subject or ""
    if not san and old.san then
      san = {}
      for _, s in ipairs(old.san) do
        if s.type == "dns" or s.type == "email" or s.type == "upn" or s.type == "uri" or s.type == "ip" then
          san[#san + 1] = { type = s.type, value = s.value }
        end
      end
    end
  end
  local challenge
  challenge, err = challenge_of(profile)
  if err then return nil, err, "input" end
  local csr, cerr, ccode = core.csr(key, { subject = subject, san = san, eku = profile.eku,
    key_usage = profile.key_usage, challenge = challenge, template = profile.template, digest = alg.digest })
  if not csr then return nil, cerr, ccode end
  local caps = self.caps_cache
  local msgtype = caps.renewal and core.RENEWALREQ or core.PKCSREQ
  local txid = key:transaction_id()
  local result = { transaction_id = txid, cipher = alg.cipher, digest = alg.digest, key = key,
                   message_type = caps.renewal and "RenewalReq" or "PKCSReq", exchanges = self.exchanges }
  local reply
  reply, err, code = self:transact(alg, cas, msgtype, csr, cert_pem, old_key, txid, key, result)
  if not reply then return nil, err, code, result end
  merge(result, reply)
  -- a server that answers by transaction ID alone hands back the certificate being renewed (every
  -- client derives the ID from the key, so --reuse-key repeats it): nothing was renewed
  if result.status == "SUCCESS" and result.certificate_pem and same_cert(result.certificate_pem, cert_pem) then
    result.same_certificate = true
  end
  if result.status == "PENDING" then
    local state = { transaction_id = txid, subject = subject }
    -- polls are signed with the certificate that signed the request
    return self:poll_until(alg, cas, state, old_key, cert_pem, result, opts)
  end
  return result
end

--- Continues a PENDING enrollment from a state saved by enroll (same transaction, same key).
function Client:poll(state, opts)
  opts = opts or {}
  local alg, err, code = self:algorithms()
  if not alg then return nil, err, code end
  local cas
  cas, err, code = self:ca_certs()
  if not cas then return nil, err, code end
  local key, kerr, kcode = pkey.load(state.key_pem)
  if not key then return nil, "state: " .. kerr, kcode end
  local result = { transaction_id = state.transaction_id, status = "PENDING", key = key, exchanges = self.exchanges,
                   cipher = alg.cipher, digest = alg.digest }
  opts.state_file = opts.state_file or state.path
  return self:poll_until(alg, cas, state, key, state.signer_cert_pem, result, opts)
end

-- GetCert and GetCRL are signed with the requester's certificate and key.
function Client:simple(msgtype, content, cert_pem, key)
  local alg, err, code = self:algorithms()
  if not alg then return nil, err, code end
  local cas
  cas, err, code = self:ca_certs()
  if not cas then return nil, err, code end
  local result = { cipher = alg.cipher, digest = alg.digest, exchanges = self.exchanges }
  local txid = key:transaction_id()
  local reply
  reply, err, code = self:transact(alg, cas, msgtype, content, cert_pem, key, txid, nil, result)
  if not reply then return nil, err, code end
  return merge(result, reply)
end

--- GetCert: a certificate by the CA's issuer name and a serial number (hex).
function Client:getcert(serial_hex, cert_pem, key)
  local cas, err, code = self:ca_certs()
  if not cas then return nil, err, code end
  return self:simple(core.GETCERT, core.issuer_and_serial(cas.ca, serial_hex), cert_pem, key)
end

--- GetCRL: the CRL covering our certificate.
function Client:getcrl(cert_pem, key)
  return self:simple(core.GETCRL, core.issuer_and_serial(cert_pem), cert_pem, key)
end

--- GetNextCACert: the CA's rollover certificate(s), when it has them. The answer must be signed by
-- the current CA or its RA (as GetCACert gave them): {certificates = {PEM...}, signer, body,
-- content_type, exchanges}.
function Client:next_ca()
  local cas, err, code = self:ca_certs()
  if not cas then return nil, err, code end
  local resp
  resp, err, code = self:request("GetNextCACert", "GET", self.opts.ca_ident or "")
  if not resp then return nil, err, code end
  if resp.status ~= 200 then return nil, http_error("GetNextCACert", resp, self.url), "network", resp end
  local r, verr, vcode = core.next_ca(resp.body, { cas.ca, cas.signer })
  if not r then return nil, verr, vcode end
  r.body, r.content_type, r.exchanges = resp.body, resp.content_type, self.exchanges
  return r
end

--- Saves the state of a PENDING enrollment (the private key included: mode 0600).
function M.save_state(path, client, state, key, signer_cert)
  local json = require "sceplab.json"
  local doc = { url = client.url, transaction_id = state.transaction_id, subject = state.subject,
                key_pem = key:pem(), signer_cert_pem = signer_cert, saved = os.date("!%Y-%m-%dT%H:%M:%SZ") }
  return sys.write_private(path, json.encode(doc) .. "\n")
end

--- Loads a saved state: a table for Client:poll, or nil, message.
function M.load_state(path)
  local text, err = sys.read_file(path, 1 << 20)
  if not text then return nil, err end
  local doc, jerr = (require "sceplab.json").decode(text)
  if type(doc) ~= "table" or not doc.transaction_id or not doc.key_pem or not doc.url then
    return nil, path .. ": not a sceplab poll state (" .. tostring(jerr or "missing fields") .. ")"
  end
  doc.path = path
  return doc
end

return M
