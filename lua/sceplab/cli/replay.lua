-- CLI: sceplab replay (a scenario played end to end into a bundle, then optionally diagnosed).
local util = require "sceplab.cli.util"
local replay = require "sceplab.replay"
local sys = require "sceplab.core.sys"

local M = {}
local stderr = util.stderr

function M.register(p)
  local r = p:command("replay")
    :description("Play a scenario (lua/scenarios/*.lua or a file): an NDES with the Intune connector, Intune's profile, a simulated device, faults and a virtual clock, into a log bundle laid out like a real collection; --check diagnoses it against the scenario's expect.")
  r:argument("scenario"):args("?"):description("A bundled scenario's name (" .. table.concat(replay.bundled(), ", ") .. ") or a file.")
  r:option("--bundle"):description("Write the bundle into this new directory (default: replay-NAME).")
  r:flag("--check"):description("Diagnose the bundle and compare with the scenario's expect (exit 1 when it differs).")
  r:flag("--list"):description("List the bundled scenarios and what each reproduces.")
  r:option("--from"):description("Write a scenario skeleton from a diagnosed bundle (a customer's logs: folder or zip): its platform, the faults its findings imply, its findings as the expect. Exit 1 when a finding cannot be reproduced (it stays in the expect).")
  r:option("-o --output"):description("With --from: write the scenario to this file instead of standard output.")
end

function M.run(args)
  if args.list then
    local names, width = replay.bundled(), 0
    for _, name in ipairs(names) do width = math.max(width, #name) end
    for _, name in ipairs(names) do
      local sc, err = replay.load(replay.scenario_path(name))
      io.stdout:write(("%-" .. width .. "s  %s\n"):format(name, sc and sc.description or ("(does not load: " .. err .. ")")))
    end
    return 0
  end
  if args.from then
    local rep, derr = (require "sceplab.diagnose").run({ args.from }, {})
    if not rep then stderr("%s", derr) return 3 end
    local sc, notes, missing = replay.from_report(rep, args.from)
    local text = replay.to_lua(sc, notes, args.from, missing)
    for _, n in ipairs(notes) do io.stderr:write("sceplab: note: ", n, "\n") end
    -- a skeleton that cannot reproduce the bundle's diagnosis is still written (a start), says so,
    -- and keeps the finding in its expect: `replay --check` fails rather than calling it reproduced
    for _, m in ipairs(missing) do
      stderr("cannot reproduce %s (%s): the scenario expects it anyway, so `replay --check` fails until something plays it",
             m.id, m.why)
    end
    local status = #missing > 0 and 1 or 0
    if not args.output then io.stdout:write(text) return status end
    local out, oerr = sys.reserve(args.output, false)
    if not out then stderr("%s", oerr) return 1 end
    local ok, werr = out:commit(text)
    if not ok then stderr("%s", werr) return 1 end
    return status
  end
  if not args.scenario then stderr("replay: name a scenario (sceplab replay --list)") return 2 end
  local path = replay.scenario_path(args.scenario)
  if sys.kind(path) ~= "file" then stderr("%s: no such scenario (sceplab replay --list)", path) return 3 end
  local sc, err = replay.load(path)
  if not sc then stderr("%s", err) return 3 end
  local name = path:match("([^/]+)%.lua$") or "scenario"
  local bundle = args.bundle or ("replay-" .. name)
  -- a .zip bundle, as collections are sent: played into a folder beside it, zipped, folder removed
  local zip = bundle:match("%.zip$") and bundle
  if zip then
    if sys.kind(zip) then stderr("%s: exists (a bundle is written as a new file)", zip) return 2 end
    bundle = zip:gsub("%.zip$", "") .. ".replay-tmp"
  end
  io.stdout:write(("replay %s: %s\n"):format(name, sc.description))
  local res, rerr, code = replay.run(sc, { bundle = bundle, log = function(line) io.stdout:write("  ", line, "\n") end })
  if not res then stderr("%s", rerr) return code == "usage" and 2 or code == "input" and 3 or 1 end
  if zip then
    local ok, zerr = (require "sceplab.core.logs").zip_dir(bundle, zip)
    replay.remove_bundle(bundle)
    if not ok then stderr("%s", zerr) return 1 end
    bundle = zip
  end
  io.stdout:write(("bundle: %s (%s)\n"):format(bundle, sc.collect.ndes and sc.collect.device and "NDES/ and Device/"
                                                       or sc.collect.ndes and "NDES/" or "Device/"))
  if not args.check then return 0 end
  local rep, fails = replay.check(sc, bundle, res.date)
  if not rep then stderr("%s", fails) return 1 end
  local ids = {}
  for _, f in ipairs(rep.findings) do
    local explained = {}
    for _, g in ipairs(f.explains or {}) do explained[#explained + 1] = g.id end
    ids[#ids + 1] = f.id .. (#explained > 0 and (" (explains " .. table.concat(explained, ", ") .. ")") or "")
  end
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
