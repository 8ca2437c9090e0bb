-- sceplab replay: every bundled scenario plays end to end (a served NDES with the Intune
-- connector, Intune's SyncML profile, the Windows simulator driving the real client) into a
-- bundle that diagnoses as the scenario expects; scenarios are checked when they load.
local h = require "helper"

local function scenarios()
  local out = {}
  local p = io.popen("ls " .. h.shquote(h.root .. "/lua/scenarios"))
  for f in p:read("a"):gmatch("([%w%-]+)%.lua") do out[#out + 1] = f end
  p:close()
  return out
end

describe("sceplab replay", function()
  for _, name in ipairs(scenarios()) do
    it("plays " .. name .. " into a bundle that diagnoses as it expects", function()
      local bundle = h.tmpname()
      local code, out, err = h.sceplab({ "replay", name, "--bundle", bundle, "--check" })
      assert.are.equal(0, code, out .. err)
      assert.matches("check: the bundle diagnoses as the scenario expects", out, 1, true)
      -- laid out like a collection, and no secret of the lab CA in it
      if out:match("bundle: [^\n]*%(NDES/%)\n") then
        -- a ticket with the server's logs alone
        assert.is_nil(io.open(bundle .. "/Device/DeviceManagement-Enterprise-Diagnostics-Provider-Admin.xml"))
        assert.is_truthy(io.open(bundle .. "/NDES/NDESPlugin.log"))
        return
      end
      local dev = io.popen("ls " .. h.shquote(bundle .. "/Device"))
      assert.matches("^DeviceManagement%-Enterprise%-Diagnostics%-Provider%-Admin%.xml\n$", dev:read("a")
        :gsub("^OMADMLog%.log\n$", "DeviceManagement-Enterprise-Diagnostics-Provider-Admin.xml\n")
        :gsub("^ios%-console%.txt\n$", "DeviceManagement-Enterprise-Diagnostics-Provider-Admin.xml\n"))
      dev:close()
      local p = io.popen("find " .. h.shquote(bundle) .. " -name '*.key' -o -name 'ca.db' -o -name '*.token'")
      assert.are.equal("", p:read("a"))
      p:close()
    end)
  end

  -- a customer's bundle (the playbook fixtures are written as the systems write them) becomes a
  -- scenario, and the scenario's replay diagnoses as the customer's bundle did
  for _, case in ipairs({ "challenge-expired", "subject-mismatch", "ca-template-unsupported", "scep-app-pool-503",
                          "connector-service-stopped", "healthy-windows", "healthy-android", "healthy-ios",
                          "connector-not-installed", "policy-cert-expired", "ra-chain-untrusted", "ra-cert-expired",
                          "ndes-500", "connector-crl-unreachable", "policy-cert-expired-403-17", "server-succeeded",
                          "ca-thumbprint-mismatch", "challenge-rejected", "renewal-password-missing" }) do
    it("writes a scenario from the " .. case .. " bundle that replays to the same diagnosis (--from)", function()
      local file = h.tmpname() .. ".lua"
      local code, _, err = h.sceplab({ "replay", "--from", h.root .. "/lua/playbooks/fixtures/" .. case, "-o", file })
      assert.are.equal(0, code, err)
      assert.matches("sceplab scenario written by `sceplab replay --from", h.read(file), 1, true)
      local c2, out, e2 = h.sceplab({ "replay", file, "--bundle", h.tmpname(), "--check" })
      assert.are.equal(0, c2, out .. e2)
      if case:match("^healthy") then
        assert.matches('platform = "' .. case:match("^healthy%-(%a+)") .. '"', h.read(file), 1, true)
      else
        assert.matches("diagnosis: [^\n]*" .. case:gsub("%-403%-17$", ""):gsub("%-", "%%-"), out)
      end
    end)
  end

  -- an iOS syslog bundle is an iOS device's: the skeleton plays iOS, and its replay diagnoses as
  -- the syslog did (the class of bug: the platform came from the file's format alone, and a syslog
  -- file is no "ios" format, so every syslog bundle was replayed as Windows)
  it("plays the platform of the bundle's strongest device evidence: an iOS syslog bundle as iOS", function()
    local file = h.tmpname() .. ".lua"
    local code, _, err = h.sceplab({ "replay", "--from", h.fixture("logs/ios-syslog.log"), "-o", file })
    assert.are.equal(0, code, err)
    assert.matches('platform = "ios"', h.read(file), 1, true)
    local c2, out, e2 = h.sceplab({ "replay", file, "--bundle", h.tmpname(), "--check" })
    assert.are.equal(0, c2, out .. e2)
    assert.matches("diagnosis: [^\n]*trusted%-root%-missing", out)
  end)

  -- the class of bug: a finding no fault reproduces was dropped and the expect rewritten to a
  -- healthy enrollment, so replay --check said "diagnoses as the scenario expects" of a scenario
  -- that reproduces nothing
  it("says when it cannot reproduce a bundle's diagnosis, exits 1, and keeps the finding expected", function()
    for _, case in ipairs({ h.root .. "/lua/playbooks/fixtures/unclassified-error", h.fixture("logs/ios-syslog-nserror.log") }) do
      local file = h.tmpname() .. ".lua"
      local code, _, err = h.sceplab({ "replay", "--from", case, "-o", file })
      assert.are.equal(1, code, err)
      assert.matches("cannot reproduce [%w%-]+ %(", err)
      local sc = h.read(file)
      assert.matches("-- CANNOT REPRODUCE", sc, 1, true)
      assert.is_nil(sc:find("no_errors", 1, true))
      local c2, out = h.sceplab({ "replay", file, "--bundle", h.tmpname(), "--check" })
      assert.are.equal(1, c2, out)
      assert.matches("check: the bundle does not diagnose as the scenario expects", out, 1, true)
    end
  end)

  -- every finding maps back from --from: a fault or a recipe (with a bundled scenario that raises
  -- it), or it is listed as not replayable with a reason
  it("maps every finding of the catalog to a fault or recipe, or says why it cannot be replayed", function()
    local diagnose = require "sceplab.diagnose"
    local replay = require "sceplab.replay"
    local raised_by = {}
    for _, name in ipairs(replay.bundled()) do
      local sc = assert(replay.load(replay.scenario_path(name)))
      for _, id in ipairs(sc.expect.raises or {}) do raised_by[id] = raised_by[id] or {} raised_by[id][name] = true end
    end
    local ids = {}
    for _, pb in ipairs(assert(diagnose.load_all())) do for id in pairs(pb.findings or {}) do ids[#ids + 1] = id end end
    for id in pairs(diagnose.ENGINE_FINDINGS) do ids[#ids + 1] = id end
    table.sort(ids)
    for _, id in ipairs(ids) do
      local how, what = replay.replayable(id)
      if how == "fault" then
        assert.is_truthy(replay.FAULTS[what], id)
      elseif how == "recipe" then
        assert.is_truthy(raised_by[id] and raised_by[id][what.scenario], id .. ": scenario " .. tostring(what.scenario) .. " does not raise it")
        assert.is_truthy(what.play or what.why, id)
      elseif how ~= "info" then
        assert.is_string(replay.NOT_REPLAYABLE[id], id .. " is neither replayable nor listed as not (" .. tostring(what) .. ")")
        assert.is_nil(raised_by[id], id .. " is raised by a bundled scenario but --from cannot play it")
      end
    end
    -- what a bundled scenario reproduces maps back
    for id in pairs(raised_by) do assert.is_truthy(replay.replayable(id), id) end
  end)

  -- the virtual clock reaches the certificates: the renewed one is issued at the renewal threshold
  -- of the first (20% of 365 days left), on the clock the logs carry
  it("renews at the threshold on the virtual clock: the certificates' dates follow it", function()
    local bundle = h.tmpname()
    local code, out, err = h.sceplab({ "replay", "renewal-healthy", "--bundle", bundle, "--check" })
    assert.are.equal(0, code, out .. err)
    assert.matches("3%. renewal %(20%% of the lifetime left, 29%d days", out)
    local p = io.popen("cat " .. h.shquote(bundle) .. "/NDES/CertificateRequestStatus/Succeed/*.CRS")
    local crs = p:read("a")
    p:close()
    local days = {}
    for mo, d, y in crs:gmatch("<CertExpirationDate>(%d+)/(%d+)/(%d+)") do
      days[#days + 1] = os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = 12 }) // 86400
    end
    assert.are.equal(2, #days, crs)
    table.sort(days)
    -- the second certificate expires 292 days after the first (its lifetime started then)
    assert.is_true(days[2] - days[1] >= 291 and days[2] - days[1] <= 293, tostring(days[2] - days[1]))
    assert.is_true(days[1] - os.time() // 86400 >= 364)
    -- and NDES's IIS log rolled over to the day of the renewal
    local l = io.popen("ls " .. h.shquote(bundle .. "/NDES"))
    local names = l:read("a")
    l:close()
    local _, iis = names:gsub("u_ex%d+%.log", "")
    assert.are.equal(2, iis, names)
  end)

  -- Windows follows GetCACaps as the real client does; a customer's SyncML drives the enrollment
  it("follows the server's capabilities and takes a customer's SyncML profile", function()
    local bundle = h.tmpname()
    local code, out, err = h.sceplab({ "replay", "old-ndes-single-tier", "--bundle", bundle, "--check" })
    assert.are.equal(0, code, out .. err)
    local p = io.popen("cat " .. h.shquote(bundle) .. "/NDES/u_ex*.log")
    local iis = p:read("a")
    p:close()
    assert.matches("GET /certsrv/mscep/mscep.dll operation=PKIOperation&message=", iis, 1, true)
    assert.is_nil(iis:find("POST /certsrv/mscep", 1, true))
    local b2 = h.tmpname()
    code, out, err = h.sceplab({ "replay", "ndes-offline-customer-profile", "--bundle", b2, "--check" })
    assert.are.equal(0, code, out .. err)
    assert.matches("token for CN=joymalya", out, 1, true) -- the subject of the customer's SyncML
    assert.matches("failed 3 times %(GET [^\n]*Couldn't connect", out) -- its RetryCount, NDES offline
    local plugin = h.read(b2 .. "/NDES/NDESPlugin.log")
    assert.matches("Verify challenge returns true", plugin, 1, true) -- its SANs and EKUs passed phase 3
  end)

  -- Windows retries one request RetryDelay (1) minute apart; the diagnosis keeps the three tries
  -- and what NDES logged for each in one attempt, with one verdict
  it("spaces Windows' retries a minute apart and diagnoses them as one attempt", function()
    local bundle = h.tmpname()
    local code, out, err = h.sceplab({ "replay", "key-size-mismatch", "--bundle", bundle, "--check" })
    assert.are.equal(0, code, out .. err)
    local ev = h.read(bundle .. "/Device/DeviceManagement-Enterprise-Diagnostics-Provider-Admin.xml")
    local times = {}
    for id, t in ev:gmatch("<EventID>(%d+)</EventID>.-SystemTime='([^']+)'") do
      if id == "307" then times[#times + 1] = (require "sceplab.time").parse(t) end
    end
    assert.are.equal(3, #times)
    -- RetryDelay, plus the (real) seconds a try took
    for i = 2, 3 do
      local gap = times[i] - times[i - 1]
      assert.is_true(gap >= 60 and gap <= 70, ("try %d came %s s after the one before"):format(i, gap))
    end
    -- the same transaction each time, verified by the connector each time
    local _, verifies = h.read(bundle .. "/NDES/NDESPlugin.log"):gsub("Calling VerifyRequest", "")
    assert.are.equal(3, verifies)
    local c2, json = h.sceplab({ "diagnose", "--format", "json", bundle .. "/NDES", bundle .. "/Device" })
    assert.are.equal(1, c2)
    local rep = require("cjson").decode(json)
    assert.are.equal(1, #rep.verdicts, json)
    assert.are.equal(1, rep.verdicts[1].attempt)
    assert.are.equal(3, rep.verdicts[1].failing_step)
  end)

  it("lists the bundled scenarios with what each reproduces", function()
    local code, out = h.sceplab({ "replay", "--list" })
    assert.are.equal(0, code)
    assert.matches("challenge%-expired%s+Windows enrolls 90 minutes after", out)
  end)

  it("refuses a scenario that is wrong, naming the file and the field, before anything runs", function()
    local function bad(body)
      local f = h.write(h.tmpname() .. ".lua", body)
      local code, _, err = h.sceplab({ "replay", f, "--bundle", h.tmpname() })
      return code, err, f
    end
    local c1, e1, f1 = bad([[return { description = "x", platform = "windows", profile = { subject = "CN=x" },
      steps = { { "deploy" }, { "enroll" } }, expect = { verdict = "failed" }, colour = "blue" }]])
    assert.are.equal(3, c1)
    assert.matches(f1 .. ": unknown field 'colour'", e1, 1, true)
    local c2, e2 = bad([[return { description = "x", platform = "windows", profile = { subject = "CN=x" },
      server = { faults = { "power-cut" } }, steps = { { "deploy" } }, expect = { verdict = "failed" } }]])
    assert.are.equal(3, c2)
    assert.matches("server.faults[1]: unknown fault 'power-cut' (one of app-pool-stopped, ca-key-too-small,", e2, 1, true)
    local c2b, _, e2b = h.sceplab({ "serve", "--dir", h.tmpname(), "--fault", "power-cut" })
    assert.are.equal(2, c2b)
    assert.matches("--fault 'power-cut': unknown", e2b, 1, true)
    local c3, e3 = bad([[return { description = "x", platform = "windows", profile = { subject = "CN=x" },
      steps = { { "deploy" }, { "enroll" }, { "fix", "other-tenant" } }, expect = { verdict = "failed" } }]])
    assert.are.equal(3, c3)
    assert.matches("steps[3]: fix needs the name of a server fault, not 'other-tenant'", e3, 1, true)
    local c4, e4 = bad([[return { description = "x", platform = "blackberry", profile = { subject = "CN=x" },
      steps = {}, expect = { verdict = "failed" } }]])
    assert.are.equal(3, c4)
    assert.matches("platform 'blackberry' is not simulated (windows, android or ios)", e4, 1, true)
    local c6, e6 = bad([[return { description = "x", platform = "windows", profile = { subject = "CN=x" },
      steps = { { "deploy" }, { "advance", weeks = 2 } }, expect = { verdict = "failed" } }]])
    assert.are.equal(3, c6)
    assert.matches("steps[2]: advance takes minutes, hours or days, not 'weeks'", e6, 1, true)
    local c7, e7 = bad([[return { description = "x", platform = "windows", profile = { subject = "CN=x" },
      steps = { { "deploy" }, { "renew" } }, expect = { verdict = "failed" } }]])
    assert.are.equal(3, c7)
    assert.matches("steps[2]: renew needs an enroll step before it", e7, 1, true)
    local c8, e8 = bad([[return { description = "x", platform = "windows", profile = { subject = "CN=x", renewal_threshold = 80 },
      steps = { { "deploy" } }, expect = { verdict = "failed" } }]])
    assert.are.equal(3, c8)
    assert.matches("profile.renewal_threshold' must be an integer percentage from 1 to 50", e8, 1, true)
    local c9, e9 = bad([[return { description = "x", platform = "windows", profile = { subject = "CN=x" },
      server = { tiers = 3 }, steps = { { "deploy" } }, expect = { verdict = "failed" } }]])
    assert.are.equal(3, c9)
    assert.matches("field 'server.tiers' must be 1 (the root issues) or 2", e9, 1, true)
    local c10, e10 = bad([[return { description = "x", platform = "windows", profile = { subject = "CN=x" },
      server = { colour = "blue" }, steps = { { "deploy" } }, expect = { verdict = "failed" } }]])
    assert.are.equal(3, c10)
    assert.matches("unknown field 'server.colour'", e10, 1, true)
    local c11, e11 = bad([[return { description = "x", platform = "windows", profile = { file = "no-such-profile.xml" },
      steps = { { "deploy" } }, expect = { verdict = "failed" } }]])
    assert.are.equal(3, c11)
    assert.matches("profile.file: [^\n]*no%-such%-profile%.xml", e11)
    local c13, e13 = bad([[return { description = "x", platform = "windows", profile = { subject = "CN=x" },
      collect = { "phone" }, steps = { { "deploy" } }, expect = { verdict = "failed" } }]])
    assert.are.equal(3, c13)
    assert.matches('collect[1] must be "ndes" or "device"', e13, 1, true)
    local c12, e12 = bad([[return { description = "x", platform = "windows", profile = { file = "../../etc/passwd" },
      steps = { { "deploy" } }, expect = { verdict = "failed" } }]])
    assert.are.equal(3, c12)
    assert.matches("field 'profile.file' must be a path inside the scenario's folder", e12, 1, true)
    -- scenarios are data scripts in the sandbox: no os.execute
    local c5, e5, f5 = bad([[return { description = "x", platform = "windows", profile = { subject = "CN=x" },
      steps = {}, expect = { verdict = "failed" }, os.execute("true") }]])
    assert.are.equal(3, c5)
    assert.matches(f5 .. ":2: attempt to call a nil value (field 'execute')", e5, 1, true)
  end)

  it("writes a .zip bundle as collections are sent: unzip lists it, diagnose and --from read it", function()
    local zip = h.tmpname() .. ".zip"
    local code, out, err = h.sceplab({ "replay", "subject-escaped-comma", "--bundle", zip, "--check" })
    assert.are.equal(0, code, out .. err)
    local p = io.popen("unzip -l " .. h.shquote(zip))
    local listing = p:read("a")
    p:close()
    assert.matches("Device/DeviceManagement%-Enterprise%-Diagnostics%-Provider%-Admin%.xml", listing)
    assert.matches("NDES/NDESPlugin%.log", listing)
    assert.is_nil(io.open(zip:gsub("%.zip$", "") .. ".replay-tmp")) -- the working folder is gone
    local file = h.tmpname() .. ".lua"
    assert.are.equal(0, (h.sceplab({ "replay", "--from", zip, "-o", file })))
    assert.matches('subject = "CN=Doe, John,O=Contoso"', h.read(file), 1, true)
    local again = h.sceplab({ "replay", "subject-escaped-comma", "--bundle", zip })
    assert.are.equal(2, again) -- an existing file is not overwritten
  end)

  it("writes into a new directory only", function()
    local dir = h.tmpdir()
    h.write(dir .. "/keep.txt", "customer data")
    local code, _, err = h.sceplab({ "replay", "healthy-windows", "--bundle", dir })
    assert.are.equal(2, code)
    assert.matches("not empty", err, 1, true)
    assert.are.equal("customer data", h.read(dir .. "/keep.txt"))
  end)
end)
