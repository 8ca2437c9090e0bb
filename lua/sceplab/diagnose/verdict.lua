-- The verdict of each attempt (and of the records no attempt claims): failed at the step of its
-- earliest error finding, naming the cause and who failed; else the successes its rules counted:
-- the certificate installed (enrollment-succeeded) or the server side done (server-succeeded).
local json = require "sceplab.json"
local evidence = require "sceplab.diagnose.evidence"
local success = require "sceplab.diagnose.success"
local playbooks = require "sceplab.diagnose.playbooks"
local timeline = require "sceplab.diagnose.timeline"

local M = {}

-- Who a verdict is about: the device (its name in its own logs, its Intune device id, the address
-- IIS saw its SCEP requests from), the user and the request, as the failing finding's records name
-- them, then the attempt's; the records no attempt claims are many devices' at once, so there
-- the finding's records only.
local function who(d, k, finding)
  local w = {}
  local list = {}
  for _, r in ipairs(finding and d.raw[finding .. "@" .. k] or {}) do list[#list + 1] = r end
  if k ~= 0 then for _, r in ipairs(d.per_attempt[k] or {}) do list[#list + 1] = r end end
  for _, r in ipairs(list) do
    w.request = w.request or r.request_id
    w.transaction = w.transaction or r.transaction_id
    w.device_id = w.device_id or r.device_id
    w.user = w.user or r.user_id
    if r.source == "iis" then
      if not w.client_ip and r.client_ip and (r.url or ""):lower():find("mscep", 1, true) then w.client_ip = r.client_ip end
    elseif not w.device and r.host and timeline.on_device(r) then
      w.device = r.host -- the computer in the device's own events (an IIS line's host is the server)
    end
  end
  return next(w) and w or nil
end

--- The verdicts of a diagnosis d ({keys, records, per_attempt, findings (a list, finished), anchor,
-- raw, succeeded, hits}); a success verdict adds its info finding to d.findings.
function M.all(d)
  local findings, verdicts = d.findings, {}
  for _, k in ipairs(d.keys) do
    local failing
    for _, f in ipairs(findings) do
      if (f.attempt or 0) == k and f.severity == "error" and (not failing or f.step < failing.step) then failing = f end
    end
    local ok = d.succeeded[k] or {}
    local attempt = k ~= 0 and k or nil
    if failing then
      local explains = {}
      for _, g in ipairs(failing.explains or {}) do explains[#explains + 1] = g.id end
      verdicts[#verdicts + 1] = { attempt = attempt, status = "failed", failing_step = failing.step, finding = failing.id,
                                  explains = #explains > 0 and explains or nil,
                                  around = evidence.around(d.records, d.anchor[failing]) }
    elseif ok[5] then
      local ev = success.evidence(d.hits[k], 5) -- the install first
      verdicts[#verdicts + 1] = { attempt = attempt, status = "enrollment-succeeded", evidence = ev }
      local decl = playbooks.ENGINE_FINDINGS["enrollment-succeeded"]
      findings[#findings + 1] = { id = "enrollment-succeeded", step = 5, severity = "info", title = decl.title, cause = decl.cause,
        fix = {}, evidence = ev, evidence_count = #ev, attempt = attempt }
    elseif ok[3] or ok[4] or ok[6] then
      local steps = {}
      for _, st in ipairs({ 3, 4, 6 }) do if ok[st] then steps[#steps + 1] = st end end
      local ev = success.evidence(d.hits[k], 3)
      verdicts[#verdicts + 1] = { attempt = attempt, status = "server-succeeded", steps = json.array(steps), evidence = ev }
      local decl = playbooks.ENGINE_FINDINGS["server-succeeded"]
      findings[#findings + 1] = { id = "server-succeeded", step = steps[#steps], severity = "info", title = decl.title,
        cause = decl.cause, fix = {}, evidence = ev, evidence_count = #ev, attempt = attempt }
    end
  end
  for _, v in ipairs(verdicts) do v.who = who(d, v.attempt or 0, v.finding) end
  return verdicts
end

return M
