-- Keys in an HSM: `sceplab ca init --pkcs11 URI` makes the CA's and RA's keys inside a PKCS#11
-- token, serve signs, decrypts and answers OCSP with them through OpenSSL's pkcs11 engine, and
-- no private key reaches the state directory. The token is a SoftHSM2 one in a temporary
-- directory, under its own SOFTHSM2_CONF; the clients are real (sceplab enroll, micromdm's
-- scepclient, openssl verify and ocsp, pkcs11-tool).
local h = require "helper"

local q = h.shquote
local sh_out = h.sh_out

local MODULES = { "/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                  "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so" }

local function module_path()
  for _, m in ipairs(MODULES) do
    local f = io.open(m, "rb")
    if f then f:close() return m end
  end
  error("SoftHSM2's PKCS#11 module is not installed (Debian: softhsm2)")
end

describe("keys in a PKCS#11 token (SoftHSM2)", function()
  local work, dir, env, s, module, uri

  setup(function()
    work = h.tmpdir()
    module = module_path()
    os.execute("mkdir -p " .. q(work .. "/tokens"))
    h.write(work .. "/softhsm2.conf", ("directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"):format(work))
    env = { SOFTHSM2_CONF = work .. "/softhsm2.conf", SCEPLAB_PKCS11_PIN = "4711", SCEPLAB_CHALLENGE = "s3cret" }
    local out, ok = sh_out(("SOFTHSM2_CONF=%s softhsm2-util --init-token --free --label 'sceplab spec' --so-pin 5678 --pin 4711"):format(
      q(env.SOFTHSM2_CONF)))
    assert(ok, out)
    dir = work .. "/state dir"
    uri = "pkcs11:token=sceplab%20spec?module-path=" .. module
  end)

  teardown(function()
    h.kill(s and s.pid)
    os.execute("rm -rf " .. q(work))
  end)

  it("refuses a token URI without a PIN, and one that names no token, before making anything", function()
    local code, _, err = h.sceplab_env({ SOFTHSM2_CONF = env.SOFTHSM2_CONF }, { "ca", "init", "--dir", work .. "/nopin", "--pkcs11", uri })
    assert.are.equal(2, code)
    assert.matches("SCEPLAB_PKCS11_PIN", err, 1, true)
    code, _, err = h.sceplab_env(env, { "ca", "init", "--dir", work .. "/notoken", "--pkcs11",
                                        "pkcs11:token=no-such-token?module-path=" .. module })
    assert.are.equal(2, code)
    assert.matches("no PKCS#11 token labelled 'no-such-token'", err, 1, true)
    assert.is_nil(io.open(work .. "/nopin/root.pem"))
  end)

  it("makes the keys in the token: the state directory holds certificates and the keys' URIs, no key", function()
    local code, out, err = h.sceplab_env(env, { "ca", "init", "--dir", dir, "--pkcs11", uri })
    assert.are.equal(0, code, err)
    assert.matches("keys in the token", out, 1, true)
    local listing = sh_out("ls -A " .. q(dir))
    for _, name in ipairs({ "root", "ca", "ra-sign", "ra-encrypt", "intune-sign" }) do
      assert.matches(name .. ".p11", listing, 1, true)
      assert.matches("^pkcs11:token=sceplab%%20spec;id=[%%%x]+;type=private%?module%-path=", h.read(dir .. "/" .. name .. ".p11"))
    end
    assert.not_matches("%.key", listing)
    -- no file of the state directory holds a private key, or the PIN
    local grep = sh_out("grep -rl -e 'PRIVATE KEY' -e 4711 " .. q(dir) .. " || true")
    assert.are.equal("", grep)
    -- the token holds them, sensitive and never extractable
    local objs = sh_out(("SOFTHSM2_CONF=%s pkcs11-tool --module %s --token-label 'sceplab spec' --login --pin 4711 --list-objects --type privkey"):format(
      q(env.SOFTHSM2_CONF), q(module)))
    for _, name in ipairs({ "root", "ca", "ra-sign", "ra-encrypt", "intune-sign" }) do
      assert.matches("label:%s+sceplab " .. name:gsub("%-", "%%-") .. "\n", objs)
    end
    assert.matches("never extractable", objs, 1, true)
    assert.not_matches("Access:[^\n]*extractable, local\n", (objs:gsub("never extractable", "")))
    -- the chain the token's keys signed
    local v = sh_out(("openssl verify -CAfile %s -untrusted %s %s %s"):format(q(dir .. "/root.pem"), q(dir .. "/ca.pem"),
      q(dir .. "/ca.pem"), q(dir .. "/ra-sign.pem")))
    assert.matches("ca.pem: OK", v, 1, true)
    assert.matches("ra%-sign%.pem: OK", v)
  end)

  it("enrolls through serve with real clients, the chain verifies, and OCSP answers with a key in the token", function()
    -- two workers forked from the supervisor: each uses the token after the fork
    s = h.serve(dir, { "--policy", "static", "--allow-des", "--workers", "2" }, env)
    local key = work .. "/dev1"
    local code, _, err = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, { "enroll", "--url", s.url, "--subject", "CN=hsm-dev1",
      "--key-out", key .. ".key", "--cert-out", key .. ".pem" })
    assert.are.equal(0, code, err)
    local v = sh_out(("openssl verify -CAfile %s -untrusted %s %s"):format(q(dir .. "/root.pem"), q(dir .. "/ca.pem"), q(key .. ".pem")))
    assert.matches(": OK", v, 1, true)
    -- micromdm's scepclient (single DES, --allow-des): it encrypts to the RA key in the token, and
    -- the token decrypts
    local mk = work .. "/mdm"
    os.execute("mkdir -p " .. q(mk))
    local out, ok = sh_out(("scepclient -server-url %s -challenge s3cret -cn hsm-mdm -private-key %s -certificate %s -keySize 2048"):format(
      q(s.url), q(mk .. "/key.pem"), q(mk .. "/cert.pem")))
    assert(ok, out)
    v = sh_out(("openssl verify -CAfile %s -untrusted %s %s"):format(q(dir .. "/root.pem"), q(dir .. "/ca.pem"), q(mk .. "/cert.pem")))
    assert.matches(": OK", v, 1, true)
    h.write(work .. "/chain.pem", h.read(dir .. "/root.pem") .. h.read(dir .. "/ca.pem"))
    local r = sh_out(("openssl ocsp -issuer %s -cert %s -url %s -CAfile %s -timeout 10"):format(q(dir .. "/ca.pem"),
      q(key .. ".pem"), q(s.base .. "/ocsp"), q(work .. "/chain.pem")))
    assert.matches("Response verify OK", r, 1, true)
    assert.matches(": good", r, 1, true)
    -- the responder's key was made in the token too
    assert.matches("^pkcs11:", h.read(dir .. "/ocsp.p11"))
    assert.not_matches("%.key", (sh_out("ls -A " .. q(dir))))
    h.kill(s.pid)
    s = nil
  end)

  it("rolls the issuing CA over inside the token: the new CA's and RA's keys are made there too", function()
    local before = h.read(dir .. "/ca.p11")
    local code, _, err = h.sceplab_env(env, { "ca", "rollover", "--dir", dir })
    assert.are.equal(0, code, err)
    code, _, err = h.sceplab_env(env, { "ca", "rollover", "--dir", dir, "--activate" })
    assert.are.equal(0, code, err)
    local after = h.read(dir .. "/ca.p11")
    assert.are_not.equal(before, after)
    assert.matches("^pkcs11:token=sceplab%%20spec;id=", after)
    local listing = sh_out("ls -A " .. q(dir))
    assert.matches("ca%-previous%-%x+%.p11", listing)
    assert.not_matches("%.key", listing)
    local v = sh_out(("openssl verify -CAfile %s %s"):format(q(dir .. "/root.pem"), q(dir .. "/ca.pem")))
    assert.matches(": OK", v, 1, true)
    -- without the PIN the CA does not open, and says what it needs
    local c2, _, e2 = h.sceplab_env({ SOFTHSM2_CONF = env.SOFTHSM2_CONF }, { "ca", "list", "--dir", dir })
    assert.are.equal(2, c2)
    assert.matches("SCEPLAB_PKCS11_PIN", e2, 1, true)
  end)
end)
