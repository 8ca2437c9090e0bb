-- sceplab serve under attack, identity: who may get which certificate. Renewal authorises only the
-- identity of the certificate that signs it; a transaction ID alone decides nothing; an Intune
-- challenge gives one certificate; a request is signed by the CSR's key or by a certificate of the
-- requester; the certificate profile comes from the policy, not from the CSR. Real peers where the
-- attacks were found: micromdm's scepclient, sceplab's own client, openssl on what was issued.
local h = require "helper"
local sceplab = require "sceplab"
local core = require "sceplab.core.scep"
local pkey = sceplab.scep.pkey
local cjson = require "cjson"

local function sh_out(cmd)
  local p = io.popen(h.CLEAN .. cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- Starts `sceplab serve` on a free port; returns {url, dir, pid, log}.
local function start(dir, args, env)
  local log = h.tmpname() .. ".serve.log"
  local parts = { "env" }
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. h.shquote(v) end
  parts[#parts + 1] = h.shquote(h.bin) .. " serve --dir " .. h.shquote(dir) .. " --port 0 -v"
  for _, a in ipairs(args or {}) do parts[#parts + 1] = h.shquote(a) end
  local pid = h.spawn(table.concat(parts, " "), log)
  local url, text = h.wait_log(log, "listening on (%S+)")
  assert(url, "sceplab serve did not start: " .. tostring(text))
  return { url = url, dir = dir, pid = pid, log = log }
end

local function stop(s)
  if s then h.kill(s.pid) end
end

local function new_ca()
  local dir = h.tmpname()
  assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
  return dir
end

local function serial_of(pem_file)
  return (sh_out("openssl x509 -noout -serial -in " .. h.shquote(pem_file))):match("serial=(%x+)")
end

local function text_of(pem_file)
  return (sh_out("openssl x509 -noout -text -in " .. h.shquote(pem_file)))
end

local function list(dir)
  local _, out = h.sceplab({ "ca", "list", "--dir", dir, "--json" })
  return cjson.decode(out)
end

-- Sends one pkiMessage built here (what no ordinary client sends): content under txid, signed by
-- signer_cert/signer_key. Returns the reply as the client verified it (status, fail_info,
-- certificate_pem), checking only that it answers this transaction.
local function send(url, msgtype, content, signer_cert, signer_key, txid)
  local c = sceplab.scep.client{ url = url }
  local alg = assert(c:algorithms())
  local cas = assert(c:ca_certs())
  local r, err = c:transact(alg, cas, msgtype, content, signer_cert, signer_key, txid, nil, {})
  c:close()
  assert(r, err)
  return r
end

-- A CSR of key (a sceplab.pkey) and the self-signed certificate that signs its message.
local function csr_of(key, subject, opts)
  opts = opts or {}
  local csr = assert(core.csr(key, { subject = subject, challenge = opts.challenge, san = opts.san, eku = opts.eku,
                                     key_usage = opts.key_usage }))
  return csr, assert(core.selfsigned(key, subject))
end

local function new_key() return assert(pkey.generate("rsa:2048")) end

describe("sceplab renew", function()
  it("says so, exit 1, when a renewal gets back the certificate it renews", function()
    -- without Renewal advertised, renew sends a PKCSReq signed by the old certificate; with the
    -- same key, subject and challenge it is the enrollment's request again, and a resend gets the
    -- stored answer (RFC 8894 4.3): the very certificate being renewed
    local dir = new_ca()
    local s = start(dir, { "--caps", "POSTPKIOperation,SHA-256,AES" }, { SCEPLAB_CHALLENGE = "s3cret" })
    local k, r = h.tmpname(), h.tmpname()
    local env = { SCEPLAB_CHALLENGE = "s3cret" }
    assert.are.equal(0, (h.sceplab_env(env, { "enroll", "--url", s.url, "--subject", "CN=resent", "--key-out", k .. ".key",
                                              "--cert-out", k .. ".pem" })))
    local code, out, err = h.sceplab_env(env, { "renew", "--url", s.url, "--reuse-key", "--cert", k .. ".pem", "--key",
                                                k .. ".key", "--key-out", r .. ".key", "--cert-out", r .. ".pem" })
    stop(s)
    assert.are.equal(1, code, out .. err)
    assert.matches("the certificate being renewed", err, 1, true)
    assert.is_nil(io.open(r .. ".pem"))
  end)
end)
