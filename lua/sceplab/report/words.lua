-- What every format of a diagnosis report says the same way: the six steps, times with what they
-- rest on, who a verdict is about, the verdict in one line, evidence lines and "... and N more".
local M = {}

-- The six steps of the Intune SCEP workflow (seed 003), as findings number them.
M.STEPS = {
  "the profile reaches the device",
  "the device reaches NDES",
  "NDES policy module and Certificate Registration Point verify the challenge",
  "the CA issues",
  "the device installs the certificate",
  "the connector reports back",
}
local STEPS = M.STEPS

-- An evidence line's time, with what it rests on when its date or offset was inferred.
function M.time(t, note)
  if not t then return "(no time)" end
  return note and (t .. " (" .. note .. ")") or t
end

-- Who a verdict is about: an attempt, or the records no attempt holds (a server-only bundle has
-- no attempt at all: its successes are counted, not kept).
function M.who_of(v, rep)
  if v.attempt then return "attempt " .. v.attempt end
  return #rep.verdicts > 1 and "the rest of the bundle" or "the bundle"
end

function M.steps_list(steps)
  local s = {}
  for _, n in ipairs(steps or {}) do s[#s + 1] = tostring(n) end
  return table.concat(s, ", ")
end

-- "which explains ndes-500": the findings the verdict's cause took in
function M.explains_text(v)
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

--- The verdict in one line: who, what happened at which step, and the cause.
function M.verdict_line(v, findings_by_id, rep)
  local who = M.who_of(v, rep)
  if v.status == "failed" then
    local f = findings_by_id[v.finding]
    return ("%s: FAILED at step %d (%s): %s [%s]%s"):format(who, v.failing_step, STEPS[v.failing_step],
                                                            f and f.title or v.finding, v.finding, M.explains_text(v))
  elseif v.status == "server-succeeded" then
    return ("%s: the server side succeeded (step%s %s); no device log shows the install"):format(who,
      #(v.steps or {}) > 1 and "s" or "", M.steps_list(v.steps))
  end
  return ("%s: enrollment succeeded, the certificate was installed"):format(who)
end

-- An evidence line's text: a success rule's label and count before the record's own text.
function M.evidence_text(e)
  if e.label then
    return ("%s (%d record%s): %s"):format(e.label, e.count or 1, (e.count or 1) == 1 and "" or "s", e.text or "")
  end
  return e.text or ""
end

-- "... and 1234 more" when the evidence shown is the first and last few of many.
function M.more_line(f)
  local n = (f.evidence_count or #f.evidence) - #f.evidence
  if n <= 0 then return nil end
  return ("... and %d more like these (%d in all; the first and last are shown)"):format(n, f.evidence_count)
end

--- The findings by id (the first of each).
function M.index(findings)
  local by = {}
  for _, f in ipairs(findings) do by[f.id] = by[f.id] or f end
  return by
end

return M
