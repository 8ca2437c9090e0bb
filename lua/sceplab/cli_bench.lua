-- CLI: sceplab bench, a load tool for any SCEP server (NDES, micromdm, step-ca, sceplab serve).
-- N worker processes (this same executable, started with --worker) enroll their share each with
-- the real client, one connection per enrollment as devices do, and append one JSON line per
-- enrollment (status and the time of each phase) to their own file; the parent shows a live
-- progress line and reports enrollments/s and per-phase latency percentiles.
local cli = require "sceplab.cli"
local sys = require "sceplab.core.sys"
local json = require "sceplab.json"

local M = {}
local stderr = cli.stderr

function M.register(p)
  local b = p:command("bench")
    :description("Load a SCEP server: C concurrent clients enroll M times in all (fresh keys unless --keys), and report enrollments/s and per-phase latency (GetCACaps, GetCACert, PKIOperation: p50/p95/p99).")
  b:argument("url"):description("The SCEP server URL.")
  b:option("--concurrency"):description("Concurrent clients (processes)."):default("4"):convert(tonumber)
  b:option("--count"):description("Enrollments in all."):default("100"):convert(tonumber)
  b:option("--rate"):description("At most this many enrollments started per second, in all (default: as fast as they go)."):convert(tonumber)
  b:option("--ramp"):description("A morning peak: clients start one after another over this many seconds, as a fleet's devices do when people arrive."):convert(tonumber)
  b:option("--keys"):description("A directory of PEM keys k1.pem, k2.pem, ... made in advance (key generation is then not in the load).")
  b:option("--key-type"):description("Fresh keys of this type (rsa:2048 default, ec:p256 ...)."):default("rsa:2048")
  b:option("--subject"):description("Subject of each request; %d is replaced by the enrollment's number."):default("CN=bench-%d")
  b:option("--method"):description("PKIOperation method: auto (per GetCACaps), get or post."):choices({ "auto", "get", "post" }):default("auto")
  b:flag("--json"):description("The report as JSON.")
  b:option("--worker"):hidden(true)
  b:option("--worker-out"):hidden(true)
  b:option("--worker-from"):hidden(true):convert(tonumber)
  b:option("--worker-to"):hidden(true):convert(tonumber)
  b:option("--worker-delay"):hidden(true):convert(tonumber)
  b:option("--worker-interval"):hidden(true):convert(tonumber)
end

local function shquote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- One worker: enrollments FROM..TO, a JSON line each, then a line {"done": true}.
local function worker(args)
  local scep = require "sceplab.scep"
  local out = assert(io.open(args.worker_out, "ab"))
  if args.worker_delay and args.worker_delay > 0 then sys.sleep(args.worker_delay) end
  local next_start = sys.now()
  for i = args.worker_from, args.worker_to do
    if args.worker_interval and args.worker_interval > 0 then
      local wait = next_start - sys.now()
      if wait > 0 then sys.sleep(wait) end
      next_start = next_start + args.worker_interval
    end
    local key, kerr
    if args.keys then
      local pem = sys.read_file(("%s/k%d.pem"):format(args.keys, i), 1 << 20)
      if pem then key, kerr = scep.pkey.load(pem) else kerr = ("%s/k%d.pem: missing"):format(args.keys, i) end
    else
      key, kerr = scep.pkey.generate(args.key_type)
    end
    local rec = { n = i }
    if not key then
      rec.error = kerr
    else
      local t0 = sys.now()
      local c = scep.client { url = args.url, method = args.method }
      local r, err = c:enroll({ url = args.url, subject = (args.subject:gsub("%%d", tostring(i))),
                                challenge = os.getenv("SCEPLAB_CHALLENGE") }, { key = key })
      c:close()
      rec.total = sys.now() - t0
      rec.status = r and r.status or nil
      rec.error = not r and tostring(err) or (r.status ~= "SUCCESS" and (r.status .. " " .. tostring(r.fail_info)) or nil)
      for _, ex in ipairs(c.exchanges) do
        if ex.timings and ex.timings.total then rec[ex.operation] = (rec[ex.operation] or 0) + ex.timings.total end
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

function M.run(args)
  if args.worker then return worker(args) end
  local conc, count = math.tointeger(args.concurrency), math.tointeger(args.count)
  if not conc or conc < 1 or conc > 256 then stderr("--concurrency must be 1..256") return 2 end
  if not count or count < 1 then stderr("--count must be a positive integer") return 2 end
  if args.rate and args.rate <= 0 then stderr("--rate must be positive") return 2 end
  if not args.url:match("^https?://") then stderr("%s: the URL must start with http:// or https://", args.url) return 2 end
  if args.keys and sys.kind(args.keys) ~= "directory" then stderr("--keys %s: not a directory", args.keys) return 3 end
  local exe = sys.executable()
  if not exe then stderr("cannot find this executable to start workers (/proc/self/exe)") return 1 end
  conc = math.min(conc, count)
  local work = os.tmpname()
  os.remove(work)
  assert(sys.mkdir(work))
  local per = count // conc
  local from = 1
  local t0 = sys.now()
  for w = 1, conc do
    local to = from + per - 1 + (w <= count % conc and 1 or 0)
    local cmd = { shquote(exe), "bench", shquote(args.url), "--worker", tostring(w), "--worker-out", shquote(work .. "/w" .. w),
                  "--worker-from", tostring(from), "--worker-to", tostring(to), "--key-type", shquote(args.key_type),
                  "--subject", shquote(args.subject), "--method", args.method }
    if args.keys then cmd[#cmd + 1] = "--keys" cmd[#cmd + 1] = shquote(args.keys) end
    if args.ramp and args.ramp > 0 then
      cmd[#cmd + 1] = "--worker-delay" cmd[#cmd + 1] = ("%.3f"):format(args.ramp * (w - 1) / conc)
    end
    if args.rate then cmd[#cmd + 1] = "--worker-interval" cmd[#cmd + 1] = ("%.4f"):format(conc / args.rate) end
    os.execute(table.concat(cmd, " ") .. " >/dev/null 2>>" .. shquote(work .. "/errors") .. " &")
    from = to + 1
  end
  -- the live line: enrollments done, failed, rate; until every worker wrote its last line
  local tty = sys.isatty(2)
  local recs, done
  repeat
    sys.sleep(0.2)
    recs, done = {}, 0
    for w = 1, conc do
      for _, l in ipairs(lines_of(work .. "/w" .. w)) do
        local r = json.decode(l)
        if r and r.done then done = done + 1 elseif r then recs[#recs + 1] = r end
      end
    end
    if tty then
      local failed = 0
      for _, r in ipairs(recs) do if r.status ~= "SUCCESS" then failed = failed + 1 end end
      io.stderr:write(("\r  %d/%d enrolled, %d failed, %.1f/s   "):format(#recs - failed, count, failed,
        #recs / math.max(sys.now() - t0, 1e-3)))
    end
  until done == conc or sys.now() - t0 > 3600
  local wall = sys.now() - t0
  if tty then io.stderr:write("\n") end
  local ok, failures, times = 0, {}, {}
  for _, ph in ipairs(PHASES) do times[ph] = {} end
  for _, r in ipairs(recs) do
    if r.status == "SUCCESS" then
      ok = ok + 1
      for _, ph in ipairs(PHASES) do if r[ph] then table.insert(times[ph], r[ph] * 1000) end end
    else
      local why = r.error or "?"
      failures[why] = (failures[why] or 0) + 1
    end
  end
  local rep = { url = args.url, concurrency = conc, count = count, enrolled = ok, failed = #recs - ok,
                wall_seconds = wall, per_second = ok / wall, phases = {}, failures = failures }
  for _, ph in ipairs(PHASES) do
    table.sort(times[ph])
    rep.phases[ph] = { p50 = percentile(times[ph], 50), p95 = percentile(times[ph], 95), p99 = percentile(times[ph], 99),
                       n = #times[ph] }
  end
  for w = 1, conc do os.remove(work .. "/w" .. w) end
  os.remove(work .. "/errors")
  os.remove(work)
  if args.json then
    io.stdout:write(json.encode(rep), "\n")
  else
    io.stdout:write(("%s: %d enrolled, %d failed, %d concurrent, %.2f s, %.1f enrollments/s\n"):format(args.url, ok,
      rep.failed, conc, wall, rep.per_second))
    io.stdout:write("  phase          p50 ms   p95 ms   p99 ms\n")
    for _, ph in ipairs(PHASES) do
      local t = rep.phases[ph]
      if t.n > 0 then
        io.stdout:write(("  %-12s %8.1f %8.1f %8.1f\n"):format(ph, t.p50, t.p95, t.p99))
      end
    end
    for why, n in pairs(failures) do io.stdout:write(("  failed %d: %s\n"):format(n, why)) end
  end
  return rep.failed > 0 and 1 or 0
end

return M
