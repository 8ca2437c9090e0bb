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
                          "connector-service-stopped", "healthy-windows", "healthy-android", "healthy-ios" }) do
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
        assert.matches("diagnosis: [^\n]*" .. case:gsub("%-", "%%-"), out)
      end
    end)
  end

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
