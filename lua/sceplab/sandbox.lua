-- The one loader for user scripts: profiles, policies, playbooks, scenarios and `sceplab run`.
--
-- Each script is a text chunk (bytecode is refused) run in its own _ENV built from an allow-list:
-- no os.execute, io.popen, package.loadlib, dofile, loadfile, load, debug. Reading an undefined
-- global raises an error that names the file and line, so a typo never silently reads nil.
--
-- `require` inside a script reaches only the pure modules (M.PURE) and those its caller gives (a
-- `sceplab run` script: the documented API, cli/run.lua), and hands out a copy of each, private to
-- the script: a script can neither reach a module that opens files or sockets (sandbox itself,
-- core.sys, core.http, cli) through another name, nor change a module the host or another script
-- uses. The modules are loaded by the host before any script runs, so a
-- file written into the Lua tree later is never loaded as a module.
require "sceplab.core" -- registers the C modules
local sys = require "sceplab.core.sys"

local M = {}

local BASE = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring", "type",
  "xpcall", "rawequal", "rawget", "rawlen", "rawset", "setmetatable", "getmetatable", "print",
  "_VERSION",
}

-- Seconds a data script (profile, policy, playbook, scenario) may run at once: loading its file,
-- or one call of a function it defines (M.call). `sceplab run` scripts are programs: no limit.
M.TIME_LIMIT = 10

local function copy(t, names)
  local out = {}
  if names then
    for _, k in ipairs(names) do out[k] = t[k] end
  else
    for k, v in pairs(t) do out[k] = v end
  end
  return out
end

-- A deep copy of a module table: nested tables copied, functions and userdata shared (they hold
-- no reference a script can follow without the debug library). Metatables are not copied: a
-- module's own (sceplab's lazy loader) would reach the host's require.
local function deep_copy(t, seen)
  seen = seen or {}
  if seen[t] then return seen[t] end
  local out = {}
  seen[t] = out
  for k, v in pairs(t) do
    out[k] = type(v) == "table" and deep_copy(v, seen) or v
  end
  return out
end

-- What a data script may have of the public API: decoding and codecs, no I/O of any kind.
local function pure_facade()
  local pure = require "sceplab.pure"
  local out = { json = require "sceplab.json", time = require "sceplab.time" }
  for _, k in ipairs(pure.FIELDS) do out[k] = pure[k] end
  return out
end

--- The modules every kind of script may require, by name: a function building the module. What
-- else a kind may reach is the caller's to give (M.env's modules): `sceplab run` gives the
-- documented API (cli/run.lua); the sandbox itself knows nothing above the pure modules.
M.PURE = { ["sceplab"] = pure_facade, ["sceplab.json"] = function() return require "sceplab.json" end,
           ["sceplab.time"] = function() return require "sceplab.time" end,
           ["sceplab.catalog"] = function() return require "sceplab.catalog" end }

--- What each kind of script may use beyond the base allow-list. Data scripts (profiles, policies,
-- playbooks, scenarios) get no file access; `run` scripts may read and write files, since
-- automating enrollments needs that. The environment (os.getenv) is for the scripts written for
-- the machine they run on: a profile's challenge function reads SCEPLAB_CHALLENGE, a policy the
-- secrets its server is given, a program its settings. Playbooks and scenarios are shared and run
-- over other people's logs and tickets, and what they return ends up in reports: they get none.
local KINDS = {
  profile = { io = false, getenv = true },
  policy = { io = false, getenv = true },
  playbook = { io = false, getenv = false },
  scenario = { io = false, getenv = false },
  run = { io = true, getenv = true },
}
M.KINDS = KINDS

-- The string metatable is shared by every string in the state: a script that could reach it could
-- change string methods for the host and for every other script. getmetatable("") answers false.
local function protect_string_metatable()
  local mt = getmetatable("")
  if type(mt) == "table" and rawget(mt, "__metatable") == nil then rawset(mt, "__metatable", false) end
end

local function make_require(modules, cache)
  return function(name)
    if type(name) ~= "string" or not modules[name] then
      local names = {}
      for k in pairs(modules) do names[#names + 1] = k end
      table.sort(names)
      error(("require: module '%s' is not available to this script (it may require %s)")
        :format(tostring(name), table.concat(names, ", ")), 2)
    end
    local m = cache[name]
    if m == nil then
      local v = modules[name]()
      m = type(v) == "table" and deep_copy(v) or v
      cache[name] = m
    end
    return m
  end
end

-- A `run` script can write files: every module of the sceplab tree is loaded before it starts, so
-- one it writes into a writable tree is never loaded later by the host with the host's globals.
local preloaded = false
local function preload_dir(dir, prefix)
  for _, name in ipairs(sys.listdir(dir) or {}) do
    local stem = name:match("^([%w_]+)%.lua$")
    if stem then
      require(stem == "init" and prefix or prefix .. "." .. stem)
    elseif name:match("^[%w_]+$") and sys.kind(dir .. "/" .. name) == "directory" then
      preload_dir(dir .. "/" .. name, prefix .. "." .. name)
    end
  end
end
local function preload_tree()
  if preloaded then return end
  preloaded = true
  local path = package.searchpath("sceplab.sandbox", package.path)
  local dir = path and path:match("^(.*)/sandbox%.lua$")
  if dir then preload_dir(dir, "sceplab") end
end

--- Builds a fresh environment for a script of the given kind. modules: what it may require beyond
-- M.PURE, by name (a function building each module), as `sceplab run` gives its scripts the API.
function M.env(kind, extra, modules)
  local policy = KINDS[kind]
  if not policy then error(("sandbox: unknown script kind '%s'"):format(tostring(kind)), 2) end
  protect_string_metatable()
  if kind == "run" then preload_tree() end
  local env = copy(_G, BASE)
  env.string = copy(string)
  env.string.dump = nil
  env.table = copy(table)
  env.math = copy(math)
  env.utf8 = copy(utf8)
  env.coroutine = copy(coroutine)
  env.os = copy(os, { "clock", "date", "time", "difftime", policy.getenv and "getenv" or nil })
  if policy.io then
    env.io = copy(io, { "open", "lines", "read", "write", "stdout", "stderr", "stdin", "type" })
  end
  local cache = {}
  local allowed = {}
  for name, f in pairs(M.PURE) do allowed[name] = f end
  for name, f in pairs(modules or {}) do allowed[name] = f end
  env.require = make_require(allowed, cache)
  env.sceplab = env.require("sceplab")
  for k, v in pairs(extra or {}) do env[k] = v end
  env._G = env
  -- Undefined globals are errors; assignment still defines new ones (scripts declare fields that way).
  return setmetatable(env, {
    __index = function(_, k)
      error(("undefined global '%s'"):format(tostring(k)), 2)
    end,
    __metatable = false,
  })
end

M.MAX_SCRIPT = 16 << 20

local function read_text(path)
  local text, err = sys.read_file(path, M.MAX_SCRIPT)
  if not text then return nil, err end
  if text:sub(1, 4) == "\27Lua" then return nil, path .. ": precompiled chunks are not accepted" end
  return text
end

-- An error value as text. A script may raise a table whose __tostring raises, returns no string
-- or never returns: it is made text here, inside the call's limit, never by the host after it.
local function message_of(e)
  if type(e) == "string" then return e end
  local ok, s = pcall(tostring, e)
  if ok and type(s) == "string" then return s end
  return ("(an error value that cannot be shown: a %s)"):format(type(e))
end

-- fn called inside the limit; its error, if any, turned into text there too.
local function guarded(fn, ...)
  local res = table.pack(pcall(fn, ...))
  if not res[1] then error(message_of(res[2]), 0) end
  return table.unpack(res, 2, res.n)
end

--- Calls fn (a function a data script defined) with a time limit: true, results... | false,
-- message [, "timeout"]. what names the script in a timeout's message ("lua/playbooks/ca.lua: check").
-- What the host reads of the results (a table's fields) it must read inside fn, which may wrap the
-- script's function: a metatable's __index runs the script's code too.
function M.call(what, fn, ...)
  local res = table.pack(sys.limit(M.TIME_LIMIT, guarded, fn, ...))
  if not res[1] then
    local msg = tostring(res[2])
    if msg:find("time limit of %g+ s exceeded$") then return false, ("%s: stopped: %s"):format(what, msg), "timeout" end
    return false, msg
  end
  return table.unpack(res, 1, res.n)
end

--- Loads a script; returns env, results table | nil, message.
-- The message always starts with "path:line:" when the fault is inside the script.
function M.load(path, kind, extra, modules)
  local text, err = read_text(path)
  if not text then return nil, err end
  local env = M.env(kind, extra, modules)
  local chunk, cerr = load(text, "@" .. path, "t", env)
  if not chunk then return nil, cerr end
  local res = table.pack(M.call(path, chunk))
  if not res[1] then return nil, tostring(res[2]) end
  return env, table.move(res, 2, res.n, 1, { n = res.n - 1 })
end

--- Runs a `sceplab run` script with its arguments; returns an exit code and an error message.
-- The script may return an integer exit code; a runtime error gives 1, an unloadable script 3.
-- modules: what it may require beyond M.PURE (M.env).
function M.run(path, args, modules)
  local text, err = read_text(path)
  if not text then return 3, err end
  local argt = { [0] = path }
  for i, a in ipairs(args or {}) do argt[i] = a end
  local env = M.env("run", { arg = argt }, modules)
  local chunk, cerr = load(text, "@" .. path, "t", env)
  if not chunk then return 3, cerr end
  local ok, res = pcall(chunk, table.unpack(argt))
  if not ok then return 1, tostring(res) end
  if math.type(res) == "integer" then return res end
  if res == false then return 1 end
  return 0
end

-- Bundled user scripts live beside the library: lua/policies, lua/scenarios, ...
local function lua_dir()
  local p = package.searchpath("sceplab.sandbox", package.path)
  return p and p:match("^(.*)/sceplab/sandbox%.lua$")
end

--- The folder of the bundled scripts of one kind (lua/SUB), or nil when the tree is not found.
function M.script_dir(sub)
  local d = lua_dir()
  return d and (d .. "/" .. sub)
end

--- The file a command line names: a path as given, or a bundled script's name (lua/SUB/NAME.lua).
function M.script_path(sub, name)
  if name:find("/", 1, true) or name:match("%.lua$") then return name end
  local d = lua_dir()
  return d and ("%s/%s/%s.lua"):format(d, sub, name) or name
end

--- The names of the bundled scripts in lua/SUB, sorted.
function M.bundled(sub)
  local d = lua_dir()
  local out = {}
  for _, f in ipairs(d and sys.listdir(d .. "/" .. sub) or {}) do
    if f:match("%.lua$") then out[#out + 1] = f:gsub("%.lua$", "") end
  end
  table.sort(out)
  return out
end

return M
