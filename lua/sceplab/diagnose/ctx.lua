-- The ctx a playbook's check gets beside its records: time arithmetic, text and code tests (the
-- same whole-token rules as the C filter), and the successes counted in C.
local match = require "sceplab.diagnose.match"
local timeline = require "sceplab.diagnose.timeline"

local M = {}

local is_number, has_code, norm, normalize = match.is_number, match.has_code, match.norm, match.normalize

--- The helpers for one attempt (nil: the records no attempt claims): all, every record kept;
-- successes, the C counters' summaries.
function M.new(attempt, all, successes)
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
  ctx.code = match.code
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

return M
