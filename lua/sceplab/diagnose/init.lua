-- Diagnosis: Lua playbooks over the normalized records of a log bundle.
--
-- A playbook is data plus a function (lua/playbooks/*.lua, loaded through the sandbox):
--   return {
--     description = "...", references = {...}, step = 2, severity = "error",  -- defaults for its findings
--     findings = { ["iis-impersonation-500"] = { title = "...", cause = "...", fix = {...}, explains? }, ... },
--     match = { sources, components, operations, statuses, event_ids, hresults, contains, patterns, min_level },
--     sample = true,  -- optional: it judges kinds of records, a sample of a flood will do
--     check = function(records, ctx) return { { id = "iis-impersonation-500", evidence = { rec... } } } end,
--   }
-- or a success playbook: `success = { { id, step | steps, label, match } ... }`, whose records are
-- counted in C (never sent to Lua one by one) and are positive evidence for the steps they name.
--
-- M.run goes through named phases: prepare (the playbooks, one C filter for all of them and the
-- success counters), read (the merge in C, numbers matched as whole tokens, so records no
-- playbook can use never reach Lua; every record a playbook without `sample` asks for is kept and,
-- of the rest, at most a few of each kind, what repeats counted), group (attempts, successes
-- attributed to them), check (each playbook gets the records of each attempt its own declaration
-- matches; every finding it returns must be one it declared; unclassified-error for error records
-- in steps 2-6 no finding claims), fold (a finding into the one that explains it), verdicts (of
-- each attempt, naming the cause and who failed) and the report's shape.
--
-- The folder: playbooks.lua (loading, validation), match.lua (filters, whole-token codes, kinds),
-- ctx.lua (what a check gets beside its records), success.lua (success rules), findings.lua
-- (raised, folded, evidence bounded), evidence.lua, verdict.lua, shape.lua (the report table),
-- expect.lua (fixture and scenario expectations), timeline.lua (attempts; also `sceplab timeline`).
local sandbox = require "sceplab.sandbox"
local timeline = require "sceplab.diagnose.timeline"
local logs = require "sceplab.core.logs"
local sys = require "sceplab.core.sys"
local playbooks = require "sceplab.diagnose.playbooks"
local match = require "sceplab.diagnose.match"
local ctx = require "sceplab.diagnose.ctx"
local success = require "sceplab.diagnose.success"
local findings = require "sceplab.diagnose.findings"
local evidence = require "sceplab.diagnose.evidence"
local verdict = require "sceplab.diagnose.verdict"
local shape = require "sceplab.diagnose.shape"
local expect = require "sceplab.diagnose.expect"

local M = {
  validate = playbooks.validate,
  load = playbooks.load,
  load_all = playbooks.load_all,
  bundled_dir = playbooks.bundled_dir,
  finding = playbooks.finding,
  ENGINE_FINDINGS = playbooks.ENGINE_FINDINGS,
  EVIDENCE_FIRST = evidence.EVIDENCE_FIRST,
  EVIDENCE_LAST = evidence.EVIDENCE_LAST,
  validate_expect = expect.validate,
  check_expect = expect.check,
}

-- How many records of one kind (same source, status, event, level and message shape) reach the
-- playbooks that declare `sample = true`: the first KEEP_FIRST and the last one; the rest are
-- counted. A failing NDES writes the same 500 a million times; a playbook that judges kinds of
-- records needs a few of them and the count. A playbook without `sample` gets every record its
-- match asks for (a slow PKIOperation among thousands of fast ones is one of a kind).
M.KEEP_FIRST = 20

-- prepare: the playbooks (opts.playbooks, or the bundled ones and opts.dirs), each checking one's
-- own filter compiled, the union the merge filters with, and the success rules as C counters.
local function prepare(opts)
  local list, err = opts.playbooks, nil
  if not list then list, err = playbooks.load_all(opts.dirs) end
  if not list then return nil, err end
  local plan = { playbooks = list, checking = {}, compiled = {}, whole = {} }
  for _, pb in ipairs(list) do
    if pb.check then
      plan.checking[#plan.checking + 1] = pb
      plan.compiled[pb] = match.compile(pb)
      if not pb.sample then plan.whole[#plan.whole + 1] = pb end
    end
  end
  plan.rules, plan.counters = success.rules(list)
  plan.filter = match.union(plan.checking)
  return plan
end

-- read: the merged records that pass the filter, at most KEEP_FIRST and the last of each kind; the
-- rest counted on the last kept. Only the slot holds the current last, so memory is bounded by the
-- number of kinds. Returns {records (in the merge's order), dropped, inputs, counts} | nil, message.
local function read(paths, plan, opts)
  local m, merr = logs.merge(paths, plan.filter, { bias = opts.bias, offset = opts.offset, zone = opts.zone, date = opts.date,
                                                   progress = opts.progress, counters = plan.counters })
  if not m then return nil, merr end
  local records, kinds, dropped, seq = {}, {}, 0, 0
  local matches, kind_of, whole, compiled, keep = match.matches, match.kind_of, plan.whole, plan.compiled, M.KEEP_FIRST
  for r in m:records() do
    seq = seq + 1
    -- a record a playbook without `sample` asks for is kept whatever its kind
    local wanted = false
    for _, pb in ipairs(whole) do
      if matches(pb, compiled[pb], r) then wanted = true break end
    end
    if wanted then
      r._seq = seq
      records[#records + 1] = r
      goto next
    end
    local k = kind_of(r)
    local slot = kinds[k]
    if not slot then slot = { n = 0 } kinds[k] = slot end
    slot.n = slot.n + 1
    if slot.n <= keep then
      r._seq = seq
      records[#records + 1] = r
    else
      dropped = dropped + 1
      r._seq = seq
      slot.last = r
    end
    ::next::
  end
  local inputs, counts = m:inputs(), m:counts()
  m:close()
  if opts.progress then logs.progress_end() end
  if dropped > 0 then
    for _, slot in pairs(kinds) do
      if slot.last then
        slot.last._more = slot.n - M.KEEP_FIRST - 1
        records[#records + 1] = slot.last
      end
    end
    -- back into the merge's order
    table.sort(records, function(a, b) return a._seq < b._seq end)
    dropped = 0
    for _, slot in pairs(kinds) do if slot.last then dropped = dropped + slot.n - M.KEEP_FIRST - 1 end end
  end
  return { records = records, dropped = dropped, inputs = inputs, counts = counts }
end

-- group: attempts, the successes counted in C attributed to them, and the records per attempt (0:
-- the records no attempt claims); d gains attempts, successes, per_attempt and keys.
local function group(d, plan, opts)
  local attempts = timeline.group(d.records, opts.window)
  for _, a in ipairs(attempts) do a.first_us, a.last_us = timeline.parse_time(a.first), timeline.parse_time(a.last) end
  for _, a in ipairs(attempts) do
    a.first_us = a.first_us and a.first_us * 1e6
    a.last_us = a.last_us and a.last_us * 1e6
  end
  local successes = {}
  for _, c in ipairs(d.counts) do
    successes[#successes + 1] = { rule = plan.rules[c.counter], key = c.key, count = c.count, first = c.first, last = c.last }
  end
  success.attribute(successes, attempts, opts.window or 120)
  local per_attempt = {}
  for _, r in ipairs(d.records) do
    local k = r.attempt or 0
    per_attempt[k] = per_attempt[k] or {}
    table.insert(per_attempt[k], r)
  end
  local keys = { 0 }
  for _, a in ipairs(attempts) do keys[#keys + 1] = a.id end
  d.attempts, d.successes, d.per_attempt, d.keys = attempts, successes, per_attempt, keys
end

-- check: each playbook's check, under the sandbox's time limit, with the records of each attempt
-- its declaration matches; then unclassified-error. Returns the findings | nil, message.
local function check(d, plan)
  local found = findings.new()
  for _, pb in ipairs(plan.checking) do
    local filter = plan.compiled[pb]
    -- the results are read where the check runs: under its time limit (findings.read)
    local function run_check(recs, c) return findings.read(pb.check(recs, c)) end
    for _, k in ipairs(d.keys) do
      local mine = {}
      for _, r in ipairs(d.per_attempt[k] or {}) do if match.matches(pb, filter, r) then mine[#mine + 1] = r end end
      if #mine > 0 then
        local ok, res, why = sandbox.call(pb.file .. ": check", run_check, mine,
                                          ctx.new(k ~= 0 and k or nil, d.records, d.successes))
        if not ok then return nil, why == "timeout" and res or ("%s: check failed: %s"):format(pb.file, tostring(res)) end
        local tok, terr = found:take(pb, k, res)
        if not tok then return nil, terr end
      end
    end
  end
  for _, k in ipairs(d.keys) do found:unclassified(k, d.per_attempt[k]) end
  return found
end

--- Runs the playbooks over the inputs. Returns the report:
-- {inputs, attempts, findings, verdicts, steps_without_evidence, playbooks, records_examined, records_counted}.
function M.run(paths, opts)
  opts = opts or {}
  local plan, err = prepare(opts)
  if not plan then return nil, err end
  local d
  d, err = read(paths, plan, opts)
  if not d then return nil, err end
  d.playbooks = plan.playbooks
  group(d, plan, opts)
  local found
  found, err = check(d, plan)
  if not found then return nil, err end
  found:fold()
  d.anchor, d.raw = found:finish()
  d.findings = found.list
  d.succeeded, d.hits = success.per_attempt(d.successes)
  d.verdicts = verdict.all(d)
  return shape.report(d)
end

--- Runs a playbook directory against its fixtures: DIR/fixtures/<case>/ holds logs and expect.lua.
-- The playbooks in play are the bundled ones plus DIR's (same file name overrides). Returns a list
-- of {case, ok, failures} or nil, message.
function M.test(dir)
  local list, err = playbooks.load_all(dir ~= playbooks.bundled_dir() and { dir } or nil)
  if not list then return nil, err end
  local fixtures = dir .. "/fixtures"
  local cases = sys.listdir(fixtures)
  if not cases or #cases == 0 then return nil, fixtures .. ": no fixture cases (each is a directory with logs and expect.lua)" end
  local results = {}
  for _, case in ipairs(cases) do
    local cdir = fixtures .. "/" .. case
    if sys.kind(cdir) == "directory" then
      local e, eerr = expect.load(cdir .. "/expect.lua")
      if not e then return nil, eerr end
      local paths = {}
      for _, name in ipairs(sys.listdir(cdir) or {}) do
        if name ~= "expect.lua" then paths[#paths + 1] = cdir .. "/" .. name end
      end
      local rep, rerr = M.run(paths, { playbooks = list, date = e.date, offset = e.assume_offset })
      if not rep then return nil, rerr end
      local fails = expect.check(rep, e)
      results[#results + 1] = { case = case, ok = #fails == 0, failures = fails, report = rep }
    end
  end
  return results
end

return M
