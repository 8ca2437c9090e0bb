-- The CA's PostgreSQL store (`--db postgresql://...`): several serve instances, each with its own
-- copy of the state directory's keys as separate machines have, on one PostgreSQL 15 started by
-- the spec (tests/spec/pg.lua). What must hold across instances: the schema made once however many
-- processes open a new database at once, a one-time challenge used once, a resent transaction
-- answered with its certificate, CertPoll anywhere, CRL numbers never repeated, and 503 with
-- Retry-After while the database is away, then service again without a restart.
local h = require "helper"
local pgserver = require "pg"
local json = require "cjson"

local q = h.shquote

-- Runs sceplab commands at the same moment; returns {code, out, err} per command.
local function together(cmds)
  local parts, files = {}, {}
  for i, c in ipairs(cmds) do
    local f = h.tmpname()
    files[i] = f
    local env = { "env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=1" }
    for k, v in pairs(c.env or {}) do env[#env + 1] = k .. "=" .. q(v) end
    local argv = {}
    for _, a in ipairs(c) do argv[#argv + 1] = q(a) end
    parts[#parts + 1] = ("(%s %s %s >%s 2>%s </dev/null; echo $? >%s) &"):format(table.concat(env, " "), q(h.bin),
      table.concat(argv, " "), q(f .. ".out"), q(f .. ".err"), q(f .. ".rc"))
  end
  os.execute(table.concat(parts, " ") .. " wait")
  local res = {}
  for i, f in ipairs(files) do
    res[i] = { code = tonumber(h.read(f .. ".rc")), out = h.read(f .. ".out"), err = h.read(f .. ".err") }
    os.remove(f .. ".rc") os.remove(f .. ".out") os.remove(f .. ".err")
  end
  return res
end

-- A CA's keys for a database, and copies of the state directory (the other machines').
local function ca_for(db, copies)
  local dir = h.tmpname()
  local code, _, err = h.sceplab({ "ca", "init", "--dir", dir, "--db", db })
  assert(code == 0, err)
  local dirs = { dir }
  for i = 2, copies or 1 do
    dirs[i] = h.tmpname()
    assert(os.execute(("cp -a %s %s"):format(q(dir), q(dirs[i]))))
  end
  return dirs
end

local function list(dir, db)
  local code, out, err = h.sceplab({ "ca", "list", "--json", "--dir", dir, "--db", db })
  assert(code == 0, err)
  return json.decode(out)
end

-- (EC keys: made in an instant, where RSA keys cost the sanitized build seconds each)
-- Every server a test starts is stopped after it, whether its assertions held or not.
local started = {}
local function serve(dir, args, env)
  local srv = h.serve(dir, args, env, { quiet = true })
  started[#started + 1] = srv.pid
  return srv
end

local function enroll_cmd(url, subject, key, env)
  return { "enroll", "--url", url, "--subject", subject, "--key-type", "ec:p256", "--key-out", key .. ".key",
           "--cert-out", key .. ".pem", env = env or { SCEPLAB_CHALLENGE = "s3cret" } }
end

describe("the PostgreSQL store", function()
  local pg
  setup(function() pg = pgserver.new() end)
  teardown(function() if pg then pg:destroy() end end)
  after_each(function()
    for _, pid in ipairs(started) do h.kill(pid) end
    started = {}
  end)

  it("makes the schema once when `ca` processes open a new database at once, and is one CA's", function()
    local db = pg:createdb("race")
    local keys = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", keys })))
    local crl1, crl2 = h.tmpname(), h.tmpname()
    local r = together({
      { "ca", "list", "--dir", keys, "--db", db }, { "ca", "list", "--json", "--dir", keys, "--db", db },
      { "ca", "crl", "--dir", keys, "--db", db, "-o", crl1 }, { "ca", "crl", "--dir", keys, "--db", db, "-o", crl2 },
    })
    for i = 1, 4 do assert.are.equal(0, r[i].code, r[i].err) end
    -- each migration ran once (its statements would fail a second time: CREATE TABLE, the
    -- primary key of schema_migrations), and the version says the last
    assert.are.equal("1\n2\n", pg:psql("race", "SELECT version FROM schema_migrations ORDER BY version"))
    assert.are.equal("2\n", pg:psql("race", "SELECT value FROM meta WHERE key = 'schema_version'"))
    -- another CA's keys are refused: its certificates would mix with this one's
    local other = h.tmpname()
    local code0, _, err0 = h.sceplab({ "ca", "init", "--dir", other, "--db", db })
    assert.are.equal(2, code0)
    assert.matches("the database holds the records of another CA", err0, 1, true)
    -- the keys stay in the state directory: no ca.db is made beside them
    local a = h.tmpname()
    local db2 = pg:createdb("race2")
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", a, "--db", db2 })))
    assert.is_nil(io.open(a .. "/ca.db"))
    assert.is_not_nil(io.open(a .. "/ca.key"))
    -- a URL that names no database is one line naming it, without the password
    local code, _, err = h.sceplab({ "ca", "list", "--dir", keys, "--db",
      "postgresql://sceplab:hunter2@/nosuchdb?host=" .. pg.dir:gsub(" ", "%%20") })
    assert.are_not.equal(0, code)
    assert.matches("postgresql:///nosuchdb: connecting:", err, 1, true)
    assert.is_nil(err:find("hunter2", 1, true))
  end)

  it("gives one one-time challenge sent to three instances at the same moment exactly one certificate", function()
    local db = pg:createdb("otp")
    local dirs = ca_for(db, 3)
    local _, pw = h.sceplab({ "ca", "challenge", "--dir", dirs[1], "--db", db })
    pw = assert(pw:match("^(%x+)\n$"))
    local s = {}
    for i = 1, 3 do s[i] = serve(dirs[i], { "--db", db, "--policy", "ndes-otp" }, {}) end
    local keys, cmds = {}, {}
    for i = 1, 3 do
      keys[i] = h.tmpname()
      cmds[i] = enroll_cmd(s[i].url, "CN=otp-" .. i, keys[i], { SCEPLAB_CHALLENGE = pw })
    end
    local r = together(cmds)
    for i = 1, 3 do h.kill(s[i].pid) end
    local ok = 0
    for i = 1, 3 do
      if r[i].code == 0 then ok = ok + 1 else assert.matches("badRequest", r[i].out, 1, true) end
    end
    assert.are.equal(1, ok)
    local issued = 0
    for _, row in ipairs(list(dirs[2], db)) do if row.state == "issued" then issued = issued + 1 end end
    assert.are.equal(1, issued)
    assert.are.equal("1\n", pg:psql("otp", "SELECT count(*) FROM certificates"))
  end)

  it("answers one transaction sent to three instances at once with one certificate, and its resend with the same", function()
    local db = pg:createdb("resend")
    local dirs = ca_for(db, 3)
    local s = {}
    for i = 1, 3 do s[i] = serve(dirs[i], { "--db", db }, { SCEPLAB_CHALLENGE = "s3cret" }) end
    local key = h.tmpname()
    assert(os.execute(h.CLEAN .. "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " .. q(key .. ".key") ..
      " 2>/dev/null"))
    -- the same key is the same transaction ID and, signed again, the same request: a device's resend
    local cmds = {}
    for i = 1, 3 do
      cmds[i] = { "enroll", "--url", s[i].url, "--subject", "CN=resent", "--key", key .. ".key",
                  "--key-out", key .. i .. ".key", "--cert-out", key .. i .. ".pem", env = { SCEPLAB_CHALLENGE = "s3cret" } }
    end
    local r = together(cmds)
    for i = 1, 3 do assert.are.equal(0, r[i].code, r[i].err .. r[i].out) end
    local first = h.read(key .. "1.pem")
    assert.are.equal(first, h.read(key .. "2.pem"))
    assert.are.equal(first, h.read(key .. "3.pem"))
    -- later, on another instance: the stored answer again
    local code, _, err = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, { "enroll", "--url", s[2].url, "--subject",
      "CN=resent", "--key", key .. ".key", "--key-out", key .. "4.key", "--cert-out", key .. "4.pem" })
    for i = 1, 3 do h.kill(s[i].pid) end
    assert.are.equal(0, code, err)
    assert.are.equal(first, h.read(key .. "4.pem"))
    local rows = list(dirs[3], db)
    assert.are.equal(1, #rows)
    assert.are.equal("issued", rows[1].state)
    assert.are.equal("1\n", pg:psql("resend", "SELECT count(*) FROM certificates"))
  end)

  it("finds at CertPoll on one instance a request left pending on another and approved by `ca approve`", function()
    local db = pg:createdb("poll")
    local dirs = ca_for(db, 2)
    local a = serve(dirs[1], { "--db", db, "--policy", "manual" }, {})
    local b = serve(dirs[2], { "--db", db, "--policy", "manual" }, {})
    local key, state = h.tmpname(), h.tmpname()
    local code, out = h.sceplab({ "enroll", "--url", a.url, "--subject", "CN=waiting", "--poll-max", "0", "--state", state,
                                  "--key-type", "ec:p256", "--key-out", key .. ".key", "--cert-out", key .. ".pem" })
    assert.matches("PENDING", out, 1, true)
    local rows = list(dirs[2], db)
    assert.are.equal("pending", rows[1].state)
    -- two administrators approve it at the same moment, from two machines: one certificate
    local r = together({ { "ca", "approve", "--dir", dirs[1], "--db", db, rows[1].transaction_id },
                         { "ca", "approve", "--dir", dirs[2], "--db", db, rows[1].transaction_id } })
    assert.are.equal(1, (r[1].code == 0 and 1 or 0) + (r[2].code == 0 and 1 or 0), r[1].err .. r[2].err)
    -- (refused before its transaction, or inside it once the first committed)
    local refused = r[1].code == 0 and r[2].err or r[1].err
    assert.is_truthy(refused:find("no pending request", 1, true) or refused:find("no longer pending", 1, true), refused)
    assert.are.equal("1\n", pg:psql("poll", "SELECT count(*) FROM certificates"))
    -- the device's next poll goes to the other instance (the state file names the URL it polls)
    local doc = json.decode(h.read(state))
    doc.url = b.url
    h.write(state, json.encode(doc))
    local c2, o2, e2 = h.sceplab({ "enroll", "--resume", state, "--poll-interval", "0.1", "--key-out", key .. "-r.key",
                                   "--cert-out", key .. ".pem" })
    h.kill(a.pid)
    h.kill(b.pid)
    assert.are.equal(0, c2, e2 .. o2)
    assert.matches("SUCCESS", o2, 1, true)
    assert.is_truthy(o2:find(b.url, 1, true), o2)
    assert.matches(": OK", (h.sh_out(("openssl verify -CAfile %s -untrusted %s %s"):format(q(dirs[1] .. "/root.pem"),
      q(dirs[1] .. "/ca.pem"), q(key .. ".pem")))))
  end)

  it("never repeats a CRL number, and the CRL any instance serves lists a revocation made anywhere", function()
    local db = pg:createdb("crl")
    local dirs = ca_for(db, 3)
    local s = serve(dirs[3], { "--db", db, "--policy", "none" }, {})
    local key = h.tmpname()
    assert.are.equal(0, (h.sceplab_env({}, enroll_cmd(s.url, "CN=revoked", key, {}))))
    local serial = h.sh_out("openssl x509 -noout -serial -in " .. q(key .. ".pem")):match("serial=(%x+)")
    assert.are.equal(0, (h.sceplab({ "ca", "revoke", "--dir", dirs[2], "--db", db, serial, "--reason", "1" })))
    -- CRLs made at the same moment by six processes on three machines' directories
    local cmds, files = {}, {}
    for i = 1, 6 do
      files[i] = h.tmpname()
      cmds[i] = { "ca", "crl", "--dir", dirs[(i - 1) % 3 + 1], "--db", db, "--out", files[i] }
    end
    local r = together(cmds)
    local seen = {}
    for i = 1, 6 do
      assert.are.equal(0, r[i].code, r[i].err)
      local n = h.sh_out("openssl crl -noout -crlnumber -in " .. q(files[i])):match("crlNumber=0x(%x+)")
      assert.is_string(n)
      assert.is_nil(seen[n], "CRL number " .. n .. " given twice")
      seen[n] = true
    end
    -- GetCRL on the instance that did not revoke
    local crl = h.tmpname()
    local code, _, err = h.sceplab({ "getcrl", "--url", s.url, "--cert", key .. ".pem", "--key", key .. ".key", "--out", crl })
    h.kill(s.pid)
    assert.are.equal(0, code, err)
    local text = (h.sh_out(("openssl crl -in %s -CAfile %s -noout -text"):format(q(crl), q(dirs[1] .. "/ca.pem"))))
    assert.matches("verify OK", text, 1, true)
    assert.matches("Serial Number: " .. serial, text, 1, true)
  end)

  it("hands out nothing when PostgreSQL goes away inside the issuing transaction, and issues it once on the resend", function()
    local db = pg:createdb("mid")
    local dirs = ca_for(db, 1)
    -- each write transaction waits 2 s between its writes and its COMMIT: PostgreSQL stops in there
    local s = serve(dirs[1], { "--db", db, "--ca-latency", "2000" }, { SCEPLAB_CHALLENGE = "s3cret" })
    local key = h.tmpname()
    assert(os.execute(h.CLEAN .. "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " .. q(key .. ".key") ..
      " 2>/dev/null"))
    local function enroll(out)
      return { "enroll", "--url", s.url, "--subject", "CN=cut", "--key", key .. ".key", "--key-out", out .. ".key",
               "--cert-out", out .. ".pem", env = { SCEPLAB_CHALLENGE = "s3cret" } }
    end
    local first = h.tmpname()
    local bg = h.spawn(("env ASAN_OPTIONS=detect_leaks=0 SCEPLAB_CHALLENGE=s3cret %s enroll --url %s --subject CN=cut --key %s " ..
      "--key-out %s --cert-out %s"):format(q(h.bin), q(s.url), q(key .. ".key"), q(first .. ".key"), q(first .. ".pem")),
      first .. ".log")
    os.execute("sleep 1")
    pg:stop()
    os.execute("wait " .. bg .. " 2>/dev/null")
    for _ = 1, 100 do
      if os.execute("kill -0 " .. bg .. " 2>/dev/null") ~= true then break end
      os.execute("sleep 0.1")
    end
    local log = h.read(first .. ".log")
    assert.matches("HTTP 503", log, 1, true)
    assert.is_nil(io.open(first .. ".pem"), "a certificate was handed out")
    pg:start()
    -- the transaction was rolled back whole: nothing recorded
    assert.are.equal("0\n", pg:psql("mid", "SELECT count(*) FROM certificates"))
    assert.are.equal("0\n", pg:psql("mid", "SELECT count(*) FROM requests"))
    os.execute("sleep 1.1")
    local again = h.tmpname()
    local r = together({ enroll(again) })
    h.kill(s.pid)
    assert.are.equal(0, r[1].code, r[1].err)
    local serial = h.sh_out("openssl x509 -noout -serial -in " .. q(again .. ".pem")):match("serial=(%x+)")
    assert.are.equal(serial .. "\n", pg:psql("mid", "SELECT serial FROM certificates"))
  end)

  it("counts the database's errors and reconnections, and says when it is out of reach (the Lua API)", function()
    local db = pg:createdb("stats")
    local dirs = ca_for(db, 1)
    require "sceplab.core"
    local core = require "sceplab.core.serve"
    local ca = assert(core.ca_open(dirs[1], db))
    assert.is_table(ca:list())
    assert.are.same({ errors = 0, reconnects = 0, unavailable = false }, ca:db_stats())
    pg:stop()
    local none, err = ca:list()
    assert.is_nil(none)
    assert.matches("postgresql:///stats: ", err, 1, true)
    local st = ca:db_stats()
    assert.is_true(st.unavailable)
    assert.is_true(st.errors >= 1)
    pg:start()
    os.execute("sleep 1.1")
    assert.is_table(ca:list())
    st = ca:db_stats()
    assert.is_false(st.unavailable)
    assert.are.equal(1, st.reconnects)
    ca:close()
  end)

  it("answers 503 with Retry-After while PostgreSQL is stopped, and serves again once it is back, without a restart", function()
    local db = pg:createdb("down")
    local dirs = ca_for(db, 1)
    local s = serve(dirs[1], { "--db", db }, { SCEPLAB_CHALLENGE = "s3cret" })
    local k1, k2, trace = h.tmpname(), h.tmpname(), h.tmpname()
    assert.are.equal(0, (h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, enroll_cmd(s.url, "CN=before", k1))))
    assert(os.execute(h.CLEAN .. "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " .. q(k2 .. ".key") ..
      " 2>/dev/null"))
    pg:stop()
    local args = { "enroll", "--url", s.url, "--subject", "CN=during", "--key", k2 .. ".key", "--key-out", k2 .. "-1.key",
                   "--cert-out", k2 .. ".pem", "--trace", trace }
    local code, _, err = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, args)
    assert.are_not.equal(0, code)
    assert.matches("HTTP 503", err, 1, true)
    local resp = h.read(trace .. "/03-PKIOperation-response.txt")
    assert.matches("HTTP/1.1 503 Service Unavailable", resp, 1, true)
    assert.matches("\nRetry%-After: %d+", resp)
    -- GetCACaps needs no database: a load balancer's health check still passes
    assert.matches("POSTPKIOperation", h.sh_out("curl -s " .. q(s.url .. "?operation=GetCACaps")), 1, true)
    pg:start()
    os.execute("sleep 1.1") -- the server tries the database again at most once a second
    code, _, err = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, { "enroll", "--url", s.url, "--subject", "CN=during",
      "--key", k2 .. ".key", "--key-out", k2 .. "-2.key", "--cert-out", k2 .. ".pem" })
    assert.are.equal(0, code, err)
    -- PostgreSQL restarted while the server is idle: its connection is dead, and the first request
    -- after finds out, connects again and is served
    pg:restart()
    local k3 = h.tmpname()
    code, _, err = h.sceplab_env({ SCEPLAB_CHALLENGE = "s3cret" }, enroll_cmd(s.url, "CN=after", k3))
    local alive = os.execute("kill -0 " .. s.pid)
    h.kill(s.pid)
    assert.are.equal(0, code, err)
    assert.is_true(alive)
    local rows = list(dirs[1], db)
    assert.are.equal(3, #rows)
    for _, row in ipairs(rows) do assert.are.equal("issued", row.state) end
  end)
end)
