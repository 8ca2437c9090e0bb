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

-- everything the run keeps outside the bundle (the CAs, the TLS key, the clock)
local function remove_work(work)
  remove_state(work .. "/ca")
  remove_state(work .. "/other-tenant")
  for _, n in ipairs({ "clock", "tls.pem", "tls.key", "root.pem" }) do os.remove(work .. "/" .. n) end
  os.remove(work)
end

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
    log_dir = self.bundle .. "/NDES", faults = list, config = sc.server.config or {}, host = "NDES01",
    clock_file = self.clock.file, tls_cert = tls and tls.cert, tls_key = tls and tls.key, caps = sc.server.caps,
  })
  if not srv then return nil, url end
  self.srv, self.url = srv, url
  self.say(("server: %s, policy %s%s"):format(url, sc.server.policy or "intune",
    #list > 0 and (", faults " .. table.concat(list, ", ")) or ""))
  return true
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
