-- Success rules (success.lua's `success = {...}`): counted in C by request, transaction or
-- minute, never sent to Lua one by one; here they become counters, are attributed to attempts,
-- summed per attempt, and shown as one evidence line per rule.
local json = require "sceplab.json"
local evidence = require "sceplab.diagnose.evidence"

local M = {}

--- The success rules of every success playbook, and the C counters they compile to.
function M.rules(playbooks)
  local rules, counters = {}, {}
  for _, pb in ipairs(playbooks) do
    for _, rule in ipairs(pb.success or {}) do
      rules[#rules + 1] = rule
      local c = { whole_numbers = true }
      for k, v in pairs(rule.match) do c[k] = v end
      counters[#counters + 1] = c
    end
  end
  return rules, counters
end

-- Which attempt a success summary belongs to: the one its key names, else the nearest in time.
function M.attribute(successes, attempts, window)
  local by_key = {}
  for _, a in ipairs(attempts) do
    for _, k in ipairs(a.keys) do by_key[k] = a.id end
  end
  for _, s in ipairs(successes) do
    local k = s.key
    if by_key[k] then s.attempt = by_key[k]
    elseif s.first.time_us then
      local best, bestd
      for _, a in ipairs(attempts) do
        local t0, t1 = a.first_us, a.last_us
        if t0 then
          local d = s.first.time_us < t0 and t0 - s.first.time_us or s.first.time_us > t1 and s.first.time_us - t1 or 0
          if d <= window * 1e6 and (not bestd or d < bestd) then best, bestd = a.id, d end
        end
      end
      s.attempt = best
    end
  end
end

--- Per attempt (0: none): which steps have positive evidence (succeeded[k][step]) and each rule's
-- summary summed over keys (hits[k][rule id] = {rule, count, first}).
function M.per_attempt(successes)
  local succeeded, hits = {}, {}
  for _, s in ipairs(successes) do
    local k = s.attempt or 0
    succeeded[k] = succeeded[k] or {}
    hits[k] = hits[k] or {}
    for _, st in ipairs(s.rule.steps) do succeeded[k][st] = true end
    local h = hits[k][s.rule.id]
    if not h then
      h = { rule = s.rule, count = 0, first = s.first }
      hits[k][s.rule.id] = h
    elseif (s.first.time_us or 0) < (h.first.time_us or 0) then h.first = s.first end
    h.count = h.count + s.count
  end
  return succeeded, hits
end

--- One evidence line per success rule of an attempt (its hits): its first record, its label, how
-- many records it counted; those of step `lead` first, then by step.
function M.evidence(hits, lead)
  local list = {}
  for _, h in pairs(hits or {}) do list[#list + 1] = h end
  local function rank(h)
    local m = math.huge
    for _, st in ipairs(h.rule.steps) do m = math.min(m, st == lead and 0 or st) end
    return m
  end
  table.sort(list, function(a, b)
    if rank(a) ~= rank(b) then return rank(a) < rank(b) end
    return a.rule.id < b.rule.id
  end)
  local ev, seen = {}, {}
  for _, h in ipairs(list) do
    -- two rules may recognise the same record (event 39 by its id and by its words): once
    local at = tostring(h.first.file) .. ":" .. tostring(h.first.line)
    if seen[at] then goto next end
    seen[at] = true
    ev[#ev + 1] = { file = h.first.file, line = h.first.line, time = h.first.time, steps = json.array({ table.unpack(h.rule.steps) }),
                    label = h.rule.label, count = h.count, text = evidence.one_line(evidence.whole_chars(h.first.text)) }
    ::next::
  end
  return json.array(ev)
end

return M
