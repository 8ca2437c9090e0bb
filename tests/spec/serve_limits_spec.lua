-- sceplab serve under attack, as a client on the device network attacks it: out of descriptors,
-- slow lorises, pipelining, the admin page, secrets on disk, odd requests. Hostile clients are
-- tests/interop/http_attack.py (raw sockets); what the server does is read from /proc (CPU, peak
-- memory), its stderr, its database (the sqlite3 tool) and what the peers get back.
local h = require "helper"
local json = require "cjson"

local ATTACK = h.root .. "/tests/interop/http_attack.py"

local sh_out = h.sh_out

local function sleep(s) os.execute("sleep " .. s) end

-- waits for a process to end, at most seconds
local function wait_pid(pid, seconds)
  os.execute(("for i in $(seq %d); do kill -0 %s 2>/dev/null || break; sleep 0.1; done"):format(seconds * 10, pid))
end

-- every process a test starts is stopped after it, whether it passed or not; stopped means gone
-- (a server closing its database still holds it)
local live = {}
local function track(pid) live[pid] = true return pid end
local function halt(pid)
  if pid and live[pid] then
    live[pid] = nil
    h.kill(pid)
    wait_pid(pid, 10)
  end
end
after_each(function()
  for pid in pairs(live) do halt(pid) end
end)

-- Starts `sceplab serve` on a free port (prefix: shell words run before it, e.g. a ulimit);
-- returns {url, base, port, dir, pid, log}.
local function start(dir, args, env, prefix)
  local s = h.serve(dir, args, env or { SCEPLAB_CHALLENGE = "s3cret" }, { prefix = prefix, quiet = true })
  track(s.pid)
  return s
end

local function stop(s) if s then halt(s.pid) end end

-- user + system CPU time of a process, in clock ticks (1/100 s)
local function cpu(pid)
  local stat = h.read("/proc/" .. pid .. "/stat")
  local rest = stat:match("%) (.*)$")
  local f = {}
  for w in rest:gmatch("%S+") do f[#f + 1] = w end
  return tonumber(f[12]) + tonumber(f[13]) -- fields 14 and 15 of the whole line
end

local function status_kb(pid, field)
  return tonumber(h.read("/proc/" .. pid .. "/status"):match(field .. ":%s*(%d+) kB"))
end

local function size(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n
end

-- Runs the attack tool in the background; returns a function that waits for it and decodes its line.
local function attack(args)
  local out = h.tmpname()
  local pid = track(h.spawn("python3 " .. h.shquote(ATTACK) .. " " .. args, out))
  return function()
    wait_pid(pid, 60)
    local text = h.read(out)
    return json.decode(text:match("{.*}") or error("attack tool: " .. text))
  end
end

local function status_of(url, extra)
  return (sh_out(("curl -s -o /dev/null -m 5 -w '%%{http_code}' %s %s"):format(extra or "", h.shquote(url))))
end

local function raw(s, text, source)
  local f = h.write(h.tmpname(), text)
  return (sh_out(("python3 %s raw 127.0.0.1 %d %s < %s"):format(h.shquote(ATTACK), s.port,
    source and ("--source " .. source) or "", h.shquote(f))))
end

local function caps_url(s) return s.url .. "?operation=GetCACaps" end

local function new_ca()
  local dir = h.tmpname()
  assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
  return dir
end

-- one CA for the tests that only need a server running (a new one costs five key pairs)
local shared
local function shared_ca()
  shared = shared or new_ca()
  return shared
end

local function sql(dir, query)
  return (sh_out(("sqlite3 -cmd '.timeout 5000' %s %s"):format(h.shquote(dir .. "/ca.db"), h.shquote(query))))
end

describe("sceplab serve out of file descriptors", function()
  it("pauses accepting when accept() fails, instead of spinning and flooding stderr, and serves once they are back", function()
    local s = start(shared_ca())
    -- descriptors taken from under it: accept() fails with EMFILE before its own limit is reached
    assert(os.execute(("prlimit --pid %s --nofile=40:40"):format(s.pid)))
    local wait = attack(("trickle 127.0.0.1 %d 150 4 --interval 0.3"):format(s.port))
    sleep(1.5)
    local t0, e0 = cpu(s.pid), size(s.log)
    sleep(2)
    local ticks, bytes = cpu(s.pid) - t0, size(s.log) - e0
    local r = wait()
    assert.is_true(r.connected > 40, "the attack did not open more connections than descriptors")
    -- before: 93 % of a core and 17 MB/s of "Too many open files"
    assert.is_true(ticks < 40, ("%d ticks of CPU in 2 s: spinning"):format(ticks))
    assert.is_true(bytes < 2000, ("%d bytes on stderr in 2 s: flooding"):format(bytes))
    local text = h.read(s.log)
    assert.matches("cannot accept a connection: Too many open files; pausing 0.5 s", text, 1, true)
    assert.is_true(select(2, text:gsub("cannot accept", "")) <= 2, "the warning is not rate-limited:\n" .. text)
    assert.are.equal("200", status_of(caps_url(s)))
    stop(s)
  end)

  it("keeps its connections below a low `ulimit -n`, with a reserve, and stays idle while they are taken", function()
    local s = start(shared_ca(), { "--header-timeout", "2" }, nil, "ulimit -n 64")
    local wait = attack(("trickle 127.0.0.1 %d 120 5 --interval 0.3"):format(s.port))
    sleep(1)
    local t0 = cpu(s.pid)
    sleep(2)
    local ticks = cpu(s.pid) - t0
    local r = wait()
    assert.is_true(ticks < 40, ("%d ticks of CPU in 2 s"):format(ticks))
    local limit = tonumber(h.read(s.log):match("(%d+) connections open, the limit"))
    assert.is_number(limit, h.read(s.log))
    assert.is_true(limit < 64 - 20, "no reserve kept: " .. limit)
    -- the ones waiting in the backlog get their turn as the header deadline closes the others
    assert.is_true(r.closed > limit, ("%d closed, limit %d (%d connected, %d refused)"):format(r.closed, limit, r.connected,
      r.refused))
    assert.is_nil(h.read(s.log):find("Too many open files", 1, true))
    assert.are.equal("200", status_of(caps_url(s)))
    stop(s)
  end)
end)

describe("sceplab serve against slow and greedy clients", function()
  it("caps connections per client address: others are still served", function()
    local s = start(shared_ca(), { "--max-per-client", "4" })
    local wait = attack(("trickle 127.0.0.1 %d 10 3 --interval 0.5"):format(s.port))
    sleep(1)
    local other = status_of(caps_url(s), "--interface 127.0.0.2")
    local same = status_of(caps_url(s))
    local r = wait()
    stop(s)
    assert.are.equal("200", other)
    assert.are.equal("503", same)
    assert.are.equal(10, r.connected)
    assert.are.equal(6, r.closed, json.encode(r)) -- the four within the cap stay open
    assert.matches("127.0.0.1 has 4 connections open (the limit per client address)", h.read(s.log), 1, true)
  end)

  it("closes a request head trickled a byte at a time at the header deadline, which the trickle does not move", function()
    local s = start(shared_ca(), { "--header-timeout", "2" })
    local r = attack(("trickle 127.0.0.1 %d 1 6 --interval 0.2"):format(s.port))()
    stop(s)
    assert.are.equal(1, r.closed)
    assert.is_true(r.closed_after[1] >= 1.8 and r.closed_after[1] < 3.5, json.encode(r))
    assert.matches("at the header deadline (2 s)", h.read(s.log), 1, true)
  end)

  it("closes a trickled body at the body deadline", function()
    local s = start(shared_ca(), { "--body-timeout", "2" })
    local r = attack(("body 127.0.0.1 %d 6 --interval 0.2"):format(s.port))()
    stop(s)
    assert.is_number(r.closed_after, json.encode(r))
    assert.is_true(r.closed_after >= 1.8 and r.closed_after < 3.5, json.encode(r))
  end)

  it("reads no request while an answer is pending: 8 connections pipelining without reading leave memory flat", function()
    -- ASan's quarantine would keep every freed block: it is kept small so the peak is the server's
    local s = start(shared_ca(), { "--no-logs" }, { SCEPLAB_CHALLENGE = "x", ASAN_OPTIONS = "quarantine_size_mb=4:detect_leaks=0" })
    assert.are.equal("200", status_of(caps_url(s)))
    local before = status_kb(s.pid, "VmRSS")
    local r = attack(("pipeline 127.0.0.1 %d 8 5"):format(s.port))()
    local peak = status_kb(s.pid, "VmHWM")
    local ok = status_of(caps_url(s))
    stop(s)
    -- before: the server read all the clients sent (1.25 GB in 10 s) and peaked at 1.2 GB
    assert.is_true(r.sent < 8 * 16 * 1024 * 1024, ("the server took %d bytes"):format(r.sent))
    assert.is_true(peak - before < 64 * 1024, ("peak %d kB, %d kB before"):format(peak, before))
    assert.are.equal("200", ok)
  end)
end)

describe("sceplab serve keep-alive", function()
  it("keeps an idle connection 120 s as IIS does and says so; micromdm's scepclient re-POSTs after PENDING on it", function()
    local dir = new_ca()
    local s = start(dir, { "--policy", "manual", "--allow-des" })
    -- an idle connection past 30 s (the old limit, which the client raced) is still open
    local idle = attack(("idle 127.0.0.1 %d %s 31"):format(s.port, h.shquote("/certsrv/mscep/mscep.dll?operation=GetCACaps")))
    local work = h.tmpdir()
    assert(os.execute(h.CLEAN .. "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | " ..
      h.CLEAN .. "openssl rsa -traditional -out " .. h.shquote(work .. "/key.pem") .. " 2>/dev/null"))
    -- scepclient sleeps 30 s after PENDING and sends its request again on the same connection
    local client = track(h.spawn(("sh -c %s"):format(h.shquote(("cd %s && exec scepclient -server-url %s -challenge x -cn held " ..
      "-private-key key.pem -certificate cert.pem"):format(h.shquote(work), h.shquote(s.url)))), work .. "/out"))
    local txid
    for _ = 1, 150 do
      local _, list = h.sceplab({ "ca", "list", "--dir", dir })
      txid = list:match("pending%s+(%S+)") -- scepclient's IDs are base64
      if txid then break end
      sleep(0.1)
    end
    assert.is_string(txid, "no pending request appeared")
    assert.are.equal(0, (h.sceplab({ "ca", "approve", "--dir", dir, txid })))
    wait_pid(client, 60)
    local r = idle()
    stop(s)
    local out = h.read(work .. "/out")
    assert.matches("pkiStatus=PENDING", out, 1, true)
    assert.matches("pkiStatus=SUCCESS", out, 1, true)
    assert.matches("Keep%-Alive: timeout=120", r.first)
    assert.matches("^HTTP/1.1 200", r.second or ("closed: " .. tostring(r.error)))
    assert.matches(": OK", (sh_out(("openssl verify -CAfile %s -untrusted %s %s"):format(h.shquote(dir .. "/root.pem"),
      h.shquote(dir .. "/ca.pem"), h.shquote(work .. "/cert.pem")))))
  end)
end)

describe("sceplab serve's admin page", function()
  local function admin(s) return s.base .. "/certsrv/mscep_admin/" end

  -- the page as text (UTF-16 on the wire, as NDES sends it), and the HTTP status
  local function page(s, extra)
    local body, hdr = h.tmpname(), h.tmpname()
    sh_out(("curl -s -m 40 -D %s -o %s %s %s"):format(h.shquote(hdr), h.shquote(body), extra or "", h.shquote(admin(s))))
    local status = h.read(hdr):match("^HTTP/1.1 (%d+)")
    local text = size(body) > 0 and h.read(body):sub(1, 2) == "\255\254" and sh_out("iconv -f UTF-16 -t UTF-8 " .. h.shquote(body))
                 or h.read(body)
    return status, text, h.read(hdr)
  end

  local function outstanding(dir)
    return tonumber((sql(dir, "SELECT count(*) FROM challenges WHERE used IS NULL")))
  end

  it("refuses to start on an address other than loopback without credentials", function()
    local dir = shared_ca()
    -- (timeout: a server that starts would run until stopped)
    local err = sh_out(("timeout 20 %s serve --dir %s --port 0 --bind 0.0.0.0 --policy ndes-otp </dev/null 2>&1; echo exit $?")
      :format(h.shquote(h.bin), h.shquote(dir)))
    assert.matches("exit 2\n$", err)
    assert.matches("the admin page (/certsrv/mscep_admin/) hands out one-time passwords: listening on 0.0.0.0, not a " ..
      "loopback address, it needs --admin-user", err, 1, true)
    -- a policy without the page binds anywhere; with credentials the page does too
    local s = start(dir, { "--bind", "0.0.0.0", "--policy", "ndes-otp", "--admin-user", "ndesadmin" },
                    { SCEPLAB_ADMIN_PASSWORD = "adm1n" })
    assert.matches("admin page .* hands out one%-time passwords %(to ndesadmin%); its password crosses the network " ..
      "in clear without %-%-tls%-cert", h.read(s.log))
    stop(s)
  end)

  it("makes a password on a POST with the form's token only: not on a GET, not on a forged token", function()
    local dir = new_ca()
    local s = start(dir, { "--policy", "ndes-otp" })
    local st, text, hdr = page(s)
    assert.are.equal("200", st)
    assert.matches("X-Frame-Options: DENY", hdr, 1, true)
    assert.is_nil(text:find("enrollment challenge password is", 1, true))
    assert.are.equal(0, outstanding(dir)) -- before: each GET made one (an <img> tag drained the cache)
    local token = text:match('Name="csrf" Value="([%x.]+)"')
    assert.is_string(token, text)
    assert.are.equal("403", (page(s, "-X POST")))
    assert.are.equal("403", (page(s, "--data csrf=" .. token:match("^%x+%.") .. ("0"):rep(32))))
    assert.are.equal("403", (page(s, "--data csrf=" .. token .. "00")))
    assert.are.equal(0, outstanding(dir))
    -- a page another site's DNS name was rebound to this address for: not the loopback Host
    assert.are.equal("403", (page(s, "-H 'Host: attacker.example'")))
    local st2, text2 = page(s, "--data csrf=" .. token)
    assert.are.equal("200", st2)
    local pw = text2:match("[Tt]he enrollment challenge password is: <B> (%x+) </B>")
    assert.is_string(pw, text2)
    assert.are.equal(1, outstanding(dir))
    local key = h.tmpname()
    local code = h.sceplab_env({ SCEPLAB_CHALLENGE = pw }, { "enroll", "--url", s.url, "--subject", "CN=router",
                                 "--key-out", key .. ".key", "--cert-out", key .. ".pem" })
    stop(s)
    assert.are.equal(0, code)
    -- NDES's own behavior on request: a GET makes one
    local s2 = start(dir, { "--policy", "ndes-otp", "--admin-get-compat" })
    local st3, text3 = page(s2)
    stop(s2)
    assert.are.equal("200", st3)
    assert.matches("enrollment challenge password is: <B> %x+ </B>", text3)
    assert.are.equal(1, outstanding(dir))
  end)

  it("backs off failed logins: each wrong password doubles the wait, attempts within it are not examined", function()
    local s = start(shared_ca(), { "--policy", "ndes-otp", "--admin-user", "ndesadmin", "--admin-get-compat" },
                    { SCEPLAB_ADMIN_PASSWORD = "adm1n" })
    local function timed(user)
      local out = sh_out(("curl -s -o /dev/null -m 40 -w '%%{http_code} %%{time_total}' -u %s %s"):format(
        h.shquote(user), h.shquote(admin(s))))
      local code, t = out:match("(%d+) ([%d.]+)")
      return code, tonumber(t)
    end
    local times = {}
    for i = 1, 3 do
      local code, t = timed("ndesadmin:guess" .. i)
      assert.are.equal("401", code)
      times[i] = t
    end
    -- the fourth wrong answer comes 2 s late; the right password sent meanwhile is not examined
    local out = h.tmpname()
    local fourth = track(h.spawn(("curl -s -o /dev/null -m 40 -w '%%{http_code} %%{time_total}' -u ndesadmin:guess4 %s"):format(
      h.shquote(admin(s))), out))
    sleep(0.5)
    local locked = timed("ndesadmin:adm1n")
    wait_pid(fourth, 40)
    local c4, t4 = h.read(out):match("(%d+) ([%d.]+)")
    times[4] = tonumber(t4)
    local ok = timed("ndesadmin:adm1n")
    stop(s)
    -- before: 300 wrong passwords took 2.4 s
    assert.is_true(times[1] >= 0.2 and times[2] >= 0.45 and times[3] >= 0.95 and times[4] >= 1.9, json.encode(times))
    assert.are.equal("401", c4)
    assert.are.equal("429", locked)
    assert.are.equal("200", ok)
  end)
end)

describe("sceplab serve's secrets on disk", function()
  local function mode(path) return (sh_out("stat -c %a " .. h.shquote(path))):match("%d+") end

  it("keeps the state directory 0700, ca.db and its WAL 0600 and the logs 0640 under umask 000", function()
    local dir = h.tmpname()
    assert(os.execute("mkdir -m 0755 " .. h.shquote(dir)))
    local code, _, err = h.sceplab({ "ca", "init", "--dir", dir }) -- the directory exists: made private all the same
    assert.are.equal(0, code, err)
    -- a log the server appends to from before, world-writable
    assert(os.execute(("mkdir -m 0777 %s/logs && touch %s/logs/NDESPlugin.log && chmod 0666 %s/logs/NDESPlugin.log")
      :format(h.shquote(dir), h.shquote(dir), h.shquote(dir))))
    local s = start(dir, { "--policy", "intune" }, {}, "umask 000")
    assert.are.equal("403", status_of(s.url)) -- a line in the IIS log
    local modes = {}
    for _, f in ipairs({ "", "/ca.db", "/ca.db-wal", "/ca.db-shm", "/logs", "/logs/NDESPlugin.log" }) do
      modes[f] = mode(dir .. f)
    end
    local iis = (sh_out("ls " .. h.shquote(dir .. "/logs"))):match("u_ex%d+%.log")
    modes.iis = iis and mode(dir .. "/logs/" .. iis)
    stop(s)
    -- before: 0755 kept, ca.db and its WAL 0644, the IIS log 0666
    assert.are.same({ [""] = "700", ["/ca.db"] = "600", ["/ca.db-wal"] = "600", ["/ca.db-shm"] = "600", ["/logs"] = "750",
                      ["/logs/NDESPlugin.log"] = "640", iis = "640" }, modes)
  end)

  it("keeps one-time passwords as SHA-256 digests, and hashes those an older ca.db kept in clear", function()
    local dir = new_ca()
    local _, pw = h.sceplab({ "ca", "challenge", "--dir", dir })
    pw = pw:match("^(%x+)\n$")
    assert.is_string(pw)
    local stored = sql(dir, "SELECT value FROM challenges")
    assert.is_nil(stored:find(pw, 1, true), "the password is in ca.db: " .. stored)
    assert.matches("^sha256:%x+\n$", stored)
    -- a database from before: a password in clear (and no schema version, kept since), found and
    -- converted when the CA is opened
    local now = os.time()
    sql(dir, ("INSERT INTO challenges(value, created, expires) VALUES('0123456789ABCDEF', %d, %d)"):format(now, now + 3600))
    sql(dir, "DELETE FROM meta WHERE key = 'schema_version'")
    assert.are.equal(0, (h.sceplab({ "ca", "list", "--dir", dir })))
    assert.are.equal("0", (sql(dir, "SELECT count(*) FROM challenges WHERE value NOT LIKE 'sha256:%'")):match("%d+"))
    assert.is_nil(h.read(dir .. "/ca.db"):find("0123456789ABCDEF", 1, true))
    -- both still work, once
    local s = start(dir, { "--policy", "ndes-otp" }, {})
    local function enroll(secret)
      local key = h.tmpname()
      return (h.sceplab_env({ SCEPLAB_CHALLENGE = secret }, { "enroll", "--url", s.url, "--subject", "CN=otp",
                                                              "--key-out", key .. ".key", "--cert-out", key .. ".pem" }))
    end
    local a, b, again = enroll(pw), enroll("0123456789ABCDEF"), enroll(pw)
    stop(s)
    assert.are.same({ 0, 0, 1 }, { a, b, again })
  end)
end)

describe("sceplab serve, odd requests", function()
  local s
  setup(function()
    s = start(shared_ca(), { "--policy", "none" }, {})
    live[s.pid] = nil -- serves the whole block
  end)
  teardown(function() h.kill(s.pid) end)

  it("answers 404 for a %00 in the path, which once still matched the SCEP URL", function()
    assert.are.equal("404", status_of(s.base .. "/certsrv/mscep/mscep.dll%00.txt?operation=GetCACaps"))
    assert.are.equal("200", status_of(caps_url(s)))
  end)

  it("refuses two different Content-Lengths with 400 (one value repeated is one value)", function()
    -- GetCACaps answers a POST too: a 400 comes from the framing, not from the SCEP code
    local head = "POST /certsrv/mscep/mscep.dll?operation=GetCACaps HTTP/1.1\r\nHost: x\r\n"
    assert.matches("^HTTP/1.1 400 ", raw(s, head .. "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"))
    assert.matches("^HTTP/1.1 400 ", raw(s, head .. "Content-Length: 3, 4\r\n\r\nabcd"))
    assert.matches("^HTTP/1.1 400 ", raw(s, head .. "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\nabcd"))
    local same = raw(s, head .. "Content-Length: 4\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd")
    assert.matches("^HTTP/1.1 200 .*POSTPKIOperation", same)
  end)

  it("reads chunked bodies and pipelined requests, answering each in turn", function()
    local get = "GET /certsrv/mscep/mscep.dll?operation=GetCACaps HTTP/1.1\r\nHost: x\r\n\r\n"
    local out = raw(s, get .. get .. "POST /certsrv/mscep/mscep.dll?operation=PKIOperation HTTP/1.1\r\nHost: x\r\n" ..
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    local statuses = {}
    for st in out:gmatch("HTTP/1.1 (%d+)") do statuses[#statuses + 1] = st end
    assert.are.same({ "200", "200", "400" }, statuses)
  end)

  it("serves the same CRL to every GetCRL until a revocation or half its validity, then a new one", function()
    local key = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "enroll", "--url", s.url, "--subject", "CN=crl", "--key-out", key .. ".key",
                                     "--cert-out", key .. ".pem" })))
    local function getcrl()
      local out = h.tmpname()
      local code, _, err = h.sceplab({ "getcrl", "--url", s.url, "--cert", key .. ".pem", "--key", key .. ".key", "--out", out })
      assert.are.equal(0, code, err)
      local text = sh_out(("openssl crl -in %s -CAfile %s -noout -text"):format(h.shquote(out), h.shquote(s.dir .. "/ca.pem")))
      assert.matches("verify OK", text, 1, true)
      return h.read(out), text:match("X509v3 CRL Number: *\n *(%d+)"), text
    end
    local first, n1 = getcrl()
    local second, n2 = getcrl()
    local third = getcrl()
    -- before: each GetCRL signed a new one and wrote the database (CRL number 4396 in 15 s)
    assert.are.equal(first, second)
    assert.are.equal(first, third)
    local serial = (sh_out("openssl x509 -noout -serial -in " .. h.shquote(key .. ".pem"))):match("serial=(%x+)")
    assert.are.equal(0, (h.sceplab({ "ca", "revoke", "--dir", s.dir, serial })))
    local fourth, n4, text = getcrl()
    assert.are_not.equal(first, fourth)
    assert.are.equal(tonumber(n2) + 1, tonumber(n4))
    assert.are.equal(n1, n2)
    assert.matches("Serial Number: " .. serial, text, 1, true)
    assert.are.equal(fourth, (getcrl()))
    -- half its 7 days over (the row aged by hand, as 4 days would): signed anew, before its nextUpdate
    sql(s.dir, "UPDATE crl SET this_update = this_update - 345600, next_update = next_update - 345600")
    local _, n5 = getcrl()
    assert.are.equal(tonumber(n4) + 1, tonumber(n5))
  end)
end)
