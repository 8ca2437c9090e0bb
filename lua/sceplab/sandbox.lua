-- The one loader for user scripts: profiles, policies, playbooks, scenarios and `sceplab run`.
--
-- Each script is a text chunk (bytecode is refused) run in its own _ENV built from an allow-list:
-- no os.execute, io.popen, package.loadlib, dofile, loadfile, load, debug. Reading an undefined
-- global raises an error that names the file and line, so a typo never silently reads nil.
-- `require` inside a script reaches only the sceplab modules.
local M = {}

local BASE = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring", "type",
  "xpcall", "rawequal", "rawget", "rawlen", "rawset", "setmetatable", "getmetatable", "print",
  "_VERSION",
}

local function copy(t, names)
  local out = {}
  if names then
    for _, k in ipairs(names) do out[k] = t[k] end
  else
    for k, v in pairs(t) do out[k] = v end
  end
  return out
end

--- What each kind of script may use beyond the base allow-list.
-- Data-like scripts (profiles, policies, playbooks) get no file access; `run` and scenario scripts
-- may read and write files, since automating enrollments needs that.
local KINDS = {
  profile = { io = false },
  policy = { io = false },
  playbook = { io = false },
  scenario = { io = true },
  run = { io = true },
}

local function safe_require(name)
  if type(name) ~= "string" or not (name == "sceplab" or name:match("^sceplab%.")) then
    error(("require: only sceplab modules are available to scripts (asked for '%s')"):format(tostring(name)), 2)
  end
  return require(name)
end

--- Builds a fresh environment for a script of the given kind.
function M.env(kind, extra)
  local policy = KINDS[kind]
  if not policy then error(("sandbox: unknown script kind '%s'"):format(tostring(kind)), 2) end
  local env = copy(_G, BASE)
  env.string = copy(string)
  env.table = copy(table)
  env.math = copy(math)
  env.utf8 = copy(utf8)
  env.coroutine = copy(coroutine)
  env.os = copy(os, { "clock", "date", "time", "difftime", "getenv" })
  if policy.io then
    env.io = copy(io, { "open", "lines", "read", "write", "stdout", "stderr", "stdin", "type" })
  end
  env.require = safe_require
  env.sceplab = require "sceplab"
  for k, v in pairs(extra or {}) do env[k] = v end
  env._G = env
  -- Undefined globals are errors; assignment still defines new ones (scripts declare fields that way).
  return setmetatable(env, {
    __index = function(_, k)
      error(("undefined global '%s'"):format(tostring(k)), 2)
    end,
  })
end

local function read_text(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  if text == nil then return nil, path .. ": cannot read" end
  if text:sub(1, 4) == "\27Lua" then return nil, path .. ": precompiled chunks are not accepted" end
  return text
end

--- Loads a script; returns env, results table | nil, message.
-- The message always starts with "path:line:" when the fault is inside the script.
function M.load(path, kind, extra)
  local text, err = read_text(path)
  if not text then return nil, err end
  local env = M.env(kind, extra)
  local chunk, cerr = load(text, "@" .. path, "t", env)
  if not chunk then return nil, cerr end
  local res = table.pack(pcall(chunk))
  if not res[1] then return nil, tostring(res[2]) end
  return env, table.move(res, 2, res.n, 1, { n = res.n - 1 })
end

--- Runs a `sceplab run` script with its arguments; returns an exit code and an error message.
-- The script may return an integer exit code; a runtime error gives 1, an unloadable script 3.
function M.run(path, args)
  local text, err = read_text(path)
  if not text then return 3, err end
  local argt = { [0] = path }
  for i, a in ipairs(args or {}) do argt[i] = a end
  local env = M.env("run", { arg = argt })
  local chunk, cerr = load(text, "@" .. path, "t", env)
  if not chunk then return 3, cerr end
  local ok, res = pcall(chunk, table.unpack(argt))
  if not ok then return 1, tostring(res) end
  if math.type(res) == "integer" then return res end
  if res == false then return 1 end
  return 0
end

return M
