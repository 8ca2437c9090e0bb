-- sceplab replay on the third-party CA path: serve --policy intune-api against the `sceplab intune
-- cloud` the replay starts itself. (replay_spec.lua plays every bundled scenario with --check,
-- the intune-api ones too; this spec checks what is particular to the path.)
local h = require "helper"

local function scenario(body)
  local file = h.tmpname() .. ".lua"
  h.write(file, "return { description = \"d\", platform = \"windows\", profile = { subject = \"CN=a\" },\n" ..
    "  expect = { verdict = \"failed\" },\n" .. body .. " }\n")
  return file
end

describe("sceplab replay on the intune-api path", function()
  it("starts the cloud stand-in, enrolls through it, bundles serve's API call log, and leaves nothing running", function()
    local bundle = h.tmpname()
    local code, out, err = h.sceplab({ "replay", "intune-api-healthy", "--bundle", bundle, "--check" })
    assert.are.equal(0, code, out .. err)
    assert.matches("check: the bundle diagnoses as the scenario expects", out, 1, true)
    local cloud = out:match("cloud: (http://127%.0%.0%.1:%d+)")
    assert.is_string(cloud, out)
    -- the whole path, in serve's own log of each call, beside its IIS-style log
    local log = h.read(bundle .. "/NDES/intune-api.log")
    local seen = {}
    for endpoint, status, result in log:gmatch("%x+ [%x%-]+ (%S+) 1 (%d+) (%S+)") do seen[#seen + 1] = endpoint .. " " .. status .. " " .. result end
    assert.are.same({ "token:graph 200 issued", "discovery 200 found", "token:intune 200 issued",
                      "validateRequest 200 Success", "successNotification 200 Success" }, seen)
    assert.matches("^u_ex%d+%.log\n$", (h.sh_out("ls " .. h.shquote(bundle .. "/NDES") .. " | grep -v intune-api.log")))
    -- the run's client secret (replay-UUID) is in no file of the bundle, and no key nor the CA's database
    assert.are.equal("", (h.sh_out("grep -rlE 'replay-[0-9a-f]{8}-' " .. h.shquote(bundle) .. " || true")))
    assert.are.equal("", (h.sh_out("find " .. h.shquote(bundle) .. " -name '*.key' -o -name 'ca.db' -o -name '*.secret'")))
    -- the stand-in is stopped with the run
    assert.are.equal("000", (h.sh_out("curl -s -o /dev/null -w '%{http_code}' --max-time 2 " .. h.shquote(cloud .. "/_sceplab/calls") .. " || true")))
  end)

  it("writes a scenario from an intune-api bundle that plays the same path and fault (--from)", function()
    local bundle = h.tmpname()
    local code, out, err = h.sceplab({ "replay", "intune-api-permission-missing", "--bundle", bundle, "--check" })
    assert.are.equal(0, code, out .. err)
    local file = h.tmpname() .. ".lua"
    local c1, _, e1 = h.sceplab({ "replay", "--from", bundle, "-o", file })
    assert.are.equal(0, c1, e1)
    local sc = h.read(file)
    assert.matches('policy = "intune-api"', sc, 1, true)
    assert.matches('"no-permission"', sc, 1, true)
    local c2, out2, e2 = h.sceplab({ "replay", file, "--bundle", h.tmpname(), "--check" })
    assert.are.equal(0, c2, out2 .. e2)
    assert.matches("diagnosis: [^\n]*intune%-api%-permission%-missing", out2)
  end)

  -- every fault of the cloud a scenario may name gives the finding it stands for (those a bundled
  -- scenario plays, replay_spec.lua checks)
  it("plays each other fault of Intune's cloud into a bundle that diagnoses as the finding it stands for", function()
    local replay = require "sceplab.replay"
    local bundled = {}
    for _, name in ipairs(replay.bundled()) do
      for _, f in ipairs(assert(replay.load(replay.scenario_path(name))).server.faults or {}) do bundled[f] = true end
    end
    local names = {}
    for name, f in pairs(replay.FAULTS) do if f.cloud and not bundled[name] then names[#names + 1] = name end end
    table.sort(names)
    assert.is_true(#names >= 5, table.concat(names, " "))
    for _, name in ipairs(names) do
      local file = scenario(('server = { faults = { "%s" } }, steps = { { "deploy" }, { "enroll" } },'):format(name))
      local code, out, err = h.sceplab({ "replay", file, "--bundle", h.tmpname(), "--check" })
      assert.are.equal(0, code, name .. ": " .. out .. err)
      assert.matches("diagnosis: [^\n]*" .. replay.FAULTS[name].finding:gsub("%-", "%%-"), out)
    end
  end)

  it("refuses a cloud fault without the intune-api policy, as a step, or with a virtual clock (exit 3, naming it)", function()
    local cases = {
      { 'server = { policy = "static", faults = { "no-permission" } }, steps = { { "deploy" }, { "enroll" } },',
        "server.faults: 'no-permission' is a fault of Intune's API" },
      { 'server = { faults = { "code=ScepProfileNoLongerTargetedToTheClient" } }, steps = { { "deploy" }, { "advance", minutes = 90 }, { "enroll" } },',
        "steps[2]: advance moves the virtual clock" },
      { 'server = { policy = "intune-api" }, steps = { { "deploy" }, { "fault", "secret-expired" }, { "enroll" } },',
        "steps[2]: 'secret-expired' is a fault of Intune's cloud" },
    }
    for _, case in ipairs(cases) do
      local code, _, err = h.sceplab({ "replay", scenario(case[1]), "--bundle", h.tmpname() })
      assert.are.equal(3, code, err)
      assert.matches(case[2], err, 1, true)
    end
  end)
end)
