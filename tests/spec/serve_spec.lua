-- sceplab serve and sceplab ca: an NDES-faithful SCEP server over an embedded CA, checked with
-- real peers: micromdm's scepclient and sceplab's own client enroll, `openssl verify` checks every
-- certificate, `openssl crl` the CRL, curl what NDES answers on the bare URL.
local h = require "helper"

local function sh_out(cmd)
  local p = io.popen(h.CLEAN .. cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- Starts `sceplab serve` on a free port; returns {url, dir, pid, log}.
local function start(dir, args, env)
  local log = h.tmpname() .. ".serve.log" -- one per start: a restarted server must not be read from its predecessor's
  local parts = { "env" }
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. h.shquote(v) end
  parts[#parts + 1] = h.shquote(h.bin) .. " serve --dir " .. h.shquote(dir) .. " --port 0 -v"
  for _, a in ipairs(args or {}) do parts[#parts + 1] = h.shquote(a) end
  local pid = h.spawn(table.concat(parts, " "), log)
  local url
  local text = ""
  for _ = 1, 100 do
    local f = io.open(log, "rb") -- the shell creates it when the job starts
    text = f and f:read("a") or ""
    if f then f:close() end
    url = text:match("listening on (%S+)")
    if url then break end
    os.execute("sleep 0.1")
  end
  assert(url, "sceplab serve did not start: " .. text)
  return { url = url, dir = dir, pid = pid, log = log }
end

local function stop(s)
  if s then h.kill(s.pid) end
end

-- Enrolls with a new key written to KEY.key and the certificate to KEY.pem.
local function enroll(s, subject, key, extra, env)
  local args = { "enroll", "--url", s.url, "--subject", subject, "--key-out", key .. ".key", "--cert-out", key .. ".pem" }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  return h.sceplab_env(env or { SCEPLAB_CHALLENGE = "s3cret" }, args)
end

-- Enrolls again with the key of an earlier enrollment (the same transactionID), to OUT.
local function reenroll(s, subject, key, out, env)
  return h.sceplab_env(env or { SCEPLAB_CHALLENGE = "s3cret" },
    { "enroll", "--url", s.url, "--subject", subject, "--key", key .. ".key", "--key-out", out .. ".key", "--cert-out", out })
end

local function verify(dir, cert)
  return (sh_out(("openssl verify -CAfile %s -untrusted %s %s"):format(h.shquote(dir .. "/root.pem"),
    h.shquote(dir .. "/ca.pem"), h.shquote(cert))))
end

describe("sceplab ca init", function()
  it("makes root, issuing CA and NDES's two RA certificates, keys private, and refuses to do it twice", function()
    local dir = h.tmpname()
    local code, out, err = h.sceplab({ "ca", "init", "--dir", dir, "--ra-subject", "CN=NDES01-MSCEP-RA,O=Contoso" })
    assert.are.equal(0, code, err)
    assert.matches("CA made in", out, 1, true)
    for _, f in ipairs({ "root", "ca", "ra-sign", "ra-encrypt" }) do
      local mode = sh_out("stat -c %a " .. h.shquote(dir .. "/" .. f .. ".key"))
      assert.are.equal("600\n", mode, f .. ".key")
    end
    local chain = sh_out(("openssl verify -CAfile %s -untrusted %s %s %s"):format(h.shquote(dir .. "/root.pem"),
      h.shquote(dir .. "/ca.pem"), h.shquote(dir .. "/ra-sign.pem"), h.shquote(dir .. "/ra-encrypt.pem")))
    assert.matches("ra%-sign%.pem: OK", chain)
    assert.matches("ra%-encrypt%.pem: OK", chain)
    local sign = sh_out("openssl x509 -noout -text -in " .. h.shquote(dir .. "/ra-sign.pem"))
    assert.matches("CN = NDES01-MSCEP-RA", sign, 1, true)
    assert.matches("1.3.6.1.4.1.311.20.2.1", sign, 1, true) -- Certificate Request Agent
    local enc = sh_out("openssl x509 -noout -text -in " .. h.shquote(dir .. "/ra-encrypt.pem"))
    assert.matches("Key Encipherment", enc, 1, true)
    local again, _, err2 = h.sceplab({ "ca", "init", "--dir", dir })
    assert.are.equal(2, again)
    assert.matches("already holds a CA", err2, 1, true)
    local c3, _, err3 = h.sceplab({ "ca", "list", "--dir", dir .. "-missing" })
    assert.are.equal(2, c3)
    assert.matches("not a sceplab CA directory", err3, 1, true)
  end)
end)

describe("sceplab serve, static challenge", function()
  local dir, s
  setup(function()
    dir = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
    s = start(dir, { "--allow-des" }, { SCEPLAB_CHALLENGE = "s3cret" })
  end)
  teardown(function() stop(s) end)

  it("answers the bare URL with 403, GetCACaps, and GetCACert with the RA certificates and the chain", function()
    local out = sh_out("curl -s -i " .. h.shquote(s.url))
    assert.matches("^HTTP/1.1 403", out)
    local caps = sh_out("curl -s " .. h.shquote(s.url .. "?operation=GetCACaps"))
    assert.matches("POSTPKIOperation\r\nRenewal\r\n", caps, 1, true)
    local certs = sh_out(("curl -s %s | openssl pkcs7 -inform DER -print_certs -noout"):format(h.shquote(s.url .. "?operation=GetCACert&message=ca")))
    local subjects = {}
    for subj in certs:gmatch("subject=([^\n]+)") do subjects[#subjects + 1] = subj end
    assert.are.same({ "CN = SCEPLAB-MSCEP-RA", "CN = SCEPLAB-MSCEP-RA", "CN = sceplab Issuing CA", "CN = sceplab Root CA" }, subjects)
    local nf = sh_out("curl -s -o /dev/null -w '%{http_code}' " .. h.shquote(s.url:gsub("/mscep%.dll$", "/other.dll")))
    assert.are.equal("404", nf)
  end)

  it("issues to sceplab's client over POST, the certificate chaining to the root", function()
    local key = h.tmpname()
    local code, out, err = enroll(s, "CN=dev1,O=Contoso", key, { "--san", "dns:dev1.contoso.com" })
    assert.are.equal(0, code, err)
    assert.matches("Enrollment SUCCESS", out, 1, true)
    assert.matches(": OK", verify(dir, key .. ".pem"))
    local text = sh_out("openssl x509 -noout -text -in " .. h.shquote(key .. ".pem"))
    assert.matches("DNS:dev1.contoso.com", text, 1, true)
    assert.matches("CA:FALSE", text, 1, true)
  end)

  it("opens an RSA-OAEP envelope (Windows' key transport) and answers with OAEP and the request's AES-256", function()
    local key = h.tmpname()
    local code, out, err = enroll(s, "CN=windows-like", key, { "--oaep", "--cipher", "aes256" })
    assert.are.equal(0, code, err)
    assert.matches("aes256", out, 1, true)
    assert.matches(": OK", verify(dir, key .. ".pem"))
  end)

  it("issues to micromdm's scepclient, which envelopes with single DES (--allow-des; the reply is 3DES)", function()
    local work = h.tmpdir()
    assert(os.execute(h.CLEAN .. "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | " ..
      h.CLEAN .. "openssl rsa -traditional -out " .. h.shquote(work .. "/key.pem") .. " 2>/dev/null"))
    -- scepclient keeps csr.pem and self.pem beside its key: a directory of its own
    local p = io.popen(("cd %s && %sscepclient -server-url %s -challenge s3cret -cn peer -private-key key.pem -certificate cert.pem 2>&1")
      :format(h.shquote(work), h.CLEAN, h.shquote(s.url)))
    local out = p:read("a")
    p:close()
    assert.matches("pkiStatus=SUCCESS", out, 1, true)
    assert.matches(": OK", verify(dir, work .. "/cert.pem"))
  end)

  it("refuses a wrong challenge with FAILURE badRequest, and keeps refusing that transaction", function()
    local key = h.tmpname()
    local code, out = enroll(s, "CN=intruder", key, nil, { SCEPLAB_CHALLENGE = "guess" })
    assert.are.equal(1, code)
    assert.matches("Enrollment FAILURE", out, 1, true)
    assert.matches("badRequest", out, 1, true)
    local _, list = h.sceplab({ "ca", "list", "--dir", dir })
    assert.matches("rejected%s+%x+%s+CN=intruder%s+%(the challengePassword does not match%)", list)
    local log = h.read(s.log)
    assert.matches("PKCSReq %x+ CN=intruder: deny %(the challengePassword does not match%)", log)
    assert.is_nil(log:find("guess", 1, true), "the challenge must not be logged")
  end)

  it("gives a retried transaction the certificate it already issued", function()
    local key = h.tmpname()
    assert.are.equal(0, (enroll(s, "CN=retry", key)))
    local first = h.read(key .. ".pem")
    -- the same key is the same transactionID: the server answers from its database
    local code, _, err = reenroll(s, "CN=retry", key, key .. "-2.pem")
    assert.are.equal(0, code, err)
    assert.are.equal(first, h.read(key .. "-2.pem"))
  end)

  it("writes the IIS log NDES's IIS writes, which sceplab timeline reads back", function()
    local logs = dir .. "/logs"
    local code, out = h.sceplab({ "timeline", "--format", "jsonl", logs })
    assert.are.equal(0, code)
    local ops = {}
    for line in out:gmatch("[^\n]+") do
      local op, st = line:match('"scep_operation":"(%w+)".-"http_status":(%d+)')
      if not op then st, op = line:match('"http_status":(%d+).-"scep_operation":"(%w+)"') end
      if op then ops[op .. " " .. st] = true end
    end
    assert.is_true(ops["GetCACaps 200"])
    assert.is_true(ops["GetCACert 200"])
    assert.is_true(ops["PKIOperation 200"])
  end)

  it("answers what is no pkiMessage with HTTP 400, and a body over the limit with 413", function()
    local bad = h.write(h.tmpname(), "not a pkiMessage")
    local c1 = sh_out(("curl -s -o /dev/null -w '%%{http_code}' --data-binary @%s %s"):format(h.shquote(bad),
      h.shquote(s.url .. "?operation=PKIOperation")))
    assert.are.equal("400", c1)
    local big = h.write(h.tmpname(), string.rep("A", 200000))
    local c2 = sh_out(("curl -s -o /dev/null -w '%%{http_code}' --data-binary @%s %s"):format(h.shquote(big),
      h.shquote(s.url .. "?operation=PKIOperation")))
    assert.are.equal("413", c2)
    -- and it still serves
    assert.matches("POSTPKIOperation", sh_out("curl -s " .. h.shquote(s.url .. "?operation=GetCACaps")), 1, true)
  end)
end)

describe("sceplab serve, an EC CA", function()
  it("issues from EC root and issuing tiers, the RA pair staying RSA for key transport", function()
    local dir = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir, "--key", "ec:p256" })))
    assert.matches("id%-ecPublicKey", (sh_out("openssl x509 -noout -text -in " .. h.shquote(dir .. "/ca.pem"))))
    assert.matches("rsaEncryption", (sh_out("openssl x509 -noout -text -in " .. h.shquote(dir .. "/ra-encrypt.pem"))))
    local s = start(dir, { "--policy", "none" })
    local key = h.tmpname()
    local code, _, err = enroll(s, "CN=ec-issued", key, nil, {})
    stop(s)
    assert.are.equal(0, code, err)
    assert.matches(": OK", verify(dir, key .. ".pem"))
  end)
end)

describe("sceplab serve, GET PKIOperation and HTTPS", function()
  it("serves a client that GETs PKIOperation (no POSTPKIOperation advertised) over HTTPS", function()
    local dir = h.tmpname()
    local s = start(dir, { "--policy", "none", "--caps", "SHA-256,AES,Renewal",
                           "--tls-cert", h.fixture("tls/localhost.pem"), "--tls-key", h.fixture("tls/localhost.key") })
    local url = s.url:gsub("127%.0%.0%.1", "localhost")
    local key = h.tmpname()
    local code, out, err = h.sceplab({ "enroll", "--url", url, "--cacert", h.fixture("tls/ca-bundle.pem"),
      "--subject", "CN=get-client", "--key-out", key .. ".key", "--cert-out", key .. ".pem" })
    stop(s)
    assert.are.equal(0, code, err)
    assert.matches("https://localhost:%d+/certsrv/mscep/mscep.dll %(GET, aes128", out)
    assert.matches(": OK", verify(dir, key .. ".pem"))
  end)
end)

describe("sceplab serve, pending requests and the CA's other operations", function()
  it("leaves a request pending until `sceplab ca approve`, then the polling client gets it", function()
    local dir = h.tmpname()
    local s = start(dir, { "--policy", "manual" })
    local key = h.tmpname()
    local errf = h.tmpname()
    -- the client polls in the background; the administrator approves
    os.execute(("%s ASAN_OPTIONS=detect_leaks=0 %s enroll --url %s --subject CN=waiting --poll-interval 0.3 --poll-max 30 " ..
      "--key-out %s --cert-out %s >%s 2>&1 &"):format(h.CLEAN, h.shquote(h.bin), h.shquote(s.url), h.shquote(key .. ".key"),
      h.shquote(key .. ".pem"), h.shquote(errf)))
    local txid
    for _ = 1, 100 do
      local _, list = h.sceplab({ "ca", "list", "--dir", dir })
      txid = list:match("pending%s+(%x+)")
      if txid then break end
      os.execute("sleep 0.1")
    end
    assert.is_string(txid, "no pending request appeared")
    local code, out = h.sceplab({ "ca", "approve", "--dir", dir, txid })
    assert.are.equal(0, code)
    assert.matches("issued", out, 1, true)
    for _ = 1, 100 do
      if io.open(key .. ".pem") then break end
      os.execute("sleep 0.1")
    end
    stop(s)
    assert.matches(": OK", verify(dir, key .. ".pem"))
    local _, list = h.sceplab({ "ca", "list", "--dir", dir })
    assert.matches("issued%s+" .. txid, list)
  end)

  it("revokes a certificate and GetCRL returns a CRL openssl verifies, listing it; GetCert finds it by serial", function()
    local dir = h.tmpname()
    local s = start(dir, { "--policy", "none" })
    local key = h.tmpname()
    assert.are.equal(0, (enroll(s, "CN=to-revoke", key, nil, {})))
    local serial = sh_out("openssl x509 -noout -serial -in " .. h.shquote(key .. ".pem")):match("serial=(%x+)")
    assert.are.equal(0, (h.sceplab({ "ca", "revoke", "--dir", dir, serial, "--reason", "1" })))
    local crl = h.tmpname()
    local code, _, err = h.sceplab({ "getcrl", "--url", s.url, "--cert", key .. ".pem", "--key", key .. ".key", "--out", crl })
    assert.are.equal(0, code, err)
    local text = sh_out(("openssl crl -in %s -CAfile %s -noout -text"):format(h.shquote(crl), h.shquote(dir .. "/ca.pem")))
    assert.matches("verify OK", text, 1, true)
    assert.matches("Serial Number: " .. serial, text, 1, true)
    assert.matches("Key Compromise", text, 1, true)
    local again = h.tmpname()
    local c2, _, e2 = h.sceplab({ "getcert", "--url", s.url, "--cert", key .. ".pem", "--key", key .. ".key",
                                  "--serial", serial, "--out", again })
    stop(s)
    assert.are.equal(0, c2, e2)
    assert.are.equal(h.read(key .. ".pem"), h.read(again))
  end)

  it("hands out one-time passwords that work once, and renews without one (policy ndes-otp)", function()
    local dir = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
    local _, pw = h.sceplab({ "ca", "challenge", "--dir", dir })
    pw = pw:match("^(%x+)\n$")
    assert.is_string(pw)
    assert.are.equal(16, #pw)
    local s = start(dir, { "--policy", "ndes-otp" })
    local k1, k2 = h.tmpname(), h.tmpname()
    local c1 = enroll(s, "CN=first", k1, nil, { SCEPLAB_CHALLENGE = pw })
    local c2, o2 = enroll(s, "CN=second", k2, nil, { SCEPLAB_CHALLENGE = pw })
    -- a renewal signed by the certificate this CA issued needs no password, as with NDES
    local r = h.tmpname()
    local c3, o3, e3 = h.sceplab({ "renew", "--url", s.url, "--cert", k1 .. ".pem", "--key", k1 .. ".key",
                                   "--key-out", r .. ".key", "--cert-out", r .. ".pem" })
    stop(s)
    assert.are.equal(0, c1)
    assert.are.equal(1, c2)
    assert.matches("badRequest", o2, 1, true)
    assert.are.equal(0, c3, e3)
    assert.matches("RenewalReq SUCCESS", o3, 1, true)
    assert.matches(": OK", verify(dir, r .. ".pem"))
  end)

  it("keeps what it committed when killed with SIGKILL, and answers the transaction again after a restart", function()
    local dir = h.tmpname()
    local s = start(dir, { "--policy", "none" })
    local key = h.tmpname()
    assert.are.equal(0, (enroll(s, "CN=durable", key, nil, {})))
    os.execute("kill -9 " .. s.pid)
    os.execute("sleep 0.2")
    local s2 = start(dir, { "--policy", "none" })
    local code, _, err = reenroll(s2, "CN=durable", key, key .. "-again.pem", {})
    stop(s2)
    assert.are.equal(0, code, err)
    assert.are.equal(h.read(key .. ".pem"), h.read(key .. "-again.pem"))
  end)
end)

describe("challenge policies", function()
  it("refuses a policy file with an unknown field, naming the file and the field", function()
    local pol = h.write(h.tmpname() .. ".lua", 'return { description = "d", check = function() end, allow_all = true }')
    local code, _, err = h.sceplab({ "serve", "--dir", h.tmpname(), "--port", "0", "--policy", pol })
    assert.are.equal(3, code)
    assert.matches(pol .. ": unknown field 'allow_all'", err, 1, true)
  end)

  it("runs a user policy in the sandbox: it sees the CSR's subject and SANs and may not open files", function()
    local dir = h.tmpname()
    local pol = h.write(h.tmpname() .. ".lua", [[
return {
  description = "only contoso.com devices, two-day certificates",
  check = function(req, ctx)
    if rawget(_G, "io") ~= nil then return ctx.deny("io reachable") end
    for _, s in ipairs(req.san or {}) do
      if s.type == "dns" and s.value:match("%.contoso%.com$") then return ctx.allow({ days = 2 }) end
    end
    return ctx.deny("not a contoso.com device: " .. tostring(req.subject), "badRequest")
  end,
}]])
    local s = start(dir, { "--policy", pol })
    local k1, k2 = h.tmpname(), h.tmpname()
    local c1, _, e1 = enroll(s, "CN=laptop", k1, { "--san", "dns:laptop.contoso.com" }, {})
    local c2 = enroll(s, "CN=laptop", k2, { "--san", "dns:laptop.example.org" }, {})
    stop(s)
    assert.are.equal(0, c1, e1)
    assert.are.equal(1, c2)
    local dates = sh_out("openssl x509 -noout -startdate -enddate -in " .. h.shquote(k1 .. ".pem"))
    local function epoch(t) return tonumber((sh_out("date -u -d " .. h.shquote(t) .. " +%s"))) end
    local days = (epoch(dates:match("notAfter=([^\n]+)")) - epoch(dates:match("notBefore=([^\n]+)"))) / 86400
    assert.is_true(days > 1.9 and days < 2.1, "lifetime " .. days .. " days")
    assert.matches("not a contoso.com device: CN=laptop", h.read(s.log), 1, true)
  end)
end)

describe("sceplab serve with certmonger's scep-submit", function()
  local submit = "/usr/lib/certmonger/scep-submit"

  it("reads GetCACaps and GetCACert, and verifies and unwraps our CertRep: PENDING (1), then issued (0)", function()
    local dir = h.tmpname()
    local s = start(dir, { "--policy", "manual" })
    local caps = (sh_out(("%s -u %s -c"):format(submit, h.shquote(s.url))))
    assert.matches("POSTPKIOperation", caps, 1, true)
    local certs = (sh_out(("%s -u %s -C"):format(submit, h.shquote(s.url))))
    assert.matches("BEGIN CERTIFICATE", certs, 1, true)
    -- the PKCSReq sceplab's client sends (left pending: the client gives up after a second)
    local work = h.tmpdir()
    assert(os.execute(h.CLEAN .. "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " ..
      h.shquote(work .. "/key.pem") .. " 2>/dev/null"))
    h.sceplab({ "enroll", "--url", s.url, "--subject", "CN=certmonger", "--key", work .. "/key.pem",
                "--key-out", work .. "/k.pem", "--cert-out", work .. "/c.pem", "--poll-interval", "0.2", "--poll-max", "1",
                "--trace", work .. "/trace" })
    local b64 = h.read(work .. "/trace/03-PKIOperation-request.txt"):match("\n\n(%S+)")
    local lines = { "-----BEGIN PKCS7-----" }
    for i = 1, #b64, 64 do lines[#lines + 1] = b64:sub(i, i + 63) end
    lines[#lines + 1] = "-----END PKCS7-----\n"
    local msg = h.write(work .. "/msg.pem", table.concat(lines, "\n"))
    h.write(work .. "/chain.pem", h.read(dir .. "/ca.pem") .. h.read(dir .. "/root.pem"))
    local cmd = ("%s -u %s -r %s -N %s -I %s -g %s > %s"):format(submit, h.shquote(s.url), h.shquote(dir .. "/ra-sign.pem"),
      h.shquote(dir .. "/ca.pem"), h.shquote(work .. "/chain.pem"), h.shquote(msg), h.shquote(work .. "/env.pem"))
    local _, _, pending = os.execute(h.CLEAN .. cmd)
    assert.are.equal(1, pending) -- "the CA is still thinking"
    local _, list = h.sceplab({ "ca", "list", "--dir", dir })
    local txid = list:match("pending%s+(%x+)")
    assert.are.equal(0, (h.sceplab({ "ca", "approve", "--dir", dir, txid })))
    local _, _, issued = os.execute(h.CLEAN .. cmd)
    stop(s)
    assert.are.equal(0, issued)
    -- certmonger verified the RA's signature and handed back the envelope: it opens with our key
    assert(os.execute(("%sopenssl cms -decrypt -inform PEM -in %s -inkey %s -binary -out %s && %sopenssl pkcs7 -inform DER -in %s -print_certs -out %s")
      :format(h.CLEAN, h.shquote(work .. "/env.pem"), h.shquote(work .. "/key.pem"), h.shquote(work .. "/p7.der"), h.CLEAN,
              h.shquote(work .. "/p7.der"), h.shquote(work .. "/cert.pem"))))
    assert.matches(": OK", verify(dir, work .. "/cert.pem"))
    assert.matches("CN%s*=%s*certmonger", (sh_out("openssl x509 -noout -subject -in " .. h.shquote(work .. "/cert.pem"))))
  end)
end)
