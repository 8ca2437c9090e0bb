-- The report a diagnosis returns (docs/cli.md, `diagnose --format json`): the inputs as the report
-- names them, the workflow steps nothing speaks of, the device platforms the bundle shows, lists
-- that stay lists in JSON, and none of the engine's working fields.
local json = require "sceplab.json"
local timeline = require "sceplab.diagnose.timeline"

local M = {}

-- Which workflow steps the inputs say nothing about.
local function steps_without_evidence(d)
  local steps_seen = {}
  for _, r in ipairs(d.records) do if r.step then steps_seen[r.step] = true end end
  for _, f in ipairs(d.findings) do steps_seen[f.step] = true end
  for _, st in pairs(d.succeeded) do for s in pairs(st) do steps_seen[s] = true end end
  -- records the parsers placed on a step count even when no playbook wanted them
  for _, i in ipairs(d.inputs) do
    for s, n in ipairs(i.steps or {}) do if n > 0 then steps_seen[s] = true end end
  end
  local missing = {}
  for s = 1, 6 do if not steps_seen[s] then missing[#missing + 1] = s end end
  return missing
end

local function clean_inputs(inputs)
  local out = {}
  for _, i in ipairs(inputs) do
    local e = i.error
    if e and e:sub(1, #i.file + 2) == i.file .. ": " then e = e:sub(#i.file + 3) end  -- the file is named already
    out[#out + 1] = { file = i.file, format = i.format, records = i.records, skipped = i.skipped,
                      examples = i.examples, steps = i.steps, error = e, fatal = i.fatal or nil,
                      sorted = i.sorted, out_of_order = i.out_of_order, date_source = i.date_source,
                      offset_source = i.offset_source, date_note = i.date_note, offset_note = i.offset_note }
  end
  return out
end

-- The device platforms the bundle shows: its own logs (records of the device, success rules of
-- a platform, Android and iOS log files), then the requests IIS saw by their user agent. What
-- replay --from plays.
local function devices(d)
  local out = {}
  local function count(p, kind, n)
    if p ~= "windows" and p ~= "android" and p ~= "ios" then return end
    out[p] = out[p] or { own = 0, requests = 0 }
    out[p][kind] = out[p][kind] + n
  end
  for _, r in ipairs(d.records) do
    local n = 1 + (r._more or 0)
    if r.source == "iis" then count(r.platform, "requests", n)
    elseif timeline.on_device(r) then
      count(r.platform or (r.source == "android" and "android") or (r.source == "ios" and "ios") or "windows", "own", n)
    end
  end
  for _, sm in ipairs(d.successes) do count(sm.rule.id:match("^(%l+)%-"), "own", sm.count) end
  for _, i in ipairs(d.inputs) do count(i.format, "own", i.records or 0) end
  return out
end

--- The report of diagnosis d (its playbooks, records, inputs, attempts, findings, verdicts,
-- successes, and the records dropped by the cap).
function M.report(d)
  local missing = steps_without_evidence(d)
  local inputs = clean_inputs(d.inputs)
  local platforms = devices(d)
  local pbl = {}
  for _, pb in ipairs(d.playbooks) do pbl[#pbl + 1] = pb.name end
  for _, a in ipairs(d.attempts) do a.first_us, a.last_us = nil, nil end
  for _, r in ipairs(d.records) do r._norm, r._claimed, r._more, r._seq = nil, nil, nil, nil end
  local counted = 0
  for _, s in ipairs(d.successes) do counted = counted + s.count end
  -- lists stay lists in JSON even when empty
  local findings, verdicts = d.findings, d.verdicts
  for _, f in ipairs(findings) do json.array(f.fix) json.array(f.evidence) end
  for _, v in ipairs(verdicts) do if v.around then json.array(v.around) end end
  json.array(findings) json.array(verdicts) json.array(missing) json.array(d.attempts)
  return { inputs = inputs, attempts = d.attempts, findings = findings, verdicts = verdicts,
           steps_without_evidence = missing, playbooks = pbl, records_examined = #d.records + d.dropped,
           records_counted = counted, time_notes = json.array(timeline.time_notes(d.inputs)), devices = platforms }
end

return M
