-- Diagnosis: Lua playbooks over the normalized records of a log bundle.
--
-- A playbook is data plus a function (lua/playbooks/*.lua, loaded through the sandbox):
--   return {
--     description = "...", references = {...}, step = 2, severity = "error",  -- defaults for its findings
--     findings = { ["iis-impersonation-500"] = { title = "...", cause = "...", fix = {...}, explains? }, ... },
--     match = { sources, components, operations, statuses, event_ids, hresults, contains, patterns, min_level },
--     sample = true,  -- optional: it judges kinds of records, a sample of a flood will do
--     check = function(records, ctx) return { { id = "iis-impersonation-500", evidence = { rec... } } } end,
--   }
-- or a success playbook: `success = { { id, step | steps, label, match } ... }`, whose records are
-- counted in C (never sent to Lua one by one) and are positive evidence for the steps they name.
--
-- The engine compiles every playbook's match into one C filter (numbers matched as whole tokens),
-- so records no playbook can use never reach Lua; keeps every record a playbook without `sample`
-- asks for and, of the rest, at most a few of each kind (what repeats is counted); groups what
-- passes into enrollment attempts; hands each playbook the records of each attempt its own
-- declaration matches; checks that every finding it returns is one it declared; raises
-- unclassified-error for error records in steps 2-6 no finding claims; folds a finding into the one
-- that explains it; and writes the verdict of each attempt, naming the cause and who failed.
local sandbox = require "sceplab.sandbox"
local timeline = require "sceplab.diagnose.timeline"
local logs = require "sceplab.core.logs"
local sys = require "sceplab.core.sys"
local codec = require "sceplab.core.codec"
local json = require "sceplab.json"

local M = {}

local SEVERITY = { error = 3, warning = 2, info = 1 }
local LEVELS = { verbose = 1, info = 2, warning = 3, error = 4, critical = 5 }

-- How many records of one kind (same source, status, event, level and message shape) reach the
-- playbooks that declare `sample = true`: the first KEEP_FIRST and the last one; the rest are
-- counted. A failing NDES writes the same 500 a million times; a playbook that judges kinds of
-- records needs a few of them and the count. A playbook without `sample` gets every record its
-- match asks for (a slow PKIOperation among thousands of fast ones is one of a kind).
M.KEEP_FIRST = 20
-- Evidence shown per finding: the first EVIDENCE_FIRST and last EVIDENCE_LAST, with the count.
M.EVIDENCE_FIRST, M.EVIDENCE_LAST = 3, 2

local PLAYBOOK_FIELDS = {
  description = "string", references = "table", step = "number", severity = "string", findings = "table",
  match = "table", check = "function", success = "table", fixtures = "string", sample = "boolean",
}
local FINDING_FIELDS = { title = "string", cause = "string", fix = "table", step = "number", severity = "string",
                         explains = "table" }
local MATCH_TYPES = { sources = "table", statuses = "table", event_ids = "table", hresults = "table", contains = "table",
                      min_level = "string", components = "table", operations = "table", patterns = "table" }
local SUCCESS_FIELDS = { id = "string", step = "number", steps = "table", label = "string", match = "table" }
local SUCCESS_MATCH = { sources = "table", statuses = "table", event_ids = "table", contains = "table",
                        contains_all = "table", components = "table", operations = "table" }

-- The ids the engine itself raises.
M.ENGINE_FINDINGS = {
  ["unclassified-error"] = { title = "Errors no playbook explains", step = 2, severity = "error",
    cause = "Records at error level in the steps from the device reaching NDES to the connector reporting back say something failed, and no playbook recognises them: the diagnosis does not pass them over silently.",
    fix = { "Read the evidence lines: they name the component and the error.",
            "If it is a known failure, write a playbook for it (docs/playbooks.md) so the next bundle names it." } },
  ["enrollment-succeeded"] = { title = "The certificate was installed", step = 5, severity = "info",
    cause = "A record shows the certificate installed on the device and no error was found." },
  ["server-succeeded"] = { title = "The server side succeeded", step = 6, severity = "info",
    cause = "NDES and the connector show this enrollment succeeding on their side and no error was found; no record from the device shows the install." },
}

local function valid_step(s) return math.type(s) == "integer" and s >= 1 and s <= 6 end

local function check_fields(t, types, where, what)
  for k, v in pairs(t) do
    local want = types[k]
    if not want then return nil, ("%s: unknown field '%s%s'"):format(where, what, tostring(k)) end
    if type(v) ~= want then return nil, ("%s: field '%s%s' must be a %s, not a %s"):format(where, what, k, want, type(v)) end
  end
  return true
end

local function check_match(m, types, where, what)
  local ok, err = check_fields(m, types, where, what)
  if not ok then return nil, err end
  if m.min_level and not LEVELS[m.min_level] then
    return nil, where .. ": field '" .. what .. "min_level' must be verbose, info, warning, error or critical"
  end
  for _, k in ipairs({ "statuses", "event_ids", "hresults" }) do
    for i, v in ipairs(m[k] or {}) do
      if math.type(v) ~= "integer" then return nil, ("%s: field '%s%s' entry %d must be an integer"):format(where, what, k, i) end
    end
  end
  for _, k in ipairs({ "sources", "contains", "contains_all", "components", "operations", "patterns" }) do
    for i, v in ipairs(m[k] or {}) do
      if type(v) ~= "string" then return nil, ("%s: field '%s%s' entry %d must be a string"):format(where, what, k, i) end
    end
  end
  return true
end

--- Validates a playbook table; returns it or nil, "file: field 'x' ...".
function M.validate(pb, where)
  if type(pb) ~= "table" then return nil, where .. ": a playbook must return a table" end
  local ok, err = check_fields(pb, PLAYBOOK_FIELDS, where, "")
  if not ok then return nil, err end
  if pb.success then
    if pb.findings or pb.check or pb.match then
      return nil, where .. ": a success playbook has 'success' only (no findings, match or check)"
    end
    for i, rule in ipairs(pb.success) do
      local w = ("success[%d]."):format(i)
      if type(rule) ~= "table" then return nil, ("%s: field 'success' entry %d must be a table"):format(where, i) end
      ok, err = check_fields(rule, SUCCESS_FIELDS, where, w)
      if not ok then return nil, err end
      if not rule.id or not rule.label or not rule.match then
        return nil, ("%s: field '%s' needs id, label and match"):format(where, w:sub(1, -2))
      end
      rule.steps = rule.steps or { rule.step }
      for _, s in ipairs(rule.steps) do
        if not valid_step(s) then return nil, ("%s: field '%sstep' must be an integer from 1 to 6"):format(where, w) end
      end
      ok, err = check_match(rule.match, SUCCESS_MATCH, where, w .. "match.")
      if not ok then return nil, err end
    end
    pb.ids = {}
    return pb
  end
  for _, k in ipairs({ "description", "findings", "match", "check" }) do
    if pb[k] == nil then return nil, ("%s: field '%s' is required"):format(where, k) end
  end
  if pb.severity and not SEVERITY[pb.severity] then return nil, where .. ": field 'severity' must be error, warning or info" end
  if pb.step and not valid_step(pb.step) then return nil, where .. ": field 'step' must be an integer from 1 to 6" end
  local ids = {}
  for id, f in pairs(pb.findings) do
    local w = ("findings[%q]."):format(tostring(id))
    if type(id) ~= "string" or not id:match("^[a-z0-9][a-z0-9%-]*$") then
      return nil, ("%s: finding id %q must be lower-case words joined by dashes"):format(where, tostring(id))
    end
    if type(f) ~= "table" then return nil, ("%s: field '%s' must be a table"):format(where, w:sub(1, -2)) end
    ok, err = check_fields(f, FINDING_FIELDS, where, w)
    if not ok then return nil, err end
    for _, k in ipairs({ "title", "cause", "fix" }) do
      if f[k] == nil then return nil, ("%s: field '%s%s' is required"):format(where, w, k) end
    end
    f.step = f.step or pb.step
    f.severity = f.severity or pb.severity
    if not f.step or not valid_step(f.step) then return nil, ("%s: field '%sstep' (or the playbook's step) must be an integer from 1 to 6"):format(where, w) end
    if not f.severity or not SEVERITY[f.severity] then
      return nil, ("%s: field '%sseverity' (or the playbook's) must be error, warning or info"):format(where, w)
    end
    for i, line in ipairs(f.fix) do
      if type(line) ~= "string" then return nil, ("%s: field '%sfix' entry %d must be a string"):format(where, w, i) end
    end
    for i, other in ipairs(f.explains or {}) do
      if type(other) ~= "string" then return nil, ("%s: field '%sexplains' entry %d must be a finding id"):format(where, w, i) end
    end
    ids[#ids + 1] = id
  end
  if #ids == 0 then return nil, where .. ": field 'findings' declares no finding" end
  table.sort(ids)
  ok, err = check_match(pb.match, MATCH_TYPES, where, "match.")
  if not ok then return nil, err end
  -- patterns restrict in Lua, after the C pre-filter: alone they would send every record to Lua
  if pb.match.patterns then
    if not (pb.match.statuses or pb.match.event_ids or pb.match.contains or pb.match.min_level or pb.match.hresults) then
      return nil, where .. ": field 'match.patterns' needs statuses, event_ids, hresults, contains or min_level beside it (the C pre-filter)"
    end
    for i, pat in ipairs(pb.match.patterns) do
      local pok, perr = pcall(string.find, "", pat)
      if not pok then
        return nil, ("%s: field 'match.patterns' entry %d is not a Lua pattern: %s"):format(where, i, tostring(perr))
      end
    end
  end
  if not (pb.match.statuses or pb.match.event_ids or pb.match.contains or pb.match.min_level or pb.match.hresults) then
    return nil, where .. ": field 'match' needs statuses, event_ids, hresults, contains or min_level (what the C filter passes)"
  end
  pb.ids = ids
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
  pb.name = path:match("([^/]+)%.lua$") or path
  return pb
end

--- The bundled playbook directory.
function M.bundled_dir() return sandbox.script_dir("playbooks") end

--- Loads the bundled playbooks and those in dirs; a playbook file of the same name in a later
-- directory replaces the earlier one. A finding id declared twice is an error naming both files.
-- Returns the list (sorted by file name) or nil, message naming the file and field.
function M.load_all(dirs)
  local by_name, order = {}, {}
  local all = { M.bundled_dir() }
  for _, d in ipairs(dirs or {}) do all[#all + 1] = d end
  for _, dir in ipairs(all) do
    local names = sys.listdir(dir)
    for _, name in ipairs(names or {}) do
      if name:match("%.lua$") then
        local pb, err = M.load(dir .. "/" .. name)
        if not pb then return nil, err end
        if not by_name[pb.name] then order[#order + 1] = pb.name end
        by_name[pb.name] = pb
      end
    end
  end
  table.sort(order)
  local list, owner = {}, {}
  for id in pairs(M.ENGINE_FINDINGS) do owner[id] = "the engine" end
  for _, name in ipairs(order) do
    local pb = by_name[name]
    for _, id in ipairs(pb.ids) do
      if owner[id] then return nil, ("%s: finding '%s' is declared by %s too"):format(pb.file, id, owner[id]) end
      owner[id] = pb.file
    end
    for _, rule in ipairs(pb.success or {}) do
      if owner["success:" .. rule.id] then
        return nil, ("%s: success '%s' is declared by %s too"):format(pb.file, rule.id, owner["success:" .. rule.id])
      end
      owner["success:" .. rule.id] = pb.file
    end
    list[#list + 1] = pb
  end
  -- a finding explains findings that exist
  for _, pb in ipairs(list) do
    for id, f in pairs(pb.findings or {}) do
      for _, other in ipairs(f.explains or {}) do
        if not owner[other] then
          return nil, ("%s: field 'findings[%q].explains' names '%s', which no playbook declares"):format(pb.file, id, other)
        end
      end
    end
  end
  return list
end

--- A finding's declaration by id: the table, its playbook (nil for the engine's).
function M.finding(playbooks, id)
  for _, pb in ipairs(playbooks) do
    if pb.findings and pb.findings[id] then return pb.findings[id], pb end
  end
  return M.ENGINE_FINDINGS[id]
end

-- One C filter for all playbooks: the union of their criteria, and every error record (the
-- candidates of unclassified-error).
local function union_filter(playbooks)
  local f = { any = true, statuses = {}, event_ids = {}, hresults = {}, contains = {}, min_level = "error",
              whole_numbers = true }
  local seen = {}
  local function add(list, v)
    local key = type(v) .. ":" .. tostring(v)
    if not seen[key] then seen[key] = true list[#list + 1] = v end
  end
  for _, pb in ipairs(playbooks) do
    local m = pb.match
    if m then
      for _, s in ipairs(m.statuses or {}) do add(f.statuses, s) end
      for _, e in ipairs(m.event_ids or {}) do add(f.event_ids, e) end
      for _, h in ipairs(m.hresults or {}) do add(f.hresults, h) end
      for _, c in ipairs(m.contains or {}) do add(f.contains, c) end
      if m.min_level and LEVELS[m.min_level] < LEVELS[f.min_level] then f.min_level = m.min_level end
    end
  end
  return f
end

-- The success rules of every success playbook, as C counters.
local function success_rules(playbooks)
  local rules, counters = {}, {}
  for _, pb in ipairs(playbooks) do
    for _, rule in ipairs(pb.success or {}) do
      rules[#rules + 1] = rule
      local c = { whole_numbers = true }
      for k, v in pairs(rule.match) do c[k] = v end
      counters[#counters + 1] = c
    end
  end
  return rules, counters
end

local normalize = codec.normalize_quotes

-- The text playbooks match against: apostrophes and quotes in one form, lower case.
local function norm(r)
  local n = r._norm
  if not n then
    n = normalize(r.message or ""):lower()
    r._norm = n
  end
  return n
end

-- Does a record satisfy one playbook's own declaration? The readers' own C filter in "any" mode
-- (sources, components and operations restrict; statuses, event ids, HRESULTs, substrings and the
-- level are alternatives), compiled once per playbook; patterns are Lua's, after it.
local function compile(pb)
  local m = pb.match
  return logs.filter({ any = true, sources = m.sources, components = m.components, operations = m.operations,
                       statuses = m.statuses, event_ids = m.event_ids, hresults = m.hresults, contains = m.contains,
                       min_level = m.min_level, whole_numbers = true })
end

local has_code = logs.has_code

-- A string that is a number as logs write one: 12175, -1004, 0x409.
local function is_number(s)
  return type(s) == "string" and (s:match("^%-?%d+$") or s:match("^0[xX]%x+$")) ~= nil
end

-- ctx.code(r, code): the record carries the code, as a whole token of its message in any spelling
-- logs use (sceplab.core.logs.has_code: decimal, 0x hex, an HRESULT's bare hex and signed decimal)
-- or in its hresult field (which the readers fill from the code or from Windows' message text).
-- code: an integer, or a string that pins the spelling ("0x409": never its decimal 1033).
local function code_of(r, code)
  if math.type(code) ~= "integer" and not is_number(code) then
    error("ctx.code: the code must be an integer or a number as logs write it (\"0x409\"), not " ..
          (type(code) == "string" and ("%q"):format(code) or type(code)), 2)
  end
  local h = r.hresult
  if h then
    local v = tonumber(h:sub(3), 16)
    local want = math.type(code) == "integer" and code or (code:match("^0[xX]") and tonumber(code:sub(3), 16))
    if want and v == want & 0xFFFFFFFF then return true end
  end
  return has_code(r.message or "", code)
end

local function matches(pb, filter, r)
  if not filter:test(r) then return false end
  local pats = pb.match.patterns
  if not pats then return true end
  local text = normalize(r.message or "")
  for _, p in ipairs(pats) do if text:find(p) then return true end end
  return false
end

-- Evidence text: one line, valid UTF-8, at most n characters (never a character cut in half).
local EVIDENCE_CHARS = 300
local function one_line(s, n)
  local text = json.utf8((s or ""):gsub("%s+", " "))
  n = n or EVIDENCE_CHARS
  if utf8.len(text) > n then text = text:sub(1, utf8.offset(text, n - 2) - 1) .. "..." end
  return text
end
M.one_line = one_line

-- The start of a message as the C counters keep it (a fixed buffer): a character it cut at the
-- end is left out rather than shown as U+FFFD.
local function whole_chars(s)
  s = s or ""
  local tail = s:match("[\xC0-\xF7][\x80-\xBF]*$")
  if tail and not utf8.len(tail) then s = s:sub(1, #s - #tail) end
  return s
end

local function evidence_of(r)
  return { file = r.file, line = r.line, time = r.time, text = one_line(r.message), source = r.source, level = r.level,
           time_note = timeline.time_note(r) }
end

-- A record's kind, for the cap on records of one kind: where, what status or event, what level,
-- and the message's shape (digits and hex folded, cut).
local function kind_of(r)
  -- folded before it is cut, so "(81 ms) android" and "(15320 ms) android" are one shape
  local shape = (r.message or ""):sub(1, 200):gsub("%x%x%x%x+", "#"):gsub("%d+", "#"):sub(1, 80)
  return table.concat({ r.source or "", r.file or "", r.http_status or "", r.event_id or "", r.level or "",
                        r.scep_operation or "", r.component or "", shape }, "\0")
end

-- The helpers playbooks get: time arithmetic, text tests, and the successes counted in C.
local function context(attempt, all, successes)
  local ctx = { attempt = attempt, records = all }
  function ctx.within(a, b, seconds)
    return a.time_us and b.time_us and math.abs(a.time_us - b.time_us) <= seconds * 1e6
  end
  -- "Authority's" matches "Authority’s": quotes in one form, case folded; a number ("12175",
  -- "0x409") as a whole token in that spelling, as the C filter's contains
  function ctx.text(r, s)
    if is_number(s) then return has_code(r.message or "", s) end
    return norm(r):find(normalize(s):lower(), 1, true) ~= nil
  end
  ctx.code = code_of
  function ctx.is_scep_url(r) return (r.url or ""):lower():find("mscep", 1, true) ~= nil end
  ctx.on_device = timeline.on_device
  function ctx.hresult(r, code) return r.hresult ~= nil and tonumber(r.hresult:sub(3), 16) == code & 0xFFFFFFFF end
  -- the first n records of a list (default 5)
  function ctx.first(list, n) return { table.unpack(list, 1, math.min(#list, n or 5)) } end
  -- a success rule's summary for this attempt (or for any attempt, with anywhere = true):
  -- {count, first = {file, line, time, text}, last} or nil
  function ctx.success(id, anywhere)
    local best
    for _, s in ipairs(successes) do
      if s.rule.id == id and (anywhere or s.attempt == attempt) then
        if not best then best = { count = 0, first = s.first, last = s.last } end
        best.count = best.count + s.count
        if (s.first.time_us or 0) < (best.first.time_us or 0) then best.first = s.first end
        if (s.last.time_us or 0) > (best.last.time_us or 0) then best.last = s.last end
      end
    end
    return best
  end
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
      e.anchor = r.time_us == t or nil
      out[#out + 1] = e
      if #out >= AROUND_MAX then break end
    end
  end
  return out
end

-- Evidence kept for a finding: the first and last few of its records, in time order, and how many.
local function bounded(list)
  local sorted = {}
  for _, r in ipairs(list) do sorted[#sorted + 1] = r end
  table.sort(sorted, function(a, b) return (a.time_us or math.mininteger) < (b.time_us or math.mininteger) end)
  local n = #sorted
  local total = 0
  for _, r in ipairs(sorted) do total = total + 1 + (r._more or 0) end
  if n <= M.EVIDENCE_FIRST + M.EVIDENCE_LAST then return sorted, total end
  local out = { table.unpack(sorted, 1, M.EVIDENCE_FIRST) }
  for i = n - M.EVIDENCE_LAST + 1, n do out[#out + 1] = sorted[i] end
  return out, total
end

-- Which attempt a success summary belongs to: the one its key names, else the nearest in time.
local function attribute(successes, attempts, window)
  local by_key = {}
  for _, a in ipairs(attempts) do
    for _, k in ipairs(a.keys) do by_key[k] = a.id end
  end
  for _, s in ipairs(successes) do
    local k = s.key
    if by_key[k] then s.attempt = by_key[k]
    elseif s.first.time_us then
      local best, bestd
      for _, a in ipairs(attempts) do
        local t0, t1 = a.first_us, a.last_us
        if t0 then
          local d = s.first.time_us < t0 and t0 - s.first.time_us or s.first.time_us > t1 and s.first.time_us - t1 or 0
          if d <= window * 1e6 and (not bestd or d < bestd) then best, bestd = a.id, d end
        end
      end
      s.attempt = best
    end
  end
end

--- Runs the playbooks over the inputs. Returns the report:
-- {inputs, attempts, findings, verdicts, steps_without_evidence, playbooks, records_examined, records_counted}.
function M.run(paths, opts)
  opts = opts or {}
  local playbooks, err = opts.playbooks, nil
  if not playbooks then playbooks, err = M.load_all(opts.dirs) end
  if not playbooks then return nil, err end
  local checking, compiled, whole = {}, {}, {}
  for _, pb in ipairs(playbooks) do
    if pb.check then
      checking[#checking + 1] = pb
      compiled[pb] = compile(pb)
      if not pb.sample then whole[#whole + 1] = pb end
    end
  end
  local rules, counters = success_rules(playbooks)
  local filter = union_filter(checking)
  local m, merr = logs.merge(paths, filter, { bias = opts.bias, offset = opts.offset, zone = opts.zone, date = opts.date,
                                              progress = opts.progress, counters = counters })
  if not m then return nil, merr end
  -- records, at most KEEP_FIRST and the last of each kind; the rest counted on the last kept.
  -- Only the slot holds the current last, so memory is bounded by the number of kinds.
  local records, kinds, dropped, seq = {}, {}, 0, 0
  for r in m:records() do
    seq = seq + 1
    -- a record a playbook without `sample` asks for is kept whatever its kind
    local wanted = false
    for _, pb in ipairs(whole) do
      if matches(pb, compiled[pb], r) then wanted = true break end
    end
    if wanted then
      r._seq = seq
      records[#records + 1] = r
      goto next
    end
    local k = kind_of(r)
    local slot = kinds[k]
    if not slot then slot = { n = 0 } kinds[k] = slot end
    slot.n = slot.n + 1
    if slot.n <= M.KEEP_FIRST then
      r._seq = seq
      records[#records + 1] = r
    else
      dropped = dropped + 1
      r._seq = seq
      slot.last = r
    end
    ::next::
  end
  local inputs, counts = m:inputs(), m:counts()
  m:close()
  if opts.progress then logs.progress_end() end
  if dropped > 0 then
    for _, slot in pairs(kinds) do
      if slot.last then
        slot.last._more = slot.n - M.KEEP_FIRST - 1
        records[#records + 1] = slot.last
      end
    end
    -- back into the merge's order
    table.sort(records, function(a, b) return a._seq < b._seq end)
    dropped = 0
    for _, slot in pairs(kinds) do if slot.last then dropped = dropped + slot.n - M.KEEP_FIRST - 1 end end
  end
  local attempts = timeline.group(records, opts.window)
  for _, a in ipairs(attempts) do a.first_us, a.last_us = timeline.parse_time(a.first), timeline.parse_time(a.last) end
  for _, a in ipairs(attempts) do
    a.first_us = a.first_us and a.first_us * 1e6
    a.last_us = a.last_us and a.last_us * 1e6
  end
  local successes = {}
  for _, c in ipairs(counts) do
    successes[#successes + 1] = { rule = rules[c.counter], key = c.key, count = c.count, first = c.first, last = c.last }
  end
  attribute(successes, attempts, opts.window or 120)
  -- records per attempt (0: unattributed)
  local per_attempt = {}
  for _, r in ipairs(records) do
    local k = r.attempt or 0
    per_attempt[k] = per_attempt[k] or {}
    table.insert(per_attempt[k], r)
  end
  local keys = { 0 }
  for _, a in ipairs(attempts) do keys[#keys + 1] = a.id end
  local findings, by_key = {}, {}
  local function raise(id, decl, pb, k, evidence, detail)
    local key = id .. "@" .. k
    local f = by_key[key]
    if not f then
      f = { id = id, step = decl.step, severity = decl.severity, title = decl.title, cause = decl.cause,
            fix = decl.fix or {}, attempt = k ~= 0 and k or nil, playbook = pb and pb.file, _ev = {}, detail = detail,
            _explains = decl.explains }
      by_key[key] = f
      findings[#findings + 1] = f
    end
    for _, r in ipairs(evidence or {}) do
      if type(r) == "table" then f._ev[#f._ev + 1] = r r._claimed = true end
    end
  end
  for _, pb in ipairs(checking) do
    local filter = compiled[pb]
    for _, k in ipairs(keys) do
      local recs = per_attempt[k] or {}
      local mine = {}
      for _, r in ipairs(recs) do if matches(pb, filter, r) then mine[#mine + 1] = r end end
      if #mine > 0 then
        local ok, res, why = sandbox.call(pb.file .. ": check", pb.check, mine,
                                          context(k ~= 0 and k or nil, records, successes))
        if not ok then return nil, why == "timeout" and res or ("%s: check failed: %s"):format(pb.file, tostring(res)) end
        if res ~= nil and type(res) ~= "table" then return nil, pb.file .. ": check must return a list of findings" end
        for i, f in ipairs(res or {}) do
          if type(f) ~= "table" or type(f.id) ~= "string" then
            return nil, ("%s: check result %d must be a table with an id"):format(pb.file, i)
          end
          local decl = pb.findings[f.id]
          if not decl then
            return nil, ("%s: check returned finding '%s', which its 'findings' does not declare"):format(pb.file, f.id)
          end
          if type(f.evidence) ~= "table" then
            return nil, ("%s: check result '%s' must carry evidence (a list of records)"):format(pb.file, f.id)
          end
          raise(f.id, decl, pb, k, f.evidence, type(f.detail) == "string" and f.detail or nil)
        end
      end
    end
  end
  -- never a silent pass: error records of steps 2-6 that no finding claims
  for _, k in ipairs(keys) do
    local loose = {}
    for _, r in ipairs(per_attempt[k] or {}) do
      if not r._claimed and LEVELS[r.level or ""] and LEVELS[r.level] >= LEVELS.error and r.step and r.step >= 2 and r.step <= 6 then
        loose[#loose + 1] = r
      end
    end
    if #loose > 0 then
      local decl = M.ENGINE_FINDINGS["unclassified-error"]
      local step = 6
      for _, r in ipairs(loose) do step = math.min(step, r.step) end
      raise("unclassified-error", { title = decl.title, step = step, severity = decl.severity, cause = decl.cause, fix = decl.fix },
            nil, k, loose)
    end
  end
  -- the root cause: a finding whose declaration explains another one raised for the same attempt
  -- (ra-cert-expired, with NDES's event, explains the 500s ndes-500 reads) takes it in: its records
  -- become evidence under `explains`, and the verdict names the cause. Chains fold into the first.
  local gone = {}
  repeat
    local changed = false
    for _, f in ipairs(findings) do
      for _, other in ipairs(not gone[f] and f._explains or {}) do
        local g = by_key[other .. "@" .. (f.attempt or 0)]
        if g and g ~= f and not gone[g] then
          gone[g], changed = true, true
          f._absorbed = f._absorbed or {}
          f._absorbed[#f._absorbed + 1] = g
        end
      end
    end
  until not changed
  if next(gone) then
    local kept = {}
    for _, f in ipairs(findings) do if not gone[f] then kept[#kept + 1] = f end end
    findings = kept
  end
  -- evidence: bounded, with the count
  local function evidence_list(list)
    local ev, total = bounded(list)
    local out = {}
    for _, r in ipairs(ev) do out[#out + 1] = evidence_of(r) end
    return json.array(out), total, ev[1]
  end
  local function explained(f, out)
    for _, g in ipairs(f._absorbed or {}) do
      local ev, total = evidence_list(g._ev)
      out[#out + 1] = { id = g.id, title = g.title, step = g.step, severity = g.severity, evidence = ev, evidence_count = total }
      explained(g, out)
    end
    return out
  end
  local anchor = {}
  for _, f in ipairs(findings) do
    local first
    f.evidence, f.evidence_count, first = evidence_list(f._ev)
    anchor[f] = first and first.time_us
    if f._absorbed then f.explains = json.array(explained(f, {})) end
    if f.detail then f.cause = f.cause .. " " .. f.detail end
  end
  local raw_ev = {} -- the records each finding rests on (those it explains too), for who() below
  for _, f in ipairs(findings) do
    local list = {}
    for _, r in ipairs(f._ev) do list[#list + 1] = r end
    for _, g in ipairs(f._absorbed or {}) do for _, r in ipairs(g._ev) do list[#list + 1] = r end end
    raw_ev[f.id .. "@" .. (f.attempt or 0)] = list
  end
  for _, f in pairs(by_key) do f._ev, f.detail, f._explains, f._absorbed = nil, nil, nil, nil end
  table.sort(findings, function(a, b)
    if SEVERITY[a.severity] ~= SEVERITY[b.severity] then return SEVERITY[a.severity] > SEVERITY[b.severity] end
    if a.step ~= b.step then return a.step < b.step end
    if (a.attempt or 0) ~= (b.attempt or 0) then return (a.attempt or 0) < (b.attempt or 0) end
    return a.id < b.id
  end)
  -- successes per attempt: which rules fired (summed over keys), hence which steps have positive
  -- evidence, for the verdicts and "steps without evidence"
  local succeeded, hits = {}, {}
  for _, s in ipairs(successes) do
    local k = s.attempt or 0
    succeeded[k] = succeeded[k] or {}
    hits[k] = hits[k] or {}
    for _, st in ipairs(s.rule.steps) do succeeded[k][st] = true end
    local h = hits[k][s.rule.id]
    if not h then
      h = { rule = s.rule, count = 0, first = s.first }
      hits[k][s.rule.id] = h
    elseif (s.first.time_us or 0) < (h.first.time_us or 0) then h.first = s.first end
    h.count = h.count + s.count
  end
  -- one evidence line per success rule: its first record, its label, how many records it counted;
  -- those of step `lead` first, then by step
  local function success_evidence(k, lead)
    local list = {}
    for _, h in pairs(hits[k] or {}) do list[#list + 1] = h end
    local function rank(h)
      local m = math.huge
      for _, st in ipairs(h.rule.steps) do m = math.min(m, st == lead and 0 or st) end
      return m
    end
    table.sort(list, function(a, b)
      if rank(a) ~= rank(b) then return rank(a) < rank(b) end
      return a.rule.id < b.rule.id
    end)
    local ev, seen = {}, {}
    for _, h in ipairs(list) do
      -- two rules may recognise the same record (event 39 by its id and by its words): once
      local at = tostring(h.first.file) .. ":" .. tostring(h.first.line)
      if seen[at] then goto next end
      seen[at] = true
      ev[#ev + 1] = { file = h.first.file, line = h.first.line, time = h.first.time, steps = json.array({ table.unpack(h.rule.steps) }),
                      label = h.rule.label, count = h.count, text = one_line(whole_chars(h.first.text)) }
      ::next::
    end
    return json.array(ev)
  end
  -- who a verdict is about: the device (its name in its own logs, its Intune device id, the address
  -- IIS saw its SCEP requests from), the user and the request, as the failing finding's records name
  -- them, then the attempt's; the records no attempt claims are many devices' at once, so there
  -- the finding's records only
  local function who(k, finding)
    local w = {}
    local list = {}
    for _, r in ipairs(finding and raw_ev[finding .. "@" .. k] or {}) do list[#list + 1] = r end
    if k ~= 0 then for _, r in ipairs(per_attempt[k] or {}) do list[#list + 1] = r end end
    for _, r in ipairs(list) do
      w.request = w.request or r.request_id
      w.transaction = w.transaction or r.transaction_id
      w.device_id = w.device_id or r.device_id
      w.user = w.user or r.user_id
      if r.source == "iis" then
        if not w.client_ip and r.client_ip and (r.url or ""):lower():find("mscep", 1, true) then w.client_ip = r.client_ip end
      elseif not w.device and r.host and timeline.on_device(r) then
        w.device = r.host -- the computer in the device's own events (an IIS line's host is the server)
      end
    end
    return next(w) and w or nil
  end
  local verdicts = {}
  for _, k in ipairs(keys) do
    local failing
    for _, f in ipairs(findings) do
      if (f.attempt or 0) == k and f.severity == "error" and (not failing or f.step < failing.step) then failing = f end
    end
    local ok = succeeded[k] or {}
    local attempt = k ~= 0 and k or nil
    if failing then
      local explains = {}
      for _, g in ipairs(failing.explains or {}) do explains[#explains + 1] = g.id end
      verdicts[#verdicts + 1] = { attempt = attempt, status = "failed", failing_step = failing.step, finding = failing.id,
                                  explains = #explains > 0 and explains or nil, around = around(records, anchor[failing]) }
    elseif ok[5] then
      local ev = success_evidence(k, 5) -- the install first
      verdicts[#verdicts + 1] = { attempt = attempt, status = "enrollment-succeeded", evidence = ev }
      local d = M.ENGINE_FINDINGS["enrollment-succeeded"]
      findings[#findings + 1] = { id = "enrollment-succeeded", step = 5, severity = "info", title = d.title, cause = d.cause,
        fix = {}, evidence = ev, evidence_count = #ev, attempt = attempt }
    elseif ok[3] or ok[4] or ok[6] then
      local steps = {}
      for _, st in ipairs({ 3, 4, 6 }) do if ok[st] then steps[#steps + 1] = st end end
      local ev = success_evidence(k, 3)
      verdicts[#verdicts + 1] = { attempt = attempt, status = "server-succeeded", steps = json.array(steps), evidence = ev }
      local d = M.ENGINE_FINDINGS["server-succeeded"]
      findings[#findings + 1] = { id = "server-succeeded", step = steps[#steps], severity = "info", title = d.title,
        cause = d.cause, fix = {}, evidence = ev, evidence_count = #ev, attempt = attempt }
    end
  end
  for _, v in ipairs(verdicts) do v.who = who(v.attempt or 0, v.finding) end
  -- which workflow steps the inputs say nothing about
  local steps_seen = {}
  for _, r in ipairs(records) do if r.step then steps_seen[r.step] = true end end
  for _, f in ipairs(findings) do steps_seen[f.step] = true end
  for _, st in pairs(succeeded) do for s in pairs(st) do steps_seen[s] = true end end
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
                                        sorted = i.sorted, out_of_order = i.out_of_order, date_source = i.date_source,
                                        offset_source = i.offset_source, date_note = i.date_note, offset_note = i.offset_note }
  end
  -- the device platforms the bundle shows: its own logs (records of the device, success rules of
  -- a platform, Android and iOS log files), then the requests IIS saw by their user agent. What
  -- replay --from plays.
  local devices = {}
  local function count(p, kind, n)
    if p ~= "windows" and p ~= "android" and p ~= "ios" then return end
    devices[p] = devices[p] or { own = 0, requests = 0 }
    devices[p][kind] = devices[p][kind] + n
  end
  for _, r in ipairs(records) do
    local n = 1 + (r._more or 0)
    if r.source == "iis" then count(r.platform, "requests", n)
    elseif timeline.on_device(r) then
      count(r.platform or (r.source == "android" and "android") or (r.source == "ios" and "ios") or "windows", "own", n)
    end
  end
  for _, sm in ipairs(successes) do count(sm.rule.id:match("^(%l+)%-"), "own", sm.count) end
  for _, i in ipairs(inputs) do count(i.format, "own", i.records or 0) end
  local pbl = {}
  for _, pb in ipairs(playbooks) do pbl[#pbl + 1] = pb.name end
  for _, a in ipairs(attempts) do a.first_us, a.last_us = nil, nil end
  for _, r in ipairs(records) do r._norm, r._claimed, r._more, r._seq = nil, nil, nil, nil end
  local counted = 0
  for _, s in ipairs(successes) do counted = counted + s.count end
  -- lists stay lists in JSON even when empty
  for _, f in ipairs(findings) do json.array(f.fix) json.array(f.evidence) end
  for _, v in ipairs(verdicts) do if v.around then json.array(v.around) end end
  json.array(findings) json.array(verdicts) json.array(missing) json.array(attempts)
  return { inputs = clean_inputs, attempts = attempts, findings = findings, verdicts = verdicts,
           steps_without_evidence = missing, playbooks = pbl, records_examined = #records + dropped,
           records_counted = counted, time_notes = json.array(timeline.time_notes(inputs)), devices = devices }
end

-- expect.lua fields: which findings a fixture case must and must not raise, and its verdict.
local EXPECT_TYPES = { raises = "table", not_raises = "table", no_errors = "boolean", failing_step = "number",
                       verdict = "string", evidence = "table", description = "string", date = "string",
                       assume_offset = "number", steps_succeeded = "table" }

--- Checks an expectation table (expect.lua's, or a scenario's expect): e | nil, "where: ...".
function M.validate_expect(e, path)
  if type(e) ~= "table" then return nil, path .. ": expect.lua must return a table" end
  for k, v in pairs(e) do
    if not EXPECT_TYPES[k] then return nil, ("%s: unknown field '%s'"):format(path, tostring(k)) end
    if type(v) ~= EXPECT_TYPES[k] then return nil, ("%s: field '%s' must be a %s"):format(path, k, EXPECT_TYPES[k]) end
  end
  if not (e.raises or e.not_raises or e.no_errors or e.verdict) then
    return nil, path .. ": expect names nothing to check (raises, not_raises, no_errors or verdict)"
  end
  return e
end

local function load_expect(path)
  local env, res = sandbox.load(path, "playbook")
  if not env then return nil, res end
  return M.validate_expect(res[1], path)
end

--- Checks one report against one expectation; returns the list of failures (empty when it passes).
function M.check_expect(rep, e)
  local fails = {}
  local raised = {}
  for _, f in ipairs(rep.findings) do
    raised[f.id] = raised[f.id] or {}
    table.insert(raised[f.id], f)
    -- a finding another explains was raised too: it is that one's evidence now
    for _, g in ipairs(f.explains or {}) do
      raised[g.id] = raised[g.id] or {}
      table.insert(raised[g.id], g)
    end
  end
  for _, id in ipairs(e.raises or {}) do
    if not raised[id] then fails[#fails + 1] = ("'%s' was not raised"):format(id) end
  end
  for _, id in ipairs(e.not_raises or {}) do
    if raised[id] then fails[#fails + 1] = ("'%s' was raised"):format(id) end
  end
  if e.no_errors then
    for id, list in pairs(raised) do
      for _, f in ipairs(list) do
        if f.severity == "error" then fails[#fails + 1] = ("error '%s' was raised"):format(id) break end
      end
    end
    table.sort(fails)
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
  -- steps_succeeded = {3, 4, 6}: a server-succeeded verdict names these steps
  if e.steps_succeeded then
    local ok = false
    for _, v in ipairs(rep.verdicts) do
      if v.steps and table.concat(v.steps, ",") == table.concat(e.steps_succeeded, ",") then ok = true end
    end
    if not ok then fails[#fails + 1] = ("no verdict succeeded at steps %s"):format(table.concat(e.steps_succeeded, ", ")) end
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
-- The playbooks in play are the bundled ones plus DIR's (same file name overrides). Returns a list
-- of {case, ok, failures} or nil, message.
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
      local fails = M.check_expect(rep, e)
      results[#results + 1] = { case = case, ok = #fails == 0, failures = fails, report = rep }
    end
  end
  return results
end

return M
