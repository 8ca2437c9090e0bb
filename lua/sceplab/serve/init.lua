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
-- logged(line), on_decision(req, answer).
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
                          params.log_dir and (params.log_dir .. "/intune-api.log"))
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
  return { pol = pol, ca = ca, params = params, scheme = scheme, host = host, handler = handler }
end

function M.run(opts)
  local p, err, code = prepare(opts)
  if not p then return nil, err, code end
  local ok, serr, ecode = core.serve(p.ca, p.params, p.handler)
  p.ca:close()
  return ok, serr, ecode
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
