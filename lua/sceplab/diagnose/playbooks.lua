-- Playbooks (lua/playbooks/*.lua and the user's directories, docs/playbooks.md): loaded through
-- the sandbox, checked field by field (a mistake is one line naming the file and the field), and
-- gathered into the list the engine runs, where a finding id belongs to one playbook only.
local sandbox = require "sceplab.sandbox"
local sys = require "sceplab.core.sys"

local M = {}

--- Severities and record levels, in order.
M.SEVERITY = { error = 3, warning = 2, info = 1 }
M.LEVELS = { verbose = 1, info = 2, warning = 3, error = 4, critical = 5 }
local SEVERITY, LEVELS = M.SEVERITY, M.LEVELS

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

return M
