-- PENDING: CertPoll until issued, and --state/--resume across processes, against
-- tests/interop/pending_server.c (no Debian SCEP server answers PENDING).
local h = require "helper"
local json = require "cjson"

local function start(times)
  local log = h.tmpname()
  local pid = h.spawn(("%s %s %s %d"):format(os.getenv("SCEPLAB_PENDING_SERVER"), h.fixture("pki/issuing.pem"),
    h.fixture("pki/issuing.key"), times), log)
  local port
  for _ = 1, 50 do
    local f = io.open(log, "rb")
    port = f and f:read("a"):match("^(%d+)")
    if f then f:close() end
    if port then break end
    os.execute("sleep 0.1")
  end
  assert(port, "pending_server did not start")
  return pid, ("http://127.0.0.1:%s/scep"):format(port)
end

describe("PENDING", function()
  local dir
  before_each(function()
    dir = h.tmpname()
    os.execute("mkdir -p " .. dir)
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

  it("refuses a state file that is not one", function()
    local bad = h.write(dir .. "/bad.state", "{}")
    local code, _, err = h.sceplab({ "enroll", "--resume", bad, "--key-out", dir .. "/k", "--cert-out", dir .. "/c" })
    assert.are.equal(3, code)
    assert.matches("not a sceplab poll state", err)
  end)
end)
