-- Interop with a real peer: micromdm's scepserver (Debian package `scep`), on loopback, with its
-- own CA. Every issued certificate is checked by `openssl verify` against that CA.
local h = require "helper"
local json = require "cjson"

describe("enrollment against micromdm scepserver", function()
  local server, work

  setup(function()
    server = h.scepserver("-challenge s3cret -allowrenew 0")
    work = h.tmpdir()
  end)

  teardown(function()
    h.stop(server)
    os.execute("rm -rf " .. h.shquote(work))
  end)

  local n = 0
  local function enroll(extra, subject)
    n = n + 1
    local key, cert = ("%s/k%d.pem"):format(work, n), ("%s/c%d.pem"):format(work, n)
    local args = { "enroll", "--url", server.url, "--challenge", "s3cret", "--subject",
                   subject or ("CN=device-%d-%d,O=sceplab"):format(n, math.random(1e6)),
                   "--key-out", key, "--cert-out", cert, "--json" }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    local code, out, err = h.sceplab(args)
    return code, out, err, key, cert
  end

  for _, case in ipairs({
    { "--method", "post", "--cipher", "aes128", "--key-type", "rsa:2048" },
    { "--method", "get", "--cipher", "aes256", "--key-type", "rsa:2048" },
    { "--method", "post", "--cipher", "des3", "--key-type", "rsa:4096" },
    { "--method", "get", "--cipher", "des3", "--key-type", "rsa:2048", "--digest", "sha1" },
    -- (--oaep is covered by tests/unit/test_scep.c: micromdm's scepserver only does PKCS#1 v1.5)
  }) do
    it("enrolls with " .. table.concat(case, " "), function()
      local code, out, err, key, cert = enroll(case)
      assert.are.equal(0, code, err)
      local r = json.decode(out)
      assert.are.equal("SUCCESS", r.status)
      assert.are.equal(case[2]:upper(), r.method)
      assert.are.equal(case[4], r.cipher)
      for _, c in ipairs(r.checks) do assert.is_true(c.ok, c.name) end
      local ok, why = h.openssl_verify(server.ca, cert)
      assert.is_true(ok, why)
      local p = io.popen("stat -c %a " .. h.shquote(key))
      assert.are.equal("600", p:read("l"))
      p:close()
      local kp = io.popen((h.CLEAN .. "openssl pkey -in %s -pubout | openssl sha256; openssl x509 -in %s -pubkey -noout | openssl sha256")
        :format(h.shquote(key), h.shquote(cert)))
      local a, b = kp:read("l"), kp:read("l")
      kp:close()
      assert.are.equal(a, b) -- the certificate carries the key we wrote
    end)
  end

  -- a ready key, as scripts/bench client hands one (scepclient reads PKCS#1 PEM only): sceplab reads
  -- an RSA key by OpenSSL's built-in method in each unencrypted form, and writes it back as PKCS#8
  it("enrolls with a ready RSA key in each form --key takes", function()
    local base = work .. "/ready"
    assert(os.execute((h.CLEAN .. "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s.p8.pem 2>/dev/null && " ..
      "openssl rsa -in %s.p8.pem -traditional -out %s.rsa.pem 2>/dev/null && openssl rsa -in %s.p8.pem -outform DER -traditional " ..
      "-out %s.rsa.der 2>/dev/null && openssl pkey -in %s.p8.pem -outform DER -out %s.p8.der"):format(base, base, base, base, base, base, base)))
    local function pub(cmd)
      local p = io.popen(h.CLEAN .. cmd .. " | openssl sha256")
      local d = p:read("l")
      p:close()
      return d
    end
    local want = pub(("openssl pkey -in %s.p8.pem -pubout"):format(h.shquote(base)))
    for _, form in ipairs({ "rsa.pem", "p8.pem", "rsa.der", "p8.der" }) do
      local code, out, err, key, cert = enroll({ "--key", base .. "." .. form })
      assert.are.equal(0, code, err)
      assert.are.equal("SUCCESS", json.decode(out).status)
      assert.is_true((h.openssl_verify(server.ca, cert)))
      assert.are.equal(want, pub(("openssl x509 -in %s -pubkey -noout"):format(h.shquote(cert))), form)
      assert.matches("^%-%-%-%-%-BEGIN PRIVATE KEY%-%-%-%-%-\n", h.read(key))
      assert.are.equal(want, pub(("openssl pkey -in %s -pubout"):format(h.shquote(key))), form)
    end
  end)

  it("reports a wrong challenge as FAILURE with its failInfo, exit 1", function()
    local code, out = h.sceplab({ "enroll", "--url", server.url, "--challenge", "wrong", "--subject", "CN=nope",
                                  "--key-out", work .. "/x.key", "--cert-out", work .. "/x.pem", "--json" })
    assert.are.equal(1, code)
    local r = json.decode(out)
    assert.are.equal("FAILURE", r.status)
    assert.are.equal("badRequest", r.fail_info)
    assert.is_nil(io.open(work .. "/x.key"))
  end)

  it("renews with RenewalReq signed by the current certificate", function()
    local code, _, err, key, cert = enroll({})
    assert.are.equal(0, code, err)
    local k2, c2 = work .. "/renewed.key", work .. "/renewed.pem"
    local rc, out, rerr = h.sceplab({ "renew", "--url", server.url, "--challenge", "s3cret", "--cert", cert, "--key", key,
                                      "--key-out", k2, "--cert-out", c2, "--json" })
    assert.are.equal(0, rc, rerr)
    local r = json.decode(out)
    assert.are.equal("RenewalReq", r.message_type)
    assert.are.equal("SUCCESS", r.status)
    assert.is_true((h.openssl_verify(server.ca, c2)))
    assert.are_not.equal(h.read(key), h.read(k2)) -- a new key unless --reuse-key
  end)

  it("pins the CA: a wrong --ca-fingerprint stops before PKIOperation", function()
    local before = #h.lines(h.read(server.log))
    local code, _, err = enroll({ "--ca-fingerprint", string.rep("AB", 32) })
    assert.are.equal(1, code)
    assert.matches("no certificate matches %-%-ca%-fingerprint", err)
    local log = table.concat(h.lines(h.read(server.log)), "\n", before + 1)
    assert.not_matches("PKIOperation", log)
    local fp = io.popen(h.CLEAN .. "openssl x509 -in " .. h.shquote(server.ca) .. " -noout -fingerprint -sha256"):read("l"):match("=(.+)")
    local ok = enroll({ "--ca-fingerprint", fp })
    assert.are.equal(0, ok)
  end)

  it("writes a trace that sceplab decode reads back", function()
    local dir = work .. "/trace"
    local code, _, err = enroll({ "--trace", dir })
    assert.are.equal(0, code, err)
    local p = io.popen("ls " .. h.shquote(dir))
    local files = p:read("a")
    p:close()
    assert.matches("GetCACaps%-request%.txt", files)
    assert.matches("PKIOperation%-request%.json", files)
    assert.matches("PKIOperation%-response%.json", files)
    local reqfile = files:match("(%d+%-PKIOperation%-response%.bin)")
    local rc, out = h.sceplab({ "decode", dir .. "/" .. reqfile })
    assert.are.equal(0, rc)
    assert.matches("CertRep %(3%), SUCCESS", out)
  end)

  it("is scriptable from Lua: sceplab.scep.client", function()
    local sceplab = require "sceplab"
    local c = sceplab.scep.client{ url = server.url }
    local caps = assert(c:caps())
    assert.is_true(caps.post and caps.aes and caps.renewal)
    local cas = assert(c:ca_certs())
    assert.matches("BEGIN CERTIFICATE", cas.ca)
    for _, spec in ipairs({ "rsa:2048" }) do
      local key = assert(sceplab.scep.pkey.generate(spec))
      assert.matches("^sceplab.pkey %(RSA 2048, private%)$", tostring(key))
      local r = assert(c:enroll({ url = server.url, subject = "CN=lua-" .. math.random(1e6), challenge = "s3cret",
                                  san = { { type = "dns", value = "lua.example" } } }, { key = key }))
      assert.are.equal("SUCCESS", r.status)
      assert.are.equal("dns", r.certificate.san and r.certificate.san[1].type or "dns")
      local bad = assert(c:enroll({ url = server.url, subject = "CN=x", challenge = function() return "nope" end }))
      assert.are.equal("FAILURE", bad.status)
    end
    local nothing, msg, code = sceplab.scep.client{ url = "http://127.0.0.1:9/scep", timeout = 2 }:caps()
    assert.is_nil(nothing)
    assert.are.equal("network", code)
    assert.matches("127%.0%.0%.1:9", msg)
  end)

  -- The client parses the certificates it is handed with pki/rsa_decode.c's engine registered;
  -- OpenSSL's cleanup at exit calls that engine back, after lua5.4 has unloaded core.so.
  it("lets a Lua process that enrolled exit cleanly", function()
    local script = h.write(h.tmpname(), ([[
local sceplab = require "sceplab"
local c = sceplab.scep.client{ url = %q }
local key = assert(sceplab.scep.pkey.load(io.open(%q):read("a")))
local r = assert(c:enroll({ subject = "CN=exit-%d", challenge = "s3cret" }, { key = key }))
assert(r.status == "SUCCESS", r.status)
]]):format(server.url, h.fixture("pki/device.key"), math.random(1e6)))
    local ok, how, code = os.execute("lua5.4 " .. h.shquote(script) .. " >/dev/null 2>&1")
    os.remove(script)
    assert.are.same({ true, "exit", 0 }, { ok, how, code })
  end)

  it("probes the server", function()
    local code, out = h.sceplab({ "probe", server.url, "--json" })
    assert.are.equal(0, code)
    local r = json.decode(out)
    local by = {}
    for _, c in ipairs(r.checks) do by[c.id] = c end
    assert.are.equal("ok", by.getcacaps.status)
    assert.are.equal("ok", by.getcacert.status)
    assert.are.equal("ok", by["long-url"].status)
  end)
end)

describe("clients and their kept-open connections", function()
  local server
  setup(function() server = h.scepserver() end)
  teardown(function() h.stop(server) end)

  it("lets a script make clients in a loop without running out of file descriptors", function()
    local script = h.write(h.tmpname() .. ".lua", ([[
      local sceplab = require "sceplab"
      for i = 1, 400 do
        local c = sceplab.scep.client{ url = %q }
        assert(c:caps())
      end
      local c <close> = sceplab.scep.client{ url = %q }
      assert(c:caps())
      c:close()
      assert(c:caps()) -- closed: the next request gets a connection of its own
      print("done")
    ]]):format(server.url, server.url))
    local out = h.tmpname()
    local ok = os.execute(("ulimit -n 128; env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=1 %s run %s >%s 2>&1"):format(
      h.shquote(h.bin), h.shquote(script), h.shquote(out)))
    local text = h.read(out)
    os.remove(script)
    os.remove(out)
    assert.is_true(ok, text)
    assert.matches("done", text)
  end)
end)

describe("network failures", function()
  it("exit 4 when nothing listens", function()
    local code, _, err = h.sceplab({ "caps", "http://127.0.0.1:9/scep", "--timeout", "2" })
    assert.are.equal(4, code)
    assert.matches("127%.0%.0%.1:9", err)
  end)
end)
