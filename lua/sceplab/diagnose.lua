-- Diagnosis: Lua playbooks over the normalized records of a log bundle.
--
-- A playbook is data plus a function (lua/playbooks/*.lua, loaded through the sandbox):
--   return {
--     id = "iis-impersonation-500",   -- or ids = {...} for a family raising several
--     title = "...", step = 2, severity = "error", description = "...", references = {...},
--     match = { sources = {...}, statuses = {...}, event_ids = {...}, contains = {...}, min_level = "error" },
--     check = function(records, ctx) return { {id = ..., cause = ..., fix = {...}, evidence = {rec...}} } end,
--   }
-- The engine compiles every playbook's match into one C-side filter, so records no playbook can use
-- never reach Lua, groups what passes into enrollment attempts, and hands each playbook the records
-- of each attempt that match its own declaration.
local sandbox = require "sceplab.sandbox"
local timeline = require "sceplab.timeline"
local sys = require "sceplab.core.sys"
local json = require "sceplab.json"

local M = {}

local SEVERITY = { error = 3, warning = 2, info = 1 }
local LEVELS = { verbose = 1, info = 2, warning = 3, error = 4, critical = 5 }

-- Records that show a certificate was installed: the verdict "enrollment-succeeded" needs them.
M.SUCCESS_MARKERS = { "Certificate installed successfully", "CERT_INSTALL_SUCCESS", "CERT_ACCESS_GRANTED",
                      " installed.", "CRS in Succeed" }

local FIELD_TYPES = {
  id = "string", ids = "table", title = "string", step = "number", severity = "string", description = "string",
  references = "table", match = "table", check = "function", fixtures = "string",
}
local MATCH_TYPES = { sources = "table", statuses = "table", event_ids = "table", contains = "table", min_level = "string",
                      components = "table", patterns = "table" }

--- Validates a playbook table; returns it or nil, "file: field 'x' ...".
function M.validate(pb, where)
  if type(pb) ~= "table" then return nil, where .. ": a playbook must return a table" end
  for k, v in pairs(pb) do
    local t = FIELD_TYPES[k]
    if not t then return nil, ("%s: unknown field '%s'"):format(where, tostring(k)) end
    if type(v) ~= t then return nil, ("%s: field '%s' must be a %s, not a %s"):format(where, k, t, type(v)) end
  end
  for _, k in ipairs({ "title", "step", "severity", "description", "match", "check" }) do
    if pb[k] == nil then return nil, ("%s: field '%s' is required"):format(where, k) end
  end
  if not pb.id and not pb.ids then return nil, where .. ": field 'id' (or 'ids') is required" end
  if not SEVERITY[pb.severity] then return nil, where .. ": field 'severity' must be error, warning or info" end
  if pb.step < 1 or pb.step > 6 or math.type(pb.step) ~= "integer" then
    return nil, where .. ": field 'step' must be an integer from 1 to 6"
  end
  for k, v in pairs(pb.match) do
    local t = MATCH_TYPES[k]
    if not t then return nil, ("%s: field 'match.%s' is not a match criterion"):format(where, tostring(k)) end
    if type(v) ~= t then return nil, ("%s: field 'match.%s' must be a %s"):format(where, k, t) end
  end
  -- patterns restrict in Lua, after the C pre-filter: alone they would send every record to Lua
  if pb.match.patterns then
    if not (pb.match.statuses or pb.match.event_ids or pb.match.contains or pb.match.min_level) then
      return nil, where .. ": field 'match.patterns' needs statuses, event_ids, contains or min_level beside it (the C pre-filter)"
    end
    for i, pat in ipairs(pb.match.patterns) do
      local ok, err = pcall(string.find, "", pat)
      if type(pat) ~= "string" or not ok then
        return nil, ("%s: field 'match.patterns' entry %d is not a Lua pattern: %s"):format(where, i, tostring(err or pat))
      end
    end
  end
  if pb.match.min_level and not LEVELS[pb.match.min_level] then
    return nil, where .. ": field 'match.min_level' must be verbose, info, warning, error or critical"
  end
  pb.ids = pb.ids or { pb.id }
  pb.id = pb.id or pb.ids[1]
  return pb
end

--- Loads one playbook file through the sandbox (kind "playbook": no io, no os.execute).
function M.load(path)
  local env, res = sandbox.load(path, "playbook")
  if not env then return nil, res end
  local pb = res[1]
  if pb == nil then return nil, path .. ": the playbook must return a table" end
  local ok, err = M.validate(pb, path)
  if not ok then return nil, err end
  pb.file = path
  return pb
end

local function lua_dir()
  local p = package.searchpath("sceplab.diagnose", package.path)
  return p and p:match("^(.*)/sceplab/diagnose%.lua$")
end

--- The bundled playbook directory.
function M.bundled_dir()
  local d = lua_dir()
  return d and (d .. "/playbooks")
end

--- Loads the bundled playbooks and those in dirs (later ones override by id). Returns the list
-- sorted by step then id, or nil, message naming the file and field.
function M.load_all(dirs)
  local by_id, order = {}, {}
  local all = { M.bundled_dir() }
  for _, d in ipairs(dirs or {}) do all[#all + 1] = d end
  for _, dir in ipairs(all) do
    local names = sys.listdir(dir)
    for _, name in ipairs(names or {}) do
      if name:match("%.lua$") then
        local pb, err = M.load(dir .. "/" .. name)
        if not pb then return nil, err end
        if not by_id[pb.id] then order[#order + 1] = pb.id end
        by_id[pb.id] = pb
      end
    end
  end
  local list = {}
  for _, id in ipairs(order) do list[#list + 1] = by_id[id] end
  table.sort(list, function(a, b) if a.step ~= b.step then return a.step < b.step end return a.id < b.id end)
  return list
end

-- One C filter for all playbooks: the union of their criteria, plus the success markers.
local function union_filter(playbooks)
  local statuses, events, contains, seen = {}, {}, {}, {}
  local min
  local function add(list, v)
    local key = type(v) .. ":" .. tostring(v)
    if not seen[key] then seen[key] = true list[#list + 1] = v end
  end
  for _, pb in ipairs(playbooks) do
    local m = pb.match
    for _, s in ipairs(m.statuses or {}) do add(statuses, s) end
    for _, e in ipairs(m.event_ids or {}) do add(events, e) end
    for _, c in ipairs(m.contains or {}) do add(contains, c) end
    if m.min_level and (not min or LEVELS[m.min_level] < LEVELS[min]) then min = m.min_level end
  end
  for _, c in ipairs(M.SUCCESS_MARKERS) do add(contains, c) end
  return { any = true, statuses = statuses, event_ids = events, contains = contains, min_level = min }
end

-- Does a record satisfy one playbook's own declaration? (sources, components and patterns
-- restrict; the other criteria are alternatives, as in the C filter)
local function matches(pb, r)
  local m = pb.match
  if m.sources then
    local ok = false
    for _, s in ipairs(m.sources) do ok = ok or s == r.source end
    if not ok then return false end
  end
  if m.components then
    local ok = false
    for _, c in ipairs(m.components) do ok = ok or (r.component or ""):find(c, 1, true) ~= nil end
    if not ok then return false end
  end
  if m.patterns then
    local ok = false
    for _, p in ipairs(m.patterns) do ok = ok or (r.message or ""):find(p) ~= nil end
    if not ok then return false end
  end
  local any = false
  for _, s in ipairs(m.statuses or {}) do any = any or r.http_status == s end
  for _, e in ipairs(m.event_ids or {}) do any = any or r.event_id == e end
  if m.min_level and (LEVELS[r.level] or 0) >= LEVELS[m.min_level] then any = true end
  if not any and m.contains then
    local msg = (r.message or ""):lower()
    for _, c in ipairs(m.contains) do any = any or msg:find(c:lower(), 1, true) ~= nil end
  end
  if not (m.statuses or m.event_ids or m.min_level or m.contains) then any = true end
  return any
end

local function evidence_of(r)
  local text = (r.message or ""):gsub("%s+", " ")
  if #text > 300 then text = text:sub(1, 297) .. "..." end
  return { file = r.file, line = r.line, time = r.time, text = text, source = r.source }
end

-- The helpers playbooks get: time arithmetic and record tests.
local function context(attempt, all)
  local ctx = { attempt = attempt, records = all }
  function ctx.within(a, b, seconds)
    return a.time_us and b.time_us and math.abs(a.time_us - b.time_us) <= seconds * 1e6
  end
  function ctx.text(r, s) return (r.message or ""):lower():find(s:lower(), 1, true) ~= nil end
  function ctx.is_scep_url(r) return (r.url or ""):lower():find("mscep", 1, true) ~= nil end
  -- the first n records of a list (default 5): evidence enough, and a report that stays readable
  function ctx.first(list, n) return { table.unpack(list, 1, math.min(#list, n or 5)) } end
  return ctx
end

-- The records (that passed the filter) within five minutes of t, at most 40, for the report's
-- "timeline around the failure".
local AROUND_S, AROUND_MAX = 300, 40
local function around(records, t)
  if not t then return nil end
  local out = {}
  for _, r in ipairs(records) do
    if r.time_us and math.abs(r.time_us - t) <= AROUND_S * 1e6 then
      local e = evidence_of(r)
      e.level = r.level
      e.anchor = r.time_us == t or nil
      out[#out + 1] = e
      if #out >= AROUND_MAX then break end
    end
  end
  return out
end

--- Runs the playbooks over the inputs. Returns the report:
-- {inputs, attempts, findings, verdicts, steps_without_evidence, playbooks}.
function M.run(paths, opts)
  opts = opts or {}
  local playbooks, err = opts.playbooks, nil
  if not playbooks then playbooks, err = M.load_all(opts.dirs) end
  if not playbooks then return nil, err end
  local records = {}
  local inputs = timeline.merge(paths, { filter = union_filter(playbooks), bias = opts.bias, offset = opts.offset,
                                         date = opts.date, progress = opts.progress }, function(r) records[#records + 1] = r end)
  local attempts = timeline.group(records, opts.window)
  -- records per attempt (nil attempt: unattributed)
  local per_attempt = {}
  for _, r in ipairs(records) do
    local k = r.attempt or 0
    per_attempt[k] = per_attempt[k] or {}
    table.insert(per_attempt[k], r)
  end
  local findings, seen = {}, {}
  local anchor = setmetatable({}, { __mode = "k" })  -- finding -> time of its first evidence
  for _, pb in ipairs(playbooks) do
    for k, recs in pairs(per_attempt) do
      local mine = {}
      for _, r in ipairs(recs) do if matches(pb, r) then mine[#mine + 1] = r end end
      if #mine > 0 then
        local ok, res, why = sandbox.call((pb.file or pb.id) .. ": check", pb.check, mine, context(k ~= 0 and k or nil, records))
        if not ok then return nil, why == "timeout" and res or ("%s: check failed: %s"):format(pb.file or pb.id, tostring(res)) end
        for _, f in ipairs(res or {}) do
          local id = f.id or pb.id
          local key = id .. "@" .. tostring(k)
          if not seen[key] then
            seen[key] = true
            local ev = {}
            for _, r in ipairs(f.evidence or {}) do ev[#ev + 1] = evidence_of(r) end
            local first = f.evidence and f.evidence[1]
            findings[#findings + 1] = {
              id = id, step = f.step or pb.step, severity = f.severity or pb.severity, title = f.title or pb.title,
              cause = f.cause or pb.description, fix = f.fix or {}, evidence = ev, attempt = k ~= 0 and k or nil,
              playbook = pb.file,
            }
            anchor[findings[#findings]] = first and first.time_us
          end
        end
      end
    end
  end
  table.sort(findings, function(a, b)
    if SEVERITY[a.severity] ~= SEVERITY[b.severity] then return SEVERITY[a.severity] > SEVERITY[b.severity] end
    if a.step ~= b.step then return a.step < b.step end
    return a.id < b.id
  end)
  -- verdicts: the failing step is the earliest step with an error finding
  local verdicts = {}
  local succeeded = {}
  for _, r in ipairs(records) do
    for _, m in ipairs(M.SUCCESS_MARKERS) do
      if (r.message or ""):find(m, 1, true) then succeeded[r.attempt or 0] = r end
    end
  end
  local keys = { 0 }
  for _, a in ipairs(attempts) do keys[#keys + 1] = a.id end
  for _, k in ipairs(keys) do
    local failing
    for _, f in ipairs(findings) do
      if (f.attempt or 0) == k and f.severity == "error" and (not failing or f.step < failing.step) then failing = f end
    end
    if failing then
      verdicts[#verdicts + 1] = { attempt = k ~= 0 and k or nil, status = "failed", failing_step = failing.step, finding = failing.id,
                                  around = around(records, anchor[failing]) }
    elseif succeeded[k] then
      verdicts[#verdicts + 1] = { attempt = k ~= 0 and k or nil, status = "enrollment-succeeded",
                                  evidence = { evidence_of(succeeded[k]) } }
      -- the outcome is also an (info) finding, so consumers of findings[] see it under its catalog id
      findings[#findings + 1] = { id = "enrollment-succeeded", step = 5, severity = "info",
        title = "The certificate was installed", cause = "A record shows the certificate installed and no error was found.",
        fix = {}, evidence = { evidence_of(succeeded[k]) }, attempt = k ~= 0 and k or nil }
    end
  end
  -- which workflow steps the inputs say nothing about
  local steps_seen = {}
  for _, r in ipairs(records) do if r.step then steps_seen[r.step] = true end end
  for _, f in ipairs(findings) do steps_seen[f.step] = true end
  -- records the parsers placed on a step count even when no playbook wanted them
  for _, i in ipairs(inputs) do
    for s, n in ipairs(i.steps or {}) do if n > 0 then steps_seen[s] = true end end
  end
  local missing = {}
  for s = 1, 6 do if not steps_seen[s] then missing[#missing + 1] = s end end
  local clean_inputs = {}
  for _, i in ipairs(inputs) do
    local e = i.error
    if e and e:sub(1, #i.file + 2) == i.file .. ": " then e = e:sub(#i.file + 3) end  -- the file is named already
    clean_inputs[#clean_inputs + 1] = { file = i.file, format = i.format, records = i.records, skipped = i.skipped,
                                        examples = i.examples, steps = i.steps, error = e, fatal = i.fatal or nil,
                                        sorted = i.sorted, out_of_order = i.out_of_order }
  end
  local pbl = {}
  for _, pb in ipairs(playbooks) do pbl[#pbl + 1] = pb.id end
  -- lists stay lists in JSON even when empty
  for _, f in ipairs(findings) do json.array(f.fix) json.array(f.evidence) end
  for _, v in ipairs(verdicts) do if v.around then json.array(v.around) end end
  json.array(findings) json.array(verdicts) json.array(missing) json.array(attempts)
  return { inputs = clean_inputs, attempts = attempts, findings = findings, verdicts = verdicts,
           steps_without_evidence = missing, playbooks = pbl, records_examined = #records }
end

-- expect.lua fields: which findings a fixture case must and must not raise, and its verdict.
local EXPECT_TYPES = { raises = "table", not_raises = "table", no_errors = "boolean", failing_step = "number",
                       verdict = "string", evidence = "table", description = "string", date = "string",
                       assume_offset = "number" }

local function load_expect(path)
  local env, res = sandbox.load(path, "playbook")
  if not env then return nil, res end
  local e = res[1]
  if type(e) ~= "table" then return nil, path .. ": expect.lua must return a table" end
  for k, v in pairs(e) do
    if not EXPECT_TYPES[k] then return nil, ("%s: unknown field '%s'"):format(path, tostring(k)) end
    if type(v) ~= EXPECT_TYPES[k] then return nil, ("%s: field '%s' must be a %s"):format(path, k, EXPECT_TYPES[k]) end
  end
  if not (e.raises or e.not_raises or e.no_errors or e.verdict) then
    return nil, path .. ": expect.lua names nothing to check (raises, not_raises, no_errors or verdict)"
  end
  return e
end

-- Checks one report against one expectation; returns the list of failures (empty when it passes).
local function check_expect(rep, e)
  local fails = {}
  local raised = {}
  for _, f in ipairs(rep.findings) do raised[f.id] = raised[f.id] or {} table.insert(raised[f.id], f) end
  for _, id in ipairs(e.raises or {}) do
    if not raised[id] then fails[#fails + 1] = ("'%s' was not raised"):format(id) end
  end
  for _, id in ipairs(e.not_raises or {}) do
    if raised[id] then fails[#fails + 1] = ("'%s' was raised"):format(id) end
  end
  if e.no_errors then
    for _, f in ipairs(rep.findings) do
      if f.severity == "error" then fails[#fails + 1] = ("error '%s' was raised"):format(f.id) end
    end
  end
  -- the verdict and failing step: of any verdict (a fixture is usually one attempt)
  if e.verdict or e.failing_step then
    local ok = false
    for _, v in ipairs(rep.verdicts) do
      if (not e.verdict or v.status == e.verdict) and (not e.failing_step or v.failing_step == e.failing_step) then ok = true end
    end
    if not ok then
      local got = {}
      for _, v in ipairs(rep.verdicts) do got[#got + 1] = v.status .. (v.failing_step and (" at step " .. v.failing_step) or "") end
      fails[#fails + 1] = ("verdict %s%s expected, got %s"):format(e.verdict or "failed",
        e.failing_step and (" at step " .. e.failing_step) or "", #got > 0 and table.concat(got, ", ") or "none")
    end
  end
  -- evidence = { id = { "NDESPlugin.log:14", ... } }: file name (suffix) and line of evidence records
  for id, wants in pairs(e.evidence or {}) do
    for _, want in ipairs(wants) do
      local file, line = want:match("^(.*):(%d+)$")
      local found = false
      for _, f in ipairs(raised[id] or {}) do
        for _, ev in ipairs(f.evidence) do
          if ev.line == tonumber(line) and (ev.file or ""):sub(-#file) == file then found = true end
        end
      end
      if not found then fails[#fails + 1] = ("'%s' lacks evidence %s"):format(id, want) end
    end
  end
  return fails
end

--- Runs a playbook directory against its fixtures: DIR/fixtures/<case>/ holds logs and expect.lua.
-- The playbooks in play are the bundled ones plus DIR's (same id overrides). Returns a list of
-- {case, ok, failures} or nil, message.
function M.test(dir)
  local list, err = M.load_all(dir ~= M.bundled_dir() and { dir } or nil)
  if not list then return nil, err end
  local fixtures = dir .. "/fixtures"
  local cases = sys.listdir(fixtures)
  if not cases or #cases == 0 then return nil, fixtures .. ": no fixture cases (each is a directory with logs and expect.lua)" end
  local results = {}
  for _, case in ipairs(cases) do
    local cdir = fixtures .. "/" .. case
    if sys.kind(cdir) == "directory" then
      local e, eerr = load_expect(cdir .. "/expect.lua")
      if not e then return nil, eerr end
      local paths = {}
      for _, name in ipairs(sys.listdir(cdir) or {}) do
        if name ~= "expect.lua" then paths[#paths + 1] = cdir .. "/" .. name end
      end
      local rep, rerr = M.run(paths, { playbooks = list, date = e.date, offset = e.assume_offset })
      if not rep then return nil, rerr end
      local fails = check_expect(rep, e)
      results[#results + 1] = { case = case, ok = #fails == 0, failures = fails, report = rep }
    end
  end
  return results
end

return M
