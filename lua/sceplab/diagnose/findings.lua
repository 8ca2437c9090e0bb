-- The findings of one diagnosis: raised by playbooks (each id checked against its declaration) and
-- by the engine (unclassified-error), one per id and attempt; folded into the finding that
-- explains them; their evidence bounded; sorted as the report lists them.
local json = require "sceplab.json"
local evidence = require "sceplab.diagnose.evidence"
local playbooks = require "sceplab.diagnose.playbooks"

local M = {}

local SEVERITY, LEVELS = playbooks.SEVERITY, playbooks.LEVELS

local Findings = {}
Findings.__index = Findings

--- An empty set: list (in the order raised), by_key ("id@attempt", 0 for none).
function M.new() return setmetatable({ list = {}, by_key = {} }, Findings) end

--- Raises id (declared by decl, in playbook pb, or the engine's when pb is nil) for attempt k (0:
-- none) with evidence records; the same id for the same attempt gathers its evidence in one finding.
function Findings:raise(id, decl, pb, k, records, detail)
  local key = id .. "@" .. k
  local f = self.by_key[key]
  if not f then
    f = { id = id, step = decl.step, severity = decl.severity, title = decl.title, cause = decl.cause,
          fix = decl.fix or {}, attempt = k ~= 0 and k or nil, playbook = pb and pb.file, _ev = {}, detail = detail,
          _explains = decl.explains }
    self.by_key[key] = f
    self.list[#self.list + 1] = f
  end
  for _, r in ipairs(records or {}) do
    if type(r) == "table" then f._ev[#f._ev + 1] = r r._claimed = true end
  end
end

--- A check's results as plain data, read inside the call that ran the check (protected and under
-- the time limit, sandbox.call): each result's id, detail and evidence, an evidence entry kept when
-- it is a table without a metatable (a record, as the readers make them). Nothing the playbook
-- made can then run its code (a metatable's __index, __len) when the engine reads it.
function M.read(res)
  if type(res) ~= "table" then return res end
  local out = {}
  for i, f in ipairs(res) do
    if type(f) == "table" then
      local ev = f.evidence
      if type(ev) == "table" then
        local list = {}
        for _, r in ipairs(ev) do
          if type(r) == "table" and getmetatable(r) == nil then list[#list + 1] = r end
        end
        ev = list
      end
      out[i] = { id = f.id, detail = f.detail, evidence = ev }
    else
      out[i] = f
    end
  end
  return out
end

--- What a playbook's check returned for attempt k (M.read), checked: true | nil, message naming the file.
function Findings:take(pb, k, res)
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
    self:raise(f.id, decl, pb, k, f.evidence, type(f.detail) == "string" and f.detail or nil)
  end
  return true
end

--- Never a silent pass: error records of steps 2-6 of attempt k that no finding claims are
-- unclassified-error.
function Findings:unclassified(k, records)
  local loose = {}
  for _, r in ipairs(records or {}) do
    if not r._claimed and LEVELS[r.level or ""] and LEVELS[r.level] >= LEVELS.error and r.step and r.step >= 2 and r.step <= 6 then
      loose[#loose + 1] = r
    end
  end
  if #loose > 0 then
    local decl = playbooks.ENGINE_FINDINGS["unclassified-error"]
    local step = 6
    for _, r in ipairs(loose) do step = math.min(step, r.step) end
    self:raise("unclassified-error", { title = decl.title, step = step, severity = decl.severity, cause = decl.cause, fix = decl.fix },
               nil, k, loose)
  end
end

--- The root cause: a finding whose declaration explains another one raised for the same attempt
-- (ra-cert-expired, with NDES's event, explains the 500s ndes-500 reads) takes it in: its records
-- become evidence under `explains`, and the verdict names the cause. Chains fold into the first.
function Findings:fold()
  local gone = {}
  repeat
    local changed = false
    for _, f in ipairs(self.list) do
      for _, other in ipairs(not gone[f] and f._explains or {}) do
        local g = self.by_key[other .. "@" .. (f.attempt or 0)]
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
    for _, f in ipairs(self.list) do if not gone[f] then kept[#kept + 1] = f end end
    self.list = kept
  end
end

--- Evidence bounded (the first and last few, with the count), the explained findings under
-- `explains`, the detail added to the cause, the working fields removed, and the list sorted
-- (severity, step, attempt, id). Returns anchor (finding -> the time of its first evidence) and
-- raw ("id@attempt" -> every record it rests on, those it explains too), for the verdicts.
function Findings:finish()
  local function evidence_list(list)
    local ev, total = evidence.bounded(list)
    local out = {}
    for _, r in ipairs(ev) do out[#out + 1] = evidence.of(r) end
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
  for _, f in ipairs(self.list) do
    local first
    f.evidence, f.evidence_count, first = evidence_list(f._ev)
    anchor[f] = first and first.time_us
    if f._absorbed then f.explains = json.array(explained(f, {})) end
    if f.detail then f.cause = f.cause .. " " .. f.detail end
  end
  local raw = {}
  for _, f in ipairs(self.list) do
    local list = {}
    for _, r in ipairs(f._ev) do list[#list + 1] = r end
    for _, g in ipairs(f._absorbed or {}) do for _, r in ipairs(g._ev) do list[#list + 1] = r end end
    raw[f.id .. "@" .. (f.attempt or 0)] = list
  end
  for _, f in pairs(self.by_key) do f._ev, f.detail, f._explains, f._absorbed = nil, nil, nil, nil end
  table.sort(self.list, function(a, b)
    if SEVERITY[a.severity] ~= SEVERITY[b.severity] then return SEVERITY[a.severity] > SEVERITY[b.severity] end
    if a.step ~= b.step then return a.step < b.step end
    if (a.attempt or 0) ~= (b.attempt or 0) then return (a.attempt or 0) < (b.attempt or 0) end
    return a.id < b.id
  end)
  return anchor, raw
end

return M
