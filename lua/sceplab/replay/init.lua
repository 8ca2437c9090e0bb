-- `sceplab replay`: a customer's scenario as a Lua script, played end to end: an NDES with the
-- Intune connector (sceplab serve, in a child process), Intune's side (a CertEnrollToken in a
-- SyncML profile), a device simulator that drives the real SCEP client and writes the device's
-- own logs, faults, and a virtual clock. The result is a bundle laid out like a real collection
-- (NDES/ and Device/), which `replay --check` diagnoses and compares with the scenario's expect.
--
-- The folder: scenario.lua (loading and checking a scenario, the faults), run.lua (set-up, the
-- steps in order, tear-down) with steps.lua (one function per kind of step) and clock.lua (the
-- virtual clock), devices/ (a simulator per platform, and the writer of each platform's log),
-- from.lua (`replay --from`: a scenario from a diagnosed bundle). This module is what the CLI
-- and scripts use.
local scenario = require "sceplab.replay.scenario"
local clock = require "sceplab.replay.clock"
local from = require "sceplab.replay.from"

-- The run (the server, the devices) and the diagnosis are loaded when used: `replay --list`
-- and --from need neither.
local function run() return require "sceplab.replay.run" end

local M = {
  FAULTS = scenario.FAULTS,
  scenario_path = scenario.scenario_path,
  bundled = scenario.bundled,
  load = scenario.load,
  profile_from_file = scenario.profile_from_file,
  run = function(sc, opts) return run().run(sc, opts) end,
  remove_bundle = function(dir) return run().remove_bundle(dir) end,
  duration = clock.duration,
  renewal_time = clock.renewal_time,
  RECIPES = from.RECIPES,
  NOT_REPLAYABLE = from.NOT_REPLAYABLE,
  replayable = from.replayable,
  from_report = from.from_report,
  to_lua = from.to_lua,
}

--- Diagnoses a bundle and compares it with the scenario's expect: report, failures (a list).
-- date: the (UTC) day the device's log starts on, for a log that writes none (default today).
function M.check(sc, bundle, date)
  -- a Console copy writes no date: the run's day, as an admin passes --date
  local inputs = { bundle }
  if not bundle:match("%.zip$") then
    inputs = {}
    if sc.collect.ndes then inputs[#inputs + 1] = bundle .. "/NDES" end
    if sc.collect.device then inputs[#inputs + 1] = bundle .. "/Device" end
  end
  local diagnose = require "sceplab.diagnose"
  local needs_date = (require "sceplab.replay.devices").PLATFORMS[sc.platform].needs_date
  local rep, err = diagnose.run(inputs, { date = needs_date and (date or os.date("!%Y-%m-%d")) or nil })
  if not rep then return nil, err end
  return rep, diagnose.check_expect(rep, sc.expect)
end

return M
