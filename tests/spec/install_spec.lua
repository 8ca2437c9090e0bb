-- `cmake --install` of the build under test into a temporary prefix, used the way a Debian admin
-- uses an installed tool: the binary finds its Lua tree and chunk cache from its own place, `man
-- sceplab-diagnose` works, `sceplab <TAB><TAB>` completes (the bash function called as bash
-- calls it), the zsh completion parses, the systemd unit passes `systemd-analyze verify`, and a
-- program builds against libsceplab with pkg-config. The man pages and completions are generated
-- from the parser: regenerated they are the same, and every option `sceplab help CMD` lists is in
-- both.
local h = require "helper"
local cli = require "sceplab.cli"
local util = require "sceplab.cli.util"

local build = assert(os.getenv("SCEPLAB_BUILD_DIR"), "SCEPLAB_BUILD_DIR unset (run through ctest)")
local prefix = h.tmpdir() .. "/usr/local"
local bin = prefix .. "/bin/sceplab"

local function sh(cmd)
  local outf = h.tmpname()
  local ok, _, code = os.execute(h.CLEAN .. "ASAN_OPTIONS=detect_leaks=0 " .. cmd .. " >" .. outf .. " 2>&1")
  local out = h.read(outf)
  os.remove(outf)
  return ok and 0 or code, out
end

local function installed(...)
  local parts = { h.shquote(bin) }
  for _, a in ipairs({ ... }) do parts[#parts + 1] = h.shquote(a) end
  return sh(table.concat(parts, " "))
end

describe("sceplab installed with cmake --install", function()
  setup(function()
    local code, out = sh(("cmake --install %s --prefix %s"):format(h.shquote(build), h.shquote(prefix)))
    assert(code == 0, out)
  end)

  it("runs from its prefix: the installed Lua tree and its chunk cache, compiled for that prefix", function()
    local code, out = installed("--version")
    assert.are.equal(0, code, out)
    assert.matches("^sceplab %d+%.%d+%.%d+ %(commit ", out)
    -- the cache's chunks are named after the installed sources, so the engine takes them
    local f = assert(io.open(prefix .. "/share/sceplab/luac/sceplab.cli.luac", "rb"))
    local chunk = f:read("a")
    f:close()
    local real = io.popen("realpath " .. h.shquote(prefix)):read("l")
    assert.is_truthy(chunk:find(real .. "/share/sceplab/lua/sceplab/cli/init.lua", 1, true))
    local strace = sh(("command -v strace >/dev/null"))
    if strace == 0 then
      local _, trace = sh(("strace -f -e trace=openat %s help decode"):format(h.shquote(bin)))
      assert.matches("share/sceplab/luac/sceplab%.cli%.luac", trace)
    end
    code, out = installed("decode", h.fixture("decode/token.b64"))
    assert.are.equal(0, code, out)
    assert.matches("CertEnrollToken", out)
  end)

  it("installed over an older layout, runs the new tree: a module the new one has not is removed", function()
    -- the flat tree's sceplab/cli.lua is found before sceplab/cli/init.lua (?.lua comes first)
    local stale = prefix .. "/share/sceplab/lua/sceplab/cli.lua"
    h.write(stale, 'error("the stale tree was loaded")\n')
    h.write(prefix .. "/share/sceplab/luac/sceplab.cli_scep.luac", "stale")
    local code, out = sh(("cmake --install %s --prefix %s"):format(h.shquote(build), h.shquote(prefix)))
    assert(code == 0, out)
    assert.is_nil(io.open(stale, "rb"))
    assert.is_nil(io.open(prefix .. "/share/sceplab/luac/sceplab.cli_scep.luac", "rb"))
    code, out = installed("--version", "-q")
    assert.are.equal(0, code, out)
    assert.matches("^sceplab %d", out)
  end)

  it("has a manual page for sceplab and for each command", function()
    local p = cli.build_parser(nil)
    for _, c in ipairs(p._commands) do
      if not c._hidden and c._name ~= "help" then
        local code, out = sh(("MANPATH=%s/share/man man -w sceplab-%s"):format(h.shquote(prefix), c._name))
        assert.are.equal(0, code, c._name .. ": " .. out)
      end
    end
    local code, out = sh(("MANPATH=%s/share/man MANWIDTH=100 man sceplab-diagnose | cat"):format(h.shquote(prefix)))
    assert.are.equal(0, code, out)
    assert.matches("SCEPLAB%-DIAGNOSE%(1%)", out)
    assert.matches("%-%-playbooks", out)
    assert.matches("EXIT STATUS", out)
    code, out = sh(("MANPATH=%s/share/man MANWIDTH=100 man sceplab | cat"):format(h.shquote(prefix)))
    assert.are.equal(0, code, out)
    assert.matches("/etc/sceplab/sceplab%.conf", out)
    assert.matches("sceplab%-enroll%(1%)", out)
  end)

  it("completes commands, sub-commands, options and their values in bash", function()
    local script = h.write(h.tmpname(), ([[
source %s
t() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _sceplab; echo "${COMPREPLY[*]}"; }
t sceplab ''
t sceplab dia
t sceplab ca ''
t sceplab ca list --j
t sceplab diagnose --format ''
t sceplab --color never timeline --min-level w
t sceplab help pl
]]):format(h.shquote(prefix .. "/share/bash-completion/completions/sceplab")))
    local code, out = sh("bash " .. h.shquote(script))
    os.remove(script)
    assert.are.equal(0, code, out)
    local lines = h.lines(out)
    assert.matches("^help decode enroll .* config$", lines[1])
    assert.are.equal("diagnose", lines[2])
    assert.are.equal("init list approve reject revoke crl rollover challenge", lines[3])
    assert.are.equal("--json", lines[4])
    assert.are.equal("text json md html", lines[5])
    assert.are.equal("warning", lines[6])
    assert.are.equal("playbooks", lines[7])
  end)

  it("installs a zsh completion that zsh parses", function()
    local f = prefix .. "/share/zsh/site-functions/_sceplab"
    assert.matches("^#compdef sceplab", h.read(f))
    local code, out = sh("zsh -n " .. h.shquote(f))
    assert.are.equal(0, code, out)
  end)

  it("installs a systemd unit that systemd-analyze verify passes", function()
    local unit = prefix .. "/lib/systemd/system/sceplab-serve.service"
    local text = h.read(unit)
    assert.matches("ExecStart=" .. prefix:gsub("%p", "%%%0") .. "/bin/sceplab serve %-%-dir %${STATE_DIRECTORY}", text)
    for _, want in ipairs({ "StateDirectory=sceplab", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                            "Restart=on%-failure", "User=sceplab" }) do
      assert.matches("\n" .. want .. "\n", text)
    end
    -- reload: SIGHUP to the supervisor (a new generation of workers); stop: SIGTERM to it alone, which drains
    assert.matches("\nExecReload=/bin/kill %-HUP %$MAINPID\n", text)
    assert.matches("\nKillMode=mixed\n", text)
    -- its Documentation= pages are looked up with man: the installed ones
    local code, out = sh(("MANPATH=%s/share/man systemd-analyze verify %s"):format(h.shquote(prefix), h.shquote(unit)))
    assert.are.equal(0, code, out)
  end)

  it("builds a program against libsceplab with pkg-config", function()
    local src = h.write(h.tmpname() .. ".c", [[
#include <stdio.h>
#include <string.h>
#include <sceplab/sceplab.h>
int main(void)
{
  const char *id = "ModelName_AC_1234567890_LogicalName_abc_Hash_1399397888";
  sceplab_error err;
  sceplab_decode_opts opts;
  sceplab_val *v;
  memset(&opts, 0, sizeof(opts));
  v = sceplab_decode((const unsigned char *)id, strlen(id), &opts, &err);
  if(!v) { fprintf(stderr, "%s\n", err.msg); return 1; }
  printf("%s\n", sceplab_obj_get_str(v, "kind"));
  sceplab_val_free(v);
  return 0;
}
]])
    local exe = h.tmpname()
    local pc = io.popen("find " .. h.shquote(prefix) .. " -name sceplab.pc -printf '%h'"):read("l")
    assert(pc, "no sceplab.pc installed")
    -- a sanitized build's library needs the sanitizer runtimes linked too
    local san = os.getenv("SCEPLAB_SANITIZED") == "ON" and "-fsanitize=address,undefined " or ""
    local code, out = sh(("PKG_CONFIG_PATH=%s cc %s-o %s %s $(PKG_CONFIG_PATH=%s pkg-config --cflags --libs sceplab)"):format(
      h.shquote(pc), san, h.shquote(exe), h.shquote(src), h.shquote(pc)))
    assert.are.equal(0, code, out)
    code, out = sh(h.shquote(exe))
    os.remove(src)
    os.remove(exe)
    assert.are.equal(0, code, out)
    assert.are.equal("intune-id\n", out)
  end)

  it("man pages and completions are what the parser gives: regenerated, the same; every option of help in both", function()
    local gen = h.tmpdir()
    local code, out = installed("__generate", "man", gen .. "/man")
    assert.are.equal(0, code, out)
    installed("__generate", "bash", gen .. "/sceplab.bash")
    installed("__generate", "zsh", gen .. "/_sceplab")
    for _, name in ipairs(h.lines(io.popen("ls " .. h.shquote(gen .. "/man")):read("a"))) do
      local same = sh(("gzip -dc %s/share/man/man1/%s.gz | cmp -s - %s/man/%s"):format(h.shquote(prefix), name, h.shquote(gen), name))
      assert.are.equal(0, same, name .. " differs from the installed one: the build did not regenerate it")
    end
    assert.are.equal(h.read(gen .. "/sceplab.bash"), h.read(prefix .. "/share/bash-completion/completions/sceplab"))
    assert.are.equal(h.read(gen .. "/_sceplab"), h.read(prefix .. "/share/zsh/site-functions/_sceplab"))
    -- each option `sceplab help CMD` prints is in CMD's man page and in the completions
    local bash, zsh = h.read(gen .. "/sceplab.bash"), h.read(gen .. "/_sceplab")
    local p = cli.build_parser(nil)
    util.each_command(p, function(c, words)
      if c._hidden or words[1] == "__generate" or words[1] == "help" or #c._commands > 0 then return end
      local _, help = installed("help", table.unpack(words))
      local page = h.read(gen .. "/man/sceplab-" .. words[1] .. ".1"):gsub("\\%-", "-")
      for opt in help:gmatch("\n%s+(%-%-[%w%-]+)") do
        assert.is_truthy(page:find(opt, 1, true), ("%s: %s is not in sceplab-%s(1)"):format(table.concat(words, " "), opt, words[1]))
        local key = "sceplab " .. table.concat(words, " ")
        local line = bash:match("_sceplab_opts%['" .. key:gsub("%p", "%%%0") .. "'%]='([^']*)'")
        assert.is_truthy(line and (" " .. line .. " "):find(" " .. opt .. " ", 1, true), ("%s: %s is not completed in bash"):format(key, opt))
        assert.is_truthy(zsh:find(opt, 1, true), ("%s is not in the zsh completion"):format(opt))
      end
    end)
    os.execute("rm -rf " .. h.shquote(gen))
  end)

  teardown(function()
    os.execute("rm -rf " .. h.shquote(prefix:gsub("/usr/local$", "")))
  end)
end)
