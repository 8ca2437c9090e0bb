-- Expectations: what a fixture case (DIR/fixtures/<case>/expect.lua) or a scenario's expect says
-- a diagnosis must find, and the check of a report against one.
local sandbox = require "sceplab.sandbox"

local M = {}

-- expect.lua fields: which findings a fixture case must and must not raise, and its verdict.
local EXPECT_TYPES = { raises = "table", not_raises = "table", no_errors = "boolean", failing_step = "number",
                       verdict = "string", evidence = "table", description = "string", date = "string",
                       assume_offset = "number", steps_succeeded = "table" }

--- Checks an expectation table (expect.lua's, or a scenario's expect): e | nil, "where: ...".
function M.validate(e, path)
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

--- Loads an expect.lua (a data script, as a playbook): e | nil, message.
function M.load(path)
  local env, res = sandbox.load(path, "playbook")
  if not env then return nil, res end
  return M.validate(res[1], path)
end

--- Checks one report against one expectation; returns the list of failures (empty when it passes).
function M.check(rep, e)
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

return M
