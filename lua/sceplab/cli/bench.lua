-- CLI: sceplab bench, a load tool for any SCEP server (NDES, micromdm, step-ca, sceplab serve).
-- The parent first asks the server for GetCACaps and GetCACert, so a wrong URL stops at once with
-- what it answered. N worker processes (this same executable, started with --worker) then make
-- their share of keys (unless --keys), say so, and wait for the start, so key generation is timed
-- on its own and never inside the load; then each enrolls its share with the real client, one
-- connection per enrollment as devices do, appending one JSON line per key and per enrollment to
-- its own file. The parent shows a progress line with the total and the percentage, and reports
-- enrollments/s over the enrollment phase and per-phase latency percentiles.
local util = require "sceplab.cli.util"
local sys = require "sceplab.core.sys"
local json = require "sceplab.json"

local M = {}
local stderr = util.stderr

function M.register(p)
  local b = p:command("bench")
    :description("Load a SCEP server: C concurrent clients enroll M times in all, and report enrollments/s and per-phase latency (GetCACaps, GetCACert, PKIOperation: p50/p95/p99). The server is asked for GetCACaps and GetCACert first; fresh keys (unless --keys) are made before the load and timed apart.")
  b:argument("url"):description("The SCEP server URL.")
  b:option("--concurrency"):description("Concurrent clients (processes)."):default("4"):convert(tonumber)
  b:option("--count"):description("Enrollments in all."):default("100"):convert(tonumber)
  b:option("--rate"):description("At most this many enrollments started per second, in all (default: as fast as they go)."):convert(tonumber)
  b:option("--ramp"):description("A morning peak: clients start one after another over this many seconds, as a fleet's devices do when people arrive."):convert(tonumber)
  b:option("--keys"):description("A directory of PEM keys k1.pem, k2.pem, ... made in advance.")
  b:option("--key-type"):description("Fresh keys of this type (rsa:2048 default, ec:p256 ...)."):default("rsa:2048")
  b:option("--subject"):description("Subject of each request; %d is replaced by the enrollment's number."):default("CN=bench-%d")
  b:option("--method"):description("PKIOperation method: auto (per GetCACaps), get or post."):choices({ "auto", "get", "post" }):default("auto")
  b:flag("--retry"):description("Resend an enrollment that met a connection error or HTTP 502, 503 or 504 with the same key, so the same transaction ID, as devices do: after Retry-After (at most 5 s) or 1 s, up to 10 times.")
  b:option("--save"):description("Write each certificate received to this directory, as TRANSACTION-ID.pem (a second one for a transaction as TRANSACTION-ID.2.pem).")
  b:flag("--json"):description("The report as JSON.")
  b:option("--worker"):hidden(true)
  b:option("--worker-out"):hidden(true)
  b:option("--worker-from"):hidden(true):convert(tonumber)
  b:option("--worker-to"):hidden(true):convert(tonumber)
  b:option("--worker-delay"):hidden(true):convert(tonumber)
  b:option("--worker-interval"):hidden(true):convert(tonumber)
  b:option("--worker-go"):hidden(true)
  b:flag("--worker-retry"):hidden(true)
  b:option("--worker-save"):hidden(true)
end

local function shquote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The key specs the C core makes (src/include/sceplab/scep.h).
local KEY_TYPES = { ["rsa:1024"] = true, ["rsa:2048"] = true, ["rsa:3072"] = true, ["rsa:4096"] = true,
                    ["ec:p256"] = true, ["ec:p384"] = true }

-- --retry: how many resends an enrollment gets at most, and what is worth one: no answer (the
-- connection refused, reset or timed out) or a 502, 503 or 504 (a proxy without a live server, a
-- server whose CA is away): nothing was decided, so a device sends the same transaction again.
local RETRIES = 10
local RETRY_STATUS = { [502] = true, [503] = true, [504] = true }
local function retryable(ex)
  if not ex then return false end
  -- a transport error (refused, reset, a body cut short: ex.error) is no answer whatever status
  -- line came before it; a resend of the same transaction gets what the server decided, if anything
  if ex.status == nil or ex.status == 0 or ex.error then return true, nil end
  if RETRY_STATUS[ex.status] then return true, ex.retry_after end
  return false
end

-- One worker: its keys first ({"key": n, "seconds": s} each, then {"keys_done": true}), a wait
-- for the parent's go (a file appears), then enrollments FROM..TO, a JSON line each, then
-- {"done": true}.
local function worker(args)
  local scep = require "sceplab.scep"
  local out = assert(io.open(args.worker_out, "ab"))
  local keys = {}
  for i = args.worker_from, args.worker_to do
    local t0 = sys.now()
    local key, kerr
    if args.keys then
      local pem = sys.read_file(("%s/k%d.pem"):format(args.keys, i), 1 << 20)
      if pem then key, kerr = scep.pkey.load(pem) else kerr = ("%s/k%d.pem: missing"):format(args.keys, i) end
    else
      key, kerr = scep.pkey.generate(args.key_type)
    end
    keys[i] = key or kerr
    out:write(json.encode({ key = i, seconds = sys.now() - t0 }, true), "\n")
    out:flush()
  end
  out:write('{"keys_done":true}\n')
  out:flush()
  while args.worker_go and not sys.kind(args.worker_go) do sys.sleep(0.01) end
  if args.worker_delay and args.worker_delay > 0 then sys.sleep(args.worker_delay) end
  local next_start = sys.now()
  for i = args.worker_from, args.worker_to do
    if args.worker_interval and args.worker_interval > 0 then
      local wait = next_start - sys.now()
      if wait > 0 then sys.sleep(wait) end
      next_start = next_start + args.worker_interval
    end
    local key = keys[i]
    local rec = { n = i }
    if type(key) == "string" then
      rec.error = key
    else
      local t0 = sys.now()
      local r, err
      rec.attempts = 0
      repeat
        -- each attempt a new client and connection, the same key: the same transaction ID
        rec.attempts = rec.attempts + 1
        local c = scep.client { url = args.url, method = args.method }
        r, err = c:enroll({ url = args.url, subject = (args.subject:gsub("%%d", tostring(i))),
                          challenge = os.getenv("SCEPLAB_CHALLENGE") }, { key = key })
        c:close()
        for _, ex in ipairs(c.exchanges) do
          if ex.timings and ex.timings.total then rec[ex.operation] = (rec[ex.operation] or 0) + ex.timings.total end
        end
        local again, wait = false, nil
        if not r and args.worker_retry and rec.attempts <= RETRIES then
          again, wait = retryable(c.exchanges[#c.exchanges])
          if again then sys.sleep(math.min(wait or 1, 5) * (0.75 + math.random() / 2)) end
        end
      until not again
      rec.total = sys.now() - t0
      rec.status = r and r.status or nil
      rec.error = not r and tostring(err) or (r.status ~= "SUCCESS" and (r.status .. " " .. tostring(r.fail_info)) or nil)
      rec.transaction_id = key:transaction_id()
      if r and r.certificate_pem then
        local doc = (require "sceplab.pure").x509.parse(r.certificate_pem)
        local cert = doc and doc.certificates and doc.certificates[1] or {}
        rec.serial, rec.sha256 = cert.serial, cert.sha256
        if args.worker_save then
          local path = ("%s/%s.pem"):format(args.worker_save, rec.transaction_id)
          local k = 1
          while sys.kind(path) do
            k = k + 1
            path = ("%s/%s.%d.pem"):format(args.worker_save, rec.transaction_id, k)
          end
          local f = io.open(path, "wb")
          if f then f:write(r.certificate_pem) f:close() else rec.save_error = path .. ": cannot write" end
        end
      end
    end
    out:write(json.encode(rec, true), "\n")
    out:flush()
  end
  out:write('{"done":true}\n')
  out:close()
  return 0
end

local function lines_of(path)
  local f = io.open(path, "rb")
  if not f then return {} end
  local t = {}
  for l in f:lines() do t[#t + 1] = l end
  f:close()
  return t
end

local function percentile(sorted, p)
  if #sorted == 0 then return nil end
  return sorted[math.max(1, math.min(#sorted, math.ceil(p / 100 * #sorted)))]
end

local PHASES = { "GetCACaps", "GetCACert", "PKIOperation", "total" }
local CODE_EXIT = { input = 3, network = 4, crypto = 1, failed = 1, usage = 2 }

-- The server answers SCEP: GetCACaps, then GetCACert with a CA. true | nil, message, exit code.
local function check_server(args)
  local scep = require "sceplab.scep"
  local c = scep.client { url = args.url, method = args.method, reuse_connections = false }
  local caps, err, code, resp = c:caps()
  if not caps and resp then return nil, ("%s does not answer SCEP: %s"):format(args.url, err), CODE_EXIT[code] or 1 end
  if not caps then return nil, err, CODE_EXIT[code] or 1 end
  for _, word in ipairs(caps.caps) do
    if word:find("[<>{}]") or #word > 40 then
      return nil, ("%s is not a SCEP server: GetCACaps answered %s, not a list of capabilities"):format(args.url,
        (caps.caps[1] or ""):find("<") and "an HTML page" or "something else"), 1
    end
  end
  local cas, cerr, ccode = c:ca_certs()
  if not cas then return nil, ("%s: %s"):format(args.url, cerr), CODE_EXIT[ccode] or 1 end
  return true
end

-- Reads every worker's file: keys made (and their seconds), records, workers whose keys are done,
-- workers done.
local function collect(work, conc)
  local st = { keys = 0, key_seconds = 0, recs = {}, keys_done = 0, done = 0 }
  for w = 1, conc do
    for _, l in ipairs(lines_of(work .. "/w" .. w)) do
      local r = json.decode(l)
      if r then
        if r.done then st.done = st.done + 1
        elseif r.keys_done then st.keys_done = st.keys_done + 1
        elseif r.key then st.keys = st.keys + 1 st.key_seconds = st.key_seconds + (r.seconds or 0)
        else st.recs[#st.recs + 1] = r end
      end
    end
  end
  return st
end

local function progress_line(text)
  io.stderr:write("\r\27[K", text)
  io.stderr:flush()
end

function M.run(args)
  if args.worker then return worker(args) end
  local conc, count = math.tointeger(args.concurrency), math.tointeger(args.count)
  if not conc or conc < 1 or conc > 256 then stderr("--concurrency must be 1..256") return 2 end
  if not count or count < 1 or count > 10000000 then stderr("--count must be a positive integer") return 2 end
  if args.rate and not (args.rate > 0 and args.rate < 1e6) then stderr("--rate must be a positive number of enrollments a second") return 2 end
  if args.ramp and not (args.ramp >= 0 and args.ramp <= 86400) then stderr("--ramp must be 0..86400 seconds") return 2 end
  local ok, uerr = util.check_url(args.url, "URL")
  if not ok then stderr("%s", uerr) return 2 end
  if not args.keys and not KEY_TYPES[args.key_type] then
    stderr("--key-type '%s': one of rsa:2048, rsa:3072, rsa:4096, ec:p256, ec:p384 (rsa:1024 too)", args.key_type:sub(1, 40))
    return 2
  end
  if args.keys and sys.kind(args.keys) ~= "directory" then stderr("--keys %s: not a directory", args.keys) return 3 end
  if args.save and sys.kind(args.save) ~= "directory" then stderr("--save %s: not a directory", args.save) return 3 end
  local exe = sys.executable()
  if not exe then stderr("cannot find this executable to start workers (/proc/self/exe)") return 1 end
  local sok, serr, scode = check_server(args)
  if not sok then stderr("%s", serr) return scode end
  conc = math.min(conc, count)
  local work, werr = sys.mkdtemp("sceplab-bench-")
  if not work then stderr("%s", werr) return 1 end
  local go = work .. "/go"
  local per = count // conc
  local from = 1
  local pids = {}
  for w = 1, conc do
    local to = from + per - 1 + (w <= count % conc and 1 or 0)
    local cmd = { shquote(exe), "bench", shquote(args.url), "--worker", tostring(w), "--worker-out", shquote(work .. "/w" .. w),
                  "--worker-from", tostring(from), "--worker-to", tostring(to), "--key-type", shquote(args.key_type),
                  "--subject", shquote(args.subject), "--method", args.method, "--worker-go", shquote(go) }
    if args.keys then cmd[#cmd + 1] = "--keys" cmd[#cmd + 1] = shquote(args.keys) end
    if args.ramp and args.ramp > 0 then
      cmd[#cmd + 1] = "--worker-delay" cmd[#cmd + 1] = ("%.3f"):format(args.ramp * (w - 1) / conc)
    end
    if args.rate then cmd[#cmd + 1] = "--worker-interval" cmd[#cmd + 1] = ("%.4f"):format(conc / args.rate) end
    if args.retry then cmd[#cmd + 1] = "--worker-retry" end
    if args.save then cmd[#cmd + 1] = "--worker-save" cmd[#cmd + 1] = shquote(args.save) end
    local pidf = work .. "/pid" .. w
    -- a worker that ends without its last line says how it ended (a signal shows as 128 + N)
    os.execute("(" .. table.concat(cmd, " ") .. " >/dev/null; rc=$?; [ $rc -eq 0 ] || echo \"worker " .. w ..
      " exited with status $rc\" >&2) 2>>" .. shquote(work .. "/errors") .. " & echo $! >" .. shquote(pidf))
    pids[w] = (sys.read_file(pidf, 64) or ""):match("%d+")
    from = to + 1
  end
  local show = util.progress()
  local function cleanup()
    for w = 1, conc do os.remove(work .. "/w" .. w) os.remove(work .. "/pid" .. w) end
    os.remove(work .. "/errors")
    os.remove(go)
    os.remove(work)
  end
  -- a worker gone before its last line: its error (a crash, a signal) ends the run, said
  -- (a worker gone after its own last line is done, however long the others take: with --retry
  -- one may still wait to resend while the rest have finished)
  local function finished(w, phase_done)
    local mark = phase_done == "done" and '{"done":true}' or '{"keys_done":true}'
    for _, l in ipairs(lines_of(work .. "/w" .. w)) do if l == mark then return true end end
    return false
  end
  local function dead_worker(st, phase_done)
    if st[phase_done] >= conc then return nil end
    for w = 1, conc do
      if pids[w] and not sys.kind("/proc/" .. pids[w]) then
        if not finished(w, phase_done) then
          local errs = sys.read_file(work .. "/errors", 4096) or ""
          return ("a worker stopped before finishing%s"):format(errs ~= "" and (": " .. errs:gsub("%s+$", ""):gsub("\n", " | ")) or "")
        end
      end
    end
  end
  -- phase 1: the keys (made in the workers, in parallel), with the total and the percentage
  local k0 = sys.now()
  local st
  repeat
    sys.sleep(0.1)
    st = collect(work, conc)
    if show then progress_line(("  %s keys: %d/%d (%d%%)"):format(args.keys and "loading" or "making " .. args.key_type, st.keys, count,
      st.keys * 100 // count)) end
    local why = dead_worker(st, "keys_done")
    if why then
      if show then io.stderr:write("\n") end
      stderr("%s", why)
      cleanup()
      return 1
    end
  until st.keys_done == conc or sys.now() - k0 > 3600
  local key_wall = sys.now() - k0
  local key_cpu = st.key_seconds
  -- phase 2: the enrollments, timed from the go
  local f = assert(io.open(go, "wb"))
  f:close()
  local t0 = sys.now()
  repeat
    sys.sleep(0.2)
    st = collect(work, conc)
    if show then
      local failed = 0
      for _, r in ipairs(st.recs) do if r.status ~= "SUCCESS" then failed = failed + 1 end end
      progress_line(("  enrolled %d/%d (%d%%), %d failed, %.1f/s"):format(#st.recs - failed, count, #st.recs * 100 // count,
        failed, #st.recs / math.max(sys.now() - t0, 1e-3)))
    end
    local why = dead_worker(st, "done")
    if why then
      if show then io.stderr:write("\n") end
      stderr("%s", why)
      cleanup()
      return 1
    end
  until st.done == conc or sys.now() - t0 > 3600
  local wall = sys.now() - t0
  if show then io.stderr:write("\r\27[K") end
  local recs = st.recs
  local enrolled, failures, times = 0, {}, {}
  -- certificates received per transaction: more than one (different ones) is a double issuance
  local by_tx, received, resent = {}, 0, 0
  for _, r in ipairs(recs) do
    if r.attempts and r.attempts > 1 then resent = resent + 1 end
    if r.sha256 and r.transaction_id then
      received = received + 1
      local t = by_tx[r.transaction_id] or {}
      by_tx[r.transaction_id] = t
      t[r.sha256] = true
    end
  end
  local transactions, most, doubled = 0, 0, {}
  for tx, certs in pairs(by_tx) do
    local n = 0
    for _ in pairs(certs) do n = n + 1 end
    transactions = transactions + 1
    most = math.max(most, n)
    if n > 1 then doubled[#doubled + 1] = tx end
  end
  table.sort(doubled)
  for _, ph in ipairs(PHASES) do times[ph] = {} end
  for _, r in ipairs(recs) do
    if r.status == "SUCCESS" then
      enrolled = enrolled + 1
      for _, ph in ipairs(PHASES) do if r[ph] then table.insert(times[ph], r[ph] * 1000) end end
    else
      local why = r.error or "?"
      failures[why] = (failures[why] or 0) + 1
    end
  end
  local rep = { url = args.url, concurrency = conc, count = count, enrolled = enrolled, failed = #recs - enrolled,
                wall_seconds = wall, per_second = enrolled / wall, phases = {}, failures = failures,
                keys = { count = st.keys, type = args.keys and "loaded" or args.key_type, wall_seconds = key_wall,
                         ms_each = st.keys > 0 and key_cpu / st.keys * 1000 or 0 },
                certificates = { received = received, transactions = transactions, most_per_transaction = most,
                                 transactions_with_several = json.array(doubled), resent = resent } }
  for _, ph in ipairs(PHASES) do
    table.sort(times[ph])
    rep.phases[ph] = { p50 = percentile(times[ph], 50), p95 = percentile(times[ph], 95), p99 = percentile(times[ph], 99),
                       n = #times[ph] }
  end
  cleanup()
  if args.json then
    io.stdout:write(json.encode(rep), "\n")
  else
    io.stdout:write(("%s: %d enrolled, %d failed, %d concurrent, %.2f s, %.1f enrollments/s\n"):format(args.url, enrolled,
      rep.failed, conc, wall, rep.per_second))
    io.stdout:write(("  keys: %d %s in %.2f s before the load (%.1f ms each; not in the figures below)\n"):format(st.keys,
      rep.keys.type, key_wall, rep.keys.ms_each))
    io.stdout:write("  phase          p50 ms   p95 ms   p99 ms\n")
    for _, ph in ipairs(PHASES) do
      local t = rep.phases[ph]
      if t.n > 0 then
        io.stdout:write(("  %-12s %8.1f %8.1f %8.1f\n"):format(ph, t.p50, t.p95, t.p99))
      end
    end
    for why, n in pairs(failures) do io.stdout:write(("  failed %d: %s\n"):format(n, why)) end
    io.stdout:write(("  certificates: %d received for %d transactions, at most %d per transaction%s%s\n"):format(received,
      transactions, most, #doubled > 0 and (": SEVERAL for " .. table.concat(doubled, ", ")) or "",
      resent > 0 and ("; %d enrollments resent"):format(resent) or ""))
  end
  return (rep.failed > 0 or #doubled > 0) and 1 or 0
end

return M
