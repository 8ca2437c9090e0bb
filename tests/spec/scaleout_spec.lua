-- Serve scaled out: three `sceplab serve` instances on one PostgreSQL 15 (tests/spec/pg.lua),
-- behind HAProxy with docs/deploy.md's haproxy.cfg, loaded by `sceplab bench --retry --save` while one
-- instance is killed with SIGKILL at a random moment and started again, and PostgreSQL restarts.
-- Afterwards the database and what the clients received must agree: every certificate received is
-- recorded with its transaction, no serial twice, no transaction with two certificates, no request
-- left pending, at least 99.9 % of the enrollments done. SCEPLAB_SCALEOUT_COUNT (default 200) and
-- SCEPLAB_SCALEOUT_RATE (default 25 a second; "" for as fast as they go) size the run: scripts/bench
-- runs this file with 2000.
local h = require "helper"
local pgserver = require "pg"
local json = require "cjson"

local q = h.shquote
local COUNT = tonumber(os.getenv("SCEPLAB_SCALEOUT_COUNT") or "") or 200
local RATE = os.getenv("SCEPLAB_SCALEOUT_RATE") or "25"

local function alive(pid) return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true end

-- docs/deploy.md's haproxy.cfg with the frontend on port and the servers on the instances' ports.
local function haproxy_cfg(port, ports)
  local cfg = h.read(h.root .. "/docs/deploy.md"):match("<!%-%- doc%-example: haproxy%.cfg %-%->\n```%w*\n(.-\n)```")
  assert(cfg, "docs/deploy.md has no haproxy.cfg example")
  local n = 0
  cfg = cfg:gsub("bind :80", "bind 127.0.0.1:" .. port)
  cfg = cfg:gsub("(server scep%d) [%d.]+:%d+", function(name)
    n = n + 1
    return ("%s 127.0.0.1:%d"):format(name, ports[n])
  end)
  assert(n == 3, "docs/deploy.md's haproxy.cfg: expected three server lines")
  return cfg
end

describe("three serve instances on one PostgreSQL behind HAProxy", function()
  local pg, servers, proxy, work = nil, {}, nil, nil
  setup(function()
    pg = pgserver.new()
    work = h.tmpdir()
  end)
  teardown(function()
    for _, s in pairs(servers) do h.kill(s.pid) end
    if proxy then h.kill(proxy) end
    if pg then pg:destroy() end
    if work then os.execute("rm -rf " .. q(work)) end
  end)

  it("loses nothing and issues nothing twice while an instance is killed and PostgreSQL restarts", function()
    local db = pg:url()
    local dirs = { work .. "/ca 1" }
    local code, _, err = h.sceplab({ "ca", "init", "--dir", dirs[1], "--db", db })
    assert.are.equal(0, code, err)
    for i = 2, 3 do
      dirs[i] = work .. "/ca " .. i
      assert(os.execute(("cp -a %s %s"):format(q(dirs[1]), q(dirs[i]))))
    end
    local env = { SCEPLAB_CHALLENGE = "s3cret" }
    local ports = {}
    for i = 1, 3 do
      servers[i] = h.serve(dirs[i], { "--db", db, "--no-logs" }, env, { quiet = true })
      ports[i] = servers[i].port
    end
    -- HAProxy on a free port
    local url
    for _ = 1, 20 do
      local port = math.random(20000, 60000)
      h.write(work .. "/haproxy.cfg", haproxy_cfg(port, ports))
      proxy = h.spawn("haproxy -db -f " .. q(work .. "/haproxy.cfg"), work .. "/haproxy.log")
      url = ("http://127.0.0.1:%d/certsrv/mscep/mscep.dll"):format(port)
      if h.wait_http(url .. "?operation=GetCACaps", 5) then break end
      h.kill(proxy)
      proxy, url = nil, nil
    end
    assert.is_string(url, "haproxy did not start: " .. h.read(work .. "/haproxy.log"))
    -- all three up in HAProxy's eyes before the load
    os.execute("sleep 1.2")

    local save = work .. "/certs"
    assert(os.execute("mkdir " .. q(save)))
    local args = { "bench", url, "--concurrency", "16", "--count", tostring(COUNT), "--retry", "--save", save,
                   "--key-type", "ec:p256", "--json" }
    if RATE ~= "" then args[#args + 1] = "--rate" args[#args + 1] = RATE end
    local argv = {}
    for _, a in ipairs(args) do argv[#argv + 1] = q(a) end
    local t0 = os.time()
    local bench = h.spawn("sh -c " .. q(("exec env ASAN_OPTIONS=detect_leaks=0 SCEPLAB_CHALLENGE=s3cret %s %s >%s 2>%s")
      :format(q(h.bin), table.concat(argv, " "), q(work .. "/bench.json"), q(work .. "/bench.err"))))

    -- the chaos, each event while the load runs
    local during = {}
    local victim = math.random(1, 3)
    os.execute(("sleep %.2f"):format(1.5 + math.random() * 2))
    during.kill = alive(bench)
    os.execute("kill -9 " .. servers[victim].pid)
    os.execute("sleep 0.5")
    servers[victim] = h.serve(dirs[victim], { "--db", db, "--no-logs" }, env, { quiet = true, port = ports[victim] })
    os.execute("sleep 1.5")
    during.pg_restart = alive(bench)
    pg:restart()
    for _ = 1, 1800 do
      if not alive(bench) then break end
      os.execute("sleep 0.1")
    end
    os.execute("wait " .. bench .. " 2>/dev/null")
    local seconds = os.time() - t0
    assert.is_true(during.kill, "the load was over before the kill")
    assert.is_true(during.pg_restart, "the load was over before PostgreSQL restarted")

    local out = h.read(work .. "/bench.json")
    assert(out ~= "", "bench said nothing: " .. h.read(work .. "/bench.err"))
    local rep = json.decode(out)
    -- nothing issued twice as the clients saw it
    assert.are.equal(0, #rep.certificates.transactions_with_several)
    assert.are.equal(1, rep.certificates.most_per_transaction)
    assert.is_true(rep.enrolled >= math.ceil(COUNT * 0.999), ("%d of %d enrolled: %s"):format(rep.enrolled, COUNT,
      json.encode(rep.failures)))

    -- the database: every request issued (none stuck), one certificate per transaction, no serial twice
    local function one(sql) return (pg:psql("sceplab", sql):gsub("%s+$", "")) end
    assert.are.equal("0", one("SELECT count(*) FROM requests WHERE state <> 'issued'"))
    assert.are.equal("", one("SELECT transaction_id FROM certificates GROUP BY transaction_id HAVING count(*) > 1"))
    assert.are.equal("", one("SELECT transaction_id FROM requests GROUP BY transaction_id HAVING count(*) > 1"))
    assert.are.equal("0", one("SELECT count(*) FROM certificates c LEFT JOIN requests r ON r.serial = c.serial WHERE r.id IS NULL"))
    local issued = tonumber(one("SELECT count(*) FROM requests WHERE state = 'issued'"))
    assert.are.equal(rep.enrolled, issued)

    -- each certificate received: recorded under its transaction with its serial, the very same DER
    local rows = {}
    code, _, err = h.sceplab({ "ca", "list", "--json", "--dir", dirs[2], "--db", db })
    assert.are.equal(0, code, err)
    local listed = json.decode(_)
    for _, r in ipairs(listed) do rows[r.transaction_id] = r end
    local files = h.lines((h.sh_out("ls " .. q(save))))
    assert.are.equal(rep.certificates.received, #files)
    local stored = {}
    for _, l in ipairs(h.lines(one("SELECT serial || ' ' || encode(sha256(der), 'hex') || ' ' || transaction_id FROM certificates"))) do
      local serial, digest, tx = l:match("^(%x+) (%x+) (%x+)$")
      stored[serial] = { digest = digest:upper(), tx = tx }
    end
    local x509 = (require "sceplab.pure").x509
    local serials = {}
    for _, f in ipairs(files) do
      local tx = assert(f:match("^(%x+)%.pem$"), "a second certificate for a transaction: " .. f)
      local c = x509.parse(h.read(save .. "/" .. f)).certificates[1]
      local serial = c.serial:gsub("[^%x]", ""):upper()
      assert.is_nil(serials[serial], "serial " .. serial .. " received twice")
      serials[serial] = true
      assert.is_not_nil(rows[tx], "transaction " .. tx .. " is not in the database")
      assert.are.equal("issued", rows[tx].state)
      assert.are.equal(serial, rows[tx].serial)
      assert.is_not_nil(stored[serial], "certificate " .. serial .. " is not in the database")
      assert.are.equal(c.sha256:gsub("[^%x]", ""):upper(), stored[serial].digest)
      assert.are.equal(tx, stored[serial].tx)
    end
    io.stderr:write(("# scaleout: %d/%d enrolled in %d s (%.1f/s over the load), %d resent, instance %d killed, PostgreSQL restarted\n")
      :format(rep.enrolled, COUNT, seconds, rep.per_second, rep.certificates.resent, victim))
  end)
end)
