-- One timeline from many log files, merged in C in UTC order (then input, then line); records
-- without a time keep their place at the start of their file. Attempts are grouped here.
local logs = require "sceplab.core.logs"

local M = {}

--- Seconds since the epoch from "YYYY-MM-DD[T ]HH:MM[:SS][.fff][Z|+HH:MM]" (UTC when no zone) | nil.
M.parse_time = (require "sceplab.time").parse

--- Merges the records of every input in time order, calling emit(record) for each.
-- The merge is C's (sceplab.core.logs.merge): files, directories walked, zip bundles read in one
-- pass, small files and newest-first exports read whole and sorted, large ones streamed, so memory
-- and open files stay bounded whatever the bundle holds.
-- opts: filter (see sceplab.core.logs.open), bias (CMTrace bias override, minutes), offset (minutes east
-- assumed for formats without a zone) or zone (an IANA zone name, its offset taken at each record's
-- moment), date ("YYYY-MM-DD" for date-less formats), format, progress, archive_depth and
-- archive_budget (how deep archives inside archives are opened, how many bytes an archive may expand
-- to). Without date and offset, a log that writes none is placed by the bundle's dated records
-- (docs/log-formats.md).
-- Returns inputs: {{file, format, why, records, skipped, examples, steps, out_of_order?, sorted?,
-- date_source?, offset_source?, date_note?, offset_note?, order_note?} |
-- {file, error, fatal, binary?, refused?}}; an input whose reading stopped in the middle has format
-- and error both.
function M.merge(paths, opts, emit)
  opts = opts or {}
  local lopts = { bias = opts.bias, offset = opts.offset, zone = opts.zone, date = opts.date, format = opts.format,
                  progress = opts.progress, archive_depth = opts.archive_depth, archive_budget = opts.archive_budget }
  local m <close>, err, code = logs.merge(paths, opts.filter, lopts)
  if not m then return { { file = table.concat(paths, " "), error = err, fatal = true, code = code } } end
  for r in m:records() do emit(r) end
  local inputs = m:inputs()
  if opts.progress then logs.progress_end() end
  return inputs
end

-- Windows event formats: NDES writes Windows events too, with words such as "trusted root" that
-- mean something else there, so only the device's own providers count as the device.
local EVENT_SOURCES = { eventtext = true, eventxml = true, evtx = true, eventcsv = true, eventblock = true }

--- Whether a record is the device's own: Android and iOS logs (Company Portal, Console or syslog
-- copies of profiled and mdmd), and Windows events of the device's providers (DeviceManagement,
-- CertEnroll, CertificateServicesClient).
function M.on_device(r)
  if r.source == "android" or r.source == "ios" or r.platform == "ios" or r.platform == "android" then return true end
  local c = r.component or ""
  return EVENT_SOURCES[r.source] ~= nil and (c:find("DeviceManagement", 1, true) or c:find("CertEnroll", 1, true)
                                              or c:find("CertificateServicesClient", 1, true)) ~= nil
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
    return best, bestd
  end
  -- A device's own log is one device's story: a record there chains to the record before it (a
  -- Windows retry every RetryDelay minutes stays in its attempt however long the retries take),
  -- and what the server logged at that moment joins it too. Server logs interleave many devices
  -- and do not chain. Chained records go to lists of their own, appended in time order as the
  -- identified ones are, so the search stays logarithmic.
  local on_device = M.on_device
  local chained_file, chained_any = {}, {}
  local function closer(l1, l2, t)
    local a1, d1 = nearest(l1, t)
    local a2, d2 = nearest(l2, t)
    if a1 and (not a2 or d1 <= d2) then return a1 end
    return a2
  end
  for _, i in ipairs(unassigned) do
    local r = records[i]
    if r.time_us then
      local a = (r.device_id and nearest(by_device[r.device_id:lower()], r.time_us))
        or closer(last_in_file[r.file], chained_file[r.file], r.time_us) or closer(last_any, chained_any, r.time_us)
      if a then
        r.attempt = a.id
        if on_device(r) then
          chained_file[r.file] = chained_file[r.file] or {}
          local l = chained_file[r.file]
          l[#l + 1] = { t = r.time_us, a = a }
          chained_any[#chained_any + 1] = { t = r.time_us, a = a }
        end
      end
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

-- Date and offset sources that say a record's time rests on an inference, in words for a report.
local DATE_WORDS = { correlated = "date correlated with the bundle", file = "date written elsewhere in its file",
                     ["zip-entry"] = "date from the zip entry's time", mtime = "date from the file's modification time" }
local OFFSET_WORDS = { correlated = "offset correlated with the bundle", assumed = "no zone written: read as UTC" }

--- In words, what a record's time rests on when its text does not give it whole (its date or its
-- offset inferred, or assumed), or nil: what a finding's evidence says beside its time.
function M.time_note(r)
  local d, o = DATE_WORDS[r.date_source or ""], OFFSET_WORDS[r.offset_source or ""]
  if d and o then return d .. "; " .. o end
  return d or o
end

--- The report's notes on the inputs' times: each log whose records' dates or offsets nothing in the
-- bundle proves (unzoned device times read as UTC, a date from the file's time), and each placed by
-- the bundle's evidence, so a reader knows what the times rest on. A list of strings.
function M.time_notes(inputs)
  local notes = {}
  for _, i in ipairs(inputs) do
    if i.format then
      if i.offset_source == "assumed" then
        notes[#notes + 1] = ("%s: times are unzoned (%s); if it was written elsewhere, its records are off by that offset (--assume-offset sets it)")
          :format(i.file, i.offset_note or "no zone written, read as UTC")
      elseif i.offset_source == "correlated" then
        notes[#notes + 1] = ("%s: UTC offset %s"):format(i.file, i.offset_note or "correlated with the bundle")
      end
      -- (a CRS file or a registry export has no time of its own: no note, its time is its file's)
      if (i.date_source == "mtime" or i.date_source == "zip-entry") and i.date_note then
        notes[#notes + 1] = ("%s: no date written, and nothing in the bundle proves one: %s (--date sets it)")
          :format(i.file, i.date_note)
      elseif i.date_source == "correlated" or i.date_source == "file" then
        notes[#notes + 1] = ("%s: no date on its records; date %s"):format(i.file, i.date_note or i.date_source)
      end
    end
  end
  return notes
end

--- All records in order and the attempts they group into: {records, inputs, attempts}.
function M.timeline(paths, opts)
  opts = opts or {}
  local records = {}
  local inputs = M.merge(paths, opts, function(r) records[#records + 1] = r end)
  return { records = records, inputs = inputs, attempts = M.group(records, opts.window) }
end

return M
