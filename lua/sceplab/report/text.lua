-- A diagnosis report as text, for a terminal (colours when asked).
local words = require "sceplab.report.words"

local M = {}

--- The report for a terminal; colour: ANSI colours.
function M.render(rep, colour)
  local out = {}
  local function w(s) out[#out + 1] = s end
  local function c(code, s) return colour and ("\27[" .. code .. "m" .. s .. "\27[0m") or s end
  local SEVC = { error = "1;31", warning = "33", info = "36" }
  w("Read:")
  for _, i in ipairs(rep.inputs) do
    if not i.format then
      w(("  %s: not read (%s)"):format(i.file, i.error or "?"))
    else w(("  %s: %s, %d records%s%s"):format(i.file, i.format, i.records or 0,
                                             (i.skipped or 0) > 0 and (", %d skipped"):format(i.skipped) or "",
                                             i.error and ("; reading stopped: " .. i.error) or "")) end
  end
  for _, n in ipairs(rep.time_notes or {}) do w("  Times: " .. n) end
  w("")
  local by = words.index(rep.findings)
  if #rep.verdicts > 0 then
    w("Verdict:")
    for _, v in ipairs(rep.verdicts) do
      w("  " .. words.verdict_line(v, by, rep))
      if v.status == "failed" then w("    failed for: " .. words.who_text(v)) end
    end
    w("")
  end
  if #rep.findings == 0 then
    do
      w("No playbook matched and nothing shows an installed certificate: the inputs do not cover the failure, this is not a clean bill of health.")
    end
    w("")
  end
  for n, f in ipairs(rep.findings) do
    w(("%d. %s %s [%s] step %d%s"):format(n, c(SEVC[f.severity], f.severity:upper()), f.title, f.id, f.step,
                                         f.attempt and (", attempt " .. f.attempt) or ""))
    w("   Cause: " .. f.cause)
    if #f.fix > 0 then
      w("   Fix:")
      for i, s in ipairs(f.fix) do w(("     %d) %s"):format(i, s)) end
    end
    if #f.evidence > 0 then
      w("   Evidence:")
      for _, e in ipairs(f.evidence) do
        w(("     %s:%s  %s"):format(e.file or "?", tostring(e.line or "?"), words.time(e.time, e.time_note)))
        w("       " .. words.evidence_text(e))
      end
      if words.more_line(f) then w("     " .. words.more_line(f)) end
    end
    for _, g in ipairs(f.explains or {}) do
      w(("   Explains %s [%s] (%d record%s), which this causes:"):format(g.title or g.id, g.id, g.evidence_count or 0,
                                                                      (g.evidence_count or 0) == 1 and "" or "s"))
      for _, e in ipairs(g.evidence or {}) do
        w(("     %s:%s  %s"):format(e.file or "?", tostring(e.line or "?"), words.time(e.time)))
        w("       " .. words.evidence_text(e))
      end
      if words.more_line(g) then w("     " .. words.more_line(g)) end
    end
    w("")
  end
  if #rep.steps_without_evidence > 0 then
    local s = {}
    for _, n in ipairs(rep.steps_without_evidence) do s[#s + 1] = ("%d (%s)"):format(n, words.STEPS[n]) end
    w("No evidence at all for step " .. table.concat(s, ", ") .. ".")
  end
  return table.concat(out, "\n") .. "\n"
end

return M
