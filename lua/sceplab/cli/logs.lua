-- CLI: sceplab timeline. The merge, the filter and the output are C's (sceplab.core.logs): records
-- go from the parsers to standard output without becoming Lua tables.
local sceplab = require "sceplab"
local util = require "sceplab.cli.util"
local timeline = require "sceplab.diagnose.timeline"
local logs = require "sceplab.core.logs"
local sys = require "sceplab.core.sys"
local time = require "sceplab.time"
local visible = (require "sceplab.core.codec").visible

local M = {}

local stderr = util.stderr

local OUTPUTS = { "text", "jsonl", "ecs" }

--- The format names of the C table (only those --as may force when forceable is true).
function M.format_names(forceable)
  local out = {}
  for _, f in ipairs(sceplab.logs.formats()) do
    if f.forceable or not forceable then out[#out + 1] = f.name end
  end
  return out
end

function M.register(p)
  local t = p:command("timeline"):description("Parse log files and bundles (directories, zip files) into one timeline ordered by UTC time.")
  t:argument("paths"):args("+"):description("Log files, directories or zip bundles.")
  t:option("--format"):description("Output: text (default), jsonl (one sceplab record per line, read back by sceplab) or ecs (Elastic Common Schema JSON, one document per line).")
  t:flag("--jsonl"):description("The same as --format jsonl.")
  t:option("--since"):description("Only records at or after this time: ISO 8601 (in --tz unless it carries a zone), relative (-2h, -30m, -1d) or today, yesterday.")
  t:option("--until"):description("Only records at or before this time (as --since).")
  t:option("--tz"):description("Zone of the text output and of --since/--until without one: UTC (default), local, an offset such as +05:30, or a zone name such as Europe/Berlin."):default("UTC")
  t:option("--source"):description("Only this format (" .. table.concat(M.format_names(), ", ") .. "); repeatable."):count("*")
  t:option("--grep"):description("Only records whose message contains this text; repeatable."):count("*")
  t:option("--status"):description("Only HTTP records with this status; repeatable."):count("*"):convert(tonumber)
  t:option("--min-level"):description("Only records at or above: verbose, info, warning, error."):choices({ "verbose", "info", "warning", "error", "critical" })
  t:option("--request"):description("Only records of this Intune request id (any spelling).")
  t:option("--device"):description("Only records of this device id.")
  t:option("--bias"):description("CMTrace time-zone bias in minutes, instead of the one written (some writers use the ISO sign)."):convert(tonumber)
  t:option("--assume-offset"):description("UTC offset of formats that write none (Android, Event Viewer exports, syslog), e.g. --assume-offset=-07:00, or a zone name (Europe/London) whose offset each record gets at its own moment; default: what the bundle's dated logs prove, else UTC.")
  t:option("--date"):description("The date (YYYY-MM-DD) for formats that write none (iOS console); default: what the bundle's dated logs prove, a date written in the file, the zip entry's or the file's time.")
  t:flag("--explain-format"):description("Say which format each file is read as, and why; read nothing else.")
  t:option("--as"):description("Read every file as this format instead of detecting it.")
    :choices(M.format_names(true))
  t:flag("--attempts"):description("After the timeline, list the enrollment attempts it groups into.")
end

local function explain(args, topts)
  -- what each file found under the paths is read as, and why (the merge opens each once), and
  -- where the records without their own date or offset get them
  local inputs = timeline.merge(args.paths, { format = args.as, bias = topts.bias, offset = topts.offset, zone = topts.zone,
                                              date = topts.date }, function() end)
  local code = 0
  for _, i in ipairs(inputs) do
    if i.format then
      io.stdout:write(visible(i.file), ": ", i.format, ": ", i.why or "", "\n")
      local t = {}
      if i.date_source then t[#t + 1] = ("date_source %s (%s)"):format(i.date_source, i.date_note or "") end
      if i.offset_source then t[#t + 1] = ("offset_source %s (%s)"):format(i.offset_source, i.offset_note or "") end
      if i.order_note then t[#t + 1] = "day/month order " .. i.order_note end
      if #t > 0 then io.stdout:write("  ", visible(table.concat(t, "; ")), "\n") end
    else
      io.stdout:write(visible(i.file or "?"), ": ", visible(i.error), "\n")
      if i.fatal then code = 3 end
    end
  end
  return code
end

-- The inputs, said on stderr: which could not be read (fatal when named), and what each read gave
-- when stderr is a terminal or something was skipped. Returns the exit code so far.
local function report_inputs(inputs)
  local code, tty, read = 0, util.progress(), 0
  for _, i in ipairs(inputs) do
    if i.format then read = read + 1 end
  end
  if read == 0 then
    for _, i in ipairs(inputs) do stderr("%s", i.error) end
    stderr("no input could be read as a log (%d file(s) not recognised or unreadable)", #inputs)
    return 3
  end
  local unread, binary = {}, 0
  for _, i in ipairs(inputs) do
    if not i.format then
      if i.fatal then stderr("%s", i.error) code = 3
      -- an archive member refused (a bomb, nested too deep): said whatever the terminal
      elseif i.refused then stderr("%s", i.error)
      elseif tty then stderr("skipped %s", i.error)
      elseif i.binary then binary = binary + 1
      else unread[#unread + 1] = i.file end
    else
      local line = ("%s: %s, %d record(s), skipped %d"):format(i.file, i.format, i.records, i.skipped)
      if #i.examples > 0 then line = line .. " (" .. table.concat(i.examples, "; ") .. ")" end
      if i.sorted then line = line .. ", written newest first: sorted" end
      if (i.out_of_order or 0) > 0 then line = line .. (", %d record(s) out of time order"):format(i.out_of_order) end
      if tty or (not util.opts.quiet and (i.skipped > 0 or i.error or (i.out_of_order or 0) > 0)) then
        io.stderr:write("  ", visible(line), "\n")
      end
      -- reading stopped in the middle: said whatever the terminal, the records before it stand
      if i.error then stderr("%s (the records before it were read)", i.error) end
    end
  end
  -- files of a folder or archive that are no log: one line, never silence (a terminal lists each)
  if binary > 0 then stderr("skipped %d binary file(s) (images, documents, archives not opened): not logs", binary) end
  if #unread > 0 then
    local shown = { table.unpack(unread, 1, 3) }
    util.note("skipped %d file(s) not read as a log: %s%s", #unread, table.concat(shown, ", "), #unread > 3 and ", ..." or "")
  end
  return code
end

local function print_attempts(records)
  local out = io.stdout
  local attempts = timeline.group(records)
  out:write("\nAttempts\n")
  for _, a in ipairs(attempts) do
    local steps = {}
    for _, st in ipairs(a.steps) do steps[#steps + 1] = tostring(st) end
    out:write(("  #%d  %s to %s, %d record(s), %d error(s), steps %s, from %s\n"):format(a.id, a.first or "?", a.last or "?",
      a.records, a.errors, #steps > 0 and table.concat(steps, ",") or "-", table.concat(a.sources, ", ")))
    for _, k in ipairs(a.keys) do out:write("       ", visible(k), "\n") end
  end
  if #attempts == 0 then out:write("  (no record carries a request or transaction id)\n") end
end

function M.run(args)
  if args.explain_format then
    local topts, terr = time.from_args(args)
    if not topts then stderr("%s", terr) return 2 end
    return explain(args, topts)
  end
  local output = args.jsonl and "jsonl" or args.format or "text"
  local valid = false
  for _, o in ipairs(OUTPUTS) do valid = valid or o == output end
  if not valid then
    for _, name in ipairs(M.format_names(true)) do
      if name == output then
        stderr("--format chooses the output (text, jsonl, ecs); to read every file as %s, use --as %s", output, output)
        return 2
      end
    end
    stderr("--format '%s': one of text, jsonl, ecs", output)
    return 2
  end
  local topts, terr = time.from_args(args)
  if not topts then stderr("%s", terr) return 2 end
  -- an IANA zone is now the process's local zone (time.use_zone): the writer shows "local" times
  local display = topts.display.kind == "iana" and "local" or topts.display.kind == "utc" and "UTC" or args.tz
  for i, st in ipairs(args.status) do
    local n = math.tointeger(st)
    if not n or n < 100 or n > 999 then
      stderr("--status %s: expected an HTTP status, 100 to 999", tostring(st))
      return 2
    end
    args.status[i] = n
  end
  local known = {}
  for _, name in ipairs(M.format_names()) do known[name] = true end
  for _, s in ipairs(args.source) do
    if not known[s] then
      stderr("--source '%s': not a format (one of %s)", s, table.concat(M.format_names(), ", "))
      return 2
    end
  end
  local filter = { sources = #args.source > 0 and args.source or nil, contains = #args.grep > 0 and args.grep or nil,
                   statuses = #args.status > 0 and args.status or nil, min_level = args.min_level,
                   since = topts.since, ["until"] = topts["until"], device_id = args.device }
  if args.request then
    local id = sceplab.intune_id.parse(args.request)
    filter.request_id = id and id.canonical or args.request
  end
  -- progress would garble records printed to the same terminal
  local progress = util.progress() and not sys.isatty(1)
  if progress then util.progress_total(args.paths) end
  local m, err = logs.merge(args.paths, filter, { bias = topts.bias, offset = topts.offset, zone = topts.zone, date = topts.date,
    format = args.as, progress = progress })
  if not m then stderr("%s", err) return 3 end
  local count, werr, records = m:write(output, display, args.attempts, output == "text" and util.colour(1))
  local inputs = m:inputs()
  m:close()
  if progress then logs.progress_end() end
  if not count then stderr("%s", werr) return 1 end
  local code = report_inputs(inputs)
  if code == 3 and count == 0 then return code end
  if records then print_attempts(records) end
  if count == 0 and code == 0 and output == "text" then util.note("no records matched") end
  return code
end

return M
