-- sceplab serve and sceplab ca: an NDES-faithful SCEP server over an embedded CA, checked with
-- real peers: micromdm's scepclient and sceplab's own client enroll, `openssl verify` checks every
-- certificate, `openssl crl` the CRL, curl what NDES answers on the bare URL.
local h = require "helper"

local sh_out = h.sh_out

-- Starts `sceplab serve` on a free port; returns {url, dir, pid, log}.
local function start(dir, args, env) return h.serve(dir, args, env) end

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
    -- the policy said PENDING, not how to issue: the administrator gives lifetime, template, EKUs
    local code, out = h.sceplab({ "ca", "approve", "--dir", dir, txid, "--days", "30", "--template", "Machine",
                                  "--eku", "clientAuth" })
    assert.are.equal(0, code)
    assert.matches("issued", out, 1, true)
    for _ = 1, 100 do
      if io.open(key .. ".pem") then break end
      os.execute("sleep 0.1")
    end
    stop(s)
    assert.matches(": OK", verify(dir, key .. ".pem"))
    local _, dec = h.sceplab({ "decode", "--json", key .. ".pem" })
    local c = require("cjson").decode(dec).certificates[1]
    local function t(iso) return require("sceplab.time").parse(iso) end
    assert.is_true(math.abs(t(c.not_after) - t(c.not_before) - 30 * 86400 - 300) < 5, c.not_before .. " " .. c.not_after)
    assert.are.equal("Machine", c.template_name)
    assert.are.equal("1.3.6.1.5.5.7.3.2", c.eku[1].oid)
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

describe("sceplab serve killed inside the issuing transaction", function()
  it("loses the half-issued certificate whole (nothing listed), and issues it afresh when the client retries", function()
    local dir = h.tmpname()
    -- a slow CA: each issuance waits 4 s between writing the certificate and committing it
    local s = start(dir, { "--policy", "none", "--ca-latency", "4000" })
    local work = h.tmpdir()
    assert(os.execute(h.CLEAN .. "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " ..
      h.shquote(work .. "/key.pem") .. " 2>/dev/null"))
    local client = h.spawn(("%s enroll --url %s --subject CN=crash --key %s --key-out %s --cert-out %s"):format(
      h.shquote(h.bin), h.shquote(s.url), h.shquote(work .. "/key.pem"), h.shquote(work .. "/k1.pem"),
      h.shquote(work .. "/c1.pem")), work .. "/client.log")
    local decided = false
    for _ = 1, 100 do
      if h.read(s.log):find("CN=crash: allow", 1, true) then decided = true break end
      os.execute("sleep 0.1")
    end
    assert.is_true(decided, h.read(s.log))
    os.execute("sleep 0.5")
    os.execute("kill -9 " .. s.pid)
    h.kill(client)
    local cjson = require "cjson"
    local _, list = h.sceplab({ "ca", "list", "--dir", dir, "--json" })
    assert.are.same({}, cjson.decode(list)) -- no request, no certificate: the transaction rolled back
    assert.is_nil(io.open(work .. "/c1.pem"))
    local s2 = start(dir, { "--policy", "none" })
    local code, out, err = h.sceplab({ "enroll", "--url", s2.url, "--subject", "CN=crash", "--key", work .. "/key.pem",
      "--key-out", work .. "/k2.pem", "--cert-out", work .. "/c2.pem" })
    stop(s2)
    assert.are.equal(0, code, out .. err)
    local _, list2 = h.sceplab({ "ca", "list", "--dir", dir, "--json" })
    local rows = cjson.decode(list2)
    assert.are.equal(1, #rows)
    assert.are.equal("issued", rows[1].state)
    local serial = (sh_out("openssl x509 -noout -serial -in " .. h.shquote(work .. "/c2.pem"))):match("serial=(%x+)")
    assert.are.equal(serial:upper(), rows[1].serial:upper())
  end)
end)

describe("challenge policies", function()
  it("reads a policy's answer inside the call: a field that raises when read fails the request, not the server", function()
    local dir = h.tmpname()
    -- reason is read by the server's C code, outside any protected call: the server used to exit
    local pol = h.write(h.tmpname() .. ".lua", [[
return {
  description = "answers with a table whose reason raises when read",
  check = function(req, ctx)
    if req.subject == "CN=hostile" then
      return setmetatable({ decision = "deny" }, { __index = function(_, k)
        if k == "reason" then error("reading reason") end
      end })
    end
    return ctx.allow()
  end,
}]])
    local s = start(dir, { "--policy", pol })
    local k1, k2 = h.tmpname(), h.tmpname()
    local c1, _, e1 = enroll(s, "CN=hostile", k1, nil, {})
    local c2, _, e2 = enroll(s, "CN=fine", k2, nil, {})
    stop(s)
    assert.are.equal(4, c1, e1)
    assert.matches("HTTP 500 .*reading reason", e1)
    assert.are.equal(0, c2, e2)
    assert.not_matches("internal error", h.read(s.log))
  end)

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

-- certmonger's scep-submit -g with the PKCSReq sceplab's client made (its --trace): returns the
-- work directory (key.pem, env.pem the envelope certmonger hands back) and the command to run.
local function certmonger_submit(url, dir, extra)
  local submit = "/usr/lib/certmonger/scep-submit"
  local work = h.tmpdir()
  assert(os.execute(h.CLEAN .. "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " ..
    h.shquote(work .. "/key.pem") .. " 2>/dev/null"))
  local args = { "enroll", "--url", url, "--subject", "CN=certmonger", "--key", work .. "/key.pem",
                 "--key-out", work .. "/k.pem", "--cert-out", work .. "/c.pem", "--trace", work .. "/trace" }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  local _, out, err = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, args)
  local f = io.open(work .. "/trace/03-PKIOperation-request.txt", "rb")
  assert(f, "sceplab enroll made no PKIOperation: " .. out .. err)
  local b64 = f:read("a"):match("\n\n(%S+)")
  f:close()
  local lines = { "-----BEGIN PKCS7-----" }
  for i = 1, #b64, 64 do lines[#lines + 1] = b64:sub(i, i + 63) end
  lines[#lines + 1] = "-----END PKCS7-----\n"
  local msg = h.write(work .. "/msg.pem", table.concat(lines, "\n"))
  h.write(work .. "/chain.pem", h.read(dir .. "/ca.pem") .. h.read(dir .. "/root.pem"))
  local cmd = ("%s -u %s -r %s -N %s -I %s -g %s > %s"):format(submit, h.shquote(url), h.shquote(dir .. "/ra-sign.pem"),
    h.shquote(dir .. "/ca.pem"), h.shquote(work .. "/chain.pem"), h.shquote(msg), h.shquote(work .. "/env.pem"))
  return work, cmd
end

-- Opens the envelope certmonger handed back with our key: the certificate, checked.
local function certmonger_cert(work)
  assert(os.execute(("%sopenssl cms -decrypt -inform PEM -in %s -inkey %s -binary -out %s && %sopenssl pkcs7 -inform DER -in %s -print_certs -out %s")
    :format(h.CLEAN, h.shquote(work .. "/env.pem"), h.shquote(work .. "/key.pem"), h.shquote(work .. "/p7.der"), h.CLEAN,
            h.shquote(work .. "/p7.der"), h.shquote(work .. "/cert.pem"))))
  return work .. "/cert.pem"
end

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
    local work, cmd = certmonger_submit(s.url, dir, { "--poll-interval", "0.2", "--poll-max", "1" })
    local _, _, pending = os.execute(h.CLEAN .. cmd)
    assert.are.equal(1, pending) -- "the CA is still thinking"
    local _, list = h.sceplab({ "ca", "list", "--dir", dir })
    local txid = list:match("pending%s+(%x+)")
    assert.are.equal(0, (h.sceplab({ "ca", "approve", "--dir", dir, txid })))
    local _, _, issued = os.execute(h.CLEAN .. cmd)
    stop(s)
    assert.are.equal(0, issued)
    -- certmonger verified the RA's signature and handed back the envelope: it opens with our key
    assert.matches(": OK", verify(dir, certmonger_cert(work)))
    assert.matches("CN%s*=%s*certmonger", (sh_out("openssl x509 -noout -subject -in " .. h.shquote(work .. "/cert.pem"))))
  end)
end)

-- The findings and verdict `sceplab diagnose --format json` gives for a folder.
local function diagnosis(folder)
  local cjson = require "cjson"
  local code, out, err = h.sceplab({ "diagnose", "--format", "json", folder })
  assert(out ~= "", err)
  local rep = cjson.decode(out)
  local ids, by = {}, {}
  for _, f in ipairs(rep.findings) do
    ids[#ids + 1] = f.id by[f.id] = f
    -- a finding the cause explains was raised too (it is shown as the cause's evidence)
    for _, g in ipairs(f.explains or {}) do ids[#ids + 1] = g.id by[g.id] = g end
  end
  table.sort(ids)
  return ids, by, code
end

describe("sceplab intune and serve --policy intune", function()
  local dir, s
  setup(function()
    dir = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
    s = start(dir, { "--policy", "intune" })
  end)
  teardown(function() stop(s) end)

  local function token(extra)
    local args = { "intune", "token", "--dir", dir, "--subject", "CN=alice,O=Contoso", "--user", "alice@contoso.com",
                   "--san", "upn:alice@contoso.com" }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    local code, out, err = h.sceplab(args)
    assert.are.equal(0, code, err)
    return (out:gsub("%s+", ""))
  end

  it("issues a CertEnrollToken in Intune's structure that the decoder reads back and the connector verifies", function()
    local file = h.tmpname() .. ".token"
    assert.are.equal(0, (h.sceplab({ "intune", "token", "--dir", dir, "--subject", "CN=alice,O=Contoso", "--user", "alice@contoso.com",
      "--device", "58c120b7-a22a-428f-89de-7b0856e0c43e", "--san", "upn:alice@contoso.com", "--eku", "clientAuth", "-o", file })))
    assert.are.equal("600\n", (sh_out("stat -c %a " .. h.shquote(file)))) -- a challenge is a secret
    local xml = (sh_out("base64 -d " .. h.shquote(file)))
    assert.matches("^<CertEnrollToken><Data><CertEnrollChallenge>MII", xml)
    assert.matches("</CertEnrollChallenge><SignerThumbprint>%x+</SignerThumbprint></Data><Signature>3082", xml)
    local code, out = h.sceplab({ "decode", file })
    assert.are.equal(0, code)
    assert.matches("Device ID%s+58c120b7%-a22a%-428f%-89de%-7b0856e0c43e", out)
    assert.matches("User ID%s+alice@contoso.com", out)
    assert.matches("Request id%s+ModelName=AC_", out)
    assert.matches("pkcs7%-signedData, 1 signer%(s%), 0 certificate%(s%) %[CN=sceplab Intune challenge signing, sha256%], detached", out)
    assert.matches("pkcs7%-envelopedData, 1 recipient%(s%)", out)
    -- openssl verifies the detached signature over the <Data> element with the signing certificate
    local data = h.write(h.tmpname(), xml:match("<Data>.-</Data>"))
    local sig = xml:match("<Signature>(%x+)</Signature>"):gsub("%x%x", function(c) return string.char(tonumber(c, 16)) end)
    local sigf = h.write(h.tmpname(), sig)
    local v = sh_out(("openssl cms -verify -binary -inform DER -in %s -content %s -certfile %s -noverify -out /dev/null")
      :format(h.shquote(sigf), h.shquote(data), h.shquote(dir .. "/intune-sign.pem")))
    assert.matches("Verification successful", v, 1, true)
    local c2, o2 = h.sceplab({ "intune", "verify", "--dir", dir, file })
    assert.are.equal(0, c2)
    assert.matches("subject%s+CN=alice,O=Contoso", o2)
    assert.matches("ekus%s+1%.3%.6%.1%.5%.5%.7%.3%.2", o2)
    -- another tenant's state directory cannot verify it: phase 1
    local other = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", other })))
    local c3, o3 = h.sceplab({ "intune", "verify", "--dir", other, file })
    assert.are.equal(1, c3)
    assert.matches("phase 1 failed: the token is signed by %x+, not the registered signing certificate %(SignatureVerificationFailed", o3)
  end)

  it("wraps a token in the SyncML profile Intune sends Windows, which decodes and enrolls against serve", function()
    local prof = h.tmpname() .. ".xml"
    assert.are.equal(0, (h.sceplab({ "intune", "profile", "--dir", dir, "--subject", "CN=alice,O=Contoso", "--user",
      "alice@contoso.com", "--san", "upn:alice@contoso.com", "--url", s.url, "-o", prof })))
    local code, out = h.sceplab({ "decode", prof })
    assert.are.equal(0, code)
    assert.matches("ClientCertificateInstall/SCEP/{1}/Install/Enroll", out, 1, true)
    assert.matches("SANs%s+upn%(11%) alice@contoso.com", out)
    assert.matches("CA thumbprint%s+%x+%s+%-> matches root CN=sceplab Root CA", out)
    assert.matches("Challenge%s+Intune CertEnrollToken", out)
    local key = h.tmpname()
    local c2, o2, e2 = h.sceplab({ "enroll", "--profile", prof, "--key-out", key .. ".key", "--cert-out", key .. ".pem" })
    assert.are.equal(0, c2, o2 .. e2)
    assert.matches(": OK", verify(dir, key .. ".pem"))
    local ext = sh_out("openssl x509 -noout -ext subjectAltName,extendedKeyUsage -in " .. h.shquote(key .. ".pem"))
    assert.matches("TLS Web Client Authentication", ext, 1, true)
  end)

  it("writes the connector's logs as it does, and diagnose reads a healthy run as the server succeeding", function()
    local d2 = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", d2 })))
    local s2 = start(d2, { "--policy", "intune" })
    local tok = (h.sceplab({ "intune", "token", "--dir", d2, "--subject", "CN=bob", "--san", "upn:bob@contoso.com" }))
    local _, t = h.sceplab({ "intune", "token", "--dir", d2, "--subject", "CN=bob", "--san", "upn:bob@contoso.com" })
    assert.are.equal(0, tok)
    local c, o = enroll(s2, "CN=bob", h.tmpname(), { "--san", "upn:bob@contoso.com" }, { SCEPLAB_CHALLENGE = t:gsub("%s", "") })
    stop(s2)
    assert.are.equal(0, c, o)
    local logs = d2 .. "/logs"
    local plugin = h.read(logs .. "/NDESPlugin.log")
    assert.matches('<!%[LOG%[Verify challenge returns true%]LOG%]!><time="%d+:%d%d:%d%d%.%d%d%d[+-]%d+" date="%d%d%-%d%d%-%d%d%d%d" component="NDESPlugin"', plugin)
    local svc = sh_out("cat " .. h.shquote(logs) .. "/CertificateRegistrationPoint_*.svclog")
    assert.matches("VerifyRequest: Phase 3 validation succeeded", svc, 1, true)
    local crs = sh_out("ls " .. h.shquote(logs .. "/CertificateRequestStatus/Succeed"))
    assert.matches("^%x+%.CRS\n$", crs)
    assert.are.equal("", (sh_out("ls " .. h.shquote(logs .. "/CertificateRequestStatus/Processing"))))
    local _, dec = h.sceplab({ "decode", logs .. "/CertificateRequestStatus/Succeed/" .. crs:gsub("%s", "") })
    assert.matches("Status%s+0", dec)
    local iis = sh_out("cat " .. h.shquote(logs) .. "/u_ex*.log")
    assert.matches("POST /CertificateRegistrationSvc/Certificate/VerifyRequest %- %d+ %- 127%.0%.0%.1 NDES_Plugin %- 200 0 0", iis)
    assert.matches("POST /CertificateRegistrationSvc/Certificate/Notify %- %d+ %- 127%.0%.0%.1 NDES_Plugin %- 204 0 0", iis)
    local ids, _, code = diagnosis(logs)
    assert.are.same({ "server-succeeded" }, ids)
    assert.are.equal(0, code)
  end)

  it("refuses an expired token, a subject or a key the token was not issued for, each with its reason; diagnose names each", function()
    local d2 = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", d2 })))
    local s2 = start(d2, { "--policy", "intune" })
    local function tok(extra)
      local args = { "intune", "token", "--dir", d2, "--subject", "CN=carol" }
      for _, a in ipairs(extra or {}) do args[#args + 1] = a end
      local _, out = h.sceplab(args)
      return (out:gsub("%s", ""))
    end
    local expired = tok({ "--issued-at", "2020-05-24T10:15:52Z" })
    local c1 = enroll(s2, "CN=carol", h.tmpname(), {}, { SCEPLAB_CHALLENGE = expired })
    local c2 = enroll(s2, "CN=mallory", h.tmpname(), {}, { SCEPLAB_CHALLENGE = tok() })
    local c3 = enroll(s2, "CN=carol", h.tmpname(), { "--key-type", "rsa:1024" }, { SCEPLAB_CHALLENGE = tok() })
    stop(s2)
    assert.are.same({ 1, 1, 1 }, { c1, c2, c3 })
    local serve_log = h.read(s2.log)
    assert.matches("deny (ChallengeExpired: the challenge expired at 2020-05-24T11:15:52", serve_log, 1, true)
    assert.matches("deny (SubjectNameMismatch: Subject Name in CSR CN=mallory and challenge CN=carol do not match)", serve_log, 1, true)
    assert.matches("deny (KeyLengthMismatch: Key length in CSR 1024 and challenge 2048 do not match)", serve_log, 1, true)
    local svc = sh_out("cat " .. h.shquote(d2 .. "/logs") .. "/CertificateRegistrationPoint_*.svclog")
    assert.matches("Phase 2 validation failed: the challenge expired at 2020-05-24T11:15:52.0000000Z. ErrorCode: 0x411 (CRPSCEPChallenge_Expired) Reason: ChallengeExpired", svc, 1, true)
    local ids, by, code = diagnosis(d2 .. "/logs")
    assert.are.same({ "challenge-expired", "csr-key-mismatch", "subject-mismatch" }, ids)
    assert.are.equal(1, code)
    -- each names the CRP's line and the policy module's failing exit, not another request's
    for _, id in ipairs(ids) do
      local files = {}
      for _, e in ipairs(by[id].evidence) do files[#files + 1] = e.file:match("[^/]+$"):match("^(%a+)") end
      table.sort(files)
      assert.are.same({ "CertificateRegistrationPoint", "NDESPlugin" }, files, id)
    end
    -- nothing was issued, so the connector filed no request status
    assert.is_nil((os.execute("test -e " .. h.shquote(d2 .. "/logs/CertificateRequestStatus"))))
  end)

  it("logs NDES's event 29 for a wrong static password, and diagnose reads it as the password rejected", function()
    local d2 = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", d2 })))
    local s2 = start(d2, {}, { SCEPLAB_CHALLENGE = "right" })
    local c = enroll(s2, "CN=dave", h.tmpname(), {}, { SCEPLAB_CHALLENGE = "wrong" })
    stop(s2)
    assert.are.equal(1, c)
    local ev = h.read(d2 .. "/logs/NDES-Application.xml")
    assert.matches("<Provider Name='Microsoft-Windows-NetworkDeviceEnrollmentService'", ev, 1, true)
    assert.matches("<EventID Qualifiers='49152'>29</EventID>", ev, 1, true)
    assert.is_nil(io.open(d2 .. "/logs/NDESPlugin.log")) -- no connector, no policy module log
    local ids = diagnosis(d2 .. "/logs")
    assert.are.same({ "challenge-rejected" }, ids)
  end)
end)

describe("sceplab serve, NDES's admin page", function()
  it("hands out one-time passwords in UTF-16 behind credentials, as scrapers read them (a GET, with --admin-get-compat), until the cache is full", function()
    local dir = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
    local s = start(dir, { "--policy", "ndes-otp", "--admin-user", "ndesadmin", "--password-max", "2", "--admin-get-compat" },
                    { SCEPLAB_ADMIN_PASSWORD = "adm1n" })
    local admin = s.url:gsub("/mscep/mscep%.dll$", "/mscep_admin/")
    assert.are.equal("401", (sh_out("curl -s -o /dev/null -w '%{http_code}' " .. h.shquote(admin))))
    assert.are.equal("401", (sh_out("curl -s -o /dev/null -w '%{http_code}' -u ndesadmin:wrong " .. h.shquote(admin))))
    local function page()
      local raw = h.tmpname()
      sh_out(("curl -s -u ndesadmin:adm1n -D %s %s -o %s"):format(h.shquote(raw .. ".h"), h.shquote(admin), h.shquote(raw)))
      assert.matches("charset=utf%-16", h.read(raw .. ".h"))
      assert.are.equal("\255\254", h.read(raw):sub(1, 2)) -- UTF-16LE with its BOM
      return (sh_out("iconv -f UTF-16 -t UTF-8 " .. h.shquote(raw)))
    end
    local p1 = page()
    -- the expression MDMs use to scrape it (Fleet's, for one)
    local pw = p1:match("[Tt]he enrollment challenge password is: <B> (%S+)")
    assert.matches("^%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x$", pw)
    local md5 = (sh_out("openssl x509 -noout -fingerprint -md5 -in " .. h.shquote(dir .. "/ca.pem"))):match("=(%S+)"):gsub(":", "")
    local shown = p1:match("CA certificate is: <B> ([%x ]+) </B>"):gsub(" ", "")
    assert.are.equal(md5, shown)
    local key = h.tmpname()
    assert.are.equal(0, (enroll(s, "CN=router1", key, {}, { SCEPLAB_CHALLENGE = pw })))
    assert.are.equal(1, (enroll(s, "CN=router2", h.tmpname(), {}, { SCEPLAB_CHALLENGE = pw }))) -- used once
    -- two outstanding passwords fill a cache of two, as NDES's PasswordMax does
    page()
    page()
    assert.matches("The password cache is full.", page(), 1, true)
    stop(s)
    assert.matches(": OK", verify(dir, key .. ".pem"))
  end)
end)

describe("sceplab serve, CA rollover", function()
  it("announces and hands out the next CA (GetNextCACert, signed by the RA: openssl verifies), then switches to it", function()
    local dir = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
    local old = h.tmpname()
    local s = start(dir, {}, { SCEPLAB_CHALLENGE = "s3cret" })
    assert.are.equal(0, (enroll(s, "CN=before", old)))
    assert.are.equal(404, tonumber((sh_out("curl -s -o /dev/null -w '%{http_code}' " .. h.shquote(s.url .. "?operation=GetNextCACert")))))
    stop(s)
    local code, _, err = h.sceplab({ "ca", "rollover", "--dir", dir })
    assert.are.equal(0, code, err)
    local again, _, err2 = h.sceplab({ "ca", "rollover", "--dir", dir })
    assert.are.equal(1, again)
    assert.matches("made already", err2, 1, true)
    s = start(dir, {}, { SCEPLAB_CHALLENGE = "s3cret" })
    assert.matches("GetNextCACert\r\n", (sh_out("curl -s " .. h.shquote(s.url .. "?operation=GetCACaps"))), 1, true)
    -- sceplab's client verifies the signature with the RA certificate of GetCACert
    local c2, out2, e2 = h.sceplab({ "getca", s.url, "--next" })
    assert.are.equal(0, c2, e2)
    assert.matches("GetNextCACert: 1 certificate%(s%), signed by CN=SCEPLAB%-MSCEP%-RA", out2)
    -- and so does openssl, up to the root
    local work = h.tmpdir()
    sh_out(("curl -s %s -o %s"):format(h.shquote(s.url .. "?operation=GetNextCACert"), h.shquote(work .. "/next.der")))
    sh_out(("curl -s %s | openssl pkcs7 -inform DER -print_certs -out %s"):format(h.shquote(s.url .. "?operation=GetCACert"),
      h.shquote(work .. "/chain.pem")))
    h.write(work .. "/trust.pem", h.read(dir .. "/root.pem") .. h.read(dir .. "/ca.pem"))
    local v = sh_out(("openssl cms -verify -purpose any -inform DER -in %s -certfile %s -CAfile %s -out %s"):format(
      h.shquote(work .. "/next.der"), h.shquote(work .. "/chain.pem"), h.shquote(work .. "/trust.pem"), h.shquote(work .. "/next.p7")))
    assert.matches("Verification successful", v, 1, true)
    local fp = function(cmd) return (sh_out(cmd)):match("Fingerprint=(%S+)") end
    assert.are.equal(fp("openssl x509 -noout -fingerprint -in " .. h.shquote(dir .. "/next-ca.pem")),
      fp(("openssl pkcs7 -inform DER -in %s -print_certs | openssl x509 -noout -fingerprint"):format(h.shquote(work .. "/next.p7"))))
    stop(s)
    -- the switch: the next CA issues, NDES's RA pair is new, what the old CA issued still verifies
    local old_ra = fp("openssl x509 -noout -fingerprint -in " .. h.shquote(dir .. "/ra-sign.pem"))
    assert.are.equal(0, (h.sceplab({ "ca", "rollover", "--dir", dir, "--activate" })))
    assert.are_not.equal(old_ra, fp("openssl x509 -noout -fingerprint -in " .. h.shquote(dir .. "/ra-sign.pem")))
    s = start(dir, {}, { SCEPLAB_CHALLENGE = "s3cret" })
    local new = h.tmpname()
    assert.are.equal(0, (enroll(s, "CN=after", new)))
    stop(s)
    assert.matches(": OK", verify(dir, new .. ".pem"))
    local previous = (sh_out("ls " .. h.shquote(dir) .. " | grep '^ca-previous-.*[.]pem$'")):gsub("%s", "")
    assert.matches("^ca%-previous%-%x+%.pem$", previous)
    assert.matches(": OK", (sh_out(("openssl verify -CAfile %s -untrusted %s %s"):format(h.shquote(dir .. "/root.pem"),
      h.shquote(dir .. "/" .. previous), h.shquote(old .. ".pem")))))
    assert.is_nil(io.open(dir .. "/next-ca.pem"))
  end)
end)

describe("sceplab serve over HTTPS with the peers", function()
  local dir, s, url
  setup(function()
    dir = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
    s = start(dir, { "--allow-des", "--tls-cert", h.fixture("tls/localhost.pem"), "--tls-key", h.fixture("tls/localhost.key") },
              { SCEPLAB_CHALLENGE = "s3cret" })
    url = s.url:gsub("127%.0%.0%.1", "localhost")
  end)
  teardown(function() stop(s) end)

  it("issues to micromdm's scepclient over TLS (Go trusting our test root through SSL_CERT_FILE)", function()
    assert.matches("^https://", url)
    local work = h.tmpdir()
    assert(os.execute(h.CLEAN .. "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | " ..
      h.CLEAN .. "openssl rsa -traditional -out " .. h.shquote(work .. "/key.pem") .. " 2>/dev/null"))
    local p = io.popen(("cd %s && %sSSL_CERT_FILE=%s scepclient -server-url %s -challenge s3cret -cn tls-peer -private-key key.pem -certificate cert.pem 2>&1")
      :format(h.shquote(work), h.CLEAN, h.shquote(h.fixture("tls/ca-bundle.pem")), h.shquote(url)))
    local out = p:read("a")
    p:close()
    assert.matches("pkiStatus=SUCCESS", out, 1, true)
    assert.matches(": OK", verify(dir, work .. "/cert.pem"))
    -- and refuses a server its trust store does not vouch for, as a device would
    local q = io.popen(("cd %s && %sSSL_CERT_FILE=/dev/null scepclient -server-url %s -challenge s3cret -cn x -private-key key.pem -certificate other.pem 2>&1")
      :format(h.shquote(work), h.CLEAN, h.shquote(url)))
    local bad = q:read("a")
    q:close()
    assert.matches("certificate signed by unknown authority", bad, 1, true)
  end)

  it("survives clients that refuse its certificate (a TLS failure once killed it with SIGPIPE)", function()
    for _ = 1, 3 do
      local _, ok = sh_out("curl -s -o /dev/null --cacert /dev/null " .. h.shquote(url .. "?operation=GetCACaps"))
      assert.is_falsy(ok)
    end
    local code = (sh_out(("curl -s -o /dev/null -w '%%{http_code}' --cacert %s %s"):format(h.shquote(h.fixture("tls/ca-bundle.pem")),
      h.shquote(url .. "?operation=GetCACaps"))))
    assert.are.equal("200", code)
  end)

  it("answers certmonger's scep-submit over TLS with the CA file it is given (-R)", function()
    local submit = "/usr/lib/certmonger/scep-submit"
    local caps = (sh_out(("%s -u %s -R %s -c"):format(submit, h.shquote(url), h.shquote(h.fixture("tls/ca-bundle.pem")))))
    assert.matches("POSTPKIOperation", caps, 1, true)
    local certs = (sh_out(("%s -u %s -R %s -C"):format(submit, h.shquote(url), h.shquote(h.fixture("tls/ca-bundle.pem")))))
    assert.matches("BEGIN CERTIFICATE", certs, 1, true)
    local _, ok = sh_out(("%s -u %s -R /dev/null -c"):format(submit, h.shquote(url)))
    assert.is_falsy(ok)
    -- (its PKIOperation request over TLS is not tried: scep-submit hands -R to its first request
    -- only, so the second trusts the system store alone; the HTTP spec above covers PKIOperation)
  end)
end)

-- NDES's own state, seen with curl as an admin browses the SCEP URL: without the Intune policy
-- module the bare URL is NDES's page (200); with RA certificates chaining to a root no longer
-- trusted NDES cannot start (event 2) and every request is a 500; an expired policy certificate
-- stops the pool (503).
describe("sceplab serve: NDES's own certificates and the connector's installation", function()
  local function curl(url)
    return (sh_out("curl -s -o /dev/null -w '%{http_code}' " .. h.shquote(url)))
  end
  -- a new CA served by NDES with the Intune connector and one fault: the CA's folder and the server
  local function faulty(fault)
    local dir = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
    return dir, start(dir, { "--policy", "intune", "--fault", fault })
  end

  it("without the connector: NDES's page at the bare URL, SetupMsi.log 1603, the Intune challenge refused", function()
    local dir, s = faulty("connector-not-installed")
    local page = sh_out("curl -s " .. h.shquote(s.url))
    assert.matches("Network Device Enrollment Service allows you to obtain certificates", page, 1, true)
    assert.are.equal("200", curl(s.url .. "?operation=GetCACaps&message=x"))
    local code = enroll(s, "CN=nina", h.tmpname())
    stop(s)
    assert.are_not.equal(0, code)
    assert.matches("error status: 1603", h.read(dir .. "/logs/SetupMsi.log"), 1, true)
    assert.is_nil(io.open(dir .. "/logs/NDESPlugin.log")) -- no policy module, no log of it
    local ids = diagnosis(dir .. "/logs")
    assert.are.same({ "challenge-rejected", "connector-not-installed" }, ids)
  end)

  it("checks its RA certificates' chains: an untrusted root is event 2 and a 500 for every request", function()
    local dir, s = faulty("ra-chain-untrusted")
    assert.are.equal("500", curl(s.url .. "?operation=GetCACaps&message=x"))
    assert.are.equal("500", curl(s.url .. "?operation=GetCACert&message=x"))
    stop(s)
    local ev = h.read(dir .. "/logs/NDES-Application.xml")
    assert.matches("<EventID Qualifiers='49152'>2</EventID>", ev, 1, true)
    assert.matches("(0x800b0109). A certificate chain processed, but terminated in a root certificate", ev, 1, true)
    local _, n = ev:gsub("<Event ", "")
    assert.are.equal(1, n) -- once per cause, not per request
    -- CAPI2's chain for the RA certificate, as Windows logs it: the root untrusted
    local capi2 = h.read(dir .. "/logs/NDES-CAPI2.xml")
    assert.matches('<Result value="800B0109">', capi2, 1, true)
    assert.matches('subjectName="SCEPLAB-MSCEP-RA"', capi2, 1, true)
    assert.matches('CERT_TRUST_IS_UNTRUSTED_ROOT="true"', capi2, 1, true)
    local ids = diagnosis(dir .. "/logs")
    assert.are.same({ "ndes-500", "ra-chain-untrusted" }, ids)
    -- the same CA without the fault: the chain verifies (openssl agrees) and NDES answers
    assert.matches("ra%-sign%.pem: OK", (sh_out(("openssl verify -CAfile %s -untrusted %s %s"):format(
      h.shquote(dir .. "/root.pem"), h.shquote(dir .. "/ca.pem"), h.shquote(dir .. "/ra-sign.pem")))))
    s = start(dir, { "--policy", "intune" })
    assert.are.equal("200", curl(s.url .. "?operation=GetCACaps&message=x"))
    stop(s)
  end)

  it("an expired policy certificate fails Initialize: 0x800b0101 in NDESPlugin.log, 503 to devices", function()
    local dir, s = faulty("policy-cert-expired")
    assert.are.equal("503", curl(s.url .. "?operation=GetCACaps&message=x"))
    stop(s)
    local plugin = h.read(dir .. "/logs/NDESPlugin.log")
    assert.matches("Exiting Initialize with 0x800b0101", plugin, 1, true)
    -- the certificate NDESPlugin names is the one CAPI2 found expired
    local thumb = plugin:match("NDES thumbprint is (%x+)%.")
    local capi2 = h.read(dir .. "/logs/NDES-CAPI2.xml")
    assert.matches('fileRef="' .. thumb:upper() .. '.cer" subjectName="NDES01"', capi2, 1, true)
    assert.matches('CERT_TRUST_IS_NOT_TIME_VALID="true"', capi2, 1, true)
    assert.are.same({ "policy-cert-expired", "scep-app-pool-503" }, (diagnosis(dir .. "/logs")))
  end)
end)
