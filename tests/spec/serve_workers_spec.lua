-- sceplab serve --workers: one listening socket, several processes on it, a supervisor that
-- restarts a worker killed mid-run (nothing lost: every certificate a client got is in ca.db, no
-- serial twice, the database intact), drains on SIGTERM (a request in flight is answered) and
-- reloads a changed policy on SIGHUP without refusing a connection. /metrics: serve_metrics_spec.
local h = require "helper"
local cjson = require "cjson"

local Q = h.shquote
local metric, wait_until = h.metric, h.wait_until

local sh = h.sh_out

local function alive(pid) return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true end

local function children(pid)
  local out = sh("pgrep -P " .. pid)
  local t = {}
  for p in out:gmatch("%d+") do t[#t + 1] = p end
  return t
end

local function sql(dir, q) return (sh(("sqlite3 %s %s"):format(Q(dir .. "/ca.db"), Q(q))):gsub("%s+$", "")) end

-- `sceplab enroll` against url as a background job writing its certificate to out: the job's pid.
local function enroll_bg(url, out, subject, log)
  return h.spawn(("env SCEPLAB_CHALLENGE=s3cret %s enroll --url %s --subject %s --key-type ec:p256 --key-out %s.key --cert-out %s -q")
    :format(Q(h.bin), Q(url), Q(subject), Q(out), Q(out)), log)
end

describe("sceplab serve --workers", function()
  it("restarts a worker killed with SIGKILL mid-run and loses no certificate", function()
    local dir = h.tmpdir()
    local srv = h.serve(dir, { "--metrics-port", "0" }, { SCEPLAB_CHALLENGE = "s3cret" }, { workers = 2, quiet = true })
    assert(srv.metrics, "no metrics URL said")
    local benchlog = dir .. "/bench.json"
    local save = dir .. "/received"
    assert(os.execute("mkdir " .. Q(save)))
    -- --retry: a device whose connection died with the worker sends the same transaction again
    local bench = h.spawn(("env SCEPLAB_CHALLENGE=s3cret %s bench %s --concurrency 8 --count 200 --key-type ec:p256 --retry --save %s --json")
      :format(Q(h.bin), Q(srv.url), Q(save)), benchlog)
    -- beside the bench, clients that keep what they receive, to compare with ca.db
    local saver = h.spawn(("sh -c %s"):format(Q(("for i in 1 2 3 4 5 6; do env SCEPLAB_CHALLENGE=s3cret %s enroll --url %s " ..
      "--subject CN=saved-$i --key-type ec:p256 --key-out %s/saved-$i.key --cert-out %s/saved-$i.pem -q; done"):format(Q(h.bin), Q(srv.url), Q(dir), Q(dir)))),
      dir .. "/saver.log")
    -- mid-run: a worker killed once enrollments flow
    assert(wait_until(function() return (metric(srv.metrics, 'sceplab_enrollments_total{outcome="issued"}') or 0) >= 40 end, 900),
      "no enrollments: " .. h.read(srv.log))
    local workers = children(srv.pid)
    assert.are.equal(2, #workers)
    os.execute("kill -9 " .. workers[1])
    assert(wait_until(function() return not alive(bench) and not alive(saver) end, 1800), "the clients did not finish")
    local rep = cjson.decode((assert(h.read(benchlog):match("{.*}"), "bench: " .. h.read(benchlog))))
    assert.matches("worker %d %(pid " .. workers[1] .. "%) was killed by signal 9: starting another", h.read(srv.log))
    assert.are.equal(1, metric(srv.metrics, "sceplab_worker_restarts_total"))
    assert(wait_until(function() return #children(srv.pid) == 2 end, 50), "the worker was not replaced")
    assert.are.equal(2, metric(srv.metrics, "sceplab_workers"))
    -- the killed worker's requests in flight went with it: only this scrape is in flight now
    assert.are.equal(1, metric(srv.metrics, "sceplab_requests_in_flight"))
    -- the connections the dead worker held were sent again: at least 99.9 % enrolled, and no
    -- transaction got two certificates
    assert.are.equal(200, rep.enrolled + rep.failed)
    assert.is_true(rep.enrolled >= math.ceil(200 * 0.999), ("%d of 200 enrolled, %d failed: %s"):format(rep.enrolled, rep.failed, cjson.encode(rep.failures)))
    assert.are.equal(0, #rep.certificates.transactions_with_several)
    assert.are.equal(1, rep.certificates.most_per_transaction)
    h.kill(srv.pid)
    assert(wait_until(function() return not alive(srv.pid) end, 150), "serve did not stop")
    -- every certificate a client received is the one in ca.db under its serial
    local saved = 0
    for i = 1, 6 do
      local f = ("%s/saved-%d.pem"):format(dir, i)
      if io.open(f) then
        saved = saved + 1
        local serial = sh("openssl x509 -noout -serial -in " .. Q(f)):match("serial=(%x+)")
        local der = sh(("openssl x509 -in %s -outform DER | od -An -tx1 | tr -d ' \\n'"):format(Q(f)))
        assert.are.equal(der:upper(), sql(dir, ("SELECT hex(der) FROM certificates WHERE serial = '%s'"):format(serial)))
      end
    end
    assert.is_true(saved >= 5, "saved " .. saved)
    -- and every certificate the bench received, under its transaction
    local received = 0
    for f in sh("ls " .. Q(save)):gmatch("[^\n]+") do
      local tid = f:match("^(.+)%.pem$")
      local der = sh(("openssl x509 -in %s -outform DER | od -An -tx1 | tr -d ' \\n'"):format(Q(save .. "/" .. f)))
      assert.are.equal(der:upper(), sql(dir, ("SELECT hex(c.der) FROM certificates c JOIN requests r ON r.serial = c.serial " ..
        "WHERE r.transaction_id = '%s' AND r.state = 'issued'"):format(tid)))
      received = received + 1
    end
    assert.are.equal(rep.enrolled, received)
    assert.are.equal("ok", sql(dir, "PRAGMA integrity_check"))
    local issued = tonumber(sql(dir, "SELECT count(*) FROM requests WHERE state = 'issued'"))
    assert.is_true(issued >= rep.enrolled + saved, ("%d issued, %d received"):format(issued, rep.enrolled + saved))
    assert.are.equal(sql(dir, "SELECT count(*) FROM certificates"), sql(dir, "SELECT count(DISTINCT serial) FROM certificates"))
    assert.are.equal("0", sql(dir, "SELECT count(*) FROM requests WHERE state = 'issued' AND serial NOT IN (SELECT serial FROM certificates)"))
  end)

  for _, n in ipairs({ 1, 2 }) do
    it(("drains on SIGTERM with %d worker%s: a request in flight is answered, then it exits"):format(n, n > 1 and "s" or ""), function()
      local dir = h.tmpdir()
      -- each issuance holds its transaction for 3 s: SIGTERM lands inside it
      local srv = h.serve(dir, { "--metrics-port", "0", "--ca-latency", "3000" }, { SCEPLAB_CHALLENGE = "s3cret" },
        { workers = n, quiet = true })
      local cert = dir .. "/drained.pem"
      local job = enroll_bg(srv.url, cert, "CN=drained", dir .. "/enroll.log")
      -- in flight: with workers, the enrollment and this scrape; one process, busy issuing, answers
      -- nothing else meanwhile
      assert(wait_until(function()
        if n > 1 then return (metric(srv.metrics, "sceplab_requests_in_flight") or 0) >= 2 end
        -- twice in a row: one slow answer on a loaded machine is not the loop held by the issuance
        local function busy() return not select(2, sh("curl -s --max-time 0.5 " .. Q(srv.url .. "?operation=GetCACaps"))) end
        return busy() and busy()
      end, 300), "the enrollment never came")
      os.execute("kill -TERM " .. srv.pid)
      assert(wait_until(function() return not alive(job) end, 150), "the enrollment did not finish")
      assert(wait_until(function() return not alive(srv.pid) end, 100), "serve did not exit")
      assert(io.open(cert), "no certificate: " .. h.read(dir .. "/enroll.log"))
      local serial = sh("openssl x509 -noout -serial -in " .. Q(cert)):match("serial=(%x+)")
      assert.are.equal("1", sql(dir, ("SELECT count(*) FROM certificates WHERE serial = '%s'"):format(serial)))
      -- the socket closed with it
      local _, ok = sh("curl -s --max-time 3 " .. Q(srv.url .. "?operation=GetCACaps"))
      assert.is_falsy(ok)
    end)
  end

  for _, n in ipairs({ 1, 2 }) do
    it(("reloads a changed policy on SIGHUP with %d worker%s, refusing no connection"):format(n, n > 1 and "s" or ""), function()
      local dir = h.tmpdir()
      local pol = h.write(dir .. "/policy.lua", [[
return { description = "closed", check = function(req, ctx) return ctx.deny("closed for now") end }
]])
      local srv = h.serve(dir, { "--metrics-port", "0", "--policy", pol }, { SCEPLAB_CHALLENGE = "s3cret" },
        { workers = n, quiet = true })
      local code = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, { "enroll", "--url", srv.url, "--subject", "CN=before",
        "--key-type", "ec:p256", "--key-out", dir .. "/before.key", "--cert-out", dir .. "/before.pem", "-q" })
      assert.are_not.equal(0, code)
      -- connections made all through the reload: each must be answered
      local codes = dir .. "/codes"
      local loop = h.spawn(("sh -c %s"):format(Q(("while [ ! -e %s/stop ]; do curl -s -o /dev/null -w '%%{http_code}\\n' " ..
        "--max-time 5 %s >>%s; done"):format(Q(dir), Q(srv.url .. "?operation=GetCACaps"), Q(codes)))))
      h.write(pol, [[
return { description = "open", check = function(req, ctx) return ctx.allow() end }
]])
      os.execute("sleep 0.3; kill -HUP " .. srv.pid)
      local said = n > 1 and "reloaded: generation 2 serves" or "SIGHUP: policy .* read again"
      assert(h.wait_log(srv.log, "(" .. said .. ")", 300), "no reload: " .. h.read(srv.log))
      code = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, { "enroll", "--url", srv.url, "--subject", "CN=after",
        "--key-type", "ec:p256", "--key-out", dir .. "/after.key", "--cert-out", dir .. "/after.pem", "-q" })
      os.execute("sleep 0.5")
      h.write(dir .. "/stop", "")
      assert(wait_until(function() return not alive(loop) end, 100))
      assert.are.equal(0, code)
      local answers = h.lines(h.read(codes))
      assert.is_true(#answers >= 5, "only " .. #answers .. " connections")
      for _, c in ipairs(answers) do assert.are.equal("200", c) end
      if n > 1 then
        assert.are.equal(1, metric(srv.metrics, "sceplab_reloads_total"))
        -- the old generation drained and exited; the new one serves
        assert(wait_until(function() return #children(srv.pid) == n end, 100), "the old workers did not exit")
      end
      h.kill(srv.pid)
    end)
  end

  it("takes NDES's admin form made by one worker in any other (one token key for them all)", function()
    local dir = h.tmpdir()
    local srv = h.serve(dir, { "--policy", "ndes-otp", "--password-max", "8" }, {}, { workers = 2, quiet = true })
    local admin = Q(srv.base .. "/certsrv/mscep_admin/")
    local form = sh("curl -s " .. admin .. " | iconv -f UTF-16 -t UTF-8")
    local token = form:match('Name="csrf" Value="([%x.]+)"')
    assert.is_string(token, form)
    -- each post a new connection, which either worker may accept: every one makes a password
    for _ = 1, 6 do
      local text = sh(("curl -s --data csrf=%s %s | iconv -f UTF-16 -t UTF-8"):format(token, admin))
      assert.matches("enrollment challenge password is: <B> %x+ </B>", text)
    end
    h.kill(srv.pid)
  end)

  it("waits for another writer of the state directory a bounded time, never for ever (a writer stopped in its transaction)", function()
    local dir = h.tmpdir()
    local srv = h.serve(dir, {}, { SCEPLAB_CHALLENGE = "s3cret" }, { quiet = true })
    -- a process holding the writers' queue and never letting go, as a `ca` command stopped with
    -- SIGSTOP inside its transaction would (SQLite's own lock is free: the bound, not SQLite, decides)
    local holder = h.spawn("flock -o " .. Q(dir) .. " sleep 60", dir .. "/holder.log")
    os.execute("sleep 0.3")
    local t0 = os.time()
    local code, _, err = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, { "enroll", "--url", srv.url, "--subject", "CN=waited",
      "--key-type", "ec:p256", "--key-out", dir .. "/w.key", "--cert-out", dir .. "/w.pem", "--timeout", "30", "-q" })
    os.execute("kill " .. holder .. " 2>/dev/null")
    assert.are.equal(0, code, err)
    assert.is_true(os.time() - t0 <= 20, "waited " .. (os.time() - t0) .. " s")
    h.kill(srv.pid)
  end)
  -- class: a lock held across a disk flush. A commit's sync runs after the writers' queue is let go
  -- (the next writer appends while it runs) and before the reply, so an answered certificate is on
  -- disk; a certificate read back (a resend) is synced before it is handed out, since another
  -- process's commit is visible a moment before its sync returns. strace shows the order: before,
  -- the WAL was synced inside COMMIT, with the queue held, and a resend's answer was not synced.
  it("syncs a commit's WAL after letting the writers' queue go and before it answers, and before it answers a resend", function()
    local dir = h.tmpdir()
    local trace = dir .. "/trace"
    local srv = h.serve(dir, {}, { SCEPLAB_CHALLENGE = "s3cret" },
      { quiet = true, wrap = "strace -f -yy -s 256 -e trace=flock,fdatasync,fsync,writev -o " .. Q(trace) .. " " })
    local function enroll(i, key)
      local code, _, err = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, { "enroll", "--url", srv.url, "--subject",
        "CN=synced" .. math.min(i, 2), "--key-type", "ec:p256", "--key-out", dir .. "/s" .. i .. ".key", "--cert-out",
        dir .. "/s" .. i .. ".pem", "--timeout", "60", "-q", key and "--key" or nil, key })
      assert.are.equal(0, code, err)
    end
    enroll(1)
    enroll(2)
    enroll(3, dir .. "/s2.key") -- the same key and subject: the same transaction, answered from ca.db
    assert.are.equal(h.read(dir .. "/s2.pem"), h.read(dir .. "/s3.pem"))
    for _, p in ipairs(children(srv.pid)) do os.execute("kill " .. p .. " 2>/dev/null") end
    h.kill(srv.pid)
    local lines, replies = {}, {}
    for l in io.lines(trace) do
      lines[#lines + 1] = l
      if l:find("writev%(%d+<TCP:") and l:find("x%-pki%-message") then replies[#replies + 1] = #lines end
    end
    assert.are.equal(3, #replies, "three CertReps in the trace")
    -- a sync is its whole line or its start ("<unfinished ...>": another thread's call came between)
    local function is(l, what, pid)
      if pid and l:match("^%d+") ~= pid then return false end
      if what == "sync" then return l:find("fdatasync%(%d+<[^>]*ca%.db%-wal>[%) ]") or l:find("fsync%(%d+<[^>]*ca%.db%-wal>[%) ]") end
      return l:find("flock%(%d+<[^>]*>, " .. what)
    end
    local function last(what, from, to)
      for i = to, from, -1 do if is(lines[i], what) then return i end end
    end
    local function any(what, from, to, pid)
      for i = from, to do if is(lines[i], what, pid) then return i end end
    end
    -- the second enrollment: issued, its commit synced after the queue is let go (by the thread that
    -- held it: serve's thread that syncs commits holds no queue)
    local reply = replies[2]
    local ex = last("LOCK_EX", replies[1], reply)
    local un = ex and any("LOCK_UN", ex, reply)
    assert.is_truthy(ex and un, "no transaction before the reply")
    local shown = table.concat(lines, "\n", ex, reply)
    assert.is_falsy(any("sync", ex, un, lines[ex]:match("^%d+")), "the WAL synced with the queue held:\n" .. shown)
    assert.is_truthy(any("sync", un, reply), "no WAL sync between the queue let go and the reply:\n" .. shown)
    -- the resend: its certificate read back and synced before the answer
    assert.is_truthy(any("sync", replies[2] + 1, replies[3]), "the resend's certificate was answered unsynced:\n" ..
      table.concat(lines, "\n", replies[2] + 1, replies[3]))
  end)

  -- class: a disk flush on the event loop. Each commit's sync (fdatasync of ca.db's WAL) stopped the
  -- worker's loop: nothing else was read, parsed or signed meanwhile, and commits that came
  -- together were synced one by one. strace makes every sync take 1 s: eight enrollments at once
  -- took 8.4 s before, and a GetCACaps sent meanwhile waited for a sync; now a thread
  -- syncs beside the loop, commits made during a sync share the next one, and the loop answers.
  -- Every CertRep still follows a sync that began after its request's last write to the WAL.
  it("syncs commits beside the loop, several in one sync, and answers only what is on disk", function()
    local dir = h.tmpdir()
    local trace = dir .. "/trace"
    local delay = 1.0
    -- the CA made first, without the slow syncs: serve starts at once
    local code, _, err = h.sceplab({ "ca", "init", "--dir", dir })
    assert.are.equal(0, code, err)
    local srv = h.serve(dir, {}, { SCEPLAB_CHALLENGE = "s3cret" }, {
      wrap = ("strace -f -ttt -T -yy -s 256 -e trace=fdatasync,writev,readv,pwrite64 -e inject=fdatasync:delay_exit=%d -o %s ")
        :format(math.floor(delay * 1e6), Q(trace)) })
    local function now() return tonumber((sh("date +%s.%N"))) end
    local function bench(n)
      local code, out, err = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, { "bench", srv.url, "--concurrency", tostring(n),
        "--count", tostring(n), "--key-type", "ec:p256", "--json" })
      assert.are.equal(0, code, tostring(out) .. tostring(err))
      assert.are.equal(n, cjson.decode(out).enrolled, out)
    end
    -- once first: a new WAL's header and directory entry are synced by SQLite itself, on the loop, once
    bench(1)
    local t_start = now()
    local probe = dir .. "/probe.txt"
    h.write(dir .. "/probe.sh", ('for i in $(seq 30); do curl -s -o /dev/null --max-time 20 -w "%%{time_total}\\n" %s; sleep 0.1; done\n')
      :format(Q(srv.url .. "?operation=GetCACaps")))
    local prober = h.spawn("sh " .. Q(dir .. "/probe.sh"), probe)
    bench(8)
    local took = now() - t_start
    assert.is_truthy(wait_until(function() return select(2, h.read(probe):gsub("\n", "")) >= 30 end, 300),
      "the GetCACaps probe did not finish: " .. h.read(probe))
    os.execute("kill " .. prober .. " 2>/dev/null")
    for _, p in ipairs(children(srv.pid)) do os.execute("kill " .. p .. " 2>/dev/null") end
    h.kill(srv.pid)
    local slowest = 0
    for t in h.read(probe):gmatch("[%d.]+") do slowest = math.max(slowest, tonumber(t)) end
    -- one sync per commit, one after another, is 8 x delay and more; shared syncs, 2 to 3
    assert.is_true(took < 5 * delay, ("eight enrollments took %.1f s: their commits were synced one at a time"):format(took))
    assert.is_true(slowest < delay * 0.8, ("a GetCACaps waited %.2f s: the loop stopped for a sync"):format(slowest))
    -- the trace: WAL syncs (start, end: strace's -T leaves the injected delay out), WAL writes and
    -- the socket calls of the loop (the loop is one thread: a request's writes follow its last read)
    local syncs, events, open = {}, {}, {}
    for l in io.lines(trace) do
      local pid, ts = l:match("^(%d+)%s+([%d.]+)")
      ts = tonumber(ts)
      if l:find("fdatasync%(%d+<[^>]*ca%.db%-wal>") then
        if l:find("<unfinished") then open[pid] = ts
        elseif l:find("= 0") then syncs[#syncs + 1] = { ts, ts + tonumber(l:match("<([%d.]+)>%s*$")) + delay } end
      elseif open[pid] and l:find("<%.%.%. fdatasync resumed>") and l:find("= 0") then
        syncs[#syncs + 1] = { open[pid], ts + delay }
        open[pid] = nil
      elseif l:find("pwrite64%(%d+<[^>]*ca%.db%-wal>") then
        events[#events + 1] = { ts = ts, wal = true }
      else
        local call, fd = l:match("(%a+)%((%d+)<TCP:")
        if call == "readv" or call == "writev" then
          events[#events + 1] = { ts = ts, call = call, fd = fd, certrep = call == "writev" and l:find("x%-pki%-message") ~= nil }
        end
      end
    end
    local during, certreps = 0, 0
    for _, sy in ipairs(syncs) do if sy[1] >= t_start then during = during + 1 end end
    assert.is_true(during >= 1 and during < 8, ("%d syncs for eight enrollments' commits: none shared"):format(during))
    for i, e in ipairs(events) do
      if e.certrep then
        certreps = certreps + 1
        local read
        for j = i - 1, 1, -1 do if events[j].call == "readv" and events[j].fd == e.fd then read = j break end end
        local wrote
        for j = (read or i) + 1, i - 1 do
          if events[j].call then break end
          wrote = events[j].ts
        end
        assert.is_truthy(wrote, "a CertRep with no write of its request to the WAL before it")
        local covered = false
        for _, sy in ipairs(syncs) do if sy[1] >= wrote and sy[2] <= e.ts + 0.01 then covered = true end end
        assert.is_true(covered, ("a CertRep at %.6f: no WAL sync between its commit (%.6f) and it"):format(e.ts, wrote))
      end
    end
    assert.are.equal(9, certreps, "nine CertReps in the trace")
    -- the log (IIS's fields on the console) says when the answer left: its time taken includes
    -- the wait for the sync, as IIS's time-taken counts until the last byte is sent
    local taken = {}
    for l in h.read(srv.log):gmatch("[^\n]+") do
      if l:find("POST /certsrv/mscep/mscep.dll operation=PKIOperation", 1, true) then taken[#taken + 1] = tonumber(l:match("(%d+)$")) end
    end
    assert.are.equal(9, #taken, h.read(srv.log))
    for _, ms in ipairs(taken) do
      assert.is_true(ms >= delay * 1000 * 0.9, ("a PKIOperation logged as taking %d ms: its sync's %d ms left out"):format(ms, delay * 1000))
    end
  end)

  -- A sync that fails leaves the commit not known to be on disk: the answer is a 500, never the
  -- certificate, and no later commit is taken as durable either (the kernel may have dropped the
  -- pages it could not write). The shim fails fdatasync on every thread but the main one.
  it("answers 500, not a certificate, when the sync of its commit fails", function()
    local dir = h.tmpdir()
    local shim = h.no_optlib_shim()
    local preload = (os.getenv("LD_PRELOAD") or "") ~= "" and (os.getenv("LD_PRELOAD") .. ":" .. shim) or shim
    local srv = h.serve(dir, {}, { SCEPLAB_CHALLENGE = "s3cret", LD_PRELOAD = preload, SCEPLAB_TEST_FAIL_SYNC = "1",
      ASAN_OPTIONS = "detect_leaks=0" }, { quiet = true })
    for i = 1, 2 do
      local code, _, err = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, { "enroll", "--url", srv.url, "--subject",
        "CN=unsynced" .. i, "--key-type", "ec:p256", "--key-out", dir .. "/u" .. i .. ".key", "--cert-out",
        dir .. "/u" .. i .. ".pem", "--timeout", "30", "-q" })
      assert.are_not.equal(0, code, "enrollment " .. i .. " got a certificate whose commit was not synced")
      assert.matches("500", err)
      assert.is_nil(io.open(dir .. "/u" .. i .. ".pem"))
    end
    local caps = sh("curl -s -o /dev/null -w '%{http_code}' " .. Q(srv.url .. "?operation=GetCACaps"))
    assert.are.equal("200", caps) -- what commits nothing is answered as before
    for _, p in ipairs(children(srv.pid)) do os.execute("kill " .. p .. " 2>/dev/null") end
    h.kill(srv.pid)
    assert.matches("could not be synced to disk", h.read(srv.log))
  end)

  -- class: work that goes to whoever is first awake. Connections that arrive together were all
  -- taken by one worker in half of scripts/bench server's runs (8 of 8, the other idle), and
  -- kept-open ones never move. Now a worker that holds more than another waits for it to take
  -- the next. Five bursts of eight connections opened at once by one process and held open, with
  -- the cores kept busy (as a load test or the rest of a machine keeps them): both workers hold some.
  it("spreads connections that arrive together over the workers, kept-open ones included", function()
    local dir = h.tmpdir()
    local srv = h.serve(dir, {}, { SCEPLAB_CHALLENGE = "s3cret" }, { quiet = true, workers = 2 })
    local workers = children(srv.pid)
    assert.are.equal(2, #workers)
    local burst = dir .. "/burst.py"
    h.write(burst, [[
import socket, sys, time
held = []
for _ in range(8):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except BlockingIOError:
        pass
    held.append(s)
time.sleep(3)
]])
    local burners = {}
    for i = 1, 2 do burners[i] = h.spawn("timeout 60 sh -c 'while :; do :; done'") end
    local ok, why = pcall(function()
      for round = 1, 5 do
        local client = h.spawn(("python3 %s %d"):format(Q(burst), srv.port), dir .. "/burst.log")
        local held, seen
        wait_until(function()
          held = {}
          local n = 0
          seen = sh(("ss -tnpH state established '( sport = :%d )'"):format(srv.port))
          for pid in seen:gmatch("pid=(%d+)") do
            held[pid] = (held[pid] or 0) + 1
            n = n + 1
          end
          return n >= 8
        end, 50)
        os.execute("kill " .. client .. " 2>/dev/null")
        local a, b = held[workers[1]] or 0, held[workers[2]] or 0
        assert(a >= 2 and b >= 2, ("burst %d: the workers (%s) hold %d and %d of 8 connections:\n%s"):format(round,
          table.concat(workers, ", "), a, b, seen .. h.read(dir .. "/burst.log")))
        wait_until(function() return not sh(("ss -tnpH state established '( sport = :%d )'"):format(srv.port)):find("pid=") end, 50)
      end
    end)
    for _, p in ipairs(burners) do os.execute("kill " .. p .. " 2>/dev/null") end
    h.kill(srv.pid)
    assert.is_true(ok, tostring(why))
  end)
end)
