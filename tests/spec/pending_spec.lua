-- PENDING: CertPoll until issued, and --state/--resume across processes; GetCert, GetCRL and
-- GetNextCACert. Against tests/interop/pending_server.c: micromdm's scepserver, the one SCEP server
-- Debian has, never answers PENDING and does not implement the other three. What comes back is
-- checked with the openssl tool.
local h = require "helper"
local json = require "cjson"

local function start(times, next_ca)
  local pid, port = h.start_port_printer(("%s %s %s %d %s"):format(h.shquote(os.getenv("SCEPLAB_PENDING_SERVER")),
    h.shquote(h.fixture("pki/issuing.pem")), h.shquote(h.fixture("pki/issuing.key")), times,
    next_ca and h.shquote(next_ca) or ""), "pending_server")
  return pid, ("http://127.0.0.1:%s/scep"):format(port)
end

describe("PENDING", function()
  local dir
  before_each(function()
    dir = h.tmpdir()
  end)
  after_each(function() os.execute("rm -rf " .. h.shquote(dir)) end)

  it("polls with CertPoll until the certificate is issued", function()
    local pid, url = start(2)
    local code, out, err = h.sceplab({ "enroll", "--url", url, "--subject", "CN=pending-1", "--poll-interval", "0.1",
      "--key-out", dir .. "/k", "--cert-out", dir .. "/c", "--json" })
    h.kill(pid)
    assert.are.equal(0, code, err)
    local r = json.decode(out)
    assert.are.equal("SUCCESS", r.status)
    assert.are.equal(2, r.polls)
    assert.is_true(h.openssl_verify(h.fixture("tls/ca-bundle.pem"), dir .. "/c"))
  end)

  it("saves the transaction and resumes it in another process", function()
    local pid, url = start(4)
    local state = dir .. "/poll.state"
    local code, out, err = h.sceplab({ "enroll", "--url", url, "--subject", "CN=pending-2", "--poll-interval", "0.1",
      "--poll-max", "0.25", "--state", state, "--key-out", dir .. "/k", "--cert-out", dir .. "/c", "--json" })
    assert.are.equal(1, code)
    assert.are.equal("PENDING", json.decode(out).status)
    assert.matches("resume with %-%-resume", err)
    assert.is_nil(io.open(dir .. "/c"))
    local p = io.popen("stat -c %a " .. h.shquote(state))
    assert.are.equal("600", p:read("l")) -- it holds the private key
    p:close()
    local txid = json.decode(h.read(state)).transaction_id
    code, out, err = h.sceplab({ "enroll", "--resume", state, "--poll-interval", "0.1",
      "--key-out", dir .. "/k", "--cert-out", dir .. "/c", "--json" })
    h.kill(pid)
    assert.are.equal(0, code, err)
    local r = json.decode(out)
    assert.are.equal("SUCCESS", r.status)
    assert.are.equal(txid, r.transaction_id) -- the same transaction, the same key
    local kp = io.popen((h.CLEAN .. "openssl pkey -in %s -pubout | openssl sha256; openssl x509 -in %s -pubkey -noout | openssl sha256")
      :format(h.shquote(dir .. "/k"), h.shquote(dir .. "/c")))
    local a, b = kp:read("l"), kp:read("l")
    kp:close()
    assert.are.equal(a, b)
  end)

  it("checks every output before the request and keeps what the CA issued when an output fails after", function()
    -- an output that cannot be written is found before anything is sent: exit 3, not the network error
    for _, opt in ipairs({ "--key-out", "--cert-out", "--chain-out", "--state" }) do
      local args = { "enroll", "--url", "http://127.0.0.1:1/scep", "--subject", "CN=x", "--force",
                     "--key-out", dir .. "/k", "--cert-out", dir .. "/c" }
      local i = 0
      for j, a in ipairs(args) do if a == opt then i = j end end
      if i > 0 then args[i + 1] = "/nonexistent/dir/out" else args[#args + 1] = opt; args[#args + 1] = "/nonexistent/dir/out" end
      local code, _, err = h.sceplab(args)
      assert.are.equal(3, code, opt .. ": " .. err)
      assert.matches("^sceplab: " .. opt:gsub("%p", "%%%0") .. ": /nonexistent/dir/out: cannot write there", err)
    end
    -- a symlink at --key-out is refused (a key is never written through one), and nothing is created
    assert(os.execute("ln -s " .. h.shquote(dir .. "/elsewhere") .. " " .. h.shquote(dir .. "/k")))
    local code, _, err = h.sceplab({ "enroll", "--url", "http://127.0.0.1:1/scep", "--subject", "CN=x",
                                     "--key-out", dir .. "/k", "--cert-out", dir .. "/c" })
    assert.are.equal(3, code)
    assert.matches("symbolic link", err)
    assert.is_nil(io.open(dir .. "/elsewhere"))
    os.remove(dir .. "/k")
    -- the output directory disappears while the CA keeps the request PENDING: the certificate and
    -- key it then issues are saved in TMPDIR and the message says where
    local pid, url = start(3)
    local out_dir, rescue_dir = dir .. "/gone", dir .. "/tmp"
    assert(os.execute("mkdir -p " .. h.shquote(out_dir) .. " " .. h.shquote(rescue_dir)))
    local errf = dir .. "/err"
    local cmd = ("env -u LD_PRELOAD TMPDIR=%s %s enroll --url %s --subject CN=rescued --poll-interval 0.5 --key-out %s/k --cert-out %s/c >/dev/null 2>%s & sleep 0.4; rm -rf %s; wait")
      :format(h.shquote(rescue_dir), h.shquote(h.bin), url, out_dir, out_dir, errf, h.shquote(out_dir))
    os.execute(cmd)
    h.kill(pid)
    err = h.read(errf)
    assert.matches("the server issued it: saved as .*sceplab%-rescue%-.*%-key%.pem, .*%-cert%.pem", err)
    local cert = err:match("saved as .-, (%S+%-cert%.pem)")
    assert.is_true(h.openssl_verify(h.fixture("tls/ca-bundle.pem"), cert))
    local p = io.popen("stat -c %a " .. h.shquote((cert:gsub("%-cert%.pem$", "-key.pem"))))
    assert.are.equal("600", p:read("l"))
    p:close()
  end)

  it("checks a profile's CAThumbprint as devices do before sending anything", function()
    -- GetCACert returns the issuing CA only; the profile names the root (SHA-1, as Intune writes it)
    local function sha1(pem_file)
      local p = io.popen(h.CLEAN .. "openssl x509 -noout -fingerprint -sha1 -in " .. h.shquote(pem_file))
      local fp = p:read("l"):match("=(%S+)"):gsub(":", "")
      p:close()
      return fp
    end
    local root, issuing = sha1(h.fixture("pki/root.pem")), sha1(h.fixture("pki/issuing.pem"))
    local pid, url = start(0)
    local function enroll(thumb, extra)
      local prof = h.write(dir .. "/p.lua", ("return { url = %q, subject = 'CN=thumb', ca_thumbprint = %q }"):format(url, thumb))
      local args = { "enroll", "--profile", prof, "--key-out", dir .. "/k", "--cert-out", dir .. "/c", "--trace", dir .. "/t",
                     "--force" }
      for _, a in ipairs(extra or {}) do args[#args + 1] = a end
      os.execute("rm -rf " .. h.shquote(dir .. "/t"))
      return h.sceplab(args)
    end
    local wrong_code, _, wrong_err = enroll(("AB"):rep(20))
    local sent_after_wrong = io.popen("ls " .. h.shquote(dir .. "/t")):read("a")
    local ca_code, _, ca_err = enroll(issuing)
    local noroot_code, _, noroot_err = enroll(root)
    local root_code, _, root_err = enroll(root, { "--root", h.fixture("pki/root.pem") })
    local other_code, _, other_err = enroll(sha1(h.fixture("tls/localhost.pem")), { "--root", h.fixture("tls/localhost.pem") })
    h.kill(pid)
    assert.are.equal(1, wrong_code, wrong_err)
    assert.matches("CAThumbprint ABAB.* matches no CA certificate the server returned.*nothing was sent", wrong_err)
    assert.not_matches("PKIOperation", sent_after_wrong)
    assert.are.equal(0, ca_code, ca_err)
    assert.are.equal(1, noroot_code)
    assert.matches("give the root with %-%-root", noroot_err)
    assert.are.equal(0, root_code, root_err)
    assert.are.equal(1, other_code)
    assert.matches("does not chain to the root", other_err)
  end)

  it("refuses a state file that is not one", function()
    local bad = h.write(dir .. "/bad.state", "{}")
    local code, _, err = h.sceplab({ "enroll", "--resume", bad, "--key-out", dir .. "/k", "--cert-out", dir .. "/c" })
    assert.are.equal(3, code)
    assert.matches("not a sceplab poll state", err)
  end)

  local function openssl(args)
    local p = io.popen(h.CLEAN .. "openssl " .. args .. " 2>&1")
    local out = p:read("a")
    local ok = p:close()
    return ok, out
  end
  local function fingerprint(pem_file)
    return select(2, openssl("x509 -noout -fingerprint -sha256 -in " .. h.shquote(pem_file))):match("=(%S+)")
  end

  it("GetCert fetches an issued certificate by serial, and names an unknown serial badCertId", function()
    local pid, url = start(0)
    local code, _, err = h.sceplab({ "enroll", "--url", url, "--subject", "CN=getcert-1", "--key-out", dir .. "/k",
      "--cert-out", dir .. "/c" })
    assert.are.equal(0, code, err)
    local serial = select(2, openssl("x509 -noout -serial -in " .. h.shquote(dir .. "/c"))):match("serial=(%x+)")
    local gcode, gout, gerr = h.sceplab({ "getcert", "--url", url, "--cert", dir .. "/c", "--key", dir .. "/k",
      "--serial", serial, "--out", dir .. "/got.pem", "--json" })
    local ucode, uout = h.sceplab({ "getcert", "--url", url, "--cert", dir .. "/c", "--key", dir .. "/k",
      "--serial", "7FFFFFFF", "--json" })
    h.kill(pid)
    assert.are.equal(0, gcode, gerr)
    assert.are.equal("SUCCESS", json.decode(gout).status)
    assert.are.equal(fingerprint(dir .. "/c"), fingerprint(dir .. "/got.pem"))
    assert.are.equal(1, ucode)
    local u = json.decode(uout)
    assert.are.equal("FAILURE", u.status)
    assert.are.equal("badCertId", u.fail_info)
  end)

  it("GetCRL fetches the CA's CRL, which openssl verifies against the CA", function()
    local pid, url = start(0)
    local code, _, err = h.sceplab({ "enroll", "--url", url, "--subject", "CN=getcrl-1", "--key-out", dir .. "/k",
      "--cert-out", dir .. "/c" })
    assert.are.equal(0, code, err)
    local ccode, _, cerr = h.sceplab({ "getcrl", "--url", url, "--cert", dir .. "/c", "--key", dir .. "/k",
      "--out", dir .. "/crl.pem" })
    h.kill(pid)
    assert.are.equal(0, ccode, cerr)
    local ok, out = openssl(("crl -in %s -CAfile %s -noout -text"):format(h.shquote(dir .. "/crl.pem"),
      h.shquote(h.fixture("pki/issuing.pem"))))
    assert.is_true(ok, out)
    assert.matches("verify OK", out)
    assert.matches("Serial Number: 0BAD", out)
  end)

  it("GetNextCACert returns the rollover certificate signed by the current CA, and refuses another signer", function()
    local pid, url = start(0, h.fixture("pki/root.pem"))
    local code, out, err = h.sceplab({ "getca", url, "--next", "--out", dir .. "/next.pem", "--json" })
    local r = json.decode(out)
    assert.are.equal(0, code, err)
    assert.are.equal(1, #r.certificates)
    assert.are.equal("DC=xyz, DC=joymalya, CN=joymalya-WIN-2CQQDB9STE6-CA", r.signer) -- pki/issuing.pem
    assert.are.equal(fingerprint(h.fixture("pki/root.pem")), fingerprint(dir .. "/next.pem"))
    -- The same answer checked against a certificate that did not sign it.
    require "sceplab"
    local http, scep = require "sceplab.core.http", require "sceplab.core.scep"
    local resp = assert(http.request{ url = url .. "?operation=GetNextCACert" })
    h.kill(pid)
    local ok2, msg, ecode = scep.next_ca(resp.body, { h.read(h.fixture("pki/ra-sign.pem")) })
    assert.is_nil(ok2)
    assert.matches("not signed by the current CA or RA", msg)
    assert.are.equal("crypto", ecode)
  end)
end)
