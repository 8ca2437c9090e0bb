-- sceplab serve --metrics-port: /metrics on the admin listener, in Prometheus text format, counted
-- across workers: promtool accepts a scrape, the values move with enrollments, policy decisions
-- and database errors, and a real Prometheus scrapes it.
local h = require "helper"

local Q = h.shquote
local metric, wait_until = h.metric, h.wait_until

local sh = h.sh_out

local function enroll(url, dir, name, challenge)
  return (h.sceplab_env({ SCEPLAB_CHALLENGE = challenge }, { "enroll", "--url", url, "--subject", "CN=" .. name,
    "--key-type", "ec:p256", "--key-out", dir .. "/" .. name .. ".key", "--cert-out", dir .. "/" .. name .. ".pem", "-q" }))
end

describe("sceplab serve /metrics", function()
  it("is Prometheus text promtool accepts, on the admin listener only, its counters moving with what the workers do", function()
    local dir = h.tmpdir()
    local srv = h.serve(dir, { "--metrics-port", "0" }, { SCEPLAB_CHALLENGE = "s3cret" }, { workers = 2, quiet = true })
    assert.are.equal(0, metric(srv.metrics, 'sceplab_enrollments_total{outcome="issued"}'))
    assert.are.equal(0, enroll(srv.url, dir, "m1", "s3cret"))
    assert.are.equal(0, enroll(srv.url, dir, "m2", "s3cret"))
    assert.are_not.equal(0, enroll(srv.url, dir, "denied", "wrong"))
    local scrape = h.write(dir .. "/scrape.txt", (sh("curl -s " .. Q(srv.metrics))))
    local out, ok = sh("promtool check metrics < " .. Q(scrape))
    assert.is_true(ok, out)
    assert.are.equal(2, metric(srv.metrics, 'sceplab_enrollments_total{outcome="issued"}'))
    assert.are.equal(1, metric(srv.metrics, 'sceplab_enrollments_total{outcome="failure"}'))
    assert.are.equal(2, metric(srv.metrics, 'sceplab_policy_decisions_total{decision="allow"}'))
    assert.are.equal(1, metric(srv.metrics, 'sceplab_policy_decisions_total{decision="deny"}'))
    assert.are.equal(3, metric(srv.metrics, 'sceplab_request_duration_seconds_count{operation="PKIOperation"}'))
    assert.are.equal(3, metric(srv.metrics, 'sceplab_request_duration_seconds_bucket{operation="PKIOperation",le="+Inf"}'))
    assert.is_true(metric(srv.metrics, 'sceplab_request_duration_seconds_count{operation="GetCACert"}') >= 3)
    assert.are.equal(2, metric(srv.metrics, "sceplab_workers"))
    assert.are.equal(0, metric(srv.metrics, "sceplab_database_errors_total"))
    -- the commits' syncs beside the loop: each sync covers at least one commit, and takes some time
    local syncs, synced = metric(srv.metrics, "sceplab_database_syncs_total"), metric(srv.metrics, "sceplab_database_synced_commits_total")
    assert.is_true(syncs >= 1 and synced >= syncs, ("%s syncs covering %s commits"):format(syncs, synced))
    assert.is_true(metric(srv.metrics, "sceplab_database_sync_seconds_total") > 0)
    -- the database held by another writer past serve's 5 s busy timeout: a database error, an
    -- enrollment answered 500 (error), never a certificate
    local holder = h.spawn(("sh -c %s"):format(Q(("(echo 'BEGIN IMMEDIATE;'; sleep 8; echo 'COMMIT;') | sqlite3 %s")
      :format(Q(dir .. "/ca.db")))))
    os.execute("sleep 0.5")
    assert.are_not.equal(0, enroll(srv.url, dir, "locked", "s3cret"))
    assert.is_true(metric(srv.metrics, "sceplab_database_errors_total") >= 1)
    assert.are.equal(1, metric(srv.metrics, 'sceplab_enrollments_total{outcome="error"}'))
    assert.are.equal(2, metric(srv.metrics, 'sceplab_enrollments_total{outcome="issued"}'))
    h.kill(holder)
    -- the SCEP port does not serve it, and the admin port serves nothing else
    assert.are.equal("404", (sh("curl -s -o /dev/null -w '%{http_code}' " .. Q(srv.base .. "/metrics"))))
    assert.are.equal("404", (sh("curl -s -o /dev/null -w '%{http_code}' " ..
      Q((srv.metrics:gsub("/metrics$", "/certsrv/mscep/mscep.dll"))))))
    -- a real Prometheus scrapes it once
    local target = srv.metrics:match("^http://([^/]+)/")
    local prom
    for _ = 1, 10 do
      local port = math.random(20000, 60000)
      h.write(dir .. "/prometheus.yml", ("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: sceplab\n" ..
        "    static_configs:\n      - targets: ['%s']\n"):format(target))
      local pid = h.spawn(("prometheus --config.file=%s --storage.tsdb.path=%s --web.listen-address=127.0.0.1:%d")
        :format(Q(dir .. "/prometheus.yml"), Q(dir .. "/tsdb"), port), dir .. "/prometheus.log")
      local q = ("http://127.0.0.1:%d/api/v1/query?query=%s"):format(port, "sceplab_enrollments_total%7Boutcome%3D%22issued%22%7D")
      local got = wait_until(function()
        local body = sh("curl -s --max-time 2 " .. Q(q))
        return body:match('"value":%[[%d.]+,"(%d+)"%]')
      end, 150)
      h.kill(pid)
      if got then prom = got break end
    end
    h.kill(srv.pid)
    assert.are.equal("2", prom)
  end)

  it("counts in one process too (--workers 1)", function()
    local dir = h.tmpdir()
    local srv = h.serve(dir, { "--metrics-port", "0" }, { SCEPLAB_CHALLENGE = "s3cret" }, { quiet = true })
    assert.are.equal(0, enroll(srv.url, dir, "one", "s3cret"))
    assert.are.equal(1, metric(srv.metrics, 'sceplab_enrollments_total{outcome="issued"}'))
    assert.are.equal(1, metric(srv.metrics, "sceplab_workers"))
    assert.are.equal(0, metric(srv.metrics, "sceplab_worker_restarts_total"))
    h.kill(srv.pid)
  end)
end)
