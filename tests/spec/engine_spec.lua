-- The engine's chunk cache (src/lua/engine.c): a precompiled chunk is used only when it was
-- compiled from the very file the search found (its chunk name) and is not older than it.
-- Each case builds an installed layout in a temporary prefix: bin/sceplab, share/sceplab/lua
-- (a copy of the tree whose cli/init.lua prints a marker) and share/sceplab/luac.
local h = require "helper"

local root = h.root
local luac = root .. "/scripts/luac.lua"

local function sh(cmd)
  assert(os.execute(h.CLEAN .. cmd), cmd)
end

-- A prefix whose cli/init.lua answers --version with source_marker; returns prefix, cli path.
local function prefix_with(source_marker)
  local p = h.tmpname()
  sh(("mkdir -p %s/bin %s/share/sceplab/luac && cp %s %s/bin/sceplab && cp -r %s/lua %s/share/sceplab/lua"):format(
    p, p, h.shquote(h.bin), p, h.shquote(root), p))
  local real = io.popen("realpath " .. h.shquote(p)):read("l")
  local cli = real .. "/share/sceplab/lua/sceplab/cli/init.lua"
  local src = h.read(cli):gsub('io%.stdout:write%(%("sceplab %%s %(commit[^\n]-\n', ('io.stdout:write("%s\\n")\n'):format(source_marker), 1)
  assert(src:find(source_marker, 1, true), "cli/init.lua no longer prints the version the way this spec expects")
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

-- libxml2, libarchive and libevtx are opened on first use (src/core/optlib.c): without one, the
-- commands that need it say which file is missing and the others work.
describe("optional libraries", function()
  local shim = h.no_optlib_shim()

  local function run_hiding(lib, args)
    -- In sanitized builds LD_PRELOAD already holds the ASan runtime, which must stay first.
    local preload = (os.getenv("LD_PRELOAD") or "") ~= "" and (os.getenv("LD_PRELOAD") .. ":" .. shim) or shim
    local parts = { "env", "ASAN_OPTIONS=detect_leaks=1", "LD_PRELOAD=" .. h.shquote(preload),
                    "SCEPLAB_TEST_HIDE=" .. lib, h.shquote(h.bin) }
    for _, a in ipairs(args) do parts[#parts + 1] = h.shquote(a) end
    local out, err = h.tmpname(), h.tmpname()
    local _, _, code = os.execute(table.concat(parts, " ") .. " >" .. out .. " 2>" .. err .. " </dev/null")
    local o, e = h.read(out), h.read(err)
    os.remove(out)
    os.remove(err)
    return code, o, e
  end

  it("names libxml2 when an XML document cannot be read without it", function()
    local code, _, err = run_hiding("libxml2", { "decode", root .. "/docs/samples/intune-scep-profile.xml" })
    assert.are.equal(1, code)
    assert.matches("cannot load libxml2%.so%.%d+", err)
    assert.are.equal(1, #h.lines(err))
  end)

  it("names libxml2 for a .svclog, at open rather than for every record", function()
    local code, _, err = run_hiding("libxml2", { "timeline", h.fixture("logs/CertificateRegistrationPoint_2020-05-24_101500.svclog") })
    assert.are_not.equal(0, code)
    assert.matches("101500%.svclog: cannot load libxml2%.so%.%d+", err)
    assert.not_matches("skipped", err)
  end)

  it("names libarchive for a zip bundle, and still reads plain logs", function()
    local code, _, err = run_hiding("libarchive", { "timeline", h.fixture("bundles/ndes-bundle.zip") })
    assert.matches("cannot load libarchive%.so%.%d+", err)
    assert.are_not.equal(0, code)
    local code2, out2 = run_hiding("libarchive", { "decode", root .. "/docs/samples/intune-scep-profile.xml" })
    assert.are.equal(0, code2)
    assert.matches("SyncML", out2)
  end)

  it("names SQLite for the CA and libevent for the server, with one line each", function()
    local dir = h.tmpname()
    local code, _, err = run_hiding("libsqlite3", { "ca", "init", "--dir", dir })
    assert.are.equal(1, code)
    assert.matches("cannot load libsqlite3%.so%.%d+", err)
    assert.are.equal(1, #h.lines(err))
    assert.is_nil(io.open(dir .. "/root.key"), "no key written without a database")
    local c2 = run_hiding("nothing-hidden", { "ca", "init", "--dir", dir .. "-2" })
    assert.are.equal(0, c2)
    local c3, _, e3 = run_hiding("libevent-", { "serve", "--dir", dir .. "-2", "--port", "0", "--policy", "none" })
    assert.are.equal(1, c3)
    assert.matches("cannot load libevent%-[%d.]+%.so%.%d+", e3)
  end)

  it("does not need any of them to decode a token or print the version", function()
    local code, out = run_hiding("lib", { "--version" }) -- hides every library opened late
    assert.are.equal(0, code)
    assert.matches("^sceplab ", out)
  end)
end)
