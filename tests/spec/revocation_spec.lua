-- Revocation where devices and RADIUS servers look: every certificate serve issues names a CRL
-- Distribution Point, a CA issuers URL and an OCSP responder, and serve answers at each. Checked
-- with real clients: `openssl ocsp` (POST, nonce), curl (the CDP, the AIA, OCSP by GET) and
-- `openssl verify -crl_check` with the CRL fetched from the certificate's own CDP.
local h = require "helper"

local q = h.shquote
local sh_out = h.sh_out

local function enroll(s, subject, key)
  return h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, { "enroll", "--url", s.url, "--subject", subject,
    "--key-out", key .. ".key", "--cert-out", key .. ".pem" })
end

-- The URLs a certificate names: {crl, crt, ocsp}.
local function urls(cert)
  local text = sh_out(("openssl x509 -in %s -noout -ext crlDistributionPoints,authorityInfoAccess"):format(q(cert)))
  return { crl = text:match("Full Name:%s+URI:(%S+)"), crt = text:match("CA Issuers %- URI:(%S+)"),
           ocsp = text:match("OCSP %- URI:(%S+)") }
end

-- Fetches url with curl to out: the HTTP status (a number), or nil and curl's words.
local function fetch(url, out)
  local text = sh_out(("curl -s -S --max-time 5 -o %s -w '%%{http_code}' %s"):format(q(out), q(url)))
  return tonumber(text:match("(%d%d%d)$")), text
end

local function ocsp(dir, cert, url, extra)
  return sh_out(("openssl ocsp -issuer %s -cert %s -url %s -CAfile %s -timeout 10 %s"):format(q(dir .. "/ca.pem"),
    q(cert), q(url), q(dir .. "/chain.pem"), extra or ""))
end

-- openssl verify -crl_check with the CRL the certificate's CDP serves now.
local function verify_with_cdp(dir, work, cert)
  local der = work .. "/cdp.crl"
  local code = assert(fetch(urls(cert).crl, der))
  assert.are.equal(200, code)
  assert(select(2, sh_out(("openssl crl -inform DER -in %s -out %s"):format(q(der), q(work .. "/cdp.pem")))))
  return sh_out(("openssl verify -crl_check -CAfile %s -CRLfile %s %s"):format(q(dir .. "/chain.pem"),
    q(work .. "/cdp.pem"), q(cert)))
end

describe("revocation published by serve", function()
  local s, dir, work

  setup(function()
    work = h.tmpdir()
    dir = work .. "/state dir"
    s = h.serve(dir, { "--policy", "static" }, { SCEPLAB_CHALLENGE = "s3cret" })
    h.write(dir .. "/chain.pem", h.read(dir .. "/root.pem") .. h.read(dir .. "/ca.pem"))
  end)

  teardown(function()
    h.kill(s and s.pid)
    os.execute("rm -rf " .. q(work))
  end)

  it("writes the CDP, CA issuers and OCSP URLs of serve's address into the certificate, and answers at each", function()
    local key = work .. "/dev1"
    local code, _, err = enroll(s, "CN=dev1,O=Contoso", key)
    assert.are.equal(0, code, err)
    local u = urls(key .. ".pem")
    assert.are.equal(s.base .. "/CertEnroll/sceplab%20Issuing%20CA.crl", u.crl)
    assert.are.equal(s.base .. "/CertEnroll/sceplab%20Issuing%20CA.crt", u.crt)
    assert.are.equal(s.base .. "/ocsp", u.ocsp)
    -- the CA issuers URL gives the issuing CA's certificate (DER), the one in the state directory
    local crt = work .. "/aia.crt"
    assert.are.equal(200, (fetch(u.crt, crt)))
    local fp = function(args) return (sh_out("openssl x509 -noout -fingerprint -sha256 " .. args)) end
    assert.are.equal(fp("-in " .. q(dir .. "/ca.pem")), fp("-inform DER -in " .. q(crt)))
  end)

  it("says good, with and without a nonce, then revoked after `sceplab ca revoke`; the CDP's CRL follows", function()
    local key = work .. "/dev2"
    assert.are.equal(0, (enroll(s, "CN=dev2", key)))
    local cert = key .. ".pem"
    local u = urls(cert)
    local out = ocsp(dir, cert, u.ocsp, "-nonce")
    assert.matches("Response verify OK", out, 1, true)
    assert.matches(": good", out, 1, true)
    assert.not_matches("WARNING: no nonce", out, 1, true)
    out = ocsp(dir, cert, u.ocsp, "-no_nonce")
    assert.matches("Response verify OK", out, 1, true)
    assert.matches(": good", out, 1, true)
    out = verify_with_cdp(dir, work, cert)
    assert.matches(": OK", out, 1, true)

    local serial = sh_out("openssl x509 -noout -serial -in " .. q(cert)):match("serial=(%x+)")
    local code, _, err = h.sceplab({ "ca", "revoke", "--dir", dir, serial, "--reason", "1" })
    assert.are.equal(0, code, err)
    out = ocsp(dir, cert, u.ocsp, "-nonce")
    assert.matches("Response verify OK", out, 1, true)
    assert.matches(": revoked", out, 1, true)
    assert.matches("Reason: keyCompromise", out, 1, true)
    out = verify_with_cdp(dir, work, cert)
    assert.matches("certificate revoked", out, 1, true)
    assert.not_matches(": OK", out, 1, true)
  end)

  it("serves the same CRL until something changes: not signed per request", function()
    local a, b = work .. "/a.crl", work .. "/b.crl"
    local url = s.base .. "/CertEnroll/sceplab%20Issuing%20CA.crl"
    assert.are.equal(200, (fetch(url, a)))
    os.execute("sleep 1.1")
    assert.are.equal(200, (fetch(url, b)))
    assert.are.equal(h.read(a), h.read(b))
  end)

  it("says unknown for a serial it never issued, and answers OCSP by GET (curl) as by POST", function()
    local out = sh_out(("openssl ocsp -issuer %s -serial 0x7e57ab1e -url %s -CAfile %s -timeout 10"):format(
      q(dir .. "/ca.pem"), q(s.base .. "/ocsp"), q(dir .. "/chain.pem")))
    assert.matches("Response verify OK", out, 1, true)
    assert.matches("0x7e57ab1e: unknown", out, 1, true)

    local key = work .. "/dev3"
    assert.are.equal(0, (enroll(s, "CN=dev3", key)))
    local req, resp = work .. "/req.der", work .. "/resp.der"
    assert(select(2, sh_out(("openssl ocsp -issuer %s -cert %s -no_nonce -reqout %s"):format(q(dir .. "/ca.pem"),
      q(key .. ".pem"), q(req)))))
    -- RFC 6960 A.1.1: GET {url}/{url-encoding of the base64 of the DER request}
    local b64 = sh_out("base64 -w0 " .. q(req)):gsub("[+/=]", function(c) return ("%%%02X"):format(c:byte()) end)
    local code = fetch(urls(key .. ".pem").ocsp .. "/" .. b64, resp)
    assert.are.equal(200, code)
    out = sh_out(("openssl ocsp -respin %s -issuer %s -CAfile %s -resp_text"):format(q(resp), q(dir .. "/ca.pem"),
      q(dir .. "/chain.pem")))
    assert.matches("Response verify OK", out, 1, true)
    assert.matches("Cert Status: good", out, 1, true)
    -- signed by the delegated responder: OCSP signing, and no check of the responder itself
    assert.matches("OCSP Signing", out, 1, true)
    assert.matches("OCSP No Check", out, 1, true)
    -- more certificates in one request than any client asks about (each is a lookup): refused
    local many = {}
    for i = 1, 65 do many[#many + 1] = ("-serial 0x%x"):format(0x1000 + i) end
    out = sh_out(("openssl ocsp -issuer %s %s -url %s -noverify -timeout 10"):format(q(dir .. "/ca.pem"),
      table.concat(many, " "), q(s.base .. "/ocsp")))
    assert.matches("malformedrequest", out:lower(), 1, true)
    -- a request that is no OCSPRequest: malformedRequest, in OCSP's own answer
    assert.are.equal(200, (fetch(s.base .. "/ocsp/bm90IGFuIE9DU1AgcmVxdWVzdA==", resp)))
    out = sh_out(("openssl ocsp -respin %s -resp_text -noverify"):format(q(resp)))
    assert.matches("malformedrequest", out:lower(), 1, true)
  end)

  it("takes the public URL from `sceplab ca init --public-url`, and serve --public-url over it", function()
    local d2 = work .. "/pub"
    local code, _, err = h.sceplab({ "ca", "init", "--dir", d2, "--public-url", "http://pki.contoso.test/pki" })
    assert.are.equal(0, code, err)
    local s2 = h.serve(d2, { "--policy", "static" }, { SCEPLAB_CHALLENGE = "s3cret" })
    local key = work .. "/dev4"
    code, _, err = enroll(s2, "CN=dev4", key)
    local u = urls(key .. ".pem")
    -- served under the public URL's path, whatever host clients use
    local got = fetch(s2.base .. "/pki/CertEnroll/sceplab%20Issuing%20CA.crl", work .. "/pub.crl")
    -- the issuing CA's certificate names the root's CRL, which serve answers too: the whole chain
    -- checks (openssl verify -crl_check_all, as NPS checks the chain but its root)
    local ca_cdp = sh_out(("openssl x509 -in %s -noout -ext crlDistributionPoints"):format(q(d2 .. "/ca.pem"))):match("URI:(%S+)")
    local got_root = fetch(s2.base .. "/pki/CertEnroll/sceplab%20Root%20CA.crl", work .. "/root.crl")
    local got_root_crt = fetch(s2.base .. "/pki/CertEnroll/sceplab%20Root%20CA.crt", work .. "/root.crt")
    h.kill(s2.pid)
    assert.are.equal("http://pki.contoso.test/pki/CertEnroll/sceplab%20Root%20CA.crl", ca_cdp)
    assert.are.equal(200, got_root)
    assert.are.equal(200, got_root_crt)
    local pems = {}
    for _, f in ipairs({ "pub.crl", "root.crl" }) do
      local out, ok = sh_out(("openssl crl -inform DER -in %s"):format(q(work .. "/" .. f)))
      assert(ok, out)
      pems[#pems + 1] = out
    end
    h.write(work .. "/both.pem", table.concat(pems))
    local all = sh_out(("openssl verify -crl_check_all -CAfile %s -untrusted %s -CRLfile %s %s"):format(q(d2 .. "/root.pem"),
      q(d2 .. "/ca.pem"), q(work .. "/both.pem"), q(key .. ".pem")))
    assert.matches(": OK", all, 1, true)
    assert.are.equal(0, code, err)
    assert.are.equal("http://pki.contoso.test/pki/CertEnroll/sceplab%20Issuing%20CA.crl", u.crl)
    assert.are.equal("http://pki.contoso.test/pki/ocsp", u.ocsp)
    assert.are.equal(200, got)
    local s3 = h.serve(d2, { "--policy", "static", "--public-url", "http://radius-visible.test:8081" },
      { SCEPLAB_CHALLENGE = "s3cret" })
    code = enroll(s3, "CN=dev5", work .. "/dev5")
    h.kill(s3.pid)
    assert.are.equal(0, code)
    assert.are.equal("http://radius-visible.test:8081/ocsp", urls(work .. "/dev5.pem").ocsp)
    code, _, err = h.sceplab({ "ca", "init", "--dir", work .. "/bad", "--public-url", "ftp://x" })
    assert.are.equal(2, code)
    assert.matches("public URL", err)
  end)

  it("plays the faults as clients meet them: an expired CRL, a CDP that closes unanswered, a silent OCSP responder", function()
    local key = work .. "/dev6"
    assert.are.equal(0, (enroll(s, "CN=dev6", key)))
    local cert = key .. ".pem"
    local a = h.serve(dir, { "--policy", "static", "--fault", "crl-expired", "--fault", "ocsp-silent" },
      { SCEPLAB_CHALLENGE = "s3cret" })
    local b = h.serve(dir, { "--policy", "static", "--fault", "cdp-unreachable" }, { SCEPLAB_CHALLENGE = "s3cret" })
    local path = "/CertEnroll/sceplab%20Issuing%20CA.crl"
    local crl = work .. "/expired.crl"
    local code_a = fetch(a.base .. path, crl)
    local _, ok_conv = sh_out(("openssl crl -inform DER -in %s -out %s"):format(q(crl), q(crl .. ".pem")))
    local verified = sh_out(("openssl verify -crl_check -CAfile %s -CRLfile %s %s"):format(q(dir .. "/chain.pem"),
      q(crl .. ".pem"), q(cert)))
    local t0 = os.time()
    local silent = ocsp(dir, cert, a.base .. "/ocsp", "-timeout 2")
    local waited = os.time() - t0
    local code_b, said = fetch(b.base .. path, work .. "/none.crl")
    local code_crt, said_crt = fetch(b.base .. "/CertEnroll/sceplab%20Issuing%20CA.crt", work .. "/none.crt")
    -- the other routes of each server still answer: a fault plays where it is named
    local ocsp_b = ocsp(dir, cert, b.base .. "/ocsp", "")
    h.kill(a.pid)
    h.kill(b.pid)
    assert.are.equal(200, code_a)
    assert.is_true(ok_conv)
    assert.matches("CRL has expired", verified, 1, true)
    assert.not_matches(": OK", verified, 1, true)
    assert.is_true(waited >= 2 and waited < 10, tostring(waited))
    assert.not_matches(": good", silent, 1, true)
    assert.matches("[Tt]imeout", silent)
    assert.are.equal(0, code_b, said) -- no HTTP status at all
    assert.matches("Empty reply from server", said, 1, true)
    assert.are.equal(0, code_crt, said_crt)
    assert.matches(": good", ocsp_b, 1, true)
  end)
end)
