-- A diagnosis report as Markdown, for a ticket.
local words = require "sceplab.report.words"

local M = {}

-- Markdown for a ticket: pipes and backticks in log text are escaped so tables and code stay intact.
local function md_escape(s) return (s:gsub("|", "\\|")) end

function M.render(rep)
  local out = {}
  local function w(s) out[#out + 1] = s end
  local by = words.index(rep.findings)
  w("# sceplab diagnosis")
  w("")
  if #rep.verdicts > 0 then
    w("## Verdict")
    w("")
    for _, v in ipairs(rep.verdicts) do
      w("- " .. md_escape(words.verdict_line(v, by, rep)))
      if v.status == "failed" then w("  - failed for: " .. md_escape(words.who_text(v))) end
    end
    w("")
  end
  w("## Findings")
  w("")
  if #rep.findings == 0 then w("No playbook matched; see the inputs below.") w("") end
  for _, f in ipairs(rep.findings) do
    w(("### %s: %s (`%s`, step %d)"):format(f.severity:upper(), f.title, f.id, f.step))
    w("")
    w("**Cause.** " .. f.cause)
    w("")
    if #f.fix > 0 then
      w("**Fix.**")
      w("")
      for i, s in ipairs(f.fix) do w(("%d. %s"):format(i, s)) end
      w("")
    end
    if #f.evidence > 0 then
      w("| File:line | Time (UTC) | Text |")
      w("|---|---|---|")
      for _, e in ipairs(f.evidence) do
        w(("| `%s:%s` | %s | %s |"):format(e.file or "?", tostring(e.line or "?"), md_escape(e.time and words.time(e.time, e.time_note) or ""),
                                          md_escape(words.evidence_text(e))))
      end
      w("")
      if words.more_line(f) then w(words.more_line(f)) w("") end
    end
    for _, g in ipairs(f.explains or {}) do
      w(("**Explains** %s (`%s`, %d record%s), which this causes:"):format(md_escape(g.title or g.id), g.id,
        g.evidence_count or 0, (g.evidence_count or 0) == 1 and "" or "s"))
      w("")
      if #(g.evidence or {}) > 0 then
        w("| File:line | Time (UTC) | Text |")
        w("|---|---|---|")
        for _, e in ipairs(g.evidence) do
          w(("| `%s:%s` | %s | %s |"):format(e.file or "?", tostring(e.line or "?"), e.time or "", md_escape(words.evidence_text(e))))
        end
        w("")
      end
      if words.more_line(g) then w(words.more_line(g)) w("") end
    end
  end
  w("## Inputs")
  w("")
  w("| File | Format | Records | Skipped |")
  w("|---|---|---|---|")
  for _, i in ipairs(rep.inputs) do
    w(("| `%s` | %s | %s | %s |"):format(i.file, i.format or (i.error and md_escape(i.error)) or "?", i.records or 0, i.skipped or 0))
  end
  for i, n in ipairs(rep.time_notes or {}) do
    if i == 1 then w("") end
    w("- Times: " .. md_escape(n))
  end
  if #rep.steps_without_evidence > 0 then
    local s = {}
    for _, n in ipairs(rep.steps_without_evidence) do s[#s + 1] = tostring(n) end
    w("")
    w("No evidence for step(s) " .. table.concat(s, ", ") .. ".")
  end
  return table.concat(out, "\n") .. "\n"
end

return M
