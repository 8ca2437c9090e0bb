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

local sh_out = h.sh_out

-- Starts `sceplab serve` on a free port; returns {url, dir, pid, log}.
local function start(dir, args, env) return h.serve(dir, args, env) end

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

describe("renewal (item: renewal mints any identity)", function()
  it("authorises only the signer's subject and SANs, from a certificate not revoked (ndes-otp)", function()
    local dir = new_ca()
    local _, pw = h.sceplab({ "ca", "challenge", "--dir", dir })
    local s = start(dir, { "--policy", "ndes-otp" })
    local k = h.tmpname()
    local c0, o0, e0 = h.sceplab_env({ SCEPLAB_CHALLENGE = pw:match("%x+") }, { "enroll", "--url", s.url, "--subject",
      "CN=dev1,O=Contoso", "--san", "dns:dev1.contoso.com", "--key-out", k .. ".key", "--cert-out", k .. ".pem" })
    assert.are.equal(0, c0, o0 .. e0)
    local function renew(out, extra)
      local args = { "renew", "--url", s.url, "--cert", k .. ".pem", "--key", k .. ".key", "--key-out", out .. ".key",
                     "--cert-out", out .. ".pem" }
      for _, a in ipairs(extra or {}) do args[#args + 1] = a end
      return h.sceplab(args)
    end
    -- a device with one ordinary certificate asks for the administrator's identity, no challenge
    local evil = h.tmpname()
    local c1, o1 = renew(evil, { "--subject", "CN=Administrator", "--san", "upn:administrator@contoso.com" })
    -- its own identity renews (the client carries the old certificate's SANs over)
    local good = h.tmpname()
    local c2, o2, e2 = renew(good)
    -- and once its certificate is revoked, not even that
    assert.are.equal(0, (h.sceplab({ "ca", "revoke", "--dir", dir, serial_of(k .. ".pem") })))
    local late = h.tmpname()
    local c3, o3 = renew(late)
    stop(s)
    assert.are.equal(1, c1, o1)
    assert.matches("RenewalReq FAILURE", o1, 1, true)
    assert.is_nil(io.open(evil .. ".pem"))
    assert.are.equal(0, c2, o2 .. e2)
    local t = text_of(good .. ".pem")
    assert.matches("Subject: CN = dev1, O = Contoso", t, 1, true)
    assert.matches("DNS:dev1.contoso.com", t, 1, true)
    assert.are.equal(1, c3, o3)
    assert.is_nil(io.open(late .. ".pem"))
    local why = {}
    for _, r in ipairs(list(dir)) do if r.why then why[#why + 1] = r.why end end
    why = table.concat(why, "\n")
    assert.matches("not the signer's subject", why, 1, true)
    assert.matches("the signing certificate is revoked", why, 1, true)
  end)
end)

describe("a transaction ID alone decides nothing (item: answer by transaction ID)", function()
  it("renews with the same key (sceplab renew --reuse-key) into a new certificate", function()
    local dir = new_ca()
    local s = start(dir, {}, { SCEPLAB_CHALLENGE = "s3cret" })
    local k, r = h.tmpname(), h.tmpname()
    local env = { SCEPLAB_CHALLENGE = "s3cret" }
    assert.are.equal(0, (h.sceplab_env(env, { "enroll", "--url", s.url, "--subject", "CN=same-key", "--key-out", k .. ".key",
                                              "--cert-out", k .. ".pem" })))
    local code, out, err = h.sceplab_env(env, { "renew", "--url", s.url, "--reuse-key", "--cert", k .. ".pem", "--key",
                                                k .. ".key", "--key-out", r .. ".key", "--cert-out", r .. ".pem" })
    stop(s)
    assert.are.equal(0, code, out .. err)
    assert.matches("RenewalReq SUCCESS", out, 1, true)
    assert.are_not.equal(serial_of(k .. ".pem"), serial_of(r .. ".pem"))
    assert.are.equal((sh_out("openssl x509 -noout -pubkey -in " .. h.shquote(k .. ".pem"))),
                     (sh_out("openssl x509 -noout -pubkey -in " .. h.shquote(r .. ".pem"))))
  end)

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

  it("issues afresh to micromdm's scepclient re-using its key with a new subject, and after a mistyped challenge", function()
    local dir = new_ca()
    local s = start(dir, { "--allow-des" }, { SCEPLAB_CHALLENGE = "s3cret" })
    local function genkey()
      local key = h.tmpname()
      assert(os.execute(h.CLEAN .. "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | " ..
        h.CLEAN .. "openssl rsa -traditional -out " .. h.shquote(key) .. " 2>/dev/null"))
      return key
    end
    -- scepclient keeps csr.pem and self.pem beside the key: each run in a directory of its own, the key copied
    local function run(key, cn, challenge)
      local work = h.tmpdir()
      assert(os.execute("cp " .. h.shquote(key) .. " " .. h.shquote(work .. "/key.pem")))
      local p = io.popen(("cd %s && %sscepclient -server-url %s -challenge %s -cn %s -private-key key.pem -certificate cert.pem 2>&1")
        :format(h.shquote(work), h.CLEAN, h.shquote(s.url), h.shquote(challenge), h.shquote(cn)))
      local out = p:read("a")
      p:close()
      return out, work .. "/cert.pem"
    end
    local k1, k2 = genkey(), genkey()
    local o1, c1 = run(k1, "first", "s3cret")
    local o2, c2 = run(k1, "second", "s3cret")
    local o3 = run(k2, "typo", "s3creT")
    local o4, c4 = run(k2, "typo", "s3cret")
    stop(s)
    assert.matches("pkiStatus=SUCCESS", o1, 1, true)
    assert.matches("CN = first", text_of(c1), 1, true)
    assert.matches("pkiStatus=SUCCESS", o2, 1, true)
    assert.matches("CN = second", text_of(c2), 1, true)
    assert.are_not.equal(serial_of(c1), serial_of(c2))
    assert.matches("failInfo: badRequest", o3, 1, true)
    assert.matches("pkiStatus=SUCCESS", o4, 1, true)
    assert.matches("CN = typo", text_of(c4), 1, true)
  end)

  it("answers another key sending a victim's transaction ID with a wrong challenge: FAILURE, never the victim's certificate", function()
    local dir = new_ca()
    local s = start(dir, {}, { SCEPLAB_CHALLENGE = "s3cret" })
    local victim = new_key()
    local vcsr, vself = csr_of(victim, "CN=victim", { challenge = "s3cret" })
    local txid = victim:transaction_id()
    local first = send(s.url, core.PKCSREQ, vcsr, vself, victim, txid)
    local attacker = new_key()
    local acsr, aself = csr_of(attacker, "CN=victim", { challenge = "guess" })
    local stolen = send(s.url, core.PKCSREQ, acsr, aself, attacker, txid)
    -- the victim's retry still gets its certificate
    local again = send(s.url, core.PKCSREQ, vcsr, vself, victim, txid)
    stop(s)
    assert.are.equal("SUCCESS", first.status)
    assert.are.equal("FAILURE", stolen.status)
    assert.are.equal("badRequest", stolen.fail_info)
    assert.is_nil(stolen.certificate_pem)
    assert.are.equal("SUCCESS", again.status)
    assert.are.equal(first.certificate_pem, again.certificate_pem)
  end)
end)

describe("one Intune challenge, one certificate (item: token reuse)", function()
  it("issues one certificate for one CertEnrollToken to three keys; the first one's retry still gets it", function()
    local dir = new_ca()
    local s = start(dir, { "--policy", "intune" })
    local _, tok = h.sceplab({ "intune", "token", "--dir", dir, "--subject", "CN=erin,O=Contoso" })
    tok = tok:gsub("%s", "")
    local env = { SCEPLAB_CHALLENGE = tok }
    local keys, codes = {}, {}
    for i = 1, 3 do
      keys[i] = h.tmpname()
      codes[i] = (h.sceplab_env(env, { "enroll", "--url", s.url, "--subject", "CN=erin,O=Contoso", "--key-out",
                                        keys[i] .. ".key", "--cert-out", keys[i] .. ".pem" }))
    end
    -- Windows retries the same transaction (same key, same request)
    local rc, ro, re = h.sceplab_env(env, { "enroll", "--url", s.url, "--subject", "CN=erin,O=Contoso", "--key", keys[1] .. ".key",
                                            "--key-out", keys[1] .. "-again.key", "--cert-out", keys[1] .. "-again.pem" })
    stop(s)
    assert.are.same({ 0, 1, 1 }, codes)
    assert.are.equal(0, rc, ro .. re)
    assert.are.equal(h.read(keys[1] .. ".pem"), h.read(keys[1] .. "-again.pem"))
    local issued, why = 0, {}
    for _, r in ipairs(list(dir)) do
      if r.state == "issued" then issued = issued + 1 end
      if r.why then why[#why + 1] = r.why end
    end
    assert.are.equal(1, issued)
    assert.are.equal(2, #why)
    for _, w in ipairs(why) do assert.matches("the challenge was used already", w, 1, true) end
    local svc = sh_out("cat " .. h.shquote(dir .. "/logs") .. "/CertificateRegistrationPoint_*.svclog")
    assert.matches("Phase 2 validation failed: the challenge was used already", svc, 1, true)
    -- diagnose reads the refusals as a reused challenge, not an expired one
    local _, out = h.sceplab({ "diagnose", "--format", "json", dir .. "/logs" })
    local ids = {}
    for _, f in ipairs(cjson.decode(out).findings) do ids[f.id] = true end
    assert.is_true(ids["challenge-reused"], out)
    assert.is_nil(ids["challenge-expired"])
  end)
end)

describe("who signs a request (RFC 8894 3.3.1)", function()
  it("refuses a PKCSReq signed by a self-signed certificate of another key (badMessageCheck)", function()
    local dir = new_ca()
    local s = start(dir, {}, { SCEPLAB_CHALLENGE = "s3cret" })
    local a, b = new_key(), new_key()
    local csr = csr_of(a, "CN=a", { challenge = "s3cret" })
    local bself = assert(core.selfsigned(b, "CN=a"))
    local r = send(s.url, core.PKCSREQ, csr, bself, b, a:transaction_id())
    stop(s)
    assert.are.equal("FAILURE", r.status)
    assert.are.equal("badMessageCheck", r.fail_info)
    assert.are.same({}, list(dir))
    assert.matches("signed by a key other than the CSR's", h.read(s.log), 1, true)
  end)
end)

describe("the certificate profile (static policy)", function()
  local dir, s
  setup(function()
    dir = new_ca()
    s = start(dir, {}, { SCEPLAB_CHALLENGE = "s3cret" })
  end)
  teardown(function() stop(s) end)

  -- Enrolls key with a CSR asking for opts; returns the reply and the certificate file, if any.
  local function ask(subject, opts)
    opts.challenge = "s3cret"
    local key = new_key()
    local csr, self = csr_of(key, subject, opts)
    local r = send(s.url, core.PKCSREQ, csr, self, key, key:transaction_id())
    local file
    if r.certificate_pem then file = h.write(h.tmpname() .. ".pem", r.certificate_pem) end
    return r, file
  end

  it("refuses a subject equal to the CA's, keyCertSign, a wildcard DNS name and an administrator UPN", function()
    local ca_subject = ask("CN=sceplab Issuing CA", {})
    local cert_sign = ask("CN=signer", { key_usage = { "digitalSignature", "keyCertSign" } })
    local wildcard = ask("CN=www", { san = { { type = "dns", value = "*.contoso.com" } } })
    local upn = ask("CN=Administrator", { san = { { type = "upn", value = "administrator@contoso.com" } } })
    for name, r in pairs({ ca_subject = ca_subject, cert_sign = cert_sign, wildcard = wildcard, upn = upn }) do
      assert.are.equal("FAILURE", r.status, name)
      assert.is_nil(r.certificate_pem, name)
    end
    local why = {}
    for _, row in ipairs(list(dir)) do if row.why then why[#why + 1] = row.why end end
    why = table.concat(why, "\n")
    assert.matches("the subject is the CA's", why, 1, true)
    assert.matches("keyCertSign", why, 1, true)
    assert.matches("wildcard", why, 1, true)
    assert.matches("upn", why, 1, true)
  end)

  -- Sends a CSR openssl made from the [v3] section given (extensions a CSR may carry that
  -- sceplab's own client never puts there); returns the reply.
  local function ask_openssl(cn, v3)
    local work = h.tmpdir()
    local conf = h.write(work .. "/req.cnf", "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n" ..
      "req_extensions = v3\n[dn]\nCN = " .. cn .. "\n[attrs]\nchallengePassword = s3cret\n[v3]\n" .. v3)
    assert(os.execute(("%sopenssl req -new -newkey rsa:2048 -nodes -keyout %s -config %s -outform DER -out %s 2>/dev/null")
      :format(h.CLEAN, h.shquote(work .. "/k.pem"), h.shquote(conf), h.shquote(work .. "/req.der"))))
    local key = assert(pkey.load(h.read(work .. "/k.pem")))
    return send(s.url, core.PKCSREQ, h.read(work .. "/req.der"), assert(core.selfsigned(key, "CN=" .. cn)), key,
                key:transaction_id())
  end

  it("refuses basicConstraints CA:TRUE, and a SAN extension asked twice (the second one a UPN)", function()
    local ca = ask_openssl("sub-ca", "basicConstraints = critical,CA:TRUE\n")
    -- two subjectAltName extensions: the second by OID, an administrator's UPN
    local twice = ask_openssl("twice", "subjectAltName = DNS:twice.contoso.com\n2.5.29.17 = DER:" ..
      "302BA029060A2B060104018237140203A01B0C1961646D696E6973747261746F7240636F6E746F736F2E636F6D\n")
    assert.are.equal("FAILURE", ca.status)
    assert.are.equal("FAILURE", twice.status)
    assert.is_nil(twice.certificate_pem)
    local why = {}
    for _, row in ipairs(list(dir)) do if row.why then why[#why + 1] = row.why end end
    why = table.concat(why, "\n")
    assert.matches("CA:TRUE", why, 1, true)
    assert.matches("extension 2.5.29.17 twice", why, 1, true)
  end)

  it("drops EKUs and key usages outside the profile: openssl sees client authentication only, CA:FALSE", function()
    local r, file = ask("CN=tool", { eku = { "clientAuth", "codeSigning", "anyExtendedKeyUsage", "1.3.6.1.4.1.311.20.2.1" },
                                     key_usage = { "digitalSignature", "keyEncipherment", "decipherOnly" } })
    assert.are.equal("SUCCESS", r.status)
    local t = text_of(file)
    assert.matches("TLS Web Client Authentication", t, 1, true)
    assert.is_nil(t:find("Code Signing", 1, true))
    assert.is_nil(t:find("Any Extended Key Usage", 1, true))
    assert.is_nil(t:find("1.3.6.1.4.1.311.20.2.1", 1, true))
    assert.matches("Digital Signature, Key Encipherment\n", t, 1, true)
    assert.matches("CA:FALSE", t, 1, true)
    -- a request asking for none gets the profile's: never a certificate for any purpose
    local r2, file2 = ask("CN=plain", {})
    assert.are.equal("SUCCESS", r2.status)
    local t2 = text_of(file2)
    assert.matches("X509v3 Extended Key Usage", t2, 1, true)
    assert.matches("TLS Web Client Authentication", t2, 1, true)
  end)
end)

describe("the certificate profile from --set (docs/policies.md)", function()
  it("widens the SAN types to UPN and narrows the EKUs to clientAuth; a name it does not know stops serve", function()
    local dir = new_ca()
    local env = { SCEPLAB_CHALLENGE = "s3cret" }
    local s = start(dir, { "--set", "allow_san=dns,upn", "--set", "allow_eku=clientAuth" }, env)
    local k, w = h.tmpname(), h.tmpname()
    local c1, o1, e1 = h.sceplab_env(env, { "enroll", "--url", s.url, "--subject", "CN=alice", "--san",
      "upn:alice@contoso.com", "--eku", "serverAuth", "--eku", "clientAuth", "--key-out", k .. ".key", "--cert-out", k .. ".pem" })
    local c2 = h.sceplab_env(env, { "enroll", "--url", s.url, "--subject", "CN=web", "--san", "dns:*.contoso.com",
      "--key-out", w .. ".key", "--cert-out", w .. ".pem" })
    stop(s)
    assert.are.equal(0, c1, o1 .. e1)
    local t = text_of(k .. ".pem")
    assert.matches("othername: UPN::alice@contoso.com", t, 1, true)
    assert.matches("TLS Web Client Authentication\n", t, 1, true)
    assert.is_nil(t:find("TLS Web Server Authentication", 1, true))
    assert.are.equal(1, c2)
    local code, _, err = h.sceplab_env(env, { "serve", "--dir", dir, "--port", "0", "--set", "allow_san=dns,x400" })
    assert.are.equal(2, code)
    assert.matches("allow_*: san[2] is no SAN type: x400", err, 1, true)
    local c4, _, e4 = h.sceplab_env(env, { "serve", "--dir", dir, "--port", "0", "--set", "allow_eku=clientAuth,notAnEku" })
    assert.are.equal(2, c4)
    assert.matches("allow_*: eku[2] is no EKU", e4, 1, true)
  end)
end)

describe("a ca.db from before requests had an identity", function()
  it("is migrated in place, idempotently: its rows kept, a resend of an old request still answered from them", function()
    local dir = new_ca()
    local env = { SCEPLAB_CHALLENGE = "s3cret" }
    local s = start(dir, {}, env)
    local k = h.tmpname()
    assert.are.equal(0, (h.sceplab_env(env, { "enroll", "--url", s.url, "--subject", "CN=legacy", "--key-out", k .. ".key",
                                              "--cert-out", k .. ".pem" })))
    stop(s)
    -- the table as it was: one row per transaction ID, no identity, no used-token table, and no
    -- schema version (kept since: a database without one is brought up by every migration)
    local py = h.write(h.tmpname() .. ".py", [[
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("""
BEGIN;
CREATE TABLE old(transaction_id TEXT PRIMARY KEY, state TEXT NOT NULL, subject TEXT, csr BLOB, serial TEXT, why TEXT,
                 created INTEGER NOT NULL, updated INTEGER NOT NULL);
INSERT INTO old SELECT transaction_id, state, subject, csr, serial, why, created, updated FROM requests;
DROP TABLE requests; ALTER TABLE old RENAME TO requests; DROP TABLE IF EXISTS used_tokens;
DELETE FROM meta WHERE key = 'schema_version';
COMMIT;
""")
print(",".join(r[1] for r in db.execute("PRAGMA table_info(requests)")))
]])
    local cols = sh_out("python3 " .. h.shquote(py) .. " " .. h.shquote(dir .. "/ca.db"))
    assert.matches("^transaction_id,state,subject,csr,serial,why,created,updated\n$", cols)
    local first = list(dir)
    local again = list(dir)
    assert.are.equal(1, #first)
    assert.are.same(first, again)
    assert.are.equal("issued", first[1].state)
    local s2 = start(dir, {}, env)
    local code, out, err = h.sceplab_env(env, { "enroll", "--url", s2.url, "--subject", "CN=legacy", "--key", k .. ".key",
                                                "--key-out", k .. "-2.key", "--cert-out", k .. "-2.pem" })
    local c3 = h.sceplab_env(env, { "enroll", "--url", s2.url, "--subject", "CN=legacy-renamed", "--key", k .. ".key",
                                    "--key-out", k .. "-3.key", "--cert-out", k .. "-3.pem" })
    stop(s2)
    assert.are.equal(0, code, out .. err)
    assert.are.equal(h.read(k .. ".pem"), h.read(k .. "-2.pem"))
    assert.are.equal(0, c3)
    assert.matches("CN = legacy%-renamed", text_of(k .. "-3.pem"))
    local rows = list(dir)
    assert.are.equal(2, #rows)
    assert.are.equal(rows[1].transaction_id, rows[2].transaction_id)
  end)
end)
