-- CLI: sceplab timeline.
local sceplab = require "sceplab"
-- Loaded by cli.main, after sceplab.cli itself: not a cycle.
local cli = require "sceplab.cli"
local timeline = require "sceplab.timeline"
local sys = require "sceplab.core.sys"
local time = require "sceplab.time"
local visible = (require "sceplab.core.codec").visible

local M = {}

local stderr = cli.stderr

--- The format names of the C table (only those --format may force when forceable is true).
function M.format_names(forceable)
  local out = {}
  for _, f in ipairs(sceplab.logs.formats()) do
    if f.forceable or not forceable then out[#out + 1] = f.name end
  end
  return out
end

function M.register(p)
  local t = p:command("timeline"):description("Parse log files and bundles (directories) into one timeline ordered by UTC time.")
  t:argument("paths"):args("+"):description("Log files or directories.")
  t:flag("--jsonl"):description("One JSON record per line (keys: time, source, file, line, level, message, and the extracted fields).")
  t:option("--since"):description("Only records at or after this time (ISO 8601; UTC unless it carries a zone).")
  t:option("--until"):description("Only records at or before this time.")
  t:option("--tz"):description("Display zone: UTC (default), local, or an offset such as +05:30."):default("UTC")
  t:option("--source"):description("Only this format (" .. table.concat(M.format_names(), ", ") .. "); repeatable."):count("*")
  t:option("--grep"):description("Only records whose message contains this text; repeatable."):count("*")
  t:option("--status"):description("Only HTTP records with this status; repeatable."):count("*"):convert(tonumber)
  t:option("--min-level"):description("Only records at or above: verbose, info, warning, error."):choices({ "verbose", "info", "warning", "error", "critical" })
  t:option("--request"):description("Only records of this Intune request id (any spelling).")
  t:option("--device"):description("Only records of this device id.")
  t:option("--bias"):description("CMTrace time-zone bias in minutes, instead of the one written (some writers use the ISO sign)."):convert(tonumber)
  t:option("--assume-offset"):description("UTC offset of formats that write none (Android, Event Viewer exports, syslog), e.g. --assume-offset=-07:00; default UTC.")
  t:option("--date"):description("The date (YYYY-MM-DD) for formats that write none (iOS console); default: the file's modification date.")
  t:flag("--explain-format"):description("Say which format each file is read as, and why; read nothing else.")
  t:option("--format"):description("Read every file as this format instead of detecting it.")
    :choices(M.format_names(true))
  t:flag("--attempts"):description("After the timeline, list the enrollment attempts it groups into.")
end

local function zone_offset(tz)
  if tz == "UTC" or tz == "Z" then return 0, "Z" end
  if tz == "local" then
    local now = os.time()
    local off = os.difftime(now, os.time(os.date("!*t", now)))
    return off, nil
  end
  local min = time.offset(tz)
  if not min then return nil end
  return min * 60, tz
end

local function fmt_time(r, off, label)
  if not r.time_us then return "(no time)                " end
  local secs = r.time_us // 1000000 + off
  local ms = (r.time_us % 1000000) // 1000
  local s = os.date("!%Y-%m-%d %H:%M:%S", secs) .. (".%03d"):format(ms)
  return s .. (label or os.date(" %z", secs):gsub("^ ", "")) .. (r.time_inferred and "~" or " ")
end

local function matches_request(r, want)
  if not want then return true end
  return r.request_id ~= nil and r.request_id == want
end

function M.run(args)
  if args.explain_format then
    -- what each file found under the paths is read as, and why (the merge opens each once)
    local inputs = timeline.merge(args.paths, { format = args.format }, function() end)
    local code = 0
    for _, i in ipairs(inputs) do
      if i.format then io.stdout:write(visible(i.file), ": ", i.format, ": ", i.why or "", "\n") else
        io.stdout:write(visible(i.file or "?"), ": ", visible(i.error), "\n")
        if i.fatal then code = 3 end
      end
    end
    return code
  end
  local off, label = zone_offset(args.tz)
  if not off then stderr("--tz '%s': expected UTC, local or +HH:MM within 18:00 of UTC", args.tz) return 2 end
  local topts, terr = time.from_args(args)
  if not topts then stderr("%s", terr) return 2 end
  local known = {}
  for _, name in ipairs(M.format_names()) do known[name] = true end
  for _, s in ipairs(args.source) do
    if not known[s] then
      stderr("--source '%s': not a format (one of %s)", s, table.concat(M.format_names(), ", "))
      return 2
    end
  end
  local filter = { sources = #args.source > 0 and args.source or nil, contains = #args.grep > 0 and args.grep or nil,
                   statuses = #args.status > 0 and args.status or nil, min_level = args.min_level }
  filter.since, filter["until"] = topts.since, topts["until"]
  local want_request
  if args.request then
    local id = sceplab.intune_id.parse(args.request)
    want_request = id and id.canonical or args.request
  end
  local json = sceplab.json
  local out = io.stdout
  local count = 0
  local records_for_attempts = args.attempts and {} or nil
  local inputs = timeline.merge(args.paths, { filter = filter, bias = topts.bias, offset = topts.offset, date = topts.date,
                                                format = args.format,
                                                -- progress would garble records printed to the same terminal
                                                progress = sys.isatty(2) and not sys.isatty(1) }, function(r)
    if not matches_request(r, want_request) or (args.device and r.device_id ~= args.device) then return end
    count = count + 1
    if records_for_attempts then records_for_attempts[#records_for_attempts + 1] = r end
    if args.jsonl then
      r.time_us = nil
      out:write(json.encode(r, true), "\n")
    else
      local msg = (r.message or ""):gsub("\r?\n", " | ")
      if #msg > 160 then msg = msg:sub(1, 157) .. "..." end
      out:write(("%s %-8s %s %-7s %s  [%s:%d]\n"):format(fmt_time(r, off, label), r.source,
        r.step and ("step " .. r.step) or "      ", r.level, visible(msg), visible(r.file:match("[^/]+$")), r.line))
    end
  end)
  local code = 0
  local tty = sys.isatty(2)
  local read = 0
  for _, i in ipairs(inputs) do
    if i.format then read = read + 1 end
  end
  if read == 0 then
    for _, i in ipairs(inputs) do stderr("%s", i.error) end
    stderr("no input could be read as a log (%d file(s) not recognised or unreadable)", #inputs)
    return 3
  end
  for _, i in ipairs(inputs) do
    if not i.format then
      if i.fatal then stderr("%s", i.error) code = 3
      elseif tty then stderr("skipped %s", i.error) end
    else
      local line = ("%s: %s, %d record(s), skipped %d"):format(i.file, i.format, i.records, i.skipped)
      if #i.examples > 0 then line = line .. " (" .. table.concat(i.examples, "; ") .. ")" end
      if i.sorted then line = line .. ", written newest first: sorted" end
      if (i.out_of_order or 0) > 0 then line = line .. (", %d record(s) out of time order"):format(i.out_of_order) end
      if tty or i.skipped > 0 or i.error or (i.out_of_order or 0) > 0 then io.stderr:write("  ", visible(line), "\n") end
      -- reading stopped in the middle: said whatever the terminal, the records before it stand
      if i.error then stderr("%s (the records before it were read)", i.error) end
    end
  end
  if records_for_attempts then
    local attempts = timeline.group(records_for_attempts)
    out:write("\nAttempts\n")
    for _, a in ipairs(attempts) do
      local steps = {}
      for _, st in ipairs(a.steps) do steps[#steps + 1] = tostring(st) end
      out:write(("  #%d  %s to %s, %d record(s), %d error(s), steps %s, from %s\n"):format(a.id, a.first or "?", a.last or "?",
        a.records, a.errors, #steps > 0 and table.concat(steps, ",") or "-", table.concat(a.sources, ", ")))
      for _, k in ipairs(a.keys) do out:write("       ", k, "\n") end
    end
    if #attempts == 0 then out:write("  (no record carries a request or transaction id)\n") end
  end
  if count == 0 and code == 0 and not args.jsonl then stderr("no records matched") end
  return code
end

return M
