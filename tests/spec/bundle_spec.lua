-- Everything a support bundle holds, read: .evtx inside a zip, archives inside archives (zip and
-- cab) to a bounded depth and size, bombs refused with the rest still read, binary members skipped
-- and counted, and text that is UTF-8 whatever the input held. Then text as pasted rather than as
-- written: mangled apostrophes, a copy that starts mid-record, severities said in the text, Windows
-- errors written as their message alone, and SetupMsi.log as admins quote it.
local h = require "helper"
local sceplab = require "sceplab"
local core = require "sceplab.core.logs"
local json = require "cjson"

local logs = h.fixture("logs")

local function py(dir, code)
  local path = h.write(dir .. "/make.py", code)
  assert(os.execute(h.CLEAN .. "python3 " .. h.shquote(path) .. " " .. h.shquote(dir)))
end

-- zip(name, {member, bytes | path}...) in Python: the helper every case builds its bundle with
local ZIP = [[
import sys, zipfile, io, zlib, struct
d = sys.argv[1]
def zipped(members, method=zipfile.ZIP_DEFLATED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (2020, 5, 24, 10, 0, 0)), data)
    return b.getvalue()
def read(p):
    return open(p, "rb").read()
def write(name, data):
    open(d + "/" + name, "wb").write(data)
]]

local function merged(paths, opts)
  local t = sceplab.logs.timeline(paths, opts)
  local by = {}
  for _, i in ipairs(t.inputs) do by[i.file] = i end
  return t, by
end

local function without_file(r)
  local c = {}
  for k, v in pairs(r) do if k ~= "file" and k ~= "attempt" then c[k] = v end end
  return c
end

local function valid_utf8(s)
  return utf8.len(s) ~= nil
end

describe("bundles", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. h.shquote(dir)) end)

  it("reads .evtx inside a zip as it reads them from a folder: the same records", function()
    -- a small one read as the archive passes it, one over 1 MiB spooled first
    local small, large = "Security_short_selected.evtx", "E_Windows_system32_winevt_logs_Microsoft-Windows-CAPI2-Operational.evtx"
    py(dir, ZIP .. ([[
write("ev.zip", zipped([("Windows/%s", read("%s")), ("Windows/%s", read("%s"))]))
]]):format(small, h.fixture("evtx/" .. small), large, h.fixture("evtx/" .. large)))
    os.execute("mkdir -p " .. h.shquote(dir .. "/folder"))
    os.execute(("cp %s %s %s/folder/"):format(h.shquote(h.fixture("evtx/" .. small)), h.shquote(h.fixture("evtx/" .. large)),
      h.shquote(dir)))
    local z, zin = merged({ dir .. "/ev.zip" })
    local f = merged({ dir .. "/folder" })
    assert.are.equal("evtx", zin[dir .. "/ev.zip!Windows/" .. small].format)
    assert.are.equal("evtx", zin[dir .. "/ev.zip!Windows/" .. large].format)
    assert.is_true(#f.records > 300)
    assert.are.equal(#f.records, #z.records)
    for i = 1, #f.records do assert.are.same(without_file(f.records[i]), without_file(z.records[i]), "record " .. i) end
    -- what the CLI said before: "cannot open EVTX: libevtx_file_open: unable to open file: ev.zip!..."
    local code, out, err = h.sceplab({ "timeline", dir .. "/ev.zip", "--format", "jsonl" })
    assert.are.equal(0, code, err)
    local first = json.decode(out:match("^[^\n]+"))
    assert.are.equal(dir .. "/ev.zip!Windows/" .. small, first.file)
    assert.are.equal(5152, first.event_id)
  end)

  it("reads a zip in a zip in a zip, naming members a.zip!b.zip!c.log, and a cab", function()
    local have_gcab = os.execute("command -v gcab >/dev/null")
    assert.is_true(have_gcab, "gcab (Debian package gcab, in scripts/bootstrap) makes the cab")
    os.execute(("cp %s %s/NDESPlugin.log && cd %s && %sgcab -c -z logs.cab NDESPlugin.log"):format(
      h.shquote(logs .. "/NDESPlugin.log"), h.shquote(dir), h.shquote(dir), h.CLEAN))
    py(dir, ZIP .. ([[
c = zipped([("c.log", read("%s"))])
b = zipped([("b.zip", zipped([("c.zip", c)])), ("logs.cab", read(d + "/logs.cab")), ("empty.zip", zipped([]))])
write("a.zip", zipped([("b.zip", b)]))
]]):format(logs .. "/NDESPlugin.log"))
    local plain = merged({ logs .. "/NDESPlugin.log" })
    local t, by = merged({ dir .. "/a.zip" })
    local c = by[dir .. "/a.zip!b.zip!b.zip!c.zip!c.log"]
    local cab = by[dir .. "/a.zip!b.zip!logs.cab!NDESPlugin.log"]
    assert.are.equal("cmtrace", c.format)
    assert.are.equal("cmtrace", cab.format)
    assert.are.equal(#plain.records * 2, #t.records)
    local names = {}
    for _, r in ipairs(t.records) do names[r.file] = (names[r.file] or 0) + 1 end
    assert.are.equal(#plain.records, names[dir .. "/a.zip!b.zip!b.zip!c.zip!c.log"])
    -- the archives themselves are not inputs, only what they hold; one that holds nothing says so
    for _, i in ipairs(t.inputs) do
      if i.file:match("%.zip$") then
        assert.are.equal(dir .. "/a.zip!b.zip!empty.zip", i.file)
        assert.matches("an empty archive %(no files in it%)$", i.error)
      end
    end
    -- a diagnosis sees the nested log: before, "Laptop-logs.zip: not read (... first line: "PK ")"
    local code, out = h.sceplab({ "diagnose", dir .. "/a.zip", "--format", "json" })
    assert.is_true(code == 0 or code == 1)
    local rep = json.decode(out)
    local read = {}
    for _, i in ipairs(rep.inputs) do read[i.file] = i.format end
    assert.are.equal("cmtrace", read[dir .. "/a.zip!b.zip!b.zip!c.zip!c.log"])
    for _, s in ipairs(rep.steps_without_evidence) do assert.are_not.equal(3, s) end -- NDESPlugin's step
  end)

  it("opens archives inside archives four levels deep, refuses the fifth, and reads the rest", function()
    py(dir, ZIP .. ([[
x = zipped([("deep.log", read("%s"))])
for i in range(10):
    x = zipped([("l%%d.zip" %% i, x)])
write("deep.zip", zipped([("nest.zip", x), ("NDESPlugin.log", read("%s"))]))
]]):format(logs .. "/NDESPlugin.log", logs .. "/NDESPlugin.log"))
    local t, by = merged({ dir .. "/deep.zip" })
    local refused
    for _, i in ipairs(t.inputs) do if i.refused then refused = i end end
    assert.truthy(refused)
    assert.are.equal(dir .. "/deep.zip!nest.zip!l9.zip!l8.zip!l7.zip!l6.zip", refused.file)
    assert.matches("a zip archive nested 5 deep: not opened %(archives inside archives are followed 4 levels deep%)",
      refused.error)
    assert.are.equal("cmtrace", by[dir .. "/deep.zip!NDESPlugin.log"].format)
    -- deeper when asked
    local _, deeper = merged({ dir .. "/deep.zip" }, { archive_depth = 12 })
    assert.are.equal("cmtrace", deeper[dir .. "/deep.zip!nest.zip!l9.zip!l8.zip!l7.zip!l6.zip!l5.zip!l4.zip!l3.zip!l2.zip!l1.zip!l0.zip!deep.log"].format)
    -- the CLI says it whatever the terminal, and reads the rest
    local code, out, err = h.sceplab({ "timeline", dir .. "/deep.zip" })
    assert.are.equal(0, code, err)
    assert.matches("nested 5 deep: not opened", err, 1, true)
    assert.matches("deep.zip!NDESPlugin.log:", out, 1, true)
  end)

  it("refuses a zip bomb (2 GiB of zeros in 2 MB) quickly, spooling nothing, and reads the members after it", function()
    py(dir, ZIP .. ([[
def zeros(mib):
    # deflate of 1 MiB of zeros, flushed so each MiB compresses to the same bytes
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(b"\0" * (1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(b"\0" * (1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    data = block + again * (mib - 1) + c.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(b"\0" * (1 << 20), crc)
    return data, crc, mib << 20
def raw_zip(members):
    out, cd = b"", b""
    for name, data, crc, size, method in members:
        n = name.encode()
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 20, 20, 0, method, 0, 0x21, crc, len(data), size, len(n), 0, 0, 0, 0, 0, len(out)) + n
        out += struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, 0, method, 0, 0x21, crc, len(data), size, len(n), 0) + n + data
    return out + cd + struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, len(members), len(members), len(cd), len(out), 0)
data, crc, size = zeros(2048)
log = read("%s")
write("bomb.zip", raw_zip([("zeros.log", data, crc, size, 8), ("NDESPlugin.log", log, zlib.crc32(log), len(log), 0)]))
]]):format(logs .. "/NDESPlugin.log"))
    assert.is_true(#h.read(dir .. "/bomb.zip") < 3 * 1024 * 1024)
    local spool = h.tmpdir()
    local started = os.time()
    local code, out, err = h.sceplab_env({ TMPDIR = spool }, { "timeline", dir .. "/bomb.zip" })
    assert.is_true(os.time() - started < 20, "took " .. (os.time() - started) .. " s")
    assert.are.equal(0, code, err)
    assert.matches("bomb.zip!zeros.log: refused: expands more than 500 times its compressed size (a zip bomb?); not read",
      err, 1, true)
    assert.matches("bomb.zip!NDESPlugin.log:", out, 1, true)
    assert.are.equal("", io.popen("ls -A " .. h.shquote(spool)):read("a"))
    os.execute("rm -rf " .. h.shquote(spool))
    local t, by = merged({ dir .. "/bomb.zip" })
    assert.is_true(by[dir .. "/bomb.zip!zeros.log"].refused)
    assert.is_nil(by[dir .. "/bomb.zip!zeros.log"].format)
    assert.are.equal("cmtrace", by[dir .. "/bomb.zip!NDESPlugin.log"].format)
    assert.is_true(#t.records > 0)
  end)

  it("stops an archive at its expansion budget, says so, and still reads the other inputs", function()
    py(dir, ZIP .. ([[
log = read("%s")
write("many.zip", zipped([("part%%02d.log" %% i, log) for i in range(20)]))
]]):format(logs .. "/NDESPlugin.log"))
    local size = #h.read(logs .. "/NDESPlugin.log")
    -- a budget of five members: the sixth is refused, the rest of the archive not read
    local t, by = merged({ dir .. "/many.zip", logs .. "/u_ex200524.log" }, { archive_budget = 5 * size + size // 2 })
    assert.are.equal("cmtrace", by[dir .. "/many.zip!part04.log"].format)
    local stop = by[dir .. "/many.zip!part05.log"]
    assert.is_true(stop.refused)
    assert.matches(("many.zip expands past %d bytes (the budget asked for): a zip bomb?"):format(5 * size + size // 2),
      stop.error, 1, true)
    assert.matches("the rest of it is not read", stop.error, 1, true)
    assert.is_nil(by[dir .. "/many.zip!part06.log"])
    assert.are.equal("iis", by[logs .. "/u_ex200524.log"].format)
    assert.is_true(#t.records > 0)
  end)

  it("skips binary members (a screenshot), counts them, and never copies their bytes into any output", function()
    local png = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR" .. ("\0\1\2\3\xfe\xff"):rep(50)
    h.write(dir .. "/shot.png", png)
    py(dir, ZIP .. ([[
write("case.zip", zipped([("screenshots/shot.png", read(d + "/shot.png")), ("NDESPlugin.log", read("%s"))]))
]]):format(logs .. "/NDESPlugin.log"))
    local _, by = merged({ dir .. "/case.zip" })
    local shot = by[dir .. "/case.zip!screenshots/shot.png"]
    assert.is_true(shot.binary)
    assert.are.equal(dir .. "/case.zip!screenshots/shot.png: binary file (PNG image), not a log", shot.error)
    local code, out, err = h.sceplab({ "timeline", dir .. "/case.zip", "--format", "jsonl" })
    assert.are.equal(0, code, err)
    assert.matches("skipped 1 binary file(s)", err, 1, true)
    assert.is_nil((out .. err):find("IHDR", 1, true))
    local _, dout = h.sceplab({ "diagnose", dir .. "/case.zip", "--format", "json" })
    assert.is_nil(dout:find("IHDR", 1, true))
    assert.matches("binary file (PNG image), not a log", dout, 1, true)
    -- named on the command line, it is an error: a binary file is no log
    local ncode, _, nerr = h.sceplab({ "timeline", dir .. "/shot.png" })
    assert.are.equal(3, ncode)
    assert.matches("shot.png: binary file (PNG image), not a log", nerr, 1, true)
  end)

  it("gives records, member names and quoted first lines as valid UTF-8, ill-formed bytes as U+FFFD", function()
    local line = h.read(logs .. "/NDESPlugin.log"):match("^[^\n]*\n[^\n]*\n")
    local bad = line:gsub("Calling Initialize", "Calling Ini\xfftialize \xe2\x82 cut")
    h.write(dir .. "/bad.log", bad)
    py(dir, ZIP .. [[
write("u.zip", zipped([("badXname.log", read(d + "/bad.log")), ("notes.txt", b"caf\xc3 notes \xff\n")]).replace(b"badXname", b"bad\xffname"))
]])
    local t, by = merged({ dir .. "/u.zip" })
    local name = dir .. "/u.zip!bad\u{FFFD}name.log"
    assert.are.equal("cmtrace", by[name].format)
    local found
    for _, r in ipairs(t.records) do
      assert.is_true(valid_utf8(r.message or ""), r.message)
      assert.is_true(valid_utf8(r.file), r.file)
      if (r.message or ""):find("Calling Ini", 1, true) then found = r end
    end
    assert.are.equal("Calling Ini\u{FFFD}tialize \u{FFFD} cut...", found.message)
    assert.are.equal(name, found.file)
    local notes = by[dir .. "/u.zip!notes.txt"]
    assert.matches('first line: "caf\u{FFFD} notes \u{FFFD}"', notes.error, 1, true)
    -- the CLI's JSONL is valid UTF-8 too, and says U+FFFD where the bytes were
    local code, out, err = h.sceplab({ "timeline", dir .. "/u.zip", "--format", "jsonl" })
    assert.are.equal(0, code, err)
    assert.is_true(valid_utf8(out))
    assert.is_true(valid_utf8(err))
    local rec = json.decode(out:match("[^\n]*Calling Ini[^\n]*"))
    assert.are.equal("Calling Ini\u{FFFD}tialize \u{FFFD} cut...", rec.message)
    -- a file itself named with such a byte, in a folder
    h.write(dir .. "/folder-\xfe.log", bad)
    local t2 = merged({ dir .. "/folder-\xfe.log" })
    assert.are.equal(dir .. "/folder-\u{FFFD}.log", t2.records[1].file)
  end)

  it("reads a Windows-1252 (ANSI) text as such: its curly apostrophe is one, not U+FFFD", function()
    h.write(dir .. "/ansi.log", "May 23 14:15:38 iPhone profiled[150] <Error>: (Error) MC: The Registration Authority\x92s response is invalid. Caf\xe9.\n")
    local r = sceplab.logs.timeline({ dir .. "/ansi.log" }, { date = "2021-06-01" }).records[1]
    assert.are.equal("(Error) MC: The Registration Authority\u{2019}s response is invalid. Caf\u{E9}.", r.message)
    -- a UTF-8 text (its é well formed) with one such byte is no ANSI text: the byte is U+FFFD
    h.write(dir .. "/utf8.log", "May 23 14:15:37 iPhone profiled[150] <Notice>: Caf\xc3\xa9\nMay 23 14:15:38 iPhone " ..
      "profiled[150] <Error>: (Error) MC: The Registration Authority\x92s response is invalid.\n")
    local u = sceplab.logs.timeline({ dir .. "/utf8.log" }, { date = "2021-06-01" }).records
    assert.are.equal("Caf\u{E9}", u[1].message)
    assert.are.equal("(Error) MC: The Registration Authority\u{FFFD}s response is invalid.", u[2].message)
  end)
end)

describe("text as pasted", function()
  local pasted = h.fixture("pasted")
  local NEEDLE = "Registration Authority's response is invalid"

  it("matches an apostrophe however a paste mangled it: ..., ?, \\u2019, or a run of up to three non-letters", function()
    for _, text in ipairs({ "The Registration Authority...s response is invalid.", "The Registration Authority?s response is invalid.",
                            "The Registration Authority\\u2019s response is invalid.", "The Registration Authority\u{FFFD}s response is invalid.",
                            "The Registration Authority\u{2019}s response is invalid.", "The Registration Authority's response is invalid." }) do
      assert.truthy(sceplab.logs.find_text(text, NEEDLE), text)
      assert.is_true(core.filter({ contains = { NEEDLE } }):test({ source = "syslog", message = text }), text)
    end
    for _, text in ipairs({ "The Registration Authority....s response is invalid.", "The Registration Authority s response is invalid.",
                            "The Registration Authoritys response is invalid.", "The Registration Authority.\ns response is invalid." }) do
      assert.is_nil(sceplab.logs.find_text(text, NEEDLE), text)
    end
  end)

  it("reads an iOS syslog copy as pasted: the leading NSError lines are a record, (Error) in a <Notice> is an error", function()
    local lg = assert(sceplab.logs.open(pasted .. "/ios-syslog-pasted.log", nil, { date = "2021-06-01" }))
    local got = {}
    for r in lg:records() do got[#got + 1] = r end
    local stats = lg:stats()
    lg:close()
    assert.are.equal(5, #got)
    assert.are.equal(0, stats.skipped)
    assert.are.equal("Desc   : The Registration Authority...s response is invalid.\nDomain : MCSCEPErrorDomain\nCode   : 22013",
      got[1].message)
    assert.are.equal("error", got[1].level)
    assert.are.equal(1, got[1].line)
    assert.are.equal("2021-05-23T14:15:36Z", got[1].time) -- the time of the record after it
    assert.is_true(got[1].time_inferred)
    assert.are.equal("ios", got[1].platform)
    assert.are.same({ "error", "info", "error", "error", "info" },
      { got[1].level, got[2].level, got[3].level, got[4].level, got[5].level })
    -- all three manglings reach a playbook's match through the C filter
    local n = 0
    local f = assert(sceplab.logs.open(pasted .. "/ios-syslog-pasted.log", { contains = { NEEDLE } }, { date = "2021-06-01" }))
    for _ in f:records() do n = n + 1 end
    f:close()
    assert.are.equal(3, n)
  end)

  it("gives a Windows error written as its message alone the HRESULT it stands for", function()
    local r = assert(sceplab.logs.open(pasted .. "/DeviceManagement-text-only.txt")):next()
    assert.are.equal("0x800B0101", r.hresult)
    assert.are.equal("CERT_E_EXPIRED", r.hresult_name)
    local svc = {}
    for rec in assert(sceplab.logs.open(pasted .. "/CertificateRegistrationPoint-text-only.svclog")):records() do svc[#svc + 1] = rec end
    assert.are.equal("CERT_E_UNTRUSTEDROOT", svc[1].hresult_name)
    assert.are.equal("0x80072EE7", svc[2].hresult)
    -- a playbook's hresults match it whichever way it was written
    local want = core.filter({ hresults = { 0x800B0101 } })
    assert.is_true(want:test(r))
    -- the whole message, in any case, across a wrapped line, any apostrophe; never part of a sentence
    local function code_of(text)
      local p = h.write(h.tmpname(), "<![LOG[" .. text .. "]LOG]!><time=\"3:16:05.500+420\" date=\"05-24-2020\" component=\"x\" context=\"\" type=\"3\" thread=\"1\" file=\"\">\n")
      local rec = assert(sceplab.logs.open(p)):next()
      os.remove(p)
      return rec and rec.hresult
    end
    assert.are.equal("0x800B010F", code_of("TLS: The certificate\u{2019}s CN name does not match the passed value."))
    assert.are.equal("0x80092013", code_of("the revocation function was unable to check revocation\nbecause the revocation server was offline"))
    assert.are.equal("0x80072EE2", code_of("WinHttpSendRequest: The operation timed out"))
    assert.are.equal("0x80070542", code_of("Either a required impersonation level was not provided, or the provided impersonation level is invalid."))
    assert.is_nil(code_of("The operation timed outright"))
    assert.is_nil(code_of("401 - Unauthorized: Access is denied due to invalid credentials."))
    assert.is_nil(code_of("403 - Forbidden: Access is denied."))
    assert.are.equal("0x80070005", code_of("CertEnroll: Access is denied."))
    -- a code written beside the text wins
    assert.are.equal("0x80094800", code_of("The operation timed out 0x80094800"))
  end)

  it("reads SetupMsi.log as admins quote it: no header, lines broken by a page, a record per line", function()
    assert.matches("^msi: Windows Installer log, quoted", sceplab.logs.explain(pasted .. "/SetupMsi-quoted.txt"))
    local got = {}
    for r in assert(sceplab.logs.open(pasted .. "/SetupMsi-quoted.txt", nil, { date = "2020-05-24" })):records() do got[#got + 1] = r end
    assert.are.equal(6, #got)
    assert.are.equal(1603, got[2].win32_status)
    assert.are.equal("error", got[2].level)
    assert.are.equal("ERROR_INSTALL_FAILURE", got[2].hresult_name)
    assert.is_true(got[2].time_inferred)
    assert.are.equal("2020-05-24T16:13:11Z", got[2].time)
    assert.are.equal("error", got[3].level) -- "Error 1920."
    assert.matches("^Service' failed to start", got[4].message) -- the wrapped half, kept
    assert.are.equal("0x80070005", got[5].hresult)
    assert.are.equal("error", got[5].level)
    assert.are.equal("error", got[6].level) -- Return value 3
  end)
end)
