-- Evidence: what a report shows of a record (one line of valid UTF-8, bounded), the first and
-- last few records of a finding with their count, and the records around a failure.
local json = require "sceplab.json"
local timeline = require "sceplab.diagnose.timeline"

local M = {}

-- Evidence shown per finding: the first EVIDENCE_FIRST and last EVIDENCE_LAST, with the count.
M.EVIDENCE_FIRST, M.EVIDENCE_LAST = 3, 2

-- Evidence text: one line, valid UTF-8, at most n characters (never a character cut in half).
local EVIDENCE_CHARS = 300
function M.one_line(s, n)
  local text = json.utf8((s or ""):gsub("%s+", " "))
  n = n or EVIDENCE_CHARS
  if utf8.len(text) > n then text = text:sub(1, utf8.offset(text, n - 2) - 1) .. "..." end
  return text
end
local one_line = M.one_line

-- The start of a message as the C counters keep it (a fixed buffer): a character it cut at the
-- end is left out rather than shown as U+FFFD.
function M.whole_chars(s)
  s = s or ""
  local tail = s:match("[\xC0-\xF7][\x80-\xBF]*$")
  if tail and not utf8.len(tail) then s = s:sub(1, #s - #tail) end
  return s
end

--- What a report shows of a record.
function M.of(r)
  return { file = r.file, line = r.line, time = r.time, text = one_line(r.message), source = r.source, level = r.level,
           time_note = timeline.time_note(r) }
end

-- The records (that passed the filter) within five minutes of t, at most 40, for the report's
-- "timeline around the failure".
local AROUND_S, AROUND_MAX = 300, 40
function M.around(records, t)
  if not t then return nil end
  local out = {}
  for _, r in ipairs(records) do
    if r.time_us and math.abs(r.time_us - t) <= AROUND_S * 1e6 then
      local e = M.of(r)
      e.anchor = r.time_us == t or nil
      out[#out + 1] = e
      if #out >= AROUND_MAX then break end
    end
  end
  return out
end

-- Evidence kept for a finding: the first and last few of its records, in time order, and how many.
function M.bounded(list)
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

return M
