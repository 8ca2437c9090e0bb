-- A healthy replay never cries wolf. Every bundled scenario that expects a healthy verdict is
-- replayed SCEPLAB_PROPERTY_RUNS times (default 2), each time with new keys, transaction ids,
-- thumbprints and GUIDs; copies of the first bundle of each are then planted with the
-- digits of every code the playbooks look for inside its hex ids, thumbprints, GUIDs and base64
-- (tests/spec/plant.lua), so a code matched as a substring is met on every run, not once in many:
-- a transaction id holding ...7C12175D16... once made old-ndes-single-tier diagnose ssl-cn-invalid.
-- Every bundle, planted or not, must raise no error finding and keep its verdict.
local h = require "helper"
local plant = require "plant"
local diagnose = require "sceplab.diagnose"
local replay = require "sceplab.replay"

local RUNS = tonumber(os.getenv("SCEPLAB_PROPERTY_RUNS") or "") or 2
local MIN_VARIANTS, MAX_VARIANTS = 2, 24

local function healthy_scenarios()
  local out = {}
  for _, name in ipairs(replay.bundled()) do
    local sc = assert(replay.load(replay.scenario_path(name)))
    if sc.expect.no_errors and not sc.expect.raises then out[#out + 1] = name end
  end
  return out
end

local function errors_of(rep)
  local out = {}
  for _, f in ipairs(rep.findings) do
    if f.severity == "error" then
      local ev = f.evidence[1]
      out[#out + 1] = ("%s (%s)"):format(f.id, ev and ((ev.file or "?") .. ":" .. tostring(ev.line) .. " " .. (ev.text or "")) or "")
    end
  end
  return out
end

local function verdicts_of(rep)
  local out = {}
  for _, v in ipairs(rep.verdicts) do out[#out + 1] = v.status end
  table.sort(out)
  return table.concat(out, ",")
end

describe("healthy replays raise no error finding", function()
  local playbooks = assert(diagnose.load_all())
  local codes = plant.catalog_codes(diagnose.bundled_dir(), playbooks)

  it("knows the codes the playbooks match (statuses, event ids, HRESULTs, WinHTTP errors)", function()
    local have = {}
    for _, c in ipairs(codes) do have[c] = true end
    for _, want in ipairs({ "12175", "500", "1346", "800B0109", "2148204809", "80072F8F", "1603", "410", "307" }) do
      assert.is_true(have[want], want .. " is not among " .. table.concat(codes, " "))
    end
  end)

  local names = healthy_scenarios()
  it("finds the healthy scenarios", function()
    assert.is_true(#names >= 5, table.concat(names, ", "))
  end)

  for _, name in ipairs(names) do
    it(("%s: %d random replays and planted copies, no error"):format(name, RUNS), function()
      local sc = assert(replay.load(replay.scenario_path(name)))
      local planted_codes = {}
      for run = 1, RUNS do
        local bundle = h.tmpname()
        local code, out, err = h.sceplab({ "replay", name, "--bundle", bundle, "--check" })
        assert.are.equal(0, code, out .. err)
        local rep = assert(replay.check(sc, bundle))
        assert.are.same({}, errors_of(rep))
        local verdict = verdicts_of(rep)
        if run == 1 then
          -- variants until every code went inside an identifier (at least MIN_VARIANTS, so each
          -- code lands in more than one kind of identifier where the bundle has them)
          local start, v = 1, 0
          repeat
            v = v + 1
            local copy = h.tmpname()
            assert(os.execute("cp -r " .. h.shquote(bundle) .. " " .. h.shquote(copy)))
            local planter, planted, where = plant.planter(codes, start)
            assert.is_true(plant.plant_dir(copy, planter) > 0, "nothing planted in " .. copy)
            start = where()
            for c in pairs(planted) do planted_codes[c] = true end
            local prep = assert(replay.check(sc, copy))
            assert.are.same({}, errors_of(prep), "planted variant " .. v .. " in " .. copy)
            assert.are.equal(verdict, verdicts_of(prep), "planted variant " .. v .. " in " .. copy)
            local all = true
            for _, c in ipairs(codes) do all = all and planted_codes[c] end
          until (all and v >= MIN_VARIANTS) or v >= MAX_VARIANTS
        end
      end
      -- every code went inside some identifier of the bundle
      local missing = {}
      for _, c in ipairs(codes) do if not planted_codes[c] then missing[#missing + 1] = c end end
      assert.are.same({}, missing)
    end)
  end
end)
