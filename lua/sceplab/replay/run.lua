-- A scenario played into a bundle: the set-up (a CA in a private working directory, HTTPS when
-- asked, the server in a child process, the device, the virtual clock), the steps one by one
-- (steps.lua), and the tear-down on every path out (the CA's keys never stay behind).
local sys = require "sceplab.core.sys"
local core = require "sceplab.core.serve"
local serve = require "sceplab.serve"
local scenario = require "sceplab.replay.scenario"
local devices = require "sceplab.replay.devices"
local clock = require "sceplab.replay.clock"
local steps = require "sceplab.replay.steps"

local M = {}

--- Removes a bundle folder the replay wrote (its files and folders only: what a replay writes).
function M.remove_bundle(dir)
  for _, n in ipairs(sys.listdir(dir) or {}) do
    local p = dir .. "/" .. n
    if sys.kind(p) == "directory" then M.remove_bundle(p) else os.remove(p) end
  end
  os.remove(dir)
end

-- The CA's state lives outside the bundle (a bundle is shared; the CA's keys are not) and is
-- removed after the run.
local function remove_state(dir)
  -- the CA's files only: keys, certificates (rolled-over ones too), its database
  for _, n in ipairs(sys.listdir(dir) or {}) do
    if n:match("%.pem$") or n:match("%.key$") or n:match("^ca%.db") then os.remove(dir .. "/" .. n) end
  end
  os.remove(dir)
end

-- everything the run keeps outside the bundle (the CAs, the TLS key, the clock, the cloud's secret)
local function remove_work(work)
  remove_state(work .. "/ca")
  remove_state(work .. "/other-tenant")
  for _, n in ipairs({ "clock", "tls.pem", "tls.key", "root.pem", "cloud.secret", "cloud.out", "cloud.err", "cloud.pid" }) do
    os.remove(work .. "/" .. n)
  end
  os.remove(work)
end

-- The app the intune-api path's serve signs in as, at the tenant the stand-in plays.
local TENANT, CLIENT_ID = "contoso.onmicrosoft.com", "b3bcd8e2-6f4a-4c1e-9d3e-5ab5c0ffee01"

local function shquote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local Run = {}
Run.__index = Run

--- (Re)starts the server with the faults in play, on the port it had: true | nil, message.
function Run:start()
  self:stop()
  local list = {}
  for f in pairs(self.server_faults) do list[#list + 1] = f end
  table.sort(list)
  local sc, tls = self.sc, self.tls
  local srv, url = serve.spawn({
    dir = self.work .. "/ca", policy = sc.server.policy or "intune",
    port = self.url and tonumber(self.url:match(":(%d+)/")) or 0,
    log_dir = self.bundle .. "/NDES", faults = list, config = self.config or sc.server.config or {}, host = "NDES01",
    env = self.env,
    clock_file = self.clock.file, tls_cert = tls and tls.cert, tls_key = tls and tls.key, caps = sc.server.caps,
  })
  if not srv then return nil, url end
  self.srv, self.url = srv, url
  self.say(("server: %s, policy %s%s"):format(url, sc.server.policy or "intune",
    #list > 0 and (", faults " .. table.concat(list, ", ")) or ""))
  return true
end

-- The intune-api path: Intune's cloud played by `sceplab intune cloud` in a process of its own (this
-- executable), over the scenario's CA (whose Intune keys signed the device's challenge), with the
-- scenario's cloud faults; serve's settings point at it and its secret is the run's own, handed
-- through a file (never a command line). true | nil, message.
function Run:start_cloud()
  if (self.sc.server.policy or "intune") ~= "intune-api" then return true end
  local exe = sys.executable()
  if not exe then return nil, "cannot find this executable to start sceplab intune cloud (/proc/self/exe)" end
  local jwt = require "sceplab.serve.jwt"
  local secret = "replay-" .. jwt.uuid()
  local work = self.work
  local ok, err = sys.write_private(work .. "/cloud.secret", secret)
  if not ok then return nil, err end
  local cmd = { "SCEPLAB_INTUNE_CLIENT_SECRET=\"$(cat " .. shquote(work .. "/cloud.secret") .. ")\"", shquote(exe), "intune", "cloud",
                "--dir", shquote(work .. "/ca"), "--port", "0", "--tenant", TENANT, "--client-id", CLIENT_ID }
  local list = {}
  for _, f in ipairs(self.sc.server.faults or {}) do
    if scenario.FAULTS[f].cloud then cmd[#cmd + 1] = "--fault" cmd[#cmd + 1] = shquote(f) list[#list + 1] = f end
  end
  os.execute(table.concat(cmd, " ") .. " >" .. shquote(work .. "/cloud.out") .. " 2>" .. shquote(work .. "/cloud.err") ..
             " </dev/null & echo $! >" .. shquote(work .. "/cloud.pid"))
  self.cloud_pid = (sys.read_file(work .. "/cloud.pid", 64) or ""):match("%d+")
  local base
  for _ = 1, 200 do
    base = (sys.read_file(work .. "/cloud.out", 4096) or ""):match("listening on (%S+)")
    if base or not (self.cloud_pid and sys.kind("/proc/" .. self.cloud_pid)) then break end
    sys.sleep(0.05)
  end
  if not base then
    local why = (sys.read_file(work .. "/cloud.err", 4096) or ""):gsub("%s+$", "")
    return nil, "sceplab intune cloud did not start" .. (why ~= "" and (": " .. why) or "")
  end
  self.cloud_base = base
  local config = {}
  for k, v in pairs(self.sc.server.config or {}) do config[k] = v end
  config.tenant, config.client_id = config.tenant or TENANT, config.client_id or CLIENT_ID
  config.authority, config.graph = config.authority or base, config.graph or base
  self.config = config
  self.env = function(name) if name == "SCEPLAB_INTUNE_CLIENT_SECRET" then return secret end return os.getenv(name) end
  self.say(("cloud: %s (sceplab intune cloud: Entra ID, Graph, the SCEP validation service)%s"):format(base,
    #list > 0 and (", faults " .. table.concat(list, ", ")) or ""))
  return true
end

function Run:stop_cloud()
  if not self.cloud_pid then return end
  os.execute("kill " .. self.cloud_pid .. " 2>/dev/null")
  -- gone before its CA's files are removed
  for _ = 1, 100 do
    if not sys.kind("/proc/" .. self.cloud_pid) then break end
    sys.sleep(0.05)
  end
  self.cloud_pid = nil
end

--- Stops the server, if it runs: NDES offline.
function Run:stop()
  if self.srv then self.srv:stop() end
  self.srv = nil
end

-- HTTPS (server.tls, or the name-mismatch fault): a certificate from the scenario's CA, for the
-- address the device uses, or for another name. true | nil, message.
function Run:tls_files()
  if not (self.sc.server.tls or self.faults["tls-name-mismatch"]) then return true end
  local names = self.faults["tls-name-mismatch"] and { "ndes.contoso.com" } or { "127.0.0.1", "localhost" }
  local cert, key = self.ca:tls_server(names)
  if not cert then return nil, key end
  local certs = self.ca:certificates()
  local work = self.work
  local tls = { cert = work .. "/tls.pem", key = work .. "/tls.key", root = work .. "/root.pem" }
  local f = assert(io.open(tls.cert, "wb")) f:write(cert, certs.issuing) f:close()
  f = assert(io.open(tls.root, "wb")) f:write(certs.root) f:close()
  local ok, err = sys.write_private(tls.key, key)
  if not ok then return nil, err end
  self.tls = tls
  return true
end

-- The set-up before the first step: the CA, HTTPS, the server, the device. true | nil, message.
function Run:setup()
  local sc = self.sc
  local ok, err = core.ca_init(self.work .. "/ca", { key = sc.server.key, one_tier = sc.server.tiers == 1 })
  if not ok then return nil, err end
  self.ca, err = core.ca_open(self.work .. "/ca")
  if not self.ca then return nil, err end
  self.clock = clock.new(self.work .. "/clock")
  for _, f in ipairs(sc.server.faults or {}) do
    if scenario.FAULTS[f].server then self.server_faults[f] = true end
  end
  ok, err = self:tls_files()
  if not ok then return nil, err end
  ok, err = self:start_cloud()
  if not ok then return nil, err end
  ok, err = self:start()
  if not ok then return nil, err end
  self.device = devices.new(self.clock, sc.platform, self.faults)
  self.device.cacert = self.tls and self.tls.root
  return true
end

--- Plays a scenario into a bundle directory. opts: bundle (directory, made), log(line).
-- Returns {bundle, steps = {...}, result, date} | nil, message, code.
function M.run(sc, opts)
  local bundle = opts.bundle
  local ok, err = sys.mkdir(bundle)
  if not ok then return nil, err, "input" end
  if #(sys.listdir(bundle) or {}) > 0 then return nil, bundle .. ": not empty (a bundle is written into a new directory)", "usage" end
  -- the CA's keys live here while the run lasts: a directory of our own, never one made before us
  local work, werr = sys.mkdtemp("sceplab-replay-")
  if not work then return nil, werr, "failed" end
  local faults = {}
  for _, f in ipairs(sc.server.faults or {}) do faults[f] = true end
  local run = setmetatable({ sc = sc, bundle = bundle, work = work, faults = faults, server_faults = {},
                             say = opts.log or function() end }, Run)
  local lines = {}
  ok, err = run:setup()
  if ok then
    for i, st in ipairs(sc.steps) do
      local line
      line, err = steps[st[1]](run, i, st)
      if not line then break end
      lines[#lines + 1] = line
      run.say(line)
    end
  end
  run:stop()
  run:stop_cloud()
  if run.ca then run.ca:close() end
  remove_work(work)
  if err then return nil, err, "failed" end
  if sc.collect.device then
    local wok, werr = run.device:write(bundle .. "/Device")
    if not wok then return nil, werr, "failed" end
  end
  if not sc.collect.ndes then M.remove_bundle(bundle .. "/NDES") end
  return { bundle = bundle, steps = lines, result = run.result,
           date = os.date("!%Y-%m-%d", math.floor(run.device.first_t or run.clock:now())) }
end

return M
