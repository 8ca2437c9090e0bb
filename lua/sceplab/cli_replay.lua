-- CLI: sceplab replay (a scenario played end to end into a bundle, then optionally diagnosed).
local cli = require "sceplab.cli"
local replay = require "sceplab.replay"
local sys = require "sceplab.core.sys"

local M = {}
local stderr = cli.stderr

function M.register(p)
  local r = p:command("replay")
    :description("Play a scenario (lua/scenarios/*.lua or a file): an NDES with the Intune connector, Intune's profile, a simulated device, faults and a virtual clock, into a log bundle laid out like a real collection; --check diagnoses it against the scenario's expect.")
  r:argument("scenario"):args("?"):description("A bundled scenario's name (" .. table.concat(replay.bundled(), ", ") .. ") or a file.")
  r:option("--bundle"):description("Write the bundle into this new directory (default: replay-NAME).")
  r:flag("--check"):description("Diagnose the bundle and compare with the scenario's expect (exit 1 when it differs).")
  r:flag("--list"):description("List the bundled scenarios and what each reproduces.")
end

function M.run(args)
  if args.list then
    for _, name in ipairs(replay.bundled()) do
      local sc, err = replay.load(replay.scenario_path(name))
      io.stdout:write(("%-28s %s\n"):format(name, sc and sc.description or ("(does not load: " .. err .. ")")))
    end
    return 0
  end
  if not args.scenario then stderr("replay: name a scenario (sceplab replay --list)") return 2 end
  local path = replay.scenario_path(args.scenario)
  if sys.kind(path) ~= "file" then stderr("%s: no such scenario (sceplab replay --list)", path) return 3 end
  local sc, err = replay.load(path)
  if not sc then stderr("%s", err) return 3 end
  local name = path:match("([^/]+)%.lua$") or "scenario"
  local bundle = args.bundle or ("replay-" .. name)
  io.stdout:write(("replay %s: %s\n"):format(name, sc.description))
  local res, rerr, code = replay.run(sc, { bundle = bundle, log = function(line) io.stdout:write("  ", line, "\n") end })
  if not res then stderr("%s", rerr) return code == "usage" and 2 or code == "input" and 3 or 1 end
  io.stdout:write(("bundle: %s (NDES/ and Device/)\n"):format(bundle))
  if not args.check then return 0 end
  local rep, fails = replay.check(sc, bundle)
  if not rep then stderr("%s", fails) return 1 end
  local ids = {}
  for _, f in ipairs(rep.findings) do ids[#ids + 1] = f.id end
  io.stdout:write(("diagnosis: %s\n"):format(#ids > 0 and table.concat(ids, ", ") or "no finding"))
  if #fails > 0 then
    for _, f in ipairs(fails) do io.stdout:write("  MISMATCH ", f, "\n") end
    io.stdout:write("check: the bundle does not diagnose as the scenario expects\n")
    return 1
  end
  io.stdout:write("check: the bundle diagnoses as the scenario expects\n")
  return 0
end

return M
