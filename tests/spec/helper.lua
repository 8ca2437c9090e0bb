-- Shared helpers of the busted specs: fixtures, temporary files, and running the built binary.
local M = {}

M.fixtures = assert(os.getenv("SCEPLAB_FIXTURES"), "run the specs through ctest (SCEPLAB_FIXTURES unset)")
M.bin = assert(os.getenv("SCEPLAB_BIN"), "SCEPLAB_BIN unset")
M.root = M.fixtures .. "/../.."  -- the source tree

function M.fixture(rel)
  return M.fixtures .. "/" .. rel
end

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local d = f:read("a")
  f:close()
  return d
end

function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  return path
end

function M.tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function shquote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.shquote = shquote

--- Runs the sceplab binary with extra environment variables; returns exit code, stdout, stderr.
-- The binary runs with leak detection on even when the spec process itself has it off.
function M.sceplab_env(vars, args, stdin)
  local parts = { "env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=1" }
  for k, v in pairs(vars) do parts[#parts + 1] = k .. "=" .. shquote(v) end
  parts[#parts + 1] = shquote(M.bin)
  for _, a in ipairs(args) do parts[#parts + 1] = shquote(a) end
  local errf, outf = M.tmpname(), M.tmpname()
  local cmd = table.concat(parts, " ") .. " >" .. outf .. " 2>" .. errf
  if stdin then
    local inf = M.write(M.tmpname(), stdin)
    cmd = cmd .. " <" .. inf
  else
    cmd = cmd .. " </dev/null"
  end
  local _, _, code = os.execute(cmd)
  local out, err = M.read(outf), M.read(errf)
  os.remove(outf)
  os.remove(errf)
  return code, out, err
end

--- Runs the sceplab binary; returns exit code, stdout, stderr.
function M.sceplab(args, stdin)
  return M.sceplab_env({}, args, stdin)
end

--- A new empty temporary directory.
--- A new directory of our own (mode 0700, under TMPDIR), made by mkdtemp as sceplab makes its own.
function M.tmpdir()
  require "sceplab.core"
  return assert((require "sceplab.core.sys").mkdtemp("sceplab-spec-"))
end

--- Waits until a spawned job's log shows pattern (up to tries tenths of a second): the first
-- capture, or nil and the log's text.
function M.wait_log(log, pattern, tries)
  local text = ""
  for _ = 1, tries or 100 do
    local f = io.open(log, "rb") -- the shell creates it when the job starts
    text = f and f:read("a") or ""
    if f then f:close() end
    local got = text:match(pattern)
    if got then return got end
    os.execute("sleep 0.1")
  end
  return nil, text
end

--- Starts a test server that prints its port as its first line; returns pid, port.
function M.start_port_printer(cmd, what)
  local log = M.tmpname()
  local pid = M.spawn(cmd, log)
  local port = M.wait_log(log, "^(%d+)", 50)
  assert(port, (what or cmd) .. " did not start")
  return pid, port
end

--- Lines of a string.
function M.lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- Tools we start must not inherit the ASan preload that only our Lua module needs under lua5.4.
local CLEAN = "env -u LD_PRELOAD -u ASAN_OPTIONS "
M.CLEAN = CLEAN

--- Starts a background process; returns its pid. Output goes to logfile.
function M.spawn(cmd, logfile)
  local pidfile = M.tmpname()
  os.execute(("%s%s >%s 2>&1 & echo $! >%s"):format(CLEAN, cmd, shquote(logfile or "/dev/null"), pidfile))
  local pid = M.read(pidfile):match("%d+")
  os.remove(pidfile)
  return pid
end

function M.kill(pid)
  if pid then os.execute("kill " .. pid .. " 2>/dev/null; wait " .. pid .. " 2>/dev/null") end
end

--- Runs a shell command with the clean environment; returns its output (stdout and stderr) and
-- whether it exited 0.
function M.sh_out(cmd)
  local p = io.popen(CLEAN .. cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- f() until it answers something (every 0.1 s, at most tenths times): that answer, or nil.
function M.wait_until(f, tenths)
  for _ = 1, tenths or 300 do
    local v = f()
    if v then return v end
    os.execute("sleep 0.1")
  end
  return nil
end

-- A metric's value in a Prometheus scrape of url (the first sample whose line starts with name), or nil.
function M.metric(url, name)
  local text = M.sh_out("curl -s --max-time 5 " .. shquote(url))
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, #name + 1) == name .. " " then return tonumber(line:sub(#name + 2)) end
  end
  return nil
end

--- Starts `sceplab serve --dir dir --port 0 [-v]` with args and environment variables env;
-- opts.prefix: shell words run before it (a ulimit); opts.quiet: without -v; opts.port: this port
-- instead of 0 (a server restarted where a load balancer expects it); opts.wrap: shell words run as
-- its wrapper (strace); opts.workers: its --workers
-- (default 1: one process, whose limits and state a spec can count on). Waits for its "listening
-- on" line; returns {url, base, port, dir, pid, log, metrics}. One log per start: a restarted server
-- is never read from its predecessor's.
function M.serve(dir, args, env, opts)
  opts = opts or {}
  local log = M.tmpname() .. ".serve.log"
  local parts = { "env" }
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. shquote(v) end
  parts[#parts + 1] = (opts.wrap or "") .. shquote(M.bin) .. " serve --dir " .. shquote(dir) .. " --port " .. (opts.port or 0) .. (opts.quiet and "" or " -v") ..
    " --workers " .. tostring(opts.workers or 1)
  for _, a in ipairs(args or {}) do parts[#parts + 1] = shquote(a) end
  local cmd = table.concat(parts, " ")
  if opts.prefix then cmd = "sh -c " .. shquote(opts.prefix .. "; exec " .. cmd) end
  local pid = M.spawn(cmd, log)
  local url, text = M.wait_log(log, "listening on (%S+)")
  assert(url, "sceplab serve did not start: " .. tostring(text))
  local base, port = url:match("^(https?://[^/]+:(%d+))")
  local metrics = M.wait_log(log, "metrics on (%S+)", 1)
  return { url = url, base = base, port = tonumber(port), dir = dir, pid = pid, log = log, metrics = metrics }
end

--- Waits until url answers over HTTP (any status), up to seconds.
function M.wait_http(url, seconds)
  for _ = 1, (seconds or 10) * 10 do
    local code = os.execute(CLEAN .. "curl -s -o /dev/null --max-time 1 " .. shquote(url))
    if code then return true end
    os.execute("sleep 0.1")
  end
  return false
end

--- Starts micromdm's scepserver on a free loopback port with a fresh CA; returns {url, ca, dir, pid}.
function M.scepserver(extra)
  local dir = M.tmpdir()
  assert(os.execute((CLEAN .. "scepserver ca -init -depot %s/depot -keySize 2048 -key-password pw >/dev/null 2>&1"):format(dir)))
  for _ = 1, 20 do
    local port = math.random(20000, 60000)
    local pid = M.spawn(("scepserver -depot %s/depot -capass pw -port %d %s"):format(dir, port, extra or ""), dir .. "/server.log")
    local url = ("http://127.0.0.1:%d/scep"):format(port)
    if M.wait_http(url .. "?operation=GetCACaps", 5) then
      return { url = url, ca = dir .. "/depot/ca.pem", dir = dir, pid = pid, log = dir .. "/server.log" }
    end
    M.kill(pid)
  end
  error("scepserver did not start")
end

--- Starts Debian's tinyproxy on a free loopback port, logging every request; returns {url, log, dir, pid}.
-- extra: more configuration lines (BasicAuth user password).
function M.tinyproxy(extra)
  local dir = M.tmpdir()
  for _ = 1, 20 do
    local port = math.random(20000, 60000)
    M.write(dir .. "/tinyproxy.conf", ("Port %d\nListen 127.0.0.1\nTimeout 30\nLogFile \"%s/tinyproxy.log\"\n" ..
      "LogLevel Connect\nMaxClients 20\nAllow 127.0.0.1\n%s"):format(port, dir, extra or ""))
    local pid = M.spawn(("tinyproxy -d -c %s/tinyproxy.conf"):format(dir), dir .. "/out.log")
    local url = ("http://127.0.0.1:%d"):format(port)
    if M.wait_http(url, 5) then
      return { url = url, log = dir .. "/tinyproxy.log", dir = dir, pid = pid }
    end
    M.kill(pid)
  end
  error("tinyproxy did not start")
end

function M.stop(server)
  if server then
    M.kill(server.pid)
    os.execute("rm -rf " .. shquote(server.dir))
  end
end

--- openssl verify of cert against ca: true, or false and what openssl said.
function M.openssl_verify(ca, cert)
  local p = io.popen((CLEAN .. "openssl verify -CAfile %s %s 2>&1"):format(shquote(ca), shquote(cert)))
  local out = p:read("a")
  p:close()
  return out:match(": OK") ~= nil, out
end

math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)

--- The optional-library shim (SCEPLAB_NO_OPTLIB), at a path LD_PRELOAD can take: it splits its
-- list at spaces as well as colons, so a clone under a path with spaces gets a copy without one.
function M.no_optlib_shim()
  local shim = assert(os.getenv("SCEPLAB_NO_OPTLIB"), "SCEPLAB_NO_OPTLIB unset")
  if shim:find("[ :]") then
    local copy = M.tmpname() .. ".so"
    assert(not copy:find("[ :]"), "the temporary directory's path has a space or a colon: " .. copy)
    assert(os.execute("cp " .. shquote(shim) .. " " .. shquote(copy)))
    shim = copy
  end
  return shim
end

return M
