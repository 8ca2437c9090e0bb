-- No two Lua modules of the tree require each other (scripts/check-lua-cycles): the tree as it is
-- passes, and the check fails on a copy with a cycle planted in it (its --self-test).
local h = require "helper"

local script = h.root .. "/scripts/check-lua-cycles"

local function run(args)
  local outf = h.tmpname()
  local ok, _, code = os.execute(("lua5.4 %s %s >%s 2>&1"):format(h.shquote(script), args, h.shquote(outf)))
  local out = h.read(outf)
  os.remove(outf)
  return ok and 0 or code, out
end

describe("the Lua require graph", function()
  it("has no cycle", function()
    local code, out = run(h.shquote(h.root .. "/lua"))
    assert.are.equal(0, code, out)
    assert.matches("no cycle", out)
  end)

  it("is checked by a script that fails on a planted cycle, a lazy one or a table of names", function()
    local code, out = run("--self-test " .. h.shquote(h.root .. "/lua"))
    assert.are.equal(0, code, out)
    assert.not_matches("FAILED", out)
    assert.matches("planted in sceplab.json is a cycle", out)
  end)

  it("names each cycle with the file and line of each require", function()
    local tree = h.tmpdir()
    assert(os.execute(("cp -r %s/lua/. %s/"):format(h.shquote(h.root), h.shquote(tree))))
    local f = assert(io.open(tree .. "/sceplab/sandbox.lua", "ab"))
    f:write('\nlocal function later() return require("sceplab.diagnose") end\n')
    f:close()
    local code, out = run(h.shquote(tree))
    os.execute("rm -rf " .. h.shquote(tree))
    assert.are.equal(1, code, out)
    assert.matches("sceplab%.diagnose %-> sceplab%.sandbox %(sceplab/diagnose/[%w_]+%.lua:%d+%)", out)
    assert.matches("sceplab%.sandbox %-> sceplab%.diagnose %(sceplab/sandbox%.lua:%d+%)", out)
  end)
end)
