-- The sceplab binary as users run it: output, JSON, exit codes, the error line on stderr.
local h = require "helper"
local json = require "cjson"

describe("sceplab CLI", function()
  it("prints its version, the commit and the libraries it runs with", function()
    local code, out = h.sceplab({ "--version" })
    assert.are.equal(0, code)
    assert.matches("^sceplab %d+%.%d+%.%d+ %(commit [%w%-]+%)\n", out)
    for _, lib in ipairs({ "OpenSSL", "libcurl", "libxml2", "Lua", "SQLite", "libevent" }) do
      assert.matches("\n  " .. lib .. " +%d+%.%d+", out)
    end
    -- --quiet: the first line, and the same from any place of the global options
    local code2, out2 = h.sceplab({ "--version", "-q" })
    assert.are.equal(0, code2)
    assert.matches("^sceplab %d+%.%d+%.%d+ %(commit [%w%-]+%)\n$", out2)
    local code3, out3 = h.sceplab({ "--color", "never", "--version", "--quiet" })
    assert.are.equal(0, code3)
    assert.are.equal(out2, out3)
  end)

  it("explains itself and each command", function()
    local code, out = h.sceplab({ "help" })
    assert.are.equal(0, code)
    assert.matches("decode", out)
    code, out = h.sceplab({ "help", "decode" })
    assert.are.equal(0, code)
    assert.matches("%-%-show%-secrets", out)
  end)

  it("exits 2 with usage on stderr for unknown commands, flags and help topics", function()
    for _, args in ipairs({ { "frobnicate" }, { "decode", "--bogus", "x" }, { "help", "nope" }, {}, { "decode" } }) do
      local code, out, err = h.sceplab(args)
      assert.are.equal(2, code, table.concat(args, " "))
      assert.are.equal("", out)
      assert.matches("Usage: sceplab", err)
    end
  end)

  describe("decode", function()
    it("shows every node of the Intune SyncML profile and the decoded token", function()
      local code, out, err = h.sceplab({ "decode", h.fixture("decode/syncml-scep.xml") })
      assert.are.equal(0, code, err)
      for _, want in ipairs({
        "Server URLs%s+https://joyndes%-blueear%.msappproxy%.net/certsrv/mscep/mscep%.dll/; https://ndes",
        "Subject%s+CN=joymalya",
        "SANs%s+upn%(11%) joymalya@joymalya%.xyz, email%(2%)",
        "EKU%s+1%.3%.6%.1%.5%.5%.7%.3%.2 %(TLS Web Client Authentication%)",
        "Key usage%s+160 = digitalSignature, keyEncipherment",
        "Key length%s+2048",
        "Key protection%s+2 %(TPM if present",
        "Hash%s+SHA%-2",
        "CA thumbprint%s+%x+  %-> matches root",
        "Retry%s+3 time%(s%), 1 minute%(s%) apart",
        "Template%s+IntuneSCEP",
        "Valid period%s+1 Years",
        "Container%s+joymalya%-scep",
        "Prompt text%s+Enroll your Wi%-Fi certificate",
        "AAD key ids%s+a1b2c3d4; e5f6a7b8",
        "Enroll%s+executed",
        "Challenge%s+Intune CertEnrollToken, %d+ characters: %(redacted",
        "Device ID%s+58c120b7%-a22a%-428f%-89de%-7b0856e0c43e",
        "Timestamp%s+2020%-05%-24T10:15:52%.8276436Z",
        "closed as </DeviceId>",
        "Root store %(device%): DC=xyz, DC=joymalya, CN=Joymalya Root CA",
      }) do
        assert.matches(want, out)
      end
      assert.not_matches("PENlcnRF", out)
    end)

    it("reveals the challenge only with --show-secrets", function()
      local _, out = h.sceplab({ "decode", "--show-secrets", h.fixture("decode/syncml-scep.xml") })
      assert.matches("PENlcnRFbnJvbGxUb2tlbj4", out)
    end)

    it("prints one JSON document with --json", function()
      local code, out = h.sceplab({ "decode", "--json", h.fixture("decode/syncml-scep.xml") })
      assert.are.equal(0, code)
      local doc = json.decode(out)
      assert.are.equal("syncml", doc.kind)
      assert.are.equal("xml", doc.layers)
      assert.are.equal("CN=joymalya", doc.scep_enrollments[1].subject_name)
      assert.are.equal(22, #doc.commands)
    end)

    it("reads standard input and every kind", function()
      local cases = {
        { "decode/token.b64", "Intune CertEnrollToken" },
        { "decode/device.csr", "Challenge%s+present, 16 characters: %(redacted" },
        { "decode/getcacert.p7b", "4 certificate%(s%)" },
        { "decode/succeed-utf16.crs", "TransactionID%s+4802535d6cdeb195fce65c97aadc1163f855488e" },
        { "decode/scep-signed.mobileconfig", "Apple configuration profile %(signed%)" },
        { "scep/certrep-failure.der", "CertRep %(3%), FAILURE" },
        { "scep/pkcsreq-get.txt", "PKCSReq %(19%)" },
      }
      for _, c in ipairs(cases) do
        local code, out, err = h.sceplab({ "decode", "-" }, h.read(h.fixture(c[1])))
        assert.are.equal(0, code, c[1] .. ": " .. err)
        assert.matches(c[2], out)
      end
    end)

    it("decrypts with --key and reports a wrong key with exit 3", function()
      local code, out = h.sceplab({ "decode", "--key", h.fixture("scep/client.key"), h.fixture("scep/certrep-success.der") })
      assert.are.equal(0, code)
      assert.matches("CN=scep%-device%-01", out)
      local code2, out2, err2 = h.sceplab({ "decode", "--key", h.fixture("pki/device.key"), h.fixture("scep/certrep-success.der") })
      assert.are.equal(3, code2)
      assert.matches("CertRep", out2)
      assert.matches("cannot open the envelope", err2)
      local code3, _, err3 = h.sceplab({ "decode", "--key", h.fixture("scep/scepserver-ca.enc.key"), h.fixture("scep/pkcsreq.der") })
      assert.are.equal(3, code3)
      assert.matches("%-%-key%-pass", err3)
    end)

    it("prints profiles as Lua with --as-profile", function()
      local code, out = h.sceplab({ "decode", "--as-profile", h.fixture("decode/syncml-scep.xml") })
      assert.are.equal(0, code)
      assert.matches("challenge was redacted", out)
      local path = h.write(h.tmpname() .. ".lua", out)
      local p = assert((require "sceplab.scep.profile").load(path))
      os.remove(path)
      assert.are.equal("CN=joymalya", p.subject)
    end)

    it("exits 3 with one line naming the file for every malformed input", function()
      local dir = h.fixture("malformed")
      local pipe = io.popen("ls " .. h.shquote(dir))
      local n = 0
      for name in pipe:lines() do
        if not name:match("%.md$") then
          n = n + 1
          local code, out, err = h.sceplab({ "decode", dir .. "/" .. name })
          assert.are.equal(3, code, name .. ": " .. err)
          assert.are.equal("", out, name)
          local lines = h.lines(err)
          assert.are.equal(1, #lines, name .. ": " .. err)
          assert.matches("^sceplab: .*" .. name:gsub("%p", "%%%0") .. ": ", lines[1])
        end
      end
      pipe:close()
      assert.is_true(n >= 10)
    end)

    it("reads a CertEnrollToken declaring an entity, plain, base64 or from a script, without crashing", function()
      -- the XML is refused before libxml2 is loaded; the cleanup once called through its unloaded free
      local plain = h.fixture("../fuzz/regressions/token-entity-before-load.xml")
      local b64 = h.fixture("../fuzz/regressions/token-entity-before-load.b64")
      for _, path in ipairs({ plain, b64 }) do
        local code, out, err = h.sceplab({ "decode", path })
        assert.are.equal(0, code, err)
        assert.matches("entity declarations are not accepted", out)
      end
      local script = h.write(h.tmpname() .. ".lua", ("local f = io.open(%q, 'rb')\nprint(sceplab.decode(f:read('a')))\n"):format(b64))
      local code, out, err = h.sceplab({ "run", script })
      os.remove(script)
      assert.are.equal(0, code, err)
      assert.matches("^token", out)
    end)

    it("refuses input over 64 MiB while reading it: a 3 GB file, a pipe, /dev/zero", function()
      -- peak memory from GNU time: bounded by the limit, never by the input
      local function peak(args, stdin_cmd)
        local parts = { "env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=0 /usr/bin/time -f '%M'", h.shquote(h.bin) }
        for _, a in ipairs(args) do parts[#parts + 1] = h.shquote(a) end
        local errf = h.tmpname()
        local cmd = table.concat(parts, " ") .. " >/dev/null 2>" .. errf
        if stdin_cmd then cmd = stdin_cmd .. " | " .. cmd end
        local _, _, code = os.execute(cmd)
        local err = h.read(errf)
        os.remove(errf)
        return code, tonumber(err:match("(%d+)%s*$")), err
      end
      local big = h.tmpname()
      assert(os.execute("truncate -s 3G " .. h.shquote(big)))
      local code, kb, err = peak({ "decode", big })
      assert.are.equal(3, code, err)
      assert.matches("larger than 64 MiB", err)
      assert.is_true(kb < 100 * 1024, kb .. " KB for a 3 GB file refused by its size")
      code, kb, err = peak({ "timeline", big })
      os.remove(big)
      assert.are.equal(3, code, err)
      assert.is_true(kb < 100 * 1024, kb .. " KB reading the head of a 3 GB file")
      for _, case in ipairs({ { { "decode", "/dev/zero" } }, { { "decode", "-" }, "head -c 200000000 /dev/zero" } }) do
        code, kb, err = peak(case[1], case[2])
        assert.are.equal(3, code, err)
        assert.matches("larger than 64 MiB", err)
        assert.is_true(kb < 400 * 1024, kb .. " KB for " .. table.concat(case[1], " "))
      end
    end)

    it("exits 3 for a file that cannot be read", function()
      local code, _, err = h.sceplab({ "decode", "/nonexistent/file.xml" })
      assert.are.equal(3, code)
      assert.matches("/nonexistent/file%.xml", err)
    end)
  end)

  describe("run", function()
    it("runs a script with the sceplab API and its arguments", function()
      local path = h.write(h.tmpname() .. ".lua", [[
local sceplab = require "sceplab"
local f = assert(io.open(arg[1], "rb"))
local kind, doc = sceplab.decode(f:read("a"))
f:close()
print(kind, #doc.scep_enrollments, select("#", ...))
return tonumber(arg[2])
]])
      local code, out = h.sceplab({ "run", path, h.fixture("decode/syncml-scep.xml"), "5" })
      os.remove(path)
      assert.are.equal(5, code)
      assert.are.equal("syncml\t1\t2\n", out)
    end)

    it("refuses os.execute and names the file and line of errors", function()
      local path = h.write(h.tmpname() .. ".lua", "print('x')\nos.execute('true')\n")
      local code, _, err = h.sceplab({ "run", path })
      os.remove(path)
      assert.are.equal(1, code)
      assert.matches(path:gsub("%p", "%%%0") .. ":2:", err)
    end)

    it("exits 3 for a script that does not load", function()
      local path = h.write(h.tmpname() .. ".lua", "this is not lua\n")
      local code, _, err = h.sceplab({ "run", path })
      os.remove(path)
      assert.are.equal(3, code)
      assert.matches(path:gsub("%p", "%%%0") .. ":1:", err)
    end)
  end)
end)
