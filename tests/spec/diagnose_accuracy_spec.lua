-- Diagnosis that never cries wolf and reads everything (issue 20): codes are whole tokens, reports
-- are valid UTF-8 whatever the logs hold, a playbook sees every record its match asks for, the
-- verdict names the root cause and who failed.
local h = require "helper"
local json = require "cjson"
require "sceplab" -- loads the core modules
local logs = require "sceplab.core.logs"
local diagnose = require "sceplab.diagnose"

local function by_id(rep, id)
  for _, f in ipairs(rep.findings) do if f.id == id then return f end end
end

local function errors_of(rep)
  local out = {}
  for _, f in ipairs(rep.findings) do if f.severity == "error" then out[#out + 1] = f.id end end
  return out
end

-- a copy of a bundled fixture case (its expect.lua left out), with more lines appended to files
local function case_with(case, extra)
  local d = h.tmpdir()
  local src = h.root .. "/lua/playbooks/fixtures/" .. case
  assert(os.execute("cp -r " .. h.shquote(src) .. "/. " .. h.shquote(d)))
  os.remove(d .. "/expect.lua")
  for name, text in pairs(extra or {}) do
    local f = assert(io.open(d .. "/" .. name, "ab"))
    f:write(text)
    f:close()
  end
  return d
end

local function playbook_dir(text)
  local d = h.tmpdir()
  h.write(d .. "/team.lua", text)
  return d
end

local function cmtrace(msg, time)
  return ('<![LOG[%s]LOG]!><time="%s+420" date="05-24-2020" component="NDESPlugin" context="" type="1" thread="4120" file="">\n')
    :format(msg, time or "3:16:07.000")
end

describe("codes are matched as whole tokens", function()
  it("logs.has_code finds a code in the spellings logs use, never inside an identifier", function()
    local yes = {
      { "Error 12175 CERT_CN_INVALID", 12175 }, { "failed (12175).", 12175 }, { "WINHTTP_CALLBACK_STATUS 12175", 12175 },
      { "error: 0x2F8F", 12175 }, { "0x00002f8f", 12175 },
      { "hr=0x800B0109", 0x800B0109 }, { "hr 800b0109", 0x800B0109 }, { "(2148204809)", 0x800B0109 },
      { "HRESULT -2146762487", 0x800B0109 }, { "Code=-1004 ", -1004 }, { "answered 0x409.", "0x409" },
      { "0x00000409", "0x409" }, { "status 1603", "1603" },
    }
    local no = {
      { "transaction 7C12175D16", 12175 }, { "id 12175ab", 12175 }, { "version 10.0.12175.1", 12175 },
      { "{3DA494E4-1603-415C-B895-FB5265C5C83B}", 1603 }, { "MIIBx+12175/aB==", 12175 }, { "LogicalName_12175_x", 12175 },
      { "Code=1004", -1004 }, { "Code=-1004", 1004 }, { "Culture 1033", "0x409" }, { "0x4090000", "0x409" },
      { "0x2F8F", "12175" }, { "thumbprint a800b0109f", 0x800B0109 },
    }
    for _, c in ipairs(yes) do assert.is_true(logs.has_code(c[1], c[2]), c[1] .. " / " .. tostring(c[2])) end
    for _, c in ipairs(no) do assert.is_false(logs.has_code(c[1], c[2]), c[1] .. " / " .. tostring(c[2])) end
    assert.has_error(function() logs.has_code("x", "12175abc") end)
    assert.has_error(function() logs.has_code("x", 1.5) end)
  end)

  it("the C filter's whole_numbers option matches numbers in contains as tokens, words as substrings", function()
    local f = logs.filter({ contains = { "12175", "0x409", "Verify challenge" }, any = true, whole_numbers = true })
    local sub = logs.filter({ contains = { "12175", "0x409", "Verify challenge" }, any = true })
    local function rec(m) return { source = "cmtrace", message = m } end
    assert.is_true(f:test(rec("Error 12175 calling the CRP")))
    assert.is_false(f:test(rec("transaction 7C12175D16")))
    assert.is_false(f:test(rec("code 0x4091")))
    assert.is_true(f:test(rec("CRP answered 0x409")))
    assert.is_true(f:test(rec("Verify challenge returns true")))
    assert.is_true(sub:test(rec("transaction 7C12175D16"))) -- without it, as timeline --grep: substrings
    -- one needle alone takes the other path through the filter: the same answer
    local one = logs.filter({ contains = { "12175" }, whole_numbers = true })
    assert.is_false(one:test(rec("transaction 7C12175D16")))
    assert.is_true(one:test(rec("Error 12175")))
  end)

  -- the class of bug: a random transaction id in NDESPlugin.log held ...7C12175D16... and a healthy
  -- replay diagnosed ssl-cn-invalid (ctx.text(r, "12175") was a substring test)
  it("a healthy NDES bundle whose ids hold the digits of codes raises nothing", function()
    local d = case_with("server-succeeded", { ["NDESPlugin.log"] =
      cmtrace("Certificate request status written for transaction 95E57C12175D16A0B2148204809CD0x4090A1603B80072EE7F")
      .. cmtrace("NDES thumbprint is a412175f1346b800b0109c0410d0411e1000f5002a22004b403c503d.") })
    local rep = assert(diagnose.run({ d }))
    assert.are.same({}, errors_of(rep))
    assert.are.equal("server-succeeded", rep.verdicts[1].status)
    -- and the same code written as NDESPlugin writes the failure is still found
    local bad = case_with("server-succeeded", { ["NDESPlugin.log"] =
      cmtrace("Error 12175 calling https://ndes.contoso.com/CertificateRegistrationSvc: CERT_CN_INVALID") })
    rep = assert(diagnose.run({ bad }))
    assert.is_truthy(by_id(rep, "ssl-cn-invalid"))
  end)

  it("a user playbook's numeric contains receives only the records with the code as a token", function()
    local d = playbook_dir([[return { description = "d", step = 3, severity = "error",
      findings = { ["team-12175"] = { title = "t", cause = "c", fix = {} } },
      match = { contains = { "12175" } },
      check = function(recs) return { { id = "team-12175", evidence = recs } } end }]])
    local b = case_with("server-succeeded", { ["NDESPlugin.log"] =
      cmtrace("Certificate request status written for transaction 95E57C12175D16A0") .. cmtrace("WINHTTP_CALLBACK error 12175") })
    local code, out = h.sceplab({ "diagnose", "--format", "json", "--playbooks", d, b })
    assert.are.equal(1, code)
    local f = by_id(json.decode(out), "team-12175")
    assert.are.equal(1, f.evidence_count)
    assert.matches("WINHTTP_CALLBACK error 12175", f.evidence[1].text, 1, true)
  end)

  it("ctx.code matches the record's hresult field whichever way the log wrote the error", function()
    local d = playbook_dir([[return { description = "d", step = 3, severity = "error",
      findings = { ["team-expired"] = { title = "t", cause = "c", fix = {} } },
      match = { min_level = "warning" },
      check = function(recs, ctx)
        local ev = {}
        for _, r in ipairs(recs) do if ctx.code(r, 0x800B0101) then ev[#ev + 1] = r end end
        return #ev > 0 and { { id = "team-expired", evidence = ev } } or {}
      end }]])
    -- sceplab's own JSONL: the message as Windows wrote it, the code in the hresult field only
    local b = h.tmpdir()
    h.write(b .. "/records.jsonl", json.encode({ source = "eventxml", level = "error", line = 1, time = "2020-05-24T10:16:05Z", file = "NDES.xml",
      message = "A required certificate is not within its validity period when verifying against the current system clock.",
      hresult = "0x800B0101" }) .. "\n" .. json.encode({ source = "eventxml", level = "error", line = 2, file = "NDES.xml",
      time = "2020-05-24T10:16:06Z", message = "Chain for thumbprint 800b0101aa: 7C800B0101 is no code" }) .. "\n")
    local code, out, err = h.sceplab({ "diagnose", "--format", "json", "--playbooks", d, b })
    assert.are.equal(1, code, err)
    local f = by_id(json.decode(out), "team-expired")
    assert.are.equal(1, f.evidence_count)
    assert.matches("validity period", f.evidence[1].text, 1, true)
    -- a code that is no integer and no number as logs write it is a mistake in the playbook
    local d2 = playbook_dir([[return { description = "d", step = 3, severity = "error",
      findings = { ["team-x"] = { title = "t", cause = "c", fix = {} } }, match = { min_level = "warning" },
      check = function(recs, ctx) ctx.code(recs[1], "twelve") return {} end }]])
    local c2, _, e2 = h.sceplab({ "diagnose", "--playbooks", d2, b })
    assert.are.equal(3, c2)
    assert.matches("team.lua: check failed: [^\n]*ctx.code: the code must be an integer", e2)
  end)
end)

describe("reports are valid UTF-8 whatever the input holds", function()
  -- a stray byte in a log line, a first line and a zip member's name; a valid é where a cut by
  -- bytes would halve it
  local function bundle()
    local d = h.tmpdir()
    local long = ("x"):rep(296) .. "\xC3\xA9 and more words after the cut"
    h.write(d .. "/NDESPlugin.log",
      cmtrace("Calling VerifyRequest ...", "3:16:05.000")
      .. ('<![LOG[CA failed request 0x80094800 \xC3( stray \xFF\xFE bytes]LOG]!><time="3:16:06.000+420" date="05-24-2020" component="NDESPlugin" context="" type="3" thread="1" file="">\n')
      .. ('<![LOG[%s]LOG]!><time="3:16:07.000+420" date="05-24-2020" component="NDESPlugin" context="" type="3" thread="1" file="">\n'):format(long))
    h.write(d .. "/notes.txt", "Collected by \xFF\xFEsomeone\n")
    local zip = h.tmpname() .. ".zip"
    assert(logs.zip_dir(d, zip))
    -- the member's name as an old zip tool writes it: bytes of a code page, not UTF-8
    local data = h.read(zip)
    local n
    data, n = data:gsub("notes%.txt", "not\xE9s.txt")
    assert.are.equal(2, n) -- local header and central directory
    h.write(zip, data)
    return zip
  end

  local function valid(s, what)
    assert.is_truthy(utf8.len(s), what .. " is not valid UTF-8: " .. s:sub(1, 400))
  end

  it("diagnose --format json, text, md and html; timeline --format jsonl, ecs and text", function()
    local zip = bundle()
    local outs = {}
    for _, f in ipairs({ "json", "text", "md", "html" }) do
      local code, out, err = h.sceplab({ "diagnose", "--format", f, zip })
      assert.are.equal(1, code, err)
      valid(out, "diagnose --format " .. f)
      outs[f] = out
    end
    for _, f in ipairs({ "jsonl", "ecs", "text" }) do
      local code, out, err = h.sceplab({ "timeline", "--format", f, zip })
      assert.is_true(code == 0 or code == 1, err)
      valid(out, "timeline --format " .. f)
    end
    -- the JSON names what it could not show: U+FFFD in the error, file and text fields
    local rep = json.decode(outs.json)
    local texts = {}
    for _, f in ipairs(rep.findings) do for _, e in ipairs(f.evidence) do texts[#texts + 1] = e.text end end
    local all = table.concat(texts, "\n")
    assert.matches("0x80094800 \u{FFFD}( stray \u{FFFD}\u{FFFD} bytes", all, 1, true)
    local files = {}
    for _, i in ipairs(rep.inputs) do files[#files + 1] = i.file .. " " .. tostring(i.error) end
    assert.matches("not\u{FFFD}s.txt", table.concat(files, "\n"), 1, true)
    -- text is shortened by characters: the é before the cut stays whole
    assert.matches(("x"):rep(296) .. "\u{E9}...", all, 1, true)
    assert.is_nil(outs.text:find("\\xC3", 1, true))
  end)

  it("json.encode replaces what is not UTF-8 and keeps what is", function()
    local enc = require "sceplab.json"
    assert.are.equal('"a\u{FFFD}b"', enc.encode("a\xFFb"))
    assert.are.equal('"\u{FFFD}"', enc.encode("\xC3"))            -- cut in half
    assert.are.equal('"\u{FFFD}\u{FFFD}\u{FFFD}"', enc.encode("\xED\xA0\x80")) -- a surrogate
    assert.are.equal('"\u{FFFD}\u{FFFD}"', enc.encode("\xC0\xAF"))  -- an overlong '/'
    assert.are.equal('"caf\u{E9} \u{1F600}"', enc.encode("caf\u{E9} \u{1F600}"))
    assert.are.equal('{"k\u{FFFD}":"v"}', enc.encode({ ["k\xFF"] = "v" }, true))
  end)
end)

describe("a playbook sees every record its match asks for", function()
  -- 25 PKIOperations of about a second, one of ten, five more: the slow one is the 26th of its kind
  local function iis_log()
    local d = h.tmpdir()
    local lines = { "#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0",
      "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken" }
    for i = 1, 31 do
      lines[#lines + 1] = ("2020-05-24 10:%02d:00 10.0.0.5 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=PKIOperation&message=MIIB 443 - 10.0.0.%d Dalvik/2.1.0 - 200 0 0 %d")
        :format(i, i, i == 26 and 9876 or 1000 + i)
    end
    h.write(d .. "/u_ex200524.log", table.concat(lines, "\n") .. "\n")
    return d
  end
  local function slow_playbook(sample)
    return playbook_dir(([[return { description = "PKIOperations slower than 5 s", step = 2, severity = "warning",
      %s
      findings = { ["team-slow-pkioperation"] = { title = "A PKIOperation took more than 5 s", cause = "c", fix = {} } },
      match = { sources = { "iis" }, operations = { "PKIOperation" }, statuses = { 200 } },
      check = function(records)
        local slow = {}
        for _, r in ipairs(records) do if (r.time_taken_ms or 0) > 5000 then slow[#slow + 1] = r end end
        return #slow > 0 and { { id = "team-slow-pkioperation", evidence = slow } } or {}
      end }]]):format(sample and "sample = true," or ""))
  end

  it("the slow one among many fast ones reaches a playbook that did not ask for a sample", function()
    local code, out, err = h.sceplab({ "diagnose", "--format", "json", "--playbooks", slow_playbook(false), iis_log() })
    assert.are.equal(0, code, err)
    local f = by_id(json.decode(out), "team-slow-pkioperation")
    assert.is_truthy(f, out)
    assert.are.equal(1, f.evidence_count)
    assert.matches("%(9876 ms%)", f.evidence[1].text)
  end)

  it("a playbook that declares sample = true gets the first 20 and the last of a kind, the rest counted", function()
    local code, out = h.sceplab({ "diagnose", "--format", "json", "--playbooks", slow_playbook(true), iis_log() })
    assert.are.equal(0, code)
    local rep = json.decode(out)
    assert.is_nil(by_id(rep, "team-slow-pkioperation"))
    assert.are.equal(31, rep.records_examined)
  end)

  it("the bundled playbooks sample (a failing NDES's flood stays bounded)", function()
    for _, pb in ipairs(assert(diagnose.load_all())) do
      if pb.check then assert.is_true(pb.sample, pb.file) end
    end
    local d = playbook_dir([[return { description = "d", sample = "yes", findings = {}, match = {}, check = function() end }]])
    local code, _, err = h.sceplab({ "playbooks", "list", "--playbooks", d })
    assert.are.equal(3, code)
    assert.matches("team.lua: field 'sample' must be a boolean, not a string", err, 1, true)
  end)
end)

describe("the verdict names the root cause", function()
  local function fixture(case) return h.root .. "/lua/playbooks/fixtures/" .. case end

  -- NDES's expired RA pair (event 2) and the 500s it causes, in one attempt: the class of bug was
  -- a verdict naming the generic ndes-500 (it sorts first) and both printed as findings
  it("folds ndes-500 into ra-cert-expired: the verdict names the cause, the 500s are its evidence", function()
    local code, out = h.sceplab({ "diagnose", "--format", "json", "--assume-offset=-07:00", fixture("ra-cert-expired") })
    assert.are.equal(1, code)
    local rep = json.decode(out)
    assert.is_nil(by_id(rep, "ndes-500"))
    local f = by_id(rep, "ra-cert-expired")
    assert.are.equal("ndes-500", f.explains[1].id)
    assert.is_true(f.explains[1].evidence_count >= 1)
    assert.matches("-> 500", f.explains[1].evidence[1].text, 1, true)
    local failed = {}
    for _, v in ipairs(rep.verdicts) do if v.status == "failed" then failed[#failed + 1] = v end end
    assert.are.equal(1, #failed)
    assert.are.equal("ra-cert-expired", failed[1].finding)
    assert.are.same({ "ndes-500" }, failed[1].explains)
    local _, text = h.sceplab({ "diagnose", "--assume-offset=-07:00", fixture("ra-cert-expired") })
    assert.matches("[ra-cert-expired], which explains ndes-500", text, 1, true)
    assert.matches("Explains NDES fails the request (HTTP 500) [ndes-500]", text, 1, true)
    assert.is_nil(text:find("ERROR NDES fails the request", 1, true))
  end)

  it("names a cause at a later step than the symptom: policy-cert-expired over the 503s it causes", function()
    local d = h.tmpdir()
    assert(os.execute("cp -r " .. h.shquote(fixture("policy-cert-expired")) .. "/. " .. h.shquote(d)))
    assert(os.execute("cp " .. h.shquote(fixture("scep-app-pool-503")) .. "/u_ex200524.log " .. h.shquote(d)))
    os.remove(d .. "/expect.lua")
    local rep = assert(diagnose.run({ d }))
    assert.are.equal(1, #rep.verdicts)
    assert.are.equal("policy-cert-expired", rep.verdicts[1].finding)
    assert.are.equal(3, rep.verdicts[1].failing_step)
    assert.is_nil(by_id(rep, "scep-app-pool-503"))
    assert.are.equal("scep-app-pool-503", by_id(rep, "policy-cert-expired").explains[1].id)
  end)

  it("never reports the same finding twice for one attempt, in any bundled fixture", function()
    for _, r in ipairs(assert(diagnose.test(diagnose.bundled_dir()))) do
      local seen = {}
      for _, f in ipairs(r.report.findings) do
        local ids = { f.id }
        for _, g in ipairs(f.explains or {}) do ids[#ids + 1] = g.id end
        for _, id in ipairs(ids) do
          local key = id .. "@" .. tostring(f.attempt)
          assert.is_nil(seen[key], r.case .. ": " .. key .. " twice")
          seen[key] = true
        end
      end
    end
  end)

  it("says which device, user and request failed, in text and Markdown", function()
    local bundle = h.fixture("bundles/ndes-bundle.zip")
    local _, text = h.sceplab({ "diagnose", bundle })
    local want = "failed for: Intune device id 58c120b7-a22a-428f-89de-7b0856e0c43e, user d35ca381-e692-4e08-9d33-759db7dff5d5, " ..
                 "request AC_d70bf40e-1822-44b4-9ee5-0cc777c5bf70/LogicalName_0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0;Hash=-1271337020 " ..
                 "(transaction a1c0ffee0000000000000000000000000000beef)"
    assert.matches(want, text, 1, true)
    local _, md = h.sceplab({ "diagnose", "--format", "md", bundle })
    assert.matches("  - " .. want, md, 1, true)
    -- the device's own events name the computer
    local rep = assert(diagnose.run({ h.root .. "/lua/playbooks/fixtures/ca-thumbprint-mismatch" }))
    assert.is_truthy(rep.verdicts[1].who == nil or rep.verdicts[1].who.device_id == nil)
    -- README's example is this bundle's verdict, word for word
    local readme = h.read(h.root .. "/README.md")
    local block = readme:match("\nVerdict:\n(.-)\n\n")
    local got = text:match("\nVerdict:\n(.-)\n\n")
    assert.are.equal(block, got)
  end)

  it("refuses an explains that names no finding, naming the file", function()
    local d = playbook_dir([[return { description = "d", step = 3, severity = "error",
      findings = { ["team-x"] = { title = "t", cause = "c", fix = {}, explains = { "no-such-finding" } } },
      match = { contains = { "x" } }, check = function() return {} end }]])
    local code, _, err = h.sceplab({ "playbooks", "list", "--playbooks", d })
    assert.are.equal(3, code)
    assert.matches("team.lua: field 'findings[\"team-x\"].explains' names 'no-such-finding', which no playbook declares", err, 1, true)
  end)
end)
