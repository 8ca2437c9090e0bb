-- The engine's chunk cache (src/lua/engine.c): a precompiled chunk is used only when it was
-- compiled from the very file the search found (its chunk name) and is not older than it.
-- Each case builds an installed layout in a temporary prefix: bin/sceplab, share/sceplab/lua
-- (a copy of the tree whose cli.lua prints a marker) and share/sceplab/luac.
local h = require "helper"

local root = h.fixtures .. "/../.."
local luac = root .. "/scripts/luac.lua"

local function sh(cmd)
  assert(os.execute(h.CLEAN .. cmd), cmd)
end

-- A prefix whose cli.lua answers --version with source_marker; returns prefix, cli path.
local function prefix_with(source_marker)
  local p = h.tmpname()
  sh(("mkdir -p %s/bin %s/share/sceplab/luac && cp %s %s/bin/sceplab && cp -r %s/lua %s/share/sceplab/lua"):format(
    p, p, h.shquote(h.bin), p, h.shquote(root), p))
  local real = io.popen("realpath " .. h.shquote(p)):read("l")
  local cli = real .. "/share/sceplab/lua/sceplab/cli.lua"
  local src = h.read(cli):gsub('io%.stdout:write%("sceplab ", [^\n]-\n', ('io.stdout:write("%s\\n")\n'):format(source_marker), 1)
  assert(src:find(source_marker, 1, true), "cli.lua no longer prints the version the way this spec expects")
  h.write(cli, src)
  return real, cli
end

-- Compiles text as module sceplab.cli under chunk name @name into the prefix's cache.
local function cache_chunk(prefix, text, name)
  local tmp = h.write(h.tmpname(), text)
  sh(("lua5.4 %s %s %s %s"):format(h.shquote(luac), h.shquote(tmp), h.shquote("@" .. name),
    h.shquote(prefix .. "/share/sceplab/luac/sceplab.cli.luac")))
  os.remove(tmp)
end

local function version_of(prefix)
  local p = io.popen(h.CLEAN .. h.shquote(prefix .. "/bin/sceplab") .. " --version 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

describe("the chunk cache", function()
  it("uses a chunk compiled from the file found, when it is not older", function()
    local prefix, cli = prefix_with("from-source")
    cache_chunk(prefix, h.read(cli):gsub("from%-source", "from-cache"), cli)
    assert.matches("from%-cache", version_of(prefix))
    sh("rm -rf " .. h.shquote(prefix))
  end)

  it("ignores a chunk compiled from another file", function()
    local prefix, cli = prefix_with("from-source")
    cache_chunk(prefix, h.read(cli):gsub("from%-source", "from-cache"), cli .. ".elsewhere")
    assert.matches("from%-source", version_of(prefix))
    sh("rm -rf " .. h.shquote(prefix))
  end)

  it("ignores a chunk older than its source (an edited tree is never shadowed)", function()
    local prefix, cli = prefix_with("from-source")
    cache_chunk(prefix, h.read(cli):gsub("from%-source", "from-cache"), cli)
    sh("touch -d '+1 minute' " .. h.shquote(cli))
    assert.matches("from%-source", version_of(prefix))
    sh("rm -rf " .. h.shquote(prefix))
  end)

  it("ignores a cache file that is not a Lua chunk", function()
    local prefix = prefix_with("from-source")
    h.write(prefix .. "/share/sceplab/luac/sceplab.cli.luac", "not bytecode")
    assert.matches("from%-source", version_of(prefix))
    sh("rm -rf " .. h.shquote(prefix))
  end)
end)
