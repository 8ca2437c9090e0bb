-- One timeline from many log files: each file is parsed in C as a stream; the merge holds one
-- record per file, so memory stays bounded whatever the sizes. Order: UTC time, then file (in the
-- order given), then line. Records without a time keep their place at the start of their file.
local logs = require "sceplab.core.logs"
local sys = require "sceplab.core.sys"

local M = {}

--- Seconds since the epoch from "YYYY-MM-DD[T ]HH:MM[:SS][.fff][Z|+HH:MM]" (UTC when no zone) | nil.
M.parse_time = (require "sceplab.time").parse

--- Every file under the given paths (directories walked recursively, sorted).
-- Returns files, errors (paths that could not be read).
function M.expand(paths)
  local files, errors = {}, {}
  local function walk(path, named)
    local kind, err = sys.kind(path)
    if not kind then errors[#errors + 1] = err return end
    if kind == "directory" then
      local names, lerr = sys.listdir(path)
      if not names then errors[#errors + 1] = lerr return end
      local dir = path:match("^(.-)/*$")  -- "logs/" and "logs" name the same children; "/" gives "/name"
      for _, n in ipairs(names) do walk(dir .. "/" .. n, false) end
    elseif kind == "file" then
      -- a zip bundle is read in place: its members join the walk
      local members, merr, mcode = logs.members(path)
      if not members and mcode ~= "input" then
        errors[#errors + 1] = merr -- a zip that cannot be read (libarchive missing), not a log
      elseif members then
        for _, m in ipairs(members) do
          files[#files + 1] = { path = path .. "!" .. m.name, archive = path, index = m.index, named = false }
        end
      else
        files[#files + 1] = { path = path, named = named }
      end
    end
  end
  for _, p in ipairs(paths) do walk(p, true) end
  return files, errors
end

local LEVELS = { verbose = 1, info = 2, warning = 3, error = 4, critical = 5 }

-- sceplab's own JSONL (timeline --jsonl), read back with the same filter semantics as the C readers.
local function open_jsonl(path, filter)
  local f = io.open(path, "rb")
  if not f then return nil end
  -- the first line decides, read with a bound: a huge file without a newline is not ours
  local head = f:read(1 << 20) or ""
  local first = head:match("^[^\n]*")
  local cjson = require "cjson.safe"
  local probe = first and cjson.decode(first)
  if type(probe) ~= "table" or not (probe.time and probe.source and probe.file and probe.line) then
    f:close()
    return nil
  end
  f:seek("set", 0)
  filter = filter or {}
  local stats = { file = path, format = "jsonl", records = 0, skipped = 0, examples = {} }
  local lineno = 0
  local function set_of(list)
    if not list then return nil end
    local t = {}
    for _, v in ipairs(list) do t[v] = true end
    return t
  end
  local sources, statuses, events = set_of(filter.sources), set_of(filter.statuses), set_of(filter.event_ids)
  local min = filter.min_level and LEVELS[filter.min_level] or 0
  local function passes(r)
    if sources and not sources[r.source] then return false end
    if statuses and not statuses[r.http_status] then return false end
    if events and not events[r.event_id] then return false end
    if (LEVELS[r.level] or 0) < min then return false end
    local t = r.time_us and r.time_us / 1e6
    if filter.since and (not t or t < filter.since) then return false end
    if filter["until"] and (not t or t > filter["until"]) then return false end
    if filter.contains then
      local msg = (r.message or ""):lower()
      for _, c in ipairs(filter.contains) do
        if msg:find(c:lower(), 1, true) then return true end
      end
      return false
    end
    return true
  end
  local reader = {}
  function reader:next()
    while true do
      local line = f:read("l")
      if not line then return nil end
      lineno = lineno + 1
      local r = cjson.decode(line)
      if type(r) ~= "table" or type(r.time) ~= "string" then
        stats.skipped = stats.skipped + 1
        if #stats.examples < 3 then stats.examples[#stats.examples + 1] = ("line %d: not a sceplab record"):format(lineno) end
      else
        stats.records = stats.records + 1
        local secs = M.parse_time(r.time)
        r.time_us = secs and math.floor(secs * 1e6 + 0.5) or nil
        if passes(r) then return r end
      end
    end
  end
  function reader:stats() return stats end
  function reader:close() f:close() end
  return reader
end

local function before(a, b)
  local ta, tb = a.rec.time_us or math.mininteger, b.rec.time_us or math.mininteger
  if ta ~= tb then return ta < tb end
  if a.index ~= b.index then return a.index < b.index end
  return a.rec.line < b.rec.line
end

--- Merges the records of every input in time order, calling emit(record) for each.
-- opts: filter (see sceplab.core.logs.open), bias (CMTrace bias override, minutes), offset (minutes east
-- assumed for zone-less formats), date ("YYYY-MM-DD" for date-less formats).
-- Returns inputs: {{file, format, records, skipped, examples} | {file, error}}.
function M.merge(paths, opts, emit)
  opts = opts or {}
  local files, errors = M.expand(paths)
  local inputs, streams = {}, {}
  for _, e in ipairs(errors) do inputs[#inputs + 1] = { error = e, fatal = true } end
  for _, f in ipairs(files) do
    local lopts = { bias = opts.bias, offset = opts.offset, date = opts.date, format = opts.format, progress = opts.progress }
    local lg, err
    if f.archive then
      lg, err = logs.open_member(f.archive, f.index, opts.filter, lopts)
    else
      lg, err = logs.open(f.path, opts.filter, lopts)
      if not lg then
        local jl = open_jsonl(f.path, opts.filter)
        if jl then lg, err = jl, nil end
      end
    end
    if lg then
      streams[#streams + 1] = { log = lg, index = #streams + 1, file = f.path }
    else
      -- a file named on the command line must be readable; one found in a directory may be anything
      inputs[#inputs + 1] = { file = f.path, error = err, fatal = f.named }
    end
  end
  local heads = {}
  for _, s in ipairs(streams) do
    local rec = s.log:next()
    if rec then heads[#heads + 1] = { rec = rec, index = s.index, stream = s } end
  end
  while #heads > 0 do
    local best = 1
    for i = 2, #heads do if before(heads[i], heads[best]) then best = i end end
    local h = heads[best]
    emit(h.rec)
    local nxt = h.stream.log:next()
    if nxt then h.rec = nxt else table.remove(heads, best) end
  end
  for _, s in ipairs(streams) do
    inputs[#inputs + 1] = s.log:stats()
    s.log:close()
  end
  if opts.progress then logs.progress_end() end
  return inputs
end

-- The identifiers that name one enrollment attempt: its request id and its transaction id. A
-- device id is weaker (a device makes many attempts) and is handled apart.
local function keys_of(r)
  local k = {}
  if r.request_id then k[#k + 1] = "request:" .. r.request_id end
  if r.transaction_id then k[#k + 1] = "transaction:" .. r.transaction_id end
  return k
end

--- Groups records (in time order) into enrollment attempts and sets record.attempt.
-- Identifiers link: a record naming both a request id and a transaction id (NDESPlugin's "Data for
-- User ..." line, a CRS file) joins them into one attempt, so every record carrying either lands
-- there. A record carrying only a device id joins that device's attempt nearest in time; one with
-- no identifier joins the attempt whose records are nearest in time within window seconds
-- (default 120), preferring its own file.
-- Returns {{id, keys, first, last, records, sources, steps, errors}} in order of first record.
function M.group(records, window)
  window = (window or 120) * 1e6
  local parent = {}
  local function find(x)
    while parent[x] ~= x do
      parent[x] = parent[parent[x]]
      x = parent[x]
    end
    return x
  end
  local function union(a, b)
    a, b = find(a), find(b)
    if a ~= b then parent[b] = a end
  end
  for _, r in ipairs(records) do
    local k = keys_of(r)
    for _, key in ipairs(k) do if not parent[key] then parent[key] = key end end
    for i = 2, #k do union(k[1], k[i]) end
  end
  local attempts, by_root = {}, {}
  local function attempt_for(root)
    local a = by_root[root]
    if not a then
      a = { id = #attempts + 1, keys = {}, records = 0, sources = {}, steps = {}, errors = 0 }
      by_root[root] = a
      attempts[#attempts + 1] = a
    end
    return a
  end
  -- identified records first, remembering the last time each file and attempt was seen
  local last_in_file, last_any, by_device = {}, {}, {}
  local unassigned = {}
  for i, r in ipairs(records) do
    local k = keys_of(r)
    if #k > 0 then
      local a = attempt_for(find(k[1]))
      r.attempt = a.id
      if r.time_us then
        last_in_file[r.file] = last_in_file[r.file] or {}
        local lf = last_in_file[r.file]
        lf[#lf + 1] = { t = r.time_us, a = a }
        last_any[#last_any + 1] = { t = r.time_us, a = a }
        if r.device_id then
          local d = r.device_id:lower()
          by_device[d] = by_device[d] or {}
          by_device[d][#by_device[d] + 1] = { t = r.time_us, a = a }
        end
      end
    else
      unassigned[#unassigned + 1] = i
    end
  end
  -- The lists are appended in record order, which is time order, so the nearest entry is one of
  -- the two around t's insertion point: a binary search keeps a large bundle linear-logarithmic.
  local function nearest(list, t)
    if not list or #list == 0 then return nil end
    local lo, hi = 1, #list + 1
    while lo < hi do
      local mid = (lo + hi) // 2
      if list[mid].t < t then lo = mid + 1 else hi = mid end
    end
    local best, bestd
    for j = lo - 1, lo do
      local e = list[j]
      if e then
        local d = math.abs(e.t - t)
        if d <= window and (not bestd or d < bestd) then best, bestd = e.a, d end
      end
    end
    return best
  end
  for _, i in ipairs(unassigned) do
    local r = records[i]
    if r.time_us then
      local a = (r.device_id and nearest(by_device[r.device_id:lower()], r.time_us))
        or nearest(last_in_file[r.file], r.time_us) or nearest(last_any, r.time_us)
      if a then r.attempt = a.id end
    end
  end
  for _, r in ipairs(records) do
    if r.attempt then
      local a = attempts[r.attempt]
      a.records = a.records + 1
      a.first = a.first or r.time
      a.last = r.time or a.last
      a.sources[r.source] = true
      if r.step then a.steps[r.step] = true end
      if r.level == "error" or r.level == "critical" then a.errors = a.errors + 1 end
      for _, key in ipairs(keys_of(r)) do a.keys[key] = true end
      if r.device_id then a.keys["device:" .. r.device_id:lower()] = true end
    end
  end
  for _, a in ipairs(attempts) do
    local function sorted(t)
      local out = {}
      for k in pairs(t) do out[#out + 1] = k end
      table.sort(out)
      return out
    end
    a.keys, a.sources, a.steps = sorted(a.keys), sorted(a.sources), sorted(a.steps)
  end
  return attempts
end

--- All records in order and the attempts they group into: {records, inputs, attempts}.
function M.timeline(paths, opts)
  opts = opts or {}
  local records = {}
  local inputs = M.merge(paths, opts, function(r) records[#records + 1] = r end)
  return { records = records, inputs = inputs, attempts = M.group(records, opts.window) }
end

return M
