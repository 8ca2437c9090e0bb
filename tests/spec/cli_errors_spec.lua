-- Every user mistake ends in a one-line error and exit 2 (usage), 3 (bad input) or 4 (network):
-- never a stack trace, an internal error (exit 70), a crash, a sanitizer report or a hang. The
-- walk takes every command and sub-command from the parser itself (so a new command is walked
-- the day it is added) and gives each argument and each option that takes a value the bad values
-- of its kind: a missing file, a folder for a file, an empty file, garbage, a corrupt zip, a bad
-- URL, bad hex, words for numbers. Then the mistakes the issue names, one by one.
local h = require "helper"
local cli = require "sceplab.cli"
local util = require "sceplab.cli.util"
local gendoc = require "sceplab.cli.gendoc"

local work = h.tmpdir()
local CLOSED = "http://127.0.0.1:1/certsrv/mscep/mscep.dll" -- a port nothing listens on: refused at once

local function path(name) return work .. "/" .. name end

-- The bad values, by kind.
local garbage = {}
for i = 0, 4095 do garbage[#garbage + 1] = string.char((i * 131 + 7) % 256) end
h.write(path("empty"), "")
h.write(path("garbage.bin"), table.concat(garbage))
h.write(path("corrupt.zip"), "PK\3\4\20\0\0\0\8\0" .. table.concat(garbage):sub(1, 300))
assert(os.execute("mkdir -p " .. h.shquote(path("folder"))))
-- (a corrupt zip is given where paths are read: the positional arguments)
local FILE_BAD = { "/nonexistent/sceplab-walk", path("folder"), path("empty"), path("garbage.bin") }
local PATH_BAD = { "/nonexistent/sceplab-walk", path("folder"), path("empty"), path("garbage.bin"), path("corrupt.zip") }
local DIR_BAD = { "/nonexistent/sceplab-walk/d", path("garbage.bin") }
local URL_BAD = { "not a url", "https://host:99999/x" }
local HEX_BAD = { "0x12G4" }
local NUMBER_BAD = { "abc", "-5" }
local TEXT_BAD = { "\27[2J\1garbage" }

local HEX_OPTIONS = { serial = true, pin = true, ["ca-fingerprint"] = true, ["ca-thumbprint"] = true }
-- What a command writes: bad places to write to (bad files to read would be overwritten)
local OUTPUT_OPTIONS = { out = true, output = true, ["key-out"] = true, ["cert-out"] = true, ["chain-out"] = true,
                         state = true }
local OUT_BAD = { "/nonexistent/sceplab-walk/out", path("folder") }
local URL_OPTIONS = { url = true, proxy = true }

-- A CA to point ca, intune and serve at (made once).
local ca_dir = path("ca")
assert(os.execute(h.CLEAN .. "ASAN_OPTIONS=detect_leaks=0 " .. h.shquote(h.bin) .. " ca init --dir " .. h.shquote(ca_dir) .. " >/dev/null 2>&1"))

local cert, key = h.fixture("pki/ra-sign.pem"), h.fixture("pki/ra-sign.key")
local script = h.write(path("ok.lua"), "return 0\n")

-- Plausible arguments for each command, so that the value under test is the one thing wrong:
-- pos (positional values in order) and opts (option = value). URLs point at a closed port.
local BASE = {
  help = { pos = { "decode" } },
  decode = { pos = { h.fixture("decode/device.pem") } },
  enroll = { opts = { ["--url"] = CLOSED, ["--subject"] = "CN=walk", ["--challenge"] = "x", ["--key-out"] = path("out.key"),
                      ["--cert-out"] = path("out.pem") } },
  renew = { opts = { ["--url"] = CLOSED, ["--cert"] = cert, ["--key"] = key, ["--key-out"] = path("new.key"),
                     ["--cert-out"] = path("new.pem") } },
  getcert = { opts = { ["--url"] = CLOSED, ["--cert"] = cert, ["--key"] = key, ["--serial"] = "01" } },
  getcrl = { opts = { ["--url"] = CLOSED, ["--cert"] = cert, ["--key"] = key } },
  getca = { pos = { CLOSED } },
  caps = { pos = { CLOSED } },
  probe = { pos = { CLOSED } },
  timeline = { pos = { h.fixture("logs/u_ex200524.log") } },
  diagnose = { pos = { h.fixture("logs/u_ex200524.log") } },
  ["playbooks list"] = {},
  ["playbooks show"] = { pos = { "iis-impersonation-500" } },
  ["playbooks test"] = { pos = { path("folder") } },
  -- an address of TEST-NET-3 that no interface has: the server never starts listening
  serve = { opts = { ["--dir"] = ca_dir, ["--bind"] = "203.0.113.1", ["--port"] = "8080" } },
  ["ca init"] = { opts = { ["--dir"] = path("folder") .. "/newca" } },
  ["ca list"] = { opts = { ["--dir"] = ca_dir } },
  ["ca approve"] = { pos = { "0123456789ABCDEF" }, opts = { ["--dir"] = ca_dir } },
  ["ca reject"] = { pos = { "0123456789ABCDEF" }, opts = { ["--dir"] = ca_dir } },
  ["ca revoke"] = { pos = { "01" }, opts = { ["--dir"] = ca_dir } },
  ["ca crl"] = { opts = { ["--dir"] = ca_dir, ["-o"] = path("crl.pem") } },
  ["ca rollover"] = { opts = { ["--dir"] = path("folder") .. "/noca" } },
  ["ca challenge"] = { opts = { ["--dir"] = ca_dir } },
  ["intune token"] = { opts = { ["--dir"] = ca_dir, ["--subject"] = "CN=walk", ["-o"] = path("token.b64") } },
  ["intune verify"] = { pos = { h.fixture("decode/token.b64") }, opts = { ["--dir"] = ca_dir } },
  ["intune profile"] = { opts = { ["--dir"] = ca_dir, ["--subject"] = "CN=walk", ["-o"] = path("profile.xml") } },
  -- as serve: an address no interface has, so it never listens
  ["intune cloud"] = { opts = { ["--dir"] = ca_dir, ["--bind"] = "203.0.113.1", ["--port"] = "8090", ["--client-cert"] = cert } },
  replay = { opts = { ["--list"] = true } },
  bench = { pos = { CLOSED }, opts = { ["--count"] = "1", ["--concurrency"] = "1" } },
  run = { pos = { script } },
  ["config show"] = {},
}

local function argv_of(words, base, override_pos, override_opt, value)
  local argv = {}
  for _, w in ipairs(words) do argv[#argv + 1] = w end
  for name, v in pairs(base.opts or {}) do
    if name ~= override_opt then
      argv[#argv + 1] = name
      if v ~= true then argv[#argv + 1] = v end
    end
  end
  if override_opt then
    argv[#argv + 1] = override_opt
    argv[#argv + 1] = value
  end
  for i, v in ipairs(base.pos or {}) do argv[#argv + 1] = (i == override_pos) and value or v end
  if override_pos and not (base.pos and base.pos[override_pos]) then argv[#argv + 1] = value end
  return argv
end

-- The settings file every run reads: none of the bad values, so no run can change it.
local conf = h.write(path("walk.conf"), "# no settings\n")

local function command_line(argv)
  local parts = { "cd", h.shquote(work), "&&", "timeout -k 5 60 env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=1",
                  "SCEPLAB_CONFIG=" .. h.shquote(conf), h.shquote(h.bin) }
  for _, a in ipairs(argv) do parts[#parts + 1] = h.shquote(a) end
  return table.concat(parts, " ")
end

-- Runs sceplab in the work folder (commands that write beside them write there), bounded in time.
local function run(argv)
  local outf, errf = h.tmpname(), h.tmpname()
  local _, _, code = os.execute(command_line(argv) .. " >" .. outf .. " 2>" .. errf .. " </dev/null")
  local out, err = h.read(outf), h.read(errf)
  os.remove(outf)
  os.remove(errf)
  return code, out, err
end

-- Runs many argv lists, a few at a time (the machine's cores): {code, out, err} each, in order.
local function run_all(list)
  local dir = h.tmpdir()
  local lines = { "run() { " .. "eval \"$2\" >\"$1.out\" 2>\"$1.err\" </dev/null; echo $? >\"$1.rc\"; }" }
  for i, argv in ipairs(list) do
    lines[#lines + 1] = ("run %s %s &"):format(h.shquote(dir .. "/" .. i), h.shquote(command_line(argv)))
    if i % 3 == 0 then lines[#lines + 1] = "wait" end
  end
  lines[#lines + 1] = "wait"
  local sh = h.write(dir .. "/run.sh", table.concat(lines, "\n") .. "\n")
  assert(os.execute("bash " .. h.shquote(sh)))
  local results = {}
  for i = 1, #list do
    local base = dir .. "/" .. i
    results[i] = { tonumber(h.read(base .. ".rc")), h.read(base .. ".out"), h.read(base .. ".err") }
  end
  assert(os.execute("rm -rf " .. h.shquote(dir)))
  return results
end

-- What no user mistake may cause; returns nil when the run is acceptable, else why not.
local function verdict(code, err)
  if code == 124 or code == 137 then return "hung (killed after 60 s)" end
  if code == 70 then return "exit 70 (internal error)" end
  if code > 4 then return "exit " .. code end
  for _, bad in ipairs({ "stack traceback", "internal error", "Sanitizer", "runtime error:" }) do
    if err:find(bad, 1, true) then return "stderr has '" .. bad .. "'" end
  end
  -- 1 is a result (a refusal, a diagnosis with errors), said on stdout; 2, 3 and 4 are errors
  if code >= 2 then
    local lines = h.lines(err)
    if #lines == 0 or not lines[#lines]:match("^sceplab: ") then return "no error line 'sceplab: ...' on stderr" end
  end
end

local function bad_values(name, opt)
  if OUTPUT_OPTIONS[name] then return OUT_BAD end
  if HEX_OPTIONS[name] then return HEX_BAD end
  if URL_OPTIONS[name] then return URL_BAD end
  local kind = gendoc.VALUE_KIND[name]
  if kind == "dir" then return DIR_BAD end
  if kind == "file" then return FILE_BAD end
  if opt and opt._choices then return { "no-such-choice" } end
  if opt and opt._convert == tonumber then return NUMBER_BAD end
  return TEXT_BAD
end

describe("every command given bad arguments", function()
  local p = cli.build_parser(nil)
  local commands = {}
  util.each_command(p, function(c, words)
    if #c._commands == 0 and not c._hidden and words[1] ~= "__generate" then commands[#commands + 1] = { c, words } end
  end)

  it("covers every command of the parser", function()
    local missing = {}
    for _, e in ipairs(commands) do
      local name = table.concat(e[2], " ")
      if not BASE[name] then missing[#missing + 1] = name end
    end
    assert.are.same({}, missing, "give the walk plausible arguments for these commands (BASE)")
    assert.is_true(#commands >= 25)
  end)

  for _, e in ipairs(commands) do
    local c, words = e[1], e[2]
    local name = table.concat(words, " ")
    it(name .. ": one-line errors, exit 0-4, no trace", function()
      local base = BASE[name] or {}
      local cases = {}
      local function try(argv) cases[#cases + 1] = argv end
      try(argv_of(words, base))
      for i, a in ipairs(c._arguments) do
        local values = bad_values(a._name)
        if values == FILE_BAD then values = PATH_BAD end
        for _, v in ipairs(values) do try(argv_of(words, base, i, nil, v)) end
      end
      for _, o in ipairs(c._options) do
        local long = (require "sceplab.cli.config").long_name(o)
        if long and o._maxargs > 0 and not o._hidden and long ~= "config" then
          for _, v in ipairs(bad_values(long, o)) do try(argv_of(words, base, nil, "--" .. long, v)) end
        end
      end
      local failures = {}
      for i, r in ipairs(run_all(cases)) do
        local why = verdict(r[1], r[3])
        if why then failures[#failures + 1] = ("sceplab %s -> %s\n%s"):format(table.concat(cases[i], " "), why, r[3]:sub(1, 600)) end
      end
      assert.are.same({}, failures)
    end)
  end
end)

describe("the mistakes users reported", function()
  it("a malformed URL is a usage error naming it, for every command that takes one", function()
    for _, argv in ipairs({ { "caps", "not a url" }, { "getca", "not a url" }, { "probe", "not a url" },
                            { "bench", "not a url" }, { "enroll", "--subject", "CN=a", "--key-out", path("k1"),
                              "--cert-out", path("c1"), "--url", "ftp://x/y" }, { "probe", CLOSED, "--proxy", "proxy.contoso.com:8080:x" } }) do
      local code, out, err = run(argv)
      assert.are.equal(2, code, table.concat(argv, " ") .. ": " .. err)
      assert.are.equal("", out)
      assert.are.equal(1, #h.lines(err), err)
      assert.matches("^sceplab: [^\n]*'" .. argv[#argv]:gsub("%p", "%%%0") .. "'[^\n]*: ", err)
    end
  end)

  it("getcert --serial ZZZ names the serial, exit 2", function()
    local code, _, err = run({ "getcert", "--url", CLOSED, "--cert", cert, "--key", key, "--serial", "ZZZ" })
    assert.are.equal(2, code, err)
    assert.matches("^sceplab: %-%-serial 'ZZZ': not hexadecimal\n$", err)
  end)

  it("decode --key with a key that does not open the envelope, or an empty key file, exits 3", function()
    local code, out, err = run({ "decode", "--key", h.fixture("pki/device.key"), h.fixture("scep/pkcsreq.der") })
    assert.are.equal(3, code, err)
    assert.matches("PKCSReq", out)
    assert.matches("cannot open the envelope", err)
    code, _, err = run({ "decode", "--key", path("empty"), h.fixture("scep/pkcsreq.der") })
    assert.are.equal(3, code, err)
    assert.matches("%-%-key .*empty", err)
  end)

  it("a port in use is no usage error: exit 4 naming the address", function()
    local log = path("serve.log")
    local pid = h.spawn(("%s serve --dir %s --port 0 --policy none"):format(h.shquote(h.bin), h.shquote(ca_dir)), log)
    local port = h.wait_log(log, "listening on http://127%.0%.0%.1:(%d+)/")
    assert.is_truthy(port, "the first server did not start")
    local code, _, err = run({ "serve", "--dir", ca_dir, "--port", port, "--policy", "none" })
    h.kill(pid)
    assert.are.equal(4, code, err)
    assert.matches("^sceplab: cannot listen on 127%.0%.0%.1 port " .. port .. ": Address already in use\n$", err)
    code, _, err = run({ "serve", "--dir", ca_dir, "--port", "70000" })
    assert.are.equal(2, code, err)
  end)

  it("probe of a host that does not resolve: exit 4, and no advice about the server", function()
    local code, out, err = run({ "probe", "http://nonexistent.invalid/certsrv/mscep/mscep.dll", "--timeout", "5" })
    assert.are.equal(4, code, out .. err)
    assert.matches("no HTTP answer", out)
    assert.not_matches("IIS", out)
    assert.not_matches("request filtering", out)
    assert.matches("did not answer", out)
  end)

  it("renew with a key that is not the certificate's: exit 3, nothing sent", function()
    -- the URL's port is closed: a request would be a network error (4), not this one
    local code, _, err = run({ "renew", "--url", CLOSED, "--cert", cert, "--key", h.fixture("pki/device.key"),
                               "--key-out", path("r.key"), "--cert-out", path("r.pem") })
    assert.are.equal(3, code, err)
    assert.matches("is not the key of %-%-cert", err)
  end)

  it("enroll refuses an empty subject unless asked, and an existing key without --force; warns without a challenge", function()
    local base = { "enroll", "--url", CLOSED, "--key-out", path("e.key"), "--cert-out", path("e.pem") }
    local code, _, err = run(base)
    assert.are.equal(2, code, err)
    assert.matches("no subject", err)
    local with = { table.unpack(base) }
    with[#with + 1] = "--allow-empty-subject"
    code, _, err = run(with)
    assert.are.equal(4, code, err) -- it went on to the (closed) server
    assert.matches("warning: no challenge", err)
    h.write(path("e.key"), "the only copy of a key")
    local subj = { table.unpack(base) }
    subj[#subj + 1] = "--subject"
    subj[#subj + 1] = "CN=a"
    code, _, err = run(subj)
    assert.are.equal(2, code, err)
    assert.matches("%-%-key%-out .*exists", err)
    assert.are.equal("the only copy of a key", h.read(path("e.key")))
    subj[#subj + 1] = "--force"
    code, _, err = run(subj)
    assert.are.equal(4, code, err)
    -- quiet: the warning too is left out
    subj[#subj + 1] = "--quiet"
    code, _, err = run(subj)
    assert.are.equal(4, code, err)
    assert.not_matches("warning", err)
  end)

  it("a sub-command's mistake prints that command's usage, and help takes sub-commands", function()
    local code, _, err = run({ "ca", "list", "--bogus" })
    assert.are.equal(2, code)
    assert.matches("^Usage: sceplab ca list ", err)
    assert.matches("sceplab: unknown option '%-%-bogus' %(sceplab help ca list%)\n$", err)
    local code2, out2 = run({ "help", "playbooks", "list" })
    assert.are.equal(0, code2)
    assert.matches("^Usage: sceplab playbooks list", out2)
  end)

  it("an internal error says it is a bug and how to report it (exit 70)", function()
    -- a Lua tree whose CLI raises: what a bug in sceplab looks like
    local tree = path("broken-tree")
    assert(os.execute(("mkdir -p %s/sceplab/cli && printf 'error(\"boom\")\\n' > %s/sceplab/cli/init.lua"):format(h.shquote(tree), h.shquote(tree))))
    local outf = h.tmpname()
    local _, _, code = os.execute(("env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=0 SCEPLAB_LUA_PATH=%s %s --version >/dev/null 2>%s")
      :format(h.shquote(tree), h.shquote(h.bin), outf))
    local err = h.read(outf)
    os.remove(outf)
    assert.are.equal(70, code)
    assert.matches("^sceplab: internal error: .*boom", err)
    assert.matches("this is a bug in sceplab", err)
    assert.matches("sceplab %-%-version", err)
  end)
end)
