-- Plain HTTP without libcurl (src/core/http_plain.c), against a server that answers each
-- connection with canned bytes: what real servers send (chunks, 100 Continue, a body ending with
-- the connection) and what hostile or broken ones do (a cut body, a bad length, endless headers,
-- garbage chunk sizes, nothing at all). And the reason it exists: an enrollment over http:// does
-- not need libcurl at all, so it is not loaded.
local h = require "helper"
require "sceplab.core" -- registers the C modules
local http = require "sceplab.core.http"

-- A server answering the n-th connection with answers[n] (after reading the request), then closing.
local function canned(answers)
  local dir = h.tmpdir()
  local files = {}
  for i, a in ipairs(answers) do files[#files + 1] = h.write(("%s/a%d"):format(dir, i), a) end
  local script = h.write(dir .. "/srv.py", [[
import socket, sys
files = sys.argv[1:]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
for f in files:
    c, _ = s.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    try:
        c.sendall(open(f, "rb").read())
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
    except OSError:
        pass  # the client stopped reading: what the test is about
    c.close()
]])
  local log = dir .. "/log"
  local args = { "python3", h.shquote(script) }
  for _, f in ipairs(files) do args[#args + 1] = h.shquote(f) end
  local pid = h.spawn(table.concat(args, " "), log)
  local port = h.wait_log(log, "^(%d+)")
  assert(port, "the canned server did not start")
  return "http://127.0.0.1:" .. port .. "/certsrv/mscep/mscep.dll?operation=GetCACaps", pid
end

local function get(url, extra)
  local req = { method = "GET", url = url, timeout = 5 }
  for k, v in pairs(extra or {}) do req[k] = v end
  return http.request(req)
end

describe("plain HTTP", function()
  it("reads what servers send: chunked bodies, 100 Continue, a body ending with the connection", function()
    local url, pid = canned({
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\nServer: Microsoft-IIS/10.0\r\n\r\n" ..
        "4\r\nPOST\r\n11;ext=1\r\nPKIOperation\r\nAES\r\n0\r\nX-Trailer: 1\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSHA-1",
      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
    })
    local r1, e1 = get(url)
    local r2, e2 = get(url)
    local r3, e3 = get(url)
    h.kill(pid)
    assert(r1, e1)
    assert.are.equal("POSTPKIOperation\r\nAES", r1.body)
    assert.are.equal("text/plain", r1.content_type)
    assert.are.equal("Microsoft-IIS/10.0", r1.server)
    assert.matches("^HTTP/1%.1 200 OK\r\n", r1.headers)
    assert(r2, e2)
    assert.are.equal(200, r2.status)
    assert.are.equal("SHA-1", r2.body)
    assert(r3, e3)
    assert.are.equal("until the end", r3.body)
  end)

  it("refuses what broken or hostile servers send, naming it", function()
    local url, pid = canned({
      "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nPOST",
      "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Long: " .. ("a"):rep(1100000) .. "\r\n\r\n",
      "",
      "SSH-2.0-OpenSSH_9.2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
    })
    local results = {}
    for i = 1, 7 do results[i] = { get(url) } end
    h.kill(pid)
    local function err(i) assert.is_nil(results[i][1]) return results[i][2] end
    assert.matches("HTTP 200 reply cut short after 4 of 1000 bytes %(Content%-Length%)", err(1))
    assert.are.equal("network", results[1][3])
    assert.matches("Weird server reply: a malformed Content%-Length", err(2))
    assert.matches("a malformed chunk size", err(3))
    assert.matches("a header block over 1048576 bytes", err(4))
    assert.matches("Empty reply from server", err(5))
    assert.matches("Weird server reply", err(6))
    assert.matches("a chunk longer than its size", err(7))
  end)

  it("keeps a body past max_body out of memory, flagged", function()
    local url, pid = canned({ "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" .. ("x"):rep(100000) })
    local r, e = get(url, { max_body = 1000 })
    h.kill(pid)
    assert(r, e)
    assert.are.equal(1000, #r.body)
    assert.is_true(r.truncated)
  end)

  it("names a refused connection and an unknown host as libcurl does", function()
    local _, e1 = get("http://127.0.0.1:1/x")
    assert.matches("Failed to connect to 127%.0%.0%.1 port 1 after %d+ ms: Couldn't connect to server", e1)
    local _, e2 = get("http://nonexistent.invalid/x")
    assert.matches("Could not resolve host: nonexistent%.invalid", e2)
  end)

  it("enrolls over http:// without loading libcurl; https:// still needs it", function()
    local shim = h.no_optlib_shim()
    local dir = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
    local log = h.tmpname()
    local pid = h.spawn(("%s serve --dir %s --port 0 --policy none --no-logs"):format(h.shquote(h.bin), h.shquote(dir)), log)
    local url = h.wait_log(log, "listening on (%S+)")
    assert(url, "sceplab serve did not start")
    local preload = (os.getenv("LD_PRELOAD") or "") ~= "" and (os.getenv("LD_PRELOAD") .. ":" .. shim) or shim
    local function hidden(args)
      local parts = { "env", "ASAN_OPTIONS=detect_leaks=1", "LD_PRELOAD=" .. h.shquote(preload), "SCEPLAB_TEST_HIDE=libcurl",
                      h.shquote(h.bin) }
      for _, a in ipairs(args) do parts[#parts + 1] = h.shquote(a) end
      local errf = h.tmpname()
      local _, _, code = os.execute(table.concat(parts, " ") .. " >/dev/null 2>" .. errf)
      local err = h.read(errf)
      os.remove(errf)
      return code, err
    end
    local code, err = hidden({ "enroll", "--url", url, "--subject", "CN=plain", "--key-out", dir .. "/k", "--cert-out", dir .. "/c" })
    local code2, err2 = hidden({ "caps", (url:gsub("^http:", "https:")) })
    h.kill(pid)
    assert.are.equal(0, code, err)
    assert.are.equal(1, code2)
    assert.matches("cannot load libcurl%.so%.4", err2)
  end)
end)
