-- A diagnosis report as HTML: one self-contained file (inline CSS, no script, nothing fetched): the
-- flow of the six steps, the findings, the timeline around the failure.
local words = require "sceplab.report.words"

local M = {}

local function esc(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end

local CSS = [[
body{font-family:"DejaVu Sans",Segoe UI,Arial,sans-serif;margin:24px;color:#1b1b1b;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc}
.verdict{font-size:16px;padding:10px 14px;border-radius:4px;margin:8px 0}
.verdict.failed{background:#fde7e9;border-left:6px solid #c50f1f}.verdict.ok{background:#e6f4ea;border-left:6px solid #107c10}
.verdict.none{background:#fff4ce;border-left:6px solid #986f0b}
ol.flow{display:flex;list-style:none;padding:0;margin:12px 0;gap:6px}
ol.flow li{flex:1;padding:8px;border:1px solid #bbb;border-radius:4px;font-size:12px;background:#f7f7f7}
ol.flow li b{display:block;font-size:13px}
ol.flow li.failed{background:#c50f1f;color:#fff;border-color:#c50f1f}
ol.flow li.errored{background:#fde7e9;border-color:#c50f1f;color:#a00}
ol.flow li.warned{background:#fff4ce;border-color:#986f0b}
ol.flow li.noevidence{color:#777;border-style:dashed}
ol.flow li.succeeded{background:#e6f4ea;border-color:#107c10}
.finding{border:1px solid #ddd;border-radius:4px;padding:10px 14px;margin:10px 0}
.sev{font-weight:bold;padding:1px 6px;border-radius:3px;color:#fff;font-size:12px}
.sev.error{background:#c50f1f}.sev.warning{background:#986f0b}.sev.info{background:#0f6cbd}
code,pre,.mono{font-family:"DejaVu Sans Mono",Consolas,monospace;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:12px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
tr.anchor td{background:#fde7e9;font-weight:bold}td.text{overflow-wrap:anywhere}td.time{white-space:nowrap}
]]

--- One self-contained page: inline CSS, no script, nothing fetched.
function M.render(rep)
  local steps = words.STEPS
  local out = {}
  local function w(...) for _, s in ipairs({ ... }) do out[#out + 1] = s end end
  local by = {}
  for _, f in ipairs(rep.findings) do by[f.id] = by[f.id] or f end
  -- the step states across every verdict and finding
  local failed, errored, warned, seen = {}, {}, {}, {}
  for _, v in ipairs(rep.verdicts) do if v.status == "failed" then failed[v.failing_step] = true end end
  for _, f in ipairs(rep.findings) do
    if f.severity == "error" then errored[f.step] = true else warned[f.step] = true end
  end
  local none = {}
  for _, s in ipairs(rep.steps_without_evidence) do none[s] = true end
  for s = 1, 6 do seen[s] = not none[s] end
  local ok_steps = {}
  for _, v in ipairs(rep.verdicts) do
    for _, e in ipairs(v.evidence or {}) do for _, st in ipairs(e.steps or {}) do ok_steps[st] = true end end
  end

  w("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sceplab diagnosis</title><style>", CSS,
    "</style></head><body>\n<h1>sceplab diagnosis</h1>\n")
  if #rep.verdicts == 0 then
    w("<div class=\"verdict none\">No playbook matched and nothing shows an installed certificate: the inputs do not cover the failure.</div>\n")
  end
  for _, v in ipairs(rep.verdicts) do
    local who = words.who_of(v, rep):gsub("^%l", string.upper)
    if v.status == "failed" then
      local f = by[v.finding]
      w(("<div class=\"verdict failed\">%s: <b>failed at step %d</b> (%s): %s <code>%s</code>%s<br><small>failed for: %s</small></div>\n")
        :format(esc(who), v.failing_step, esc(steps[v.failing_step]), esc(f and f.title or v.finding), esc(v.finding),
                esc(words.explains_text(v)), esc(words.who_text(v))))
    elseif v.status == "server-succeeded" then
      w(("<div class=\"verdict ok\">%s: <b>the server side succeeded</b> (step%s %s); no device log shows the install</div>\n")
        :format(esc(who), #(v.steps or {}) > 1 and "s" or "", esc(words.steps_list(v.steps))))
    else
      w(("<div class=\"verdict ok\">%s: <b>enrollment succeeded</b>, the certificate was installed</div>\n"):format(esc(who)))
    end
  end
  w("<h2>The enrollment flow</h2>\n<ol class=\"flow\">\n")
  for s = 1, 6 do
    local cls, state = "", "evidence, no error"
    if failed[s] then cls, state = "failed", "FAILED"
    elseif errored[s] then cls, state = "errored", "error found"
    elseif warned[s] then cls, state = "warned", "warning"
    elseif not seen[s] then cls, state = "noevidence", "no evidence"
    elseif ok_steps[s] then cls, state = "succeeded", "succeeded" end
    w(("<li class=\"%s\"><b>Step %d: %s</b>%s</li>\n"):format(cls, s, esc(state), esc(steps[s])))
  end
  w("</ol>\n<h2>Findings</h2>\n")
  if #rep.findings == 0 then w("<p>No findings.</p>\n") end
  for _, f in ipairs(rep.findings) do
    w(("<div class=\"finding\" id=\"%s\"><p><span class=\"sev %s\">%s</span> <b>%s</b> <code>%s</code>, step %d%s</p>\n")
      :format(esc(f.id), esc(f.severity), esc(f.severity:upper()), esc(f.title), esc(f.id), f.step,
              f.attempt and (", attempt " .. f.attempt) or ""))
    w("<p><b>Cause.</b> ", esc(f.cause), "</p>\n")
    if #f.fix > 0 then
      w("<p><b>Fix.</b></p><ol>\n")
      for _, s in ipairs(f.fix) do w("<li>", esc(s), "</li>\n") end
      w("</ol>\n")
    end
    if #f.evidence > 0 then
      w("<table><tr><th>File:line</th><th>Time (UTC)</th><th>Text</th></tr>\n")
      for _, e in ipairs(f.evidence) do
        w(("<tr><td class=\"mono\">%s:%s</td><td class=\"mono time\">%s</td><td class=\"text\">%s</td></tr>\n")
          :format(esc(e.file or "?"), esc(e.line or "?"), esc(e.time and words.time(e.time, e.time_note) or ""), esc(words.evidence_text(e))))
      end
      w("</table>\n")
      if words.more_line(f) then w("<p>", esc(words.more_line(f)), "</p>\n") end
    end
    for _, g in ipairs(f.explains or {}) do
      w(("<p><b>Explains</b> %s <code>%s</code> (%d record%s), which this causes:</p>\n"):format(esc(g.title or g.id), esc(g.id),
        g.evidence_count or 0, (g.evidence_count or 0) == 1 and "" or "s"))
      if #(g.evidence or {}) > 0 then
        w("<table><tr><th>File:line</th><th>Time (UTC)</th><th>Text</th></tr>\n")
        for _, e in ipairs(g.evidence) do
          w(("<tr><td class=\"mono\">%s:%s</td><td class=\"mono time\">%s</td><td class=\"text\">%s</td></tr>\n")
            :format(esc(e.file or "?"), esc(e.line or "?"), esc(e.time or ""), esc(words.evidence_text(e))))
        end
        w("</table>\n")
      end
      if words.more_line(g) then w("<p>", esc(words.more_line(g)), "</p>\n") end
    end
    w("</div>\n")
  end
  for _, v in ipairs(rep.verdicts) do
    if v.around and #v.around > 0 then
      w(("<h2>Timeline around the failure%s</h2>\n"):format(v.attempt and (" of attempt " .. v.attempt) or ""))
      w("<table><tr><th>Time (UTC)</th><th>Source</th><th>Level</th><th>File:line</th><th>Text</th></tr>\n")
      for _, e in ipairs(v.around) do
        w(("<tr%s><td class=\"mono time\">%s</td><td>%s</td><td>%s</td><td class=\"mono\">%s:%s</td><td class=\"text\">%s</td></tr>\n")
          :format(e.anchor and " class=\"anchor\"" or "", esc(e.time or ""), esc(e.source or ""), esc(e.level or ""),
                  esc(e.file or "?"), esc(e.line or "?"), esc(e.text)))
      end
      w("</table>\n")
    end
  end
  w("<h2>Inputs</h2>\n<table><tr><th>File</th><th>Format</th><th>Records</th><th>Skipped</th></tr>\n")
  for _, i in ipairs(rep.inputs) do
    w(("<tr><td class=\"mono\">%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n")
      :format(esc(i.file), esc(i.format or ("not read: " .. (i.error or "?"))), esc(i.records or ""), esc(i.skipped or "")))
  end
  w("</table>\n")
  for _, n in ipairs(rep.time_notes or {}) do w("<p>Times: ", esc(n), "</p>\n") end
  w("</body></html>\n")
  return table.concat(out)
end

return M
