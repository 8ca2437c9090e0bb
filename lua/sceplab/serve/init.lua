-- `sceplab serve`: an NDES-faithful SCEP server over the embedded CA, whose challenge policy is a
-- Lua script (lua/policies/*.lua, or a file of yours) loaded through the sandbox (policy.lua: the
-- policy, its ctx and the handler the server calls). The Intune side (the SyncML profile around a
-- CertEnrollToken) is intune.lua.
local core = require "sceplab.core.serve"
local policy = require "sceplab.serve.policy"

local M = {
  load_policy = policy.load_policy,
  policy_path = policy.policy_path,
  bundled = policy.bundled,
  handler = policy.handler,
}

-- GetCACaps as NDES on Windows Server answers it (CRLF lines), with AES for today's clients.
M.DEFAULT_CAPS = { "POSTPKIOperation", "Renewal", "SHA-512", "SHA-256", "SHA-1", "DES3", "AES" }

--- Runs the server until SIGINT or SIGTERM. opts: dir, db (a postgresql:// URL; nil: dir's ca.db),
-- policy (name or file), config, bind, port,
-- tls_cert, tls_key, caps (list), ca_only, allow_des, logs (false: none), crs_hold, host, admin_user,
-- admin_password, admin_get_compat, password_max, ca_latency_ms, faults (names: core.faults()),
-- max_connections, max_per_client, header_timeout, body_timeout, idle_timeout (seconds), clock (a function),
-- clock_file (a virtual clock: seconds to add to real time; the server follows it when a replay
-- writes it), ready(url),
-- logged(line), on_decision(req, answer); workers (processes; default: the cores; 1: this process
-- alone), drain_seconds (SIGTERM), metrics_bind and metrics_port (the admin listener: /metrics),
-- reread() -> opts | nil, message (SIGHUP: the settings read again; default: the same opts),
-- env(name) (where Intune's API secrets come from; default os.getenv: a replay hands its own).
-- ready(url, pol, extra) is told extra.metrics (the /metrics URL) and extra.workers.
-- Returns true | nil, message, code.
--
-- prepare: the policy, the open CA and the server's options for opts; nil, message, code.
local function prepare(opts)
  local pol, perr = policy.load_policy(policy.policy_path(opts.policy or "static"))
  if not pol then return nil, perr, "input" end
  local cprof = policy.config_profile(opts.config or {})
  local cerr0 = cprof and policy.profile_error(cprof)
  if cerr0 then return nil, "--set allow_*: " .. cerr0:gsub("^profile%.", ""), "usage" end
  local ca, cerr, code = core.ca_open(opts.dir, opts.db)
  if not ca then return nil, cerr, code end
  local caps = opts.caps
  if not caps then
    caps = { table.unpack(M.DEFAULT_CAPS) }
    -- a rollover CA is announced, as RFC 8894 says a server that has one does
    if ca:next() then caps[#caps + 1] = "GetNextCACert" end
  end
  local scheme = opts.tls_cert and "https" or "http"
  local host = opts.bind or "127.0.0.1"
  local params = {
    bind = host, port = opts.port, tls_cert = opts.tls_cert, tls_key = opts.tls_key,
    caps = table.concat(caps, "\r\n") .. "\r\n", ca_only = opts.ca_only, allow_des = opts.allow_des,
    connector = pol.connector, crs_hold = opts.crs_hold, host = opts.host,
    admin_page = pol.admin_page, admin_user = opts.admin_user, admin_password = opts.admin_password,
    admin_get_compat = opts.admin_get_compat, max_connections = opts.max_connections,
    max_per_client = opts.max_per_client, header_timeout = opts.header_timeout, body_timeout = opts.body_timeout,
    idle_timeout = opts.idle_timeout,
    password_max = opts.password_max, ca_latency_ms = opts.ca_latency_ms, faults = opts.faults,
    clock_file = opts.clock_file, public_url = opts.public_url,
    log_dir = opts.logs ~= false and (opts.log_dir or (opts.dir .. "/logs")) or nil,
    ready = function(port)
      if opts.ready then opts.ready(("%s://%s:%d/certsrv/mscep/mscep.dll"):format(scheme, host, port), pol) end
    end,
    logged = opts.logged,
  }
  local clock = opts.clock
  if not clock and opts.clock_file then
    -- the virtual clock a replay advances: the server's one clock (src/core/base/clock.c), which
    -- follows the file when replay writes it; a policy reads it, not the file
    clock = function() return core.now() end
  end
  local api
  if pol.intune_api then
    -- Intune's API (serve/intune_policy.lua): its settings checked before the server listens
    local ok, res = pcall((require "sceplab.serve.intune_policy").api, ca, opts.config or {},
                          params.log_dir and (params.log_dir .. "/intune-api.log"), true, opts.env)
    if not ok then
      ca:close()
      return nil, tostring(res), "usage"
    end
    api = res
  end
  local handler, hooks = policy.handler(pol, ca, opts.config or {}, opts.on_decision, clock, api)
  params.outcome = hooks.outcome
  -- a policy's tick runs at its API's poll interval; without one, never
  if hooks.tick and api and api.poll_seconds then params.tick, params.tick_seconds = hooks.tick, api.poll_seconds end
  -- its calls end on other threads: the server is woken, the calls' coroutines go on, and the
  -- requests the policy deferred are asked about again
  if api and api.pump then params.wake, params.wake_fd, params.pending = api.pump, api.wake_fd, api.pending end
  return { pol = pol, ca = ca, params = params, scheme = scheme, host = host, handler = handler, api = api }
end

-- The admin listener, when asked for: its descriptor and /metrics URL, or nil; or false, message, code.
local function metrics_listener(opts)
  if not opts.metrics_port then return nil end
  local host = opts.metrics_bind or "127.0.0.1"
  local fd, port_or_err, code = core.listen(host, opts.metrics_port)
  if not fd then return false, port_or_err, code end
  return fd, ("http://%s:%d/metrics"):format(host:find(":") and ("[" .. host .. "]") or host, port_or_err)
end

-- One process: the loop here; SIGHUP reads the policy (and the settings reread gives) again and
-- answers with it from the next request on.
local function run_single(opts)
  local mfd, murl, mcode = metrics_listener(opts)
  if mfd == false then return nil, murl, mcode end
  local p, err, code = prepare(opts)
  if not p then return nil, err, code end
  local handler = p.handler
  p.params.metrics_fd = mfd
  p.params.drain_seconds = opts.drain_seconds
  p.params.ready = function(port)
    if opts.ready then
      opts.ready(("%s://%s:%d/certsrv/mscep/mscep.dll"):format(p.scheme, p.host, port), p.pol, { metrics = murl, workers = 1 })
    end
  end
  p.params.reload = function()
    local o, rerr = opts, nil
    if opts.reread then o, rerr = opts.reread() end
    local pol, perr = o and policy.load_policy(policy.policy_path(o.policy or "static"))
    if pol and pol.intune_api and not p.api then
      -- Intune's API client (its threads, its wake-ups) is made at start: a restart brings it in
      pol, perr = nil, ("policy %s calls Intune's API, which this server did not start with: restart it"):format(pol.file)
    end
    if not pol then
      io.stderr:write("sceplab: SIGHUP: ", tostring(rerr or perr), "; the policy in force stays\n")
      return
    end
    handler = policy.handler(pol, p.ca, o.config or {}, o.on_decision, opts.clock or (opts.clock_file and core.now), p.api)
    io.stderr:write(("sceplab: SIGHUP: policy %s read again\n"):format(pol.file))
  end
  local ok, serr, ecode = core.serve(p.ca, p.params, function(req) return handler(req) end)
  p.ca:close()
  return ok, serr, ecode
end

-- A worker's exit status for an error's code: its sceplab_code, which the supervisor's error takes.
local EXIT = { usage = 2, input = 3, network = 4 }

-- N processes (sceplab/workers.h): the sockets made here, once; each worker prepares its own
-- server (the policy loaded, the CA opened in its process) on them.
local function run_workers(opts, n)
  -- prepared here first, so that a mistake is said once, with its code, before any worker starts
  local first, ferr, fcode = prepare(opts)
  if not first then return nil, ferr, fcode end
  local pol = first.pol
  first.ca:close() -- an SQLite connection must not cross a fork
  local host = opts.bind or "127.0.0.1"
  local fd, port, lcode = core.listen(host, opts.port or 0)
  if not fd then return nil, port, lcode end
  local mfd, murl, mcode = metrics_listener(opts)
  if mfd == false then return nil, murl, mcode end
  local scheme = opts.tls_cert and "https" or "http"
  local function worker(ready_fd, generation, index)
    local o = opts
    if generation > 1 and opts.reread then
      local rerr
      o, rerr = opts.reread()
      if not o then io.stderr:write("sceplab: ", tostring(rerr), "\n") return 1 end
    end
    local p, err, code = prepare(o)
    if not p then io.stderr:write("sceplab: ", tostring(err), "\n") return EXIT[code] or 1 end
    p.params.listen_fd, p.params.metrics_fd, p.params.ready_fd = fd, mfd, ready_fd
    p.params.drain_seconds = o.drain_seconds
    p.params.ready = nil -- the supervisor says it, once for them all
    -- a periodic job (Intune's revocation requests) is the fleet's, not each worker's: the first
    -- worker alone runs it, so one poll downloads each request once
    if index ~= 1 then p.params.tick, p.params.tick_seconds = nil, nil end
    local ok, serr, scode = core.serve(p.ca, p.params, p.handler)
    p.ca:close()
    if not ok then io.stderr:write("sceplab: ", tostring(serr), "\n") return EXIT[scode] or 1 end
    return 0
  end
  return core.supervise({ workers = n, drain_seconds = opts.drain_seconds }, worker, function()
    if opts.ready then
      opts.ready(("%s://%s:%d/certsrv/mscep/mscep.dll"):format(scheme, host, port), pol, { metrics = murl, workers = n })
    end
  end, opts.say)
end

function M.run(opts)
  local n = opts.workers or core.cores()
  if n == 1 then return run_single(opts) end
  return run_workers(opts, n)
end

--- The same server in a child process, for a caller that drives clients against it (replay):
-- the server userdata (server:port(), server:stop()) and its URL | nil, message, code.
function M.spawn(opts)
  local p, err, code = prepare(opts)
  if not p then return nil, err, code end
  local srv, serr = core.spawn(p.ca, p.params, p.handler)
  p.ca:close()
  if not srv then return nil, serr, "failed" end
  return srv, ("%s://%s:%d/certsrv/mscep/mscep.dll"):format(p.scheme, p.host, srv:port())
end

return M
