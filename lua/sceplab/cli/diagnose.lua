-- CLI: sceplab diagnose and sceplab playbooks.
local util = require "sceplab.cli.util"
local sys = require "sceplab.core.sys"

local M = {}
-- The engine and the report, loaded by M.run: registering the commands (for help or a usage
-- error) needs neither.
local diagnose, report

local stderr = util.stderr

function M.register(p)
  local d = p:command("diagnose")
    :description("Diagnose a log bundle: name the failing enrollment step, the cause, the fix and the evidence (file:line). Exit 1 when an error finding exists.")
  d:argument("paths"):args("+"):description("Log files, directories or .zip bundles.")
  d:option("--format"):description("Report format: text (default), json, md or html (one self-contained file)."):choices({ "text", "json", "md", "html" }):default("text")
  d:option("-o --output"):description("Write the report to this file instead of standard output.")
  d:option("--playbooks"):description("Also load the playbooks in this directory (repeatable; a file of the same name replaces the bundled one)."):count("*")
  d:option("--bias"):description("CMTrace time-zone bias in minutes, instead of the one written."):convert(tonumber)
  d:option("--assume-offset"):description("UTC offset of formats that write none, e.g. -07:00, or a zone name (Europe/London); default: what the bundle's dated logs prove, else UTC.")
  d:option("--date"):description("The date (YYYY-MM-DD) for formats that write none (iOS console); default: what the bundle's dated logs prove.")

  local pb = p:command("playbooks"):description("List or show the diagnostic playbooks (bundled, SCEPLAB_PLAYBOOKS and --playbooks).")
  pb:command_target("playbooks_command")
  local l = pb:command("list"):description("List the playbooks and the findings each raises (id, step, severity, title).")
  l:option("--playbooks"):description("Also load the playbooks in this directory (repeatable)."):count("*")
  local s = pb:command("show"):description("Show one playbook's declaration.")
  s:argument("id"):description("A finding id, e.g. iis-impersonation-500.")
  s:option("--playbooks"):description("Also load the playbooks in this directory (repeatable)."):count("*")
  local t = pb:command("test"):description("Run a playbook directory against its fixtures (DIR/fixtures/<case>/ with logs and expect.lua). Exit 1 when a case fails.")
  t:argument("dir"):args("?"):description("The playbook directory; default: the bundled playbooks.")
  t:flag("-v --verbose"):description("Also print the findings of each case.")
end

-- Directories from SCEPLAB_PLAYBOOKS (colon-separated) then --playbooks, in that order.
local function user_dirs(args)
  local dirs = {}
  for d in (os.getenv("SCEPLAB_PLAYBOOKS") or ""):gmatch("[^:]+") do dirs[#dirs + 1] = d end
  for _, d in ipairs(args.playbooks or {}) do dirs[#dirs + 1] = d end
  for _, d in ipairs(dirs) do
    if sys.kind(d) ~= "directory" then return nil, ("%s: not a directory of playbooks"):format(d) end
  end
  return dirs
end

local function has_error(rep)
  for _, f in ipairs(rep.findings) do if f.severity == "error" then return true end end
  return false
end

local function run_diagnose(args)
  local dirs, derr = user_dirs(args)
  if not dirs then stderr("%s", derr) return 2 end
  local topts, terr = (require "sceplab.time").from_args(args)
  if not topts then stderr("%s", terr) return 2 end
  for _, p in ipairs(args.paths) do
    if not sys.kind(p) then stderr("%s: no such file or directory", p) return 3 end
  end
  local progress = util.progress()
  if progress then util.progress_total(args.paths) end
  local rep, err = diagnose.run(args.paths, { dirs = dirs, bias = topts.bias, offset = topts.offset, zone = topts.zone, date = topts.date,
                                            progress = progress })
  if not rep then stderr("%s", err) return 3 end
  local text
  if args.format == "json" then
    text = (require "sceplab.json").encode(rep) .. "\n"
  else
    text = report.render(rep, args.format, not args.output and util.colour(1))
  end
  if args.output then
    local out, oerr = sys.reserve(args.output)
    if not out then stderr("%s", oerr) return 3 end
    local ok, werr = out:commit(text)
    if not ok then stderr("%s", werr) return 3 end
  else
    io.stdout:write(text)
  end
  -- as timeline: a file named on the command line must be readable, and a diagnosis of nothing is
  -- no diagnosis (exit 3), though the report says which inputs were not read
  local read, named_bad = 0, false
  for _, i in ipairs(rep.inputs) do
    if i.format then read = read + 1 end
    if i.fatal then named_bad = true stderr("%s: %s", i.file, i.error) end
  end
  if read == 0 then
    stderr("no input could be read as a log (%d file(s) not recognised or unreadable)", #rep.inputs)
    return 3
  end
  if named_bad then return 3 end
  return has_error(rep) and 1 or 0
end

local function run_playbooks_test(args)
  local dir = args.dir or diagnose.bundled_dir()
  if sys.kind(dir) ~= "directory" then stderr("%s: not a directory of playbooks", dir) return 2 end
  local results, err = diagnose.test(dir)
  if not results then stderr("%s", err) return 3 end
  local failed = 0
  for _, r in ipairs(results) do
    io.stdout:write(r.ok and "ok      " or "FAILED  ", r.case, "\n")
    for _, f in ipairs(r.failures) do io.stdout:write("        ", f, "\n") end
    if args.verbose or not r.ok then
      for _, f in ipairs(r.report.findings) do
        io.stdout:write(("        raised %s (%s, step %d)\n"):format(f.id, f.severity, f.step))
      end
    end
    if not r.ok then failed = failed + 1 end
  end
  io.stdout:write(("%d cases, %d passed, %d failed\n"):format(#results, #results - failed, failed))
  return failed > 0 and 1 or 0
end

local function run_playbooks(args)
  if args.playbooks_command == "test" then return run_playbooks_test(args) end
  local dirs, derr = user_dirs(args)
  if not dirs then stderr("%s", derr) return 2 end
  local list, err = diagnose.load_all(dirs)
  if not list then stderr("%s", err) return 3 end
  if args.playbooks_command == "list" then
    for _, pb in ipairs(list) do
      io.stdout:write(("%s  (%s)\n"):format(pb.name, pb.file))
      if pb.findings then
        for _, id in ipairs(pb.ids) do
          local f = pb.findings[id]
          io.stdout:write(("  step %d  %-7s  %-28s %s\n"):format(f.step, f.severity, id, f.title))
        end
        io.stdout:write("  raises: ", table.concat(pb.ids, ", "), "\n")
      end
      for _, rule in ipairs(pb.success or {}) do
        local steps = {}
        for _, st in ipairs(rule.steps) do steps[#steps + 1] = tostring(st) end
        io.stdout:write(("  success at step %s: %s (%s)\n"):format(table.concat(steps, ","), rule.label, rule.id))
      end
    end
    -- the ids the engine raises itself
    local ids = {}
    for id in pairs(diagnose.ENGINE_FINDINGS) do ids[#ids + 1] = id end
    table.sort(ids)
    io.stdout:write("(engine)  (lua/sceplab/diagnose/playbooks.lua)\n")
    for _, id in ipairs(ids) do
      local f = diagnose.ENGINE_FINDINGS[id]
      io.stdout:write(("  step %d  %-7s  %-28s %s\n"):format(f.step, f.severity, id, f.title))
    end
    io.stdout:write("  raises: ", table.concat(ids, ", "), "\n")
    return 0
  end
  local decl, pb = diagnose.finding(list, args.id)
  if decl and not pb then
    io.stdout:write(("id:          %s\ntitle:       %s\nstep:        %d (%s)\nseverity:    %s\nplaybook:    (the engine)\ncause:       %s\n")
      :format(args.id, decl.title, decl.step, report.STEPS[decl.step], decl.severity, decl.cause))
    for i, f in ipairs(decl.fix or {}) do io.stdout:write(("fix %d:       %s\n"):format(i, f)) end
    return 0
  end
  if not decl then
    stderr("no playbook raises '%s' (try 'sceplab playbooks list')", args.id)
    return 3
  end
  local m = {}
  for k, v in pairs(pb.match) do
    local vals = type(v) == "table" and v or { v }
    local s = {}
    for _, x in ipairs(vals) do s[#s + 1] = (k == "hresults" and ("0x%08X"):format(x)) or tostring(x) end
    m[#m + 1] = ("  %s: %s"):format(k, table.concat(s, ", "))
  end
  table.sort(m)
  io.stdout:write(("id:          %s\ntitle:       %s\nstep:        %d (%s)\nseverity:    %s\nplaybook:    %s (%s)\nalso raises: %s\ncause:       %s\n")
    :format(args.id, decl.title, decl.step, report.STEPS[decl.step], decl.severity, pb.name, pb.file,
            table.concat(pb.ids, ", "), decl.cause))
  for i, f in ipairs(decl.fix) do io.stdout:write(("fix %d:       %s\n"):format(i, f)) end
  io.stdout:write("match:\n", table.concat(m, "\n"), "\n")
  for _, r in ipairs(pb.references or {}) do io.stdout:write("reference:   ", r, "\n") end
  return 0
end

function M.run(args)
  diagnose, report = require "sceplab.diagnose", require "sceplab.report"
  if args.command == "playbooks" then return run_playbooks(args) end
  return run_diagnose(args)
end

return M
