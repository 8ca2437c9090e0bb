-- Diagnosis reports: the table sceplab.diagnose.run returns, rendered as text (a terminal), Markdown
-- (a ticket) or HTML (one self-contained file: inline CSS, no script, nothing fetched). JSON is
-- sceplab.json.encode of the same table. Every value taken from the logs is escaped for its format.
local M = {}

-- The six steps of the Intune SCEP workflow (seed 003), as findings number them.
local STEPS = {
  "the profile reaches the device",
  "the device reaches NDES",
  "NDES policy module and Certificate Registration Point verify the challenge",
  "the CA issues",
  "the device installs the certificate",
  "the connector reports back",
}
M.STEPS = STEPS

-- An evidence line's time, with what it rests on when its date or offset was inferred.
local function fmt_time(t, note)
  if not t then return "(no time)" end
  return note and (t .. " (" .. note .. ")") or t
end

-- Who a verdict is about: an attempt, or the records no attempt holds (a server-only bundle has
-- no attempt at all: its successes are counted, not kept).
local function who_of(v, rep)
  if v.attempt then return "attempt " .. v.attempt end
  return #rep.verdicts > 1 and "the rest of the bundle" or "the bundle"
end

local function steps_list(steps)
  local s = {}
  for _, n in ipairs(steps or {}) do s[#s + 1] = tostring(n) end
  return table.concat(s, ", ")
end

-- "which explains ndes-500": the findings the verdict's cause took in
local function explains_text(v)
  if not v.explains or #v.explains == 0 then return "" end
  return ", which explains " .. table.concat(v.explains, ", ")
end

--- Which device, user and request a verdict is about, in words: what the attempt's records name.
function M.who_text(v)
  if not v.who or not next(v.who) then return "the logs name no device, user or request" end
  local w = v.who
  local device
  if w.device and w.device_id then device = ("device %s (Intune device id %s)"):format(w.device, w.device_id)
  elseif w.device then device = "device " .. w.device
  elseif w.device_id then device = "Intune device id " .. w.device_id
  elseif w.client_ip then device = "the device at " .. w.client_ip .. " (as IIS saw it)"
  else device = "device not named in the logs" end
  local request
  if w.request then request = "request " .. w.request .. (w.transaction and (" (transaction " .. w.transaction .. ")") or "")
  elseif w.transaction then request = "transaction " .. w.transaction
  else request = "request not named in the logs" end
  return ("%s, %s, %s"):format(device, w.user and ("user " .. w.user) or "user not named in the logs", request)
end

local function verdict_line(v, findings_by_id, rep)
  local who = who_of(v, rep)
  if v.status == "failed" then
    local f = findings_by_id[v.finding]
    return ("%s: FAILED at step %d (%s): %s [%s]%s"):format(who, v.failing_step, STEPS[v.failing_step],
                                                            f and f.title or v.finding, v.finding, explains_text(v))
  elseif v.status == "server-succeeded" then
    return ("%s: the server side succeeded (step%s %s); no device log shows the install"):format(who,
      #(v.steps or {}) > 1 and "s" or "", steps_list(v.steps))
  end
  return ("%s: enrollment succeeded, the certificate was installed"):format(who)
end

-- An evidence line's text: a success rule's label and count before the record's own text.
local function evidence_text(e)
  if e.label then
    return ("%s (%d record%s): %s"):format(e.label, e.count or 1, (e.count or 1) == 1 and "" or "s", e.text or "")
  end
  return e.text or ""
end

-- "... and 1234 more" when the evidence shown is the first and last few of many.
local function more_line(f)
  local n = (f.evidence_count or #f.evidence) - #f.evidence
  if n <= 0 then return nil end
  return ("... and %d more like these (%d in all; the first and last are shown)"):format(n, f.evidence_count)
end

local function index(findings)
  local by = {}
  for _, f in ipairs(findings) do by[f.id] = by[f.id] or f end
  return by
end

local function render_text(rep, colour)
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
  local by = index(rep.findings)
  if #rep.verdicts > 0 then
    w("Verdict:")
    for _, v in ipairs(rep.verdicts) do
      w("  " .. verdict_line(v, by, rep))
      if v.status == "failed" then w("    failed for: " .. M.who_text(v)) end
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
        w(("     %s:%s  %s"):format(e.file or "?", tostring(e.line or "?"), fmt_time(e.time, e.time_note)))
        w("       " .. evidence_text(e))
      end
      if more_line(f) then w("     " .. more_line(f)) end
    end
    for _, g in ipairs(f.explains or {}) do
      w(("   Explains %s [%s] (%d record%s), which this causes:"):format(g.title or g.id, g.id, g.evidence_count or 0,
                                                                      (g.evidence_count or 0) == 1 and "" or "s"))
      for _, e in ipairs(g.evidence or {}) do
        w(("     %s:%s  %s"):format(e.file or "?", tostring(e.line or "?"), fmt_time(e.time)))
        w("       " .. evidence_text(e))
      end
      if more_line(g) then w("     " .. more_line(g)) end
    end
    w("")
  end
  if #rep.steps_without_evidence > 0 then
    local s = {}
    for _, n in ipairs(rep.steps_without_evidence) do s[#s + 1] = ("%d (%s)"):format(n, STEPS[n]) end
    w("No evidence at all for step " .. table.concat(s, ", ") .. ".")
  end
  return table.concat(out, "\n") .. "\n"
end

-- Markdown for a ticket: pipes and backticks in log text are escaped so tables and code stay intact.
local function md_escape(s) return (s:gsub("|", "\\|")) end

local function render_md(rep)
  local out = {}
  local function w(s) out[#out + 1] = s end
  local by = index(rep.findings)
  w("# sceplab diagnosis")
  w("")
  if #rep.verdicts > 0 then
    w("## Verdict")
    w("")
    for _, v in ipairs(rep.verdicts) do
      w("- " .. md_escape(verdict_line(v, by, rep)))
      if v.status == "failed" then w("  - failed for: " .. md_escape(M.who_text(v))) end
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
        w(("| `%s:%s` | %s | %s |"):format(e.file or "?", tostring(e.line or "?"), md_escape(e.time and fmt_time(e.time, e.time_note) or ""),
                                          md_escape(evidence_text(e))))
      end
      w("")
      if more_line(f) then w(more_line(f)) w("") end
    end
    for _, g in ipairs(f.explains or {}) do
      w(("**Explains** %s (`%s`, %d record%s), which this causes:"):format(md_escape(g.title or g.id), g.id,
        g.evidence_count or 0, (g.evidence_count or 0) == 1 and "" or "s"))
      w("")
      if #(g.evidence or {}) > 0 then
        w("| File:line | Time (UTC) | Text |")
        w("|---|---|---|")
        for _, e in ipairs(g.evidence) do
          w(("| `%s:%s` | %s | %s |"):format(e.file or "?", tostring(e.line or "?"), e.time or "", md_escape(evidence_text(e))))
        end
        w("")
      end
      if more_line(g) then w(more_line(g)) w("") end
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

local function render_html(rep)
  local steps = STEPS
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
    local who = who_of(v, rep):gsub("^%l", string.upper)
    if v.status == "failed" then
      local f = by[v.finding]
      w(("<div class=\"verdict failed\">%s: <b>failed at step %d</b> (%s): %s <code>%s</code>%s<br><small>failed for: %s</small></div>\n")
        :format(esc(who), v.failing_step, esc(steps[v.failing_step]), esc(f and f.title or v.finding), esc(v.finding),
                esc(explains_text(v)), esc(M.who_text(v))))
    elseif v.status == "server-succeeded" then
      w(("<div class=\"verdict ok\">%s: <b>the server side succeeded</b> (step%s %s); no device log shows the install</div>\n")
        :format(esc(who), #(v.steps or {}) > 1 and "s" or "", esc(steps_list(v.steps))))
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
          :format(esc(e.file or "?"), esc(e.line or "?"), esc(e.time and fmt_time(e.time, e.time_note) or ""), esc(evidence_text(e))))
      end
      w("</table>\n")
      if more_line(f) then w("<p>", esc(more_line(f)), "</p>\n") end
    end
    for _, g in ipairs(f.explains or {}) do
      w(("<p><b>Explains</b> %s <code>%s</code> (%d record%s), which this causes:</p>\n"):format(esc(g.title or g.id), esc(g.id),
        g.evidence_count or 0, (g.evidence_count or 0) == 1 and "" or "s"))
      if #(g.evidence or {}) > 0 then
        w("<table><tr><th>File:line</th><th>Time (UTC)</th><th>Text</th></tr>\n")
        for _, e in ipairs(g.evidence) do
          w(("<tr><td class=\"mono\">%s:%s</td><td class=\"mono time\">%s</td><td class=\"text\">%s</td></tr>\n")
            :format(esc(e.file or "?"), esc(e.line or "?"), esc(e.time or ""), esc(evidence_text(e))))
        end
        w("</table>\n")
      end
      if more_line(g) then w("<p>", esc(more_line(g)), "</p>\n") end
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


-- A copy of the report whose strings show control characters, bidirectional overrides and bytes
-- that are not UTF-8 as escapes (codec.visible): log text must not drive the terminal that shows
-- a report, nor hide in a ticket. The renderers add their own colour codes afterwards.
local visible = (require "sceplab.core.codec").visible
local function shown(v, seen)
  if type(v) == "string" then return visible(v) end
  if type(v) ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local out = {}
  if getmetatable(v) ~= nil then (require "sceplab.json").array(out) end -- arrays: the only tables with one
  seen[v] = out
  for k, x in pairs(v) do out[shown(k, seen)] = shown(x, seen) end
  return out
end
M.shown = shown

--- Renders rep as "text", "md" or "html"; colour applies to text only.
function M.render(rep, format, colour)
  rep = shown(rep)
  if format == "md" then return render_md(rep) end
  if format == "html" then return render_html(rep) end
  return render_text(rep, colour)
end

return M
