-- The user-script sandbox: allow-lists, module copies, the string metatable, time limits, and every
-- escape found so far tried through the binary as an attacker would.
local h = require "helper"
local sandbox = require "sceplab.sandbox"
-- what `sceplab run` gives its scripts beyond the pure modules
local RUN = (require "sceplab.cli.run").modules()

local function script(text)
  return h.write(h.tmpname() .. ".lua", text)
end

-- A playbook file whose top level runs `body` (the escape), in its own directory.
local function playbook_dir(body)
  local dir = h.tmpdir()
  h.write(dir .. "/evil.lua", body .. [[

return { id = "evil", title = "t", step = 2, severity = "info", description = "d",
         match = { contains = { "x" } }, check = function() return {} end }
]])
  return dir
end

describe("sandbox", function()
  it("withholds process and loader functions", function()
    local env = sandbox.env("run", nil, RUN)
    assert.is_nil(rawget(env.os, "execute"))
    assert.is_nil(rawget(env.io, "popen"))
    assert.is_nil(rawget(env, "dofile"))
    assert.is_nil(rawget(env, "loadfile"))
    assert.is_nil(rawget(env, "load"))
    assert.is_nil(rawget(env, "debug"))
    assert.is_nil(rawget(env, "package"))
    assert.is_nil(rawget(env.string, "dump"))
    for _, kind in ipairs({ "profile", "policy", "playbook", "scenario" }) do
      assert.is_nil(rawget(sandbox.env(kind), "io"), kind)
    end
  end)

  it("makes reading an undefined global an error naming file and line", function()
    local path = script("local x = 1\nreturn undefined_thing + x\n")
    local env, err = sandbox.load(path, "profile")
    os.remove(path)
    assert.is_nil(env)
    assert.are.equal(path .. ":2: undefined global 'undefined_thing'", err)
  end)

  it("names the file and line of syntax errors", function()
    local path = script("return {\n  url = ,\n}\n")
    local env, err = sandbox.load(path, "profile")
    os.remove(path)
    assert.is_nil(env)
    assert.matches("^" .. path:gsub("%p", "%%%0") .. ":2:", err)
  end)

  it("refuses precompiled chunks", function()
    local path = h.write(h.tmpname(), string.dump(function() return 1 end))
    local env, err = sandbox.load(path, "profile")
    os.remove(path)
    assert.is_nil(env)
    assert.matches("precompiled chunks are not accepted", err)
  end)

  it("gives run scripts the documented modules and nothing else", function()
    local ok_path = script("local s = require 'sceplab'\nreturn s.version, type(s.scep.client), type(s.logs.open)\n")
    local env, res = sandbox.load(ok_path, "run", nil, RUN)
    os.remove(ok_path)
    assert.truthy(env, res)
    assert.are.same({ (require "sceplab").version, "function", "function", n = 3 }, res)
    for _, name in ipairs({ "os", "sceplab.sandbox", "sceplab.cli", "sceplab.core", "sceplab.nonexistent" }) do
      local bad = script(("return require %q\n"):format(name))
      local env2, err = sandbox.load(bad, "run", nil, RUN)
      os.remove(bad)
      assert.is_nil(env2, name)
      assert.matches("module '" .. name:gsub("%p", "%%%0") .. "' is not available to this script", err)
    end
    assert.is_nil(sandbox.env("run", nil, RUN).sceplab.sandbox)
  end)

  it("knows nothing above the pure modules: what else a run script reaches, its caller gives", function()
    local bare = sandbox.env("run")
    assert.is_nil(rawget(bare.sceplab, "logs"))
    assert.has_error(function() bare.require("sceplab.diagnose") end)
    local env = sandbox.env("run", nil, RUN)
    -- the names docs/lua-api.md gives, whichever folder the module lives in
    for name, field in pairs({ ["sceplab.probe"] = "run", ["sceplab.profile"] = "load", ["sceplab.timeline"] = "group",
                               ["sceplab.intune"] = "profile", ["sceplab.diagnose"] = "run", ["sceplab.report"] = "render" }) do
      assert.are.equal("function", type(env.require(name)[field]), name)
    end
  end)

  it("gives the environment (os.getenv) to the scripts written for this machine, not to playbooks or scenarios", function()
    for kind, has in pairs({ profile = true, policy = true, run = true, playbook = false, scenario = false }) do
      assert.are.equal(has, rawget(sandbox.env(kind).os, "getenv") ~= nil, kind)
    end
    -- a playbook that reads a secret into its finding's detail: an error naming the file and line
    local dir = h.tmpdir()
    h.write(dir .. "/leak.lua", [[
return { description = "d", step = 2, severity = "error",
         findings = { ["leak"] = { title = "t", cause = "c", fix = {} } },
         match = { statuses = { 500 } },
         check = function(records)
           return { { id = "leak", evidence = records, detail = os.getenv("SCEPLAB_ADMIN_PASSWORD") or "none" } }
         end }
]])
    local code, out, err = h.sceplab_env({ SCEPLAB_ADMIN_PASSWORD = "hunter2" },
      { "diagnose", "--playbooks", dir, "--format", "json", h.fixture("logs/u_ex200524.log") })
    os.execute("rm -rf " .. h.shquote(dir))
    assert.are.equal(3, code, out)
    assert.matches("leak%.lua:5: .*getenv", err)
    assert.not_matches("hunter2", out .. err)
  end)

  it("gives data scripts pure modules only: no file, process or network access through any name", function()
    for _, kind in ipairs({ "profile", "policy", "playbook", "scenario" }) do
      local env = sandbox.env(kind)
      for _, k in ipairs({ "logs", "scep", "probe", "timeline", "profile", "sandbox", "diagnose" }) do
        assert.is_nil(rawget(env.sceplab, k), kind .. " sceplab." .. k)
      end
      assert.are.equal("function", type(env.sceplab.decode))
      for _, name in ipairs({ "sceplab.sandbox", "sceplab.core.sys", "sceplab.core.http", "sceplab.core.logs",
                              "sceplab.cli", "sceplab.scep", "sceplab.profile", "sceplab.timeline", "io" }) do
        assert.has_error(function() env.require(name) end, nil, kind .. " " .. name)
      end
    end
  end)

  it("hands each script its own copy of a module: changing it changes nothing for the host", function()
    local json = require "sceplab.json"
    local path = script([[
local j = require "sceplab.json"
j.encode = function() return "poisoned" end
sceplab.decode = nil
return j.encode({})
]])
    local env, res = sandbox.load(path, "playbook")
    os.remove(path)
    assert.truthy(env, res)
    assert.are.equal("poisoned", res[1])
    assert.are.equal("[]", json.encode(json.array({}), true))
    assert.are.equal("function", type((require "sceplab").decode))
    assert.are.equal("function", type(sandbox.env("playbook").sceplab.decode))
  end)

  it("protects the string metatable and the C objects' metatables", function()
    local path = script([[
local mt = getmetatable("")
local ok = pcall(function() getmetatable("").__index.upper = function() return "poisoned" end end)
return mt, ok, ("abc"):upper()
]])
    local env, res = sandbox.load(path, "playbook")
    os.remove(path)
    assert.truthy(env, res)
    assert.are.same({ false, false, "ABC", n = 3 }, res)
    assert.are.equal("ABC", ("abc"):upper())
    local key = (require "sceplab.core.pkey").generate("ec:p256")
    local run = script("local k = ...\nreturn getmetatable(k)\n")
    local renv = sandbox.env("run", nil, RUN)
    local chunk = assert(load(h.read(run), "@" .. run, "t", renv))
    os.remove(run)
    assert.is_false(chunk(key))
    local arrays = sandbox.env("playbook").sceplab.decode(h.read(h.fixture("decode/ndes-chain.pem")))
    assert.is_not_nil(arrays)
  end)

  it("stops a data script that never returns, even one that catches the error", function()
    local saved = sandbox.TIME_LIMIT
    sandbox.TIME_LIMIT = 0.3
    local path = script("while true do pcall(function() while true do end end) end\n")
    local t0 = os.time()
    local env, err = sandbox.load(path, "profile")
    os.remove(path)
    sandbox.TIME_LIMIT = saved
    assert.is_nil(env)
    assert.matches(path:gsub("%p", "%%%0") .. ": stopped: .*time limit of 0%.3 s exceeded$", err)
    assert.is_true(os.time() - t0 < 5)
  end)

  it("stops a playbook check that never returns and names the playbook", function()
    local diagnose = require "sceplab.diagnose"
    local dir = h.tmpdir()
    h.write(dir .. "/loop.lua", [[
return { description = "d", step = 2, severity = "error",
         findings = { ["loop"] = { title = "t", cause = "c", fix = {} } },
         match = { statuses = { 500 } },
         check = function(records) local co = coroutine.wrap(function() while true do end end) co() end }
]])
    local saved = sandbox.TIME_LIMIT
    sandbox.TIME_LIMIT = 0.3
    local pb = assert(diagnose.load(dir .. "/loop.lua"))
    local rep, err = diagnose.run({ h.fixture("logs/u_ex200524.log") }, { playbooks = { pb } })
    sandbox.TIME_LIMIT = saved
    os.execute("rm -rf " .. h.shquote(dir))
    assert.is_nil(rep)
    assert.matches("loop%.lua: check: stopped: .*time limit of 0%.3 s exceeded$", err)
  end)

  describe("reads what a script hands back inside its time limit", function()
    local saved
    before_each(function() saved = sandbox.TIME_LIMIT sandbox.TIME_LIMIT = 0.3 end)
    after_each(function() sandbox.TIME_LIMIT = saved end)
    local LOOP = "setmetatable({}, { __index = function() while true do end end })"

    -- the server calls the handler for each request; its answer is then read in C, unprotected
    local function answer(check_body)
      local serve = require "sceplab.serve"
      local path = script(("return { description = 'd', check = function(req, ctx) %s end }\n"):format(check_body))
      local pol = assert(serve.load_policy(path))
      os.remove(path)
      local handler = serve.handler(pol, nil, {})
      local t0 = os.time()
      local ok, res = pcall(handler, { transaction_id = "T", message_type = "PKCSReq", doc = { subject = "CN=x" } })
      assert.is_true(os.time() - t0 < 5)
      return ok, res, path
    end

    it("a policy's answer whose fields never return when read", function()
      local ok, err, path = answer("return " .. LOOP)
      assert.is_false(ok)
      assert.matches(path:gsub("%p", "%%%0") .. ": check: stopped: .*time limit of 0%.3 s exceeded$", err)
    end)

    it("a policy's answer whose fields raise when read: plain data comes out, or the error", function()
      local ok, err = answer("return setmetatable({ decision = 'deny' }, { __index = function(_, k) error('reading ' .. k) end })")
      assert.is_false(ok)
      assert.matches("reading reason", err)
      local ok2, a = answer("return setmetatable({ decision = 'allow', ekus = setmetatable({ 'clientAuth' }, { __index = error }) }, {})")
      assert.is_true(ok2, a)
      assert.is_nil(getmetatable(a))
      assert.is_nil(getmetatable(a.ekus))
      assert.are.same({ "clientAuth" }, a.ekus)
      local ok3, err3 = answer("local t = { decision = 'allow' } t.profile = { eku = t } return t")
      assert.is_false(ok3)
      assert.matches("nested too deep", err3)
    end)

    it("an error value whose __tostring never returns", function()
      local ok, err = answer("error(setmetatable({}, { __tostring = function() while true do end end }))")
      assert.is_false(ok)
      assert.matches("time limit of 0%.3 s exceeded$", err)
      local ok2, err2 = answer("error(setmetatable({}, { __tostring = function() return {} end }))")
      assert.is_false(ok2)
      assert.matches("an error value that cannot be shown", err2)
    end)

    it("a playbook check's results whose fields never return or raise when read", function()
      local diagnose = require "sceplab.diagnose"
      for _, ret in ipairs({ LOOP, "{ setmetatable({}, { __index = function(_, k) error('reading ' .. k) end }) }" }) do
        local dir = h.tmpdir()
        h.write(dir .. "/odd.lua", ([[
return { description = "d", step = 2, severity = "error",
         findings = { ["odd"] = { title = "t", cause = "c", fix = {} } },
         match = { statuses = { 500 } },
         check = function(records) return %s end }
]]):format(ret))
        local pb = assert(diagnose.load(dir .. "/odd.lua"))
        local ok, rep, err = pcall(diagnose.run, { h.fixture("logs/u_ex200524.log") }, { playbooks = { pb } })
        os.execute("rm -rf " .. h.shquote(dir))
        assert.is_true(ok, rep) -- an expected failure: nil, message, never an error raised out of the engine
        assert.is_nil(rep)
        assert.matches("odd%.lua: check", err)
      end
    end)
  end)

  it("gives each script its own globals", function()
    local a = script("shared = 'a'\nreturn shared\n")
    local b = script("return rawget(_G, 'shared')\n")
    local _, ra = sandbox.load(a, "run")
    local _, rb = sandbox.load(b, "run")
    os.remove(a)
    os.remove(b)
    assert.are.equal("a", ra[1])
    assert.is_nil(rb[1])
  end)

  describe("escapes tried through the binary", function()
    local marker
    before_each(function() marker = h.tmpname() end)
    after_each(function() os.remove(marker) end)

    for name, body in pairs({
      ["sandbox.env(run).io"] = ('require("sceplab.sandbox").env("run").io.open(%q, "w"):write("x")'),
      ["core.sys.write_private"] = ('require("sceplab.core.sys").write_private(%q, "x")'),
      ["core.http"] = ('local http = require "sceplab.core.http"; io.open(%q, "w")'),
      ["cli.read_input"] = ('local f = require("sceplab.cli").read_input("/etc/hostname"); error(%q .. f)'),
      ["sceplab.logs"] = ('sceplab.logs.open("/etc/hostname"); error(%q)'),
      ["string metatable"] = ('getmetatable("").__index.rep = nil; error(%q)'),
    }) do
      it("a playbook cannot reach files or network through " .. name, function()
        local dir = playbook_dir(body:format(marker))
        local code, _, err = h.sceplab({ "playbooks", "list", "--playbooks", dir })
        os.execute("rm -rf " .. h.shquote(dir))
        assert.are.equal(3, code)
        assert.matches("evil%.lua:1:", err)
        assert.is_nil(io.open(marker, "rb"), "the escape wrote " .. marker)
        assert.not_matches(marker:gsub("%p", "%%%0"), err) -- the error() after the escape never ran
      end)
    end

    it("a run script that writes modules into a writable Lua tree never gets them loaded", function()
      local tree = h.tmpdir()
      assert(os.execute(("cp -r %s/lua/. %s/"):format(h.shquote(h.root), h.shquote(tree))))
      local evil = ("os.execute(%q)\nreturn {}\n"):format("touch " .. h.shquote(marker))
      local path = script(([[
local tree = %q
local function put(name) local f = assert(io.open(tree .. "/sceplab/" .. name, "w")) f:write(%q) f:close() end
put("evil.lua")
for _, m in ipairs({ "report/init.lua", "report/decoded.lua", "json.lua", "diagnose/init.lua", "diagnose/timeline.lua",
                    "scep/probe.lua" }) do put(m) end
local ok, err = pcall(require, "sceplab.evil")
assert(not ok and err:find("not available", 1, true), err)
local rep = sceplab.diagnose.run({ %q })
print(sceplab.json.encode(rep ~= nil))
]]):format(tree, evil, h.fixture("logs/u_ex200524.log")))
      local code, out, err = h.sceplab_env({ SCEPLAB_LUA_PATH = tree }, { "run", path })
      os.remove(path)
      os.execute("rm -rf " .. h.shquote(tree))
      assert.are.equal(0, code, err)
      assert.matches("true", out)
      assert.is_nil(io.open(marker, "rb"), "a module written by the script was loaded")
    end)
  end)
end)
