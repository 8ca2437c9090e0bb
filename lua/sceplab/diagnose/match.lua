-- What a record matches: one C filter for every playbook (what reaches Lua at all), each
-- playbook's own declaration (the same C filter, then its Lua patterns), numbers as whole tokens
-- (ctx.code, ctx.text), and a record's kind (for the cap on records of one kind).
local logs = require "sceplab.core.logs"
local codec = require "sceplab.core.codec"
local LEVELS = (require "sceplab.diagnose.playbooks").LEVELS

local M = {}

-- One C filter for all playbooks: the union of their criteria, and every error record (the
-- candidates of unclassified-error).
function M.union(playbooks)
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

local normalize = codec.normalize_quotes
M.normalize = normalize

-- The text playbooks match against: apostrophes and quotes in one form, lower case.
function M.norm(r)
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
function M.compile(pb)
  local m = pb.match
  return logs.filter({ any = true, sources = m.sources, components = m.components, operations = m.operations,
                       statuses = m.statuses, event_ids = m.event_ids, hresults = m.hresults, contains = m.contains,
                       min_level = m.min_level, whole_numbers = true })
end

local has_code = logs.has_code
M.has_code = has_code

-- A string that is a number as logs write one: 12175, -1004, 0x409.
function M.is_number(s)
  return type(s) == "string" and (s:match("^%-?%d+$") or s:match("^0[xX]%x+$")) ~= nil
end

-- ctx.code(r, code): the record carries the code, as a whole token of its message in any spelling
-- logs use (sceplab.core.logs.has_code: decimal, 0x hex, an HRESULT's bare hex and signed decimal)
-- or in its hresult field (which the readers fill from the code or from Windows' message text).
-- code: an integer, or a string that pins the spelling ("0x409": never its decimal 1033).
function M.code(r, code)
  if math.type(code) ~= "integer" and not M.is_number(code) then
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

--- Does record r satisfy playbook pb, whose declaration compiled into filter (M.compile)?
function M.matches(pb, filter, r)
  if not filter:test(r) then return false end
  local pats = pb.match.patterns
  if not pats then return true end
  local text = normalize(r.message or "")
  for _, p in ipairs(pats) do if text:find(p) then return true end end
  return false
end

-- A record's kind, for the cap on records of one kind: where, what status or event, what level,
-- and the message's shape (digits and hex folded, cut).
function M.kind_of(r)
  -- folded before it is cut, so "(81 ms) android" and "(15320 ms) android" are one shape
  local shape = (r.message or ""):sub(1, 200):gsub("%x%x%x%x+", "#"):gsub("%d+", "#"):sub(1, 80)
  return table.concat({ r.source or "", r.file or "", r.http_status or "", r.event_id or "", r.level or "",
                        r.scep_operation or "", r.component or "", shape }, "\0")
end

return M
