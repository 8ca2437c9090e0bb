-- sceplab probe against stand-ins for NDES in each failure state (tests/interop/fake_ndes.py) and
-- a real SCEP server behind them for the later checks.
local h = require "helper"
local json = require "cjson"

local fake = h.fixtures .. "/../interop/fake_ndes.py"

local function start(args)
  return h.start_port_printer("python3 " .. h.shquote(fake) .. " " .. args, "fake_ndes")
end

-- fake_ndes arguments for HTTPS with the fixture certificate tls/<name>.pem.
local function tls(name)
  return ("--cert %s --key %s"):format(h.shquote(h.fixture("tls/" .. name .. ".pem")), h.shquote(h.fixture("tls/" .. name .. ".key")))
end

local function probe(url, extra)
  local args = { "probe", url, "--json" }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  local code, out, err = h.sceplab(args)
  local r = json.decode(out)
  local by = {}
  for _, c in ipairs(r.checks) do by[c.id] = c end
  return code, by, r, err
end

describe("sceplab probe", function()
  local server
  setup(function() server = h.scepserver() end)
  teardown(function() h.stop(server) end)

  local cases = {
    { status = 403, expect = "ok", code = 0, summary = "HTTP 403 Forbidden" },
    { status = 200, body = "<h1>Network Device Enrollment Service</h1>", expect = "fail", code = 1, summary = "generic NDES page" },
    { status = 500, expect = "fail", code = 1, summary = "HTTP 500", fix = "Impersonate a client after authentication" },
    { status = 503, expect = "fail", code = 1, summary = "application pool", fix = "Trusted Root" },
    { status = 504, expect = "fail", code = 1, summary = "Gateway Timeout", fix = "application proxy Connector" },
    { status = 502, expect = "fail", code = 1, summary = "Bad Gateway" },
    { status = 414, expect = "fail", code = 1, summary = "Request%-URI Too Long", fix = "65534" },
  }
  for _, c in ipairs(cases) do
    it("explains HTTP " .. c.status .. " on the bare URL", function()
      local pid, port = start(("--status %d %s --scep-upstream %s"):format(c.status,
        c.body and ("--body " .. h.shquote(c.body)) or "", server.url))
      local code, by = probe(("http://127.0.0.1:%s/certsrv/mscep/mscep.dll"):format(port))
      h.kill(pid)
      assert.are.equal(c.expect, by["bare-url"].status)
      assert.matches(c.summary, by["bare-url"].summary)
      if c.fix then assert.matches(c.fix, table.concat(by["bare-url"].fix, " ")) end
      assert.are.equal(c.code, code)
      assert.are.equal("ok", by.getcacaps.status) -- the checks go on past the bare URL
    end)
  end

  it("finds request filtering that refuses long GET URLs", function()
    local pid, port = start("--status 403 --max-url 8000 --scep-upstream " .. server.url)
    local code, by = probe(("http://127.0.0.1:%s/certsrv/mscep/mscep.dll"):format(port))
    h.kill(pid)
    -- POST is advertised, but devices send PKIOperation as GET all the same: a failure
    assert.are.equal("fail", by["long-url"].status)
    assert.matches("HTTP 414", by["long-url"].summary)
    assert.matches("whatever GetCACaps says about POST", by["long-url"].summary, 1, true)
    assert.matches("65534", table.concat(by["long-url"].fix, " "), 1, true)
    assert.are.equal(1, code)
  end)

  it("makes the client retry a GET refused with 414 once with POST", function()
    local pid, port = start("--status 403 --max-url 1500 --scep-upstream " .. server.url)
    local dir = h.tmpdir()
    local code, out, err = h.sceplab({ "enroll", "--url", ("http://127.0.0.1:%s/certsrv/mscep/mscep.dll"):format(port),
      "--method", "get", "--subject", "CN=retry-" .. math.random(1e6), "--key-out", dir .. "/k", "--cert-out", dir .. "/c", "--json" })
    h.kill(pid)
    os.execute("rm -rf " .. h.shquote(dir))
    assert.are.equal(0, code, err)
    local r = json.decode(out)
    assert.are.equal("POST", r.method)
    assert.matches("GET answered HTTP 414; retried once with POST", r.retried_with_post)
  end)

  it("chooses what NDES advertises without AES: 3DES and SHA-1, POST (CRLF capabilities)", function()
    -- The capabilities of an NDES that offers neither AES nor SHA-2, as Windows sends them.
    local pid, port = start([[--status 403 --caps 'POSTPKIOperation\r\nRenewal\r\nSHA-1\r\nDES3\r\n' --scep-upstream ]] .. server.url)
    local dir = h.tmpdir()
    local code, out, err = h.sceplab({ "enroll", "--url", ("http://127.0.0.1:%s/certsrv/mscep/mscep.dll"):format(port),
      "--subject", "CN=ndes-des3-" .. math.random(1e6), "--key-out", dir .. "/k", "--cert-out", dir .. "/c", "--json" })
    h.kill(pid)
    assert.are.equal(0, code, err)
    local r = json.decode(out)
    assert.are.same({ "SUCCESS", "des3", "sha1", "POST", true }, { r.status, r.cipher, r.digest, r.method, r.ndes })
    assert.is_true(h.openssl_verify(server.ca, dir .. "/c"))
    os.execute("rm -rf " .. h.shquote(dir))
  end)

  it("renews with a PKCSReq signed by the current certificate when Renewal is not advertised", function()
    local renewing = h.scepserver("-allowrenew 0") -- micromdm refuses a subject it issued otherwise
    local dir = h.tmpdir()
    local code, _, err = h.sceplab({ "enroll", "--url", renewing.url, "--subject", "CN=renew-pkcs-" .. math.random(1e6),
      "--key-out", dir .. "/k", "--cert-out", dir .. "/c" })
    assert.are.equal(0, code, err)
    local pid, port = start([[--status 403 --caps 'POSTPKIOperation\nAES\nSHA-256\n' --scep-upstream ]] .. renewing.url)
    local rcode, out, rerr = h.sceplab({ "renew", "--url", ("http://127.0.0.1:%s/certsrv/mscep/mscep.dll"):format(port),
      "--cert", dir .. "/c", "--key", dir .. "/k", "--key-out", dir .. "/k2", "--cert-out", dir .. "/c2",
      "--trace", dir .. "/trace", "--json" })
    h.kill(pid)
    local verified = h.openssl_verify(renewing.ca, dir .. "/c2")
    h.stop(renewing)
    assert.are.equal(0, rcode, rerr)
    local r = json.decode(out)
    assert.are.same({ "SUCCESS", "PKCSReq" }, { r.status, r.message_type })
    assert.is_true(verified)
    -- The request was signed by the certificate being renewed, not by a self-signed one.
    local req = json.decode(h.read(dir .. "/trace/03-PKIOperation-request.json"))
    local serial = io.popen(h.CLEAN .. "openssl x509 -noout -serial -in " .. h.shquote(dir .. "/c")):read("l"):match("=(%x+)")
    assert.are.equal("PKCSReq", req.message_type)
    local function norm(hex) return (hex:upper():gsub("^0+(.)", "%1")) end
    assert.are.equal(norm(serial), norm(req.signer.serial))
    assert.matches("SCEP CA", req.signer.issuer)
    os.execute("rm -rf " .. h.shquote(dir))
  end)

  it("enrolls through an NDES that drops the connection after GetCACaps", function()
    local pid, port = start("--status 403 --close-caps --scep-upstream " .. server.url)
    local dir = h.tmpdir()
    local url = ("http://127.0.0.1:%s/certsrv/mscep/mscep.dll"):format(port)
    local code, out, err = h.sceplab({ "enroll", "--url", url,
      "--subject", "CN=closed-" .. math.random(1e6), "--key-out", dir .. "/k", "--cert-out", dir .. "/c", "--json" })
    local ccode, cout = h.sceplab({ "caps", url, "--json" })
    h.kill(pid)
    os.execute("rm -rf " .. h.shquote(dir))
    assert.are.equal(0, code, err)
    local r = json.decode(out)
    assert.are.equal("SUCCESS", r.status)
    assert.is_true(r.ndes) -- Server: Microsoft-IIS turned NDES mode on
    assert.are.equal("GetCACaps", r.exchanges[1].operation)
    assert.is_false(r.exchanges[2].reused_connection) -- the dropped connection was not reused
    assert.are.equal(0, ccode)
    assert.matches("POSTPKIOperation", cout)
  end)

  it("refuses a GetCACaps reply cut short or stalled after its Content-Length: exit 4, naming what arrived", function()
    for _, case in ipairs({ { "--cut-caps 1000", "cut short after %d+ of %d+ bytes %(Content%-Length%)" },
                            { "--stall-caps", "stalled after 4 of %d+ bytes %(Content%-Length%)" } }) do
      local pid, port = start("--status 403 " .. case[1] .. " --scep-upstream " .. server.url)
      local url = ("http://127.0.0.1:%s/certsrv/mscep/mscep.dll"):format(port)
      local code, out, err = h.sceplab({ "caps", url, "--timeout", "2" })
      local ecode, _, eerr = h.sceplab({ "enroll", "--url", url, "--timeout", "2", "--subject", "CN=cut",
                                         "--key-out", h.tmpname(), "--cert-out", h.tmpname() })
      h.kill(pid)
      assert.are.equal(4, code, case[1] .. ": " .. err)
      assert.are.equal("", out)
      assert.matches("GetCACaps.*HTTP 200 reply " .. case[2], err)
      assert.are.equal(1, #h.lines(err))
      assert.are.equal(4, ecode, eerr)
      assert.matches(case[2], eerr)
    end
  end)

  it("enrolls over HTTPS on one connection, and never reuses it under other trust options", function()
    local pid, port = start("--status 403 " .. tls("localhost") .. " --scep-upstream " .. server.url)
    local url = ("https://localhost:%s/certsrv/mscep/mscep.dll"):format(port)
    local dir = h.tmpdir()
    local code, out, err = h.sceplab({ "enroll", "--url", url, "--cacert", h.fixture("tls/ca-bundle.pem"),
      "--subject", "CN=tls-" .. math.random(1e6), "--key-out", dir .. "/k", "--cert-out", dir .. "/c", "--json" })
    os.execute("rm -rf " .. h.shquote(dir))
    assert.are.equal(0, code, err)
    local x = json.decode(out).exchanges
    assert.are.same({ false, true, true }, { x[1].reused_connection, x[2].reused_connection, x[3].reused_connection })
    assert.is_true(x[1].timings.tls > 0) -- one handshake, on the first request
    assert.are.equal(0, x[3].timings.tls)

    -- The session underneath: a change of CA bundle, insecure or pin starts a new connection.
    require "sceplab" -- registers the C modules
    local http = require "sceplab.core.http"
    local s = http.session()
    local function get(opts)
      opts.url, opts.session = url .. "?operation=GetCACaps", s
      local r, e = http.request(opts)
      assert(r, e)
      return r.reused_connection
    end
    local bundle = h.fixture("tls/ca-bundle.pem")
    assert.is_false(get{ cacert = bundle })
    assert.is_true(get{ cacert = bundle })
    assert.is_false(get{ insecure = true })
    assert.is_true(get{ insecure = true })
    assert.is_false(get{ cacert = bundle })
    -- A pin is checked during the handshake only: a wrong one must never ride a verified connection.
    local pin = io.popen(h.CLEAN .. "openssl x509 -in " .. h.shquote(h.fixture("tls/localhost.pem")) ..
      " -noout -fingerprint -sha256"):read("l"):match("=(.+)"):gsub(":", "")
    assert.is_false(get{ pin = pin })
    assert.is_true(get{ pin = pin })
    local r, e = http.request{ url = url .. "?operation=GetCACaps", session = s, pin = ("00"):rep(32) }
    assert.is_nil(r)
    assert.matches("SSL", e)
    s:close()
    assert.has_error(function() get{ cacert = bundle } end, "field 'session': the HTTP session is closed")
    h.kill(pid)
  end)

  it("enrolls through an HTTP proxy (tinyproxy), plain and tunnelled HTTPS", function()
    local proxy = h.tinyproxy()
    local pid, port = start("--status 403 " .. tls("localhost") .. " --scep-upstream " .. server.url)
    local dir = h.tmpdir()
    local function enroll(url, extra)
      local args = { "enroll", "--url", url, "--proxy", proxy.url, "--subject", "CN=proxied-" .. math.random(1e6),
                     "--key-out", dir .. "/k", "--cert-out", dir .. "/c", "--json", "--force" }
      for _, a in ipairs(extra or {}) do args[#args + 1] = a end
      return h.sceplab(args)
    end
    local code, out, err = enroll(server.url)
    local tcode, tout, terr = enroll(("https://localhost:%s/certsrv/mscep/mscep.dll"):format(port),
      { "--cacert", h.fixture("tls/ca-bundle.pem") })
    h.kill(pid)
    h.kill(proxy.pid)
    local log = h.read(proxy.log)
    os.execute("rm -rf " .. h.shquote(dir) .. " " .. h.shquote(proxy.dir))
    assert.are.equal(0, code, err)
    assert.are.equal("SUCCESS", json.decode(out).status)
    assert.matches("POST " .. server.url:gsub("%p", "%%%0") .. "%?operation=PKIOperation", log)
    assert.are.equal(0, tcode, terr)
    assert.are.equal("SUCCESS", json.decode(tout).status)
    assert.matches("CONNECT localhost:" .. port, log)
  end)

  it("fails a TLS certificate that does not name the host, and goes on", function()
    local pid, port = start("--status 403 " .. tls("wrongname") .. " --scep-upstream " .. server.url)
    local code, by = probe(("https://127.0.0.1:%s/certsrv/mscep/mscep.dll"):format(port),
      { "--cacert", h.fixture("tls/ca-bundle.pem") })
    h.kill(pid)
    assert.are.equal(1, code)
    assert.are.equal("fail", by.tls.status)
    assert.matches("does not name 127%.0%.0%.1", by.tls.summary)
    assert.matches("12175", by.tls.summary)
    assert.are.equal("ok", by["bare-url"].status)
    assert.are.equal("ok", by.getcacaps.status)
  end)

  it("accepts a TLS certificate that names the host", function()
    local pid, port = start("--status 403 " .. tls("localhost") .. " --scep-upstream " .. server.url)
    local code, by = probe(("https://127.0.0.1:%s/certsrv/mscep/mscep.dll"):format(port),
      { "--cacert", h.fixture("tls/ca-bundle.pem") })
    h.kill(pid)
    assert.are.equal("ok", by.tls.status, by.tls.summary)
    assert.are.equal(0, code)
  end)

  it("checks CAThumbprint against the chain", function()
    local sha1 = io.popen(h.CLEAN .. "openssl x509 -in " .. h.shquote(server.ca) .. " -noout -fingerprint -sha1"):read("l"):match("=(.+)")
    local code, by = probe(server.url, { "--ca-thumbprint", sha1 })
    assert.are.equal("ok", by["ca-thumbprint"].status)
    assert.are.equal(0, code)
    code, by = probe(server.url, { "--ca-thumbprint", "0C93E3B330AC0F3770CCED39CE5EDCBD23919305" })
    assert.are.equal("fail", by["ca-thumbprint"].status)
    assert.matches("hash value is not correct", by["ca-thumbprint"].summary)
    assert.are.equal(1, code)
  end)
end)
