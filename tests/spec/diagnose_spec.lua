-- sceplab diagnose and sceplab playbooks: the findings, evidence lines, verdicts, exit codes and
-- the user playbook loader that support engineers rely on.
local h = require "helper"
local json = require "cjson"

local bundle = h.fixture("bundles/ndes-bundle.zip")

local function diagnose_json(args)
  local code, out, err = h.sceplab(args)
  return code, (out ~= "" and json.decode(out) or nil), err
end

local function by_id(rep, id, attempt)
  for _, f in ipairs(rep.findings) do
    if f.id == id and (attempt == nil or f.attempt == attempt) then return f end
  end
end

local function has_evidence(f, file_suffix, line)
  for _, e in ipairs(f.evidence) do
    if e.file:sub(-#file_suffix) == file_suffix and e.line == line then return true end
  end
  return false
end

describe("sceplab diagnose on the NDES bundle", function()
  local code, rep
  setup(function() code, rep = diagnose_json({ "diagnose", "--format", "json", bundle }) end)

  it("exits 1 because error findings exist", function()
    assert.are.equal(1, code)
  end)

  it("names each failure with its step and the file:line evidence", function()
    local cases = {
      { "ca-thumbprint-mismatch", 1, "DeviceManagement-Admin.txt", 5 },
      { "iis-impersonation-500", 2, "u_ex200524.log", 13 },
      { "intermediate-in-root-store", 3, "u_ex200524.log", 14 },
      { "signing-cert-missing", 3, "CertificateRegistrationPoint_2020-05-24_101500.svclog", 3 },
      { "ca-template-unsupported", 4, "NDESPlugin.log", 14 },
      { "connector-upload-failed", 6, "9A1B2C3D4E5F60718293A4B5C6D7E8F9.CRS", 1 },
    }
    for _, c in ipairs(cases) do
      local f
      for _, x in ipairs(rep.findings) do
        if x.id == c[1] and has_evidence(x, c[3], c[4]) then f = x end
      end
      assert.is_truthy(f, c[1] .. " not raised with evidence " .. c[3] .. ":" .. c[4])
      assert.are.equal(c[2], f.step, c[1])
      assert.is_string(f.title)
      assert.is_string(f.cause)
      assert.is_table(f.fix)
      assert.is_true(#f.fix > 0, c[1] .. " has no fix")
      for _, e in ipairs(f.evidence) do
        assert.is_string(e.time)
        assert.is_string(e.text)
      end
    end
  end)

  it("ranks errors before warnings", function()
    local seen_warning = false
    for _, f in ipairs(rep.findings) do
      if f.severity ~= "error" then seen_warning = true end
      if seen_warning then assert.are_not.equal("error", f.severity) end
    end
  end)

  it("deduplicates findings per attempt", function()
    local seen = {}
    for _, f in ipairs(rep.findings) do
      local k = f.id .. "@" .. tostring(f.attempt)
      assert.is_nil(seen[k], "duplicate " .. k)
      seen[k] = true
    end
  end)

  it("gives the failing step of the attempt: the earliest error", function()
    local v
    for _, x in ipairs(rep.verdicts) do if x.attempt == 1 then v = x end end
    assert.is_truthy(v)
    assert.are.equal("failed", v.status)
    assert.are.equal(4, v.failing_step)
    assert.are.equal("ca-template-unsupported", v.finding)
  end)

  it("reports what it read, with record and skipped counts", function()
    local iis
    for _, i in ipairs(rep.inputs) do if i.file:match("u_ex200524%.log$") then iis = i end end
    assert.are.equal("iis", iis.format)
    assert.are.equal(8, iis.records)
    assert.are.equal(1, iis.skipped)
  end)
end)

describe("sceplab diagnose on healthy and near-miss logs", function()
  local dir = h.fixtures .. "/../../lua/playbooks/fixtures/healthy-windows"

  it("raises no error for a 403 on the bare URL or event 306 with 0x2ab0003, and sees the install", function()
    local code, rep = diagnose_json({ "diagnose", "--format", "json", dir })
    assert.are.equal(0, code)
    for _, f in ipairs(rep.findings) do assert.are_not.equal("error", f.severity, f.id) end
    assert.are.equal("enrollment-succeeded", rep.verdicts[1].status)
    assert.matches("installed", rep.verdicts[1].evidence[1].text, 1, true)
    local ok = by_id(rep, "enrollment-succeeded")
    assert.is_truthy(ok, "the outcome is an info finding too")
    assert.are.equal("info", ok.severity)
    local _, raw = h.sceplab({ "diagnose", "--format", "json", dir })
    assert.matches('"fix": []', raw, 1, true)
  end)

  it("says which steps have no evidence instead of claiming health", function()
    local code, out = h.sceplab({ "diagnose", h.fixture("logs/SetupMsi.log") })
    assert.are.equal(0, code)
    assert.matches("not a clean bill of health", out, 1, true)
    assert.matches("No evidence at all for step", out, 1, true)
  end)
end)

describe("never a silent pass", function()
  local fixtures = h.root .. "/lua/playbooks/fixtures"

  it("raises unclassified-error for error records no playbook explains, exit 1, in JSON like any finding", function()
    local code, rep = diagnose_json({ "diagnose", "--format", "json", fixtures .. "/unclassified-error" })
    assert.are.equal(1, code)
    local f = by_id(rep, "unclassified-error")
    assert.are.equal("error", f.severity)
    assert.are.equal(3, f.step)
    assert.is_true(has_evidence(f, "NDESPlugin.log", 3))
    assert.matches("(407) Proxy Authentication Required", f.evidence[1].text, 1, true)
    assert.are.equal("failed", rep.verdicts[1].status)
    local _, text = h.sceplab({ "diagnose", fixtures .. "/unclassified-error" })
    assert.matches("FAILED at step 3", text, 1, true)
    assert.matches("Errors no playbook explains [unclassified-error]", text, 1, true)
  end)

  it("reads a healthy NDES server bundle as the server side succeeding, exit 0", function()
    local code, rep = diagnose_json({ "diagnose", "--format", "json", fixtures .. "/server-succeeded" })
    assert.are.equal(0, code)
    assert.are.equal(1, #rep.verdicts)
    assert.are.equal("server-succeeded", rep.verdicts[1].status)
    assert.are.same({ 3, 4, 6 }, rep.verdicts[1].steps)
    local labels = {}
    for _, e in ipairs(rep.verdicts[1].evidence) do labels[#labels + 1] = e.label .. " x" .. e.count end
    assert.matches("the Certificate Registration Point accepted VerifyRequest x1", table.concat(labels, "|"), 1, true)
    assert.matches("the connector reported the issued certificate (Notify) x1", table.concat(labels, "|"), 1, true)
    local _, text = h.sceplab({ "diagnose", fixtures .. "/server-succeeded" })
    assert.matches("the bundle: the server side succeeded (steps 3, 4, 6); no device log shows the install", text, 1, true)
    assert.is_nil(text:find("No playbook matched", 1, true))
  end)

  it("keeps the first and last evidence of a failure that repeats, with the count", function()
    local d = h.tmpdir()
    local lines = { "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) sc-status sc-substatus sc-win32-status time-taken" }
    for i = 0, 4999 do
      lines[#lines + 1] = ("2020-05-24 %02d:%02d:%02d 10.0.0.5 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=GetCACert&message=default 443 - 10.0.0.7 Mozilla/4.0 503 0 0 1")
        :format(10 + i // 3600, i // 60 % 60, i % 60)
    end
    h.write(d .. "/u_ex200524.log", table.concat(lines, "\n") .. "\n")
    local code, rep = diagnose_json({ "diagnose", "--format", "json", d })
    assert.are.equal(1, code)
    local f = by_id(rep, "scep-app-pool-503")
    assert.are.equal(5000, f.evidence_count)
    assert.are.equal(5, #f.evidence)
    assert.are.equal(2, f.evidence[1].line)
    assert.are.equal(5001, f.evidence[5].line)
    assert.are.equal(5000, rep.records_examined)
    local _, text = h.sceplab({ "diagnose", d })
    assert.matches("... and 4995 more like these (5000 in all; the first and last are shown)", text, 1, true)
  end)
end)

describe("report formats", function()
  it("text names the verdict, the fix and the evidence", function()
    local code, out = h.sceplab({ "diagnose", bundle })
    assert.are.equal(1, code)
    assert.matches("attempt 1: FAILED at step 4", out, 1, true)
    assert.matches("Local Security Policy, User Rights Assignment", out, 1, true)
    assert.matches("u_ex200524.log:13", out, 1, true)
    assert.is_nil(out:find("\27[", 1, true), "colour codes when stdout is not a terminal")
  end)

  it("markdown has a findings section and escaped evidence tables", function()
    local code, out = h.sceplab({ "diagnose", "--format", "md", bundle })
    assert.are.equal(1, code)
    assert.matches("### ERROR: IIS_IUSRS cannot impersonate", out, 1, true)
    -- the evidence table names the file (plain text: the clone's path may hold - . or spaces)
    assert.matches("| `" .. h.fixtures .. "/bundles/ndes-bundle.zip!", out, 1, true)
  end)
end)

describe("user playbooks", function()
  local function dir_with(name, text)
    local d = h.tmpdir()
    h.write(d .. "/" .. name, text)
    return d
  end

  it("stops at load with the file and field named", function()
    local d = dir_with("bad.lua", [[return { description = "d", step = "two", severity = "error",
      findings = { ["x"] = { title = "t", cause = "c", fix = {} } },
      match = { contains = { "x" } }, check = function() return {} end }]])
    local code, _, err = h.sceplab({ "diagnose", "--playbooks", d, bundle })
    assert.are.equal(3, code)
    assert.matches(d .. "/bad.lua: field 'step' must be a number, not a string", err, 1, true)
  end)

  it("names the finding and the field when a declaration is incomplete", function()
    local d = dir_with("half.lua", [[return { description = "d", step = 4, severity = "error",
      findings = { ["team-x"] = { title = "t", fix = {} } },
      match = { contains = { "x" } }, check = function() return {} end }]])
    local code, _, err = h.sceplab({ "playbooks", "list", "--playbooks", d })
    assert.are.equal(3, code)
    assert.matches("half.lua: field 'findings[\"team-x\"].cause' is required", err, 1, true)
  end)

  it("refuses os.execute inside a playbook", function()
    local d = dir_with("evil.lua", [[os.execute("true") return {}]])
    local code, _, err = h.sceplab({ "playbooks", "list", "--playbooks", d })
    assert.are.equal(3, code)
    assert.matches("evil.lua", err, 1, true)
  end)

  it("stops a check that returns a finding it did not declare, naming the file", function()
    local d = dir_with("liar.lua", [[return { description = "d", step = 4, severity = "error",
      findings = { ["team-declared"] = { title = "t", cause = "c", fix = {} } },
      match = { contains = { "0x80094800" } },
      check = function(recs) return { { id = "team-undeclared", evidence = recs } } end }]])
    local code, _, err = h.sceplab({ "diagnose", "--playbooks", d, bundle })
    assert.are.equal(3, code)
    assert.matches("liar.lua: check returned finding 'team-undeclared', which its 'findings' does not declare", err, 1, true)
  end)

  it("overrides a bundled playbook by file name, from SCEPLAB_PLAYBOOKS too", function()
    local d = dir_with("ca.lua", [[return { description = "ours", step = 4, severity = "warning",
      findings = { ["ca-template-unsupported"] = { title = "Team override", cause = "team cause", fix = { "call the PKI team" } } },
      match = { hresults = { 0x80094800 } },
      check = function(recs) return { { id = "ca-template-unsupported", evidence = recs } } end }]])
    local code, rep = diagnose_json({ "diagnose", "--format", "json", "--playbooks", d, bundle })
    assert.are.equal(1, code)
    local f = by_id(rep, "ca-template-unsupported")
    assert.are.equal("Team override", f.title)
    assert.are.equal("warning", f.severity)
    local _, out = h.sceplab({ "playbooks", "show", "ca-template-unsupported", "--playbooks", d })
    assert.matches("Team override", out, 1, true)
    local p = io.popen("env SCEPLAB_PLAYBOOKS=" .. h.shquote(d) .. " " .. h.shquote(h.bin) .. " playbooks show ca-template-unsupported")
    local o2 = p:read("a")
    p:close()
    assert.matches("Team override", o2, 1, true)
  end)

  it("refuses a finding id a second file declares too, naming both files", function()
    local d = dir_with("team.lua", [[return { description = "d", step = 4, severity = "error",
      findings = { ["ca-template-unsupported"] = { title = "t", cause = "c", fix = {} } },
      match = { contains = { "x" } }, check = function() return {} end }]])
    local code, _, err = h.sceplab({ "playbooks", "list", "--playbooks", d })
    assert.are.equal(3, code)
    assert.matches("team.lua: finding 'ca-template-unsupported' is declared by ", err, 1, true)
    assert.matches("ca.lua too", err, 1, true)
  end)

  it("names an unknown id with exit 3", function()
    local code, _, err = h.sceplab({ "playbooks", "show", "no-such-id" })
    assert.are.equal(3, code)
    assert.matches("no playbook raises 'no-such-id'", err, 1, true)
  end)
end)

describe("docs/playbooks.md worked example", function()
  it("loads as written and raises ca-unreachable with the evidence line", function()
    local doc = h.read(h.fixtures .. "/../../docs/playbooks.md")
    local code_block = doc:match("Write `team%-playbooks/ca%-acl%.lua`:\n\n```lua\n(.-)```")
    assert.is_string(code_block, "the worked example is missing from docs/playbooks.md")
    local pbdir = h.tmpdir()
    h.write(pbdir .. "/ca-acl.lua", code_block)
    local logs = h.tmpdir()
    local plugin = h.read(h.fixture("logs/NDESPlugin.log")):gsub("CA failed request 0x80094800", "CA failed request 0x80070005")
    h.write(logs .. "/NDESPlugin.log", plugin)
    local code, out = h.sceplab({ "diagnose", "--playbooks", pbdir, logs })
    assert.are.equal(1, code)
    assert.matches("ERROR The NDES service account may not enroll for the SCEP template [ca-enroll-permission] step 4", out, 1, true)
    assert.matches("NDESPlugin.log:14  2020-05-24T10:22:00Z", out, 1, true)
    assert.matches("CONTOSO\\svc-ndes Read and Enroll", out, 1, true)
    -- and on the bundle, where the CA error is another one, it stays silent
    local _, rep = diagnose_json({ "diagnose", "--format", "json", "--playbooks", pbdir, bundle })
    assert.is_nil(by_id(rep, "ca-enroll-permission"))
  end)
end)

describe("sceplab playbooks test", function()
  local bundled = h.fixtures .. "/../../lua/playbooks"

  it("passes every bundled fixture case", function()
    local code, out = h.sceplab({ "playbooks", "test" })
    assert.are.equal(0, code, out)
    assert.matches(" 0 failed", out, 1, true)
  end)

  it("has a fixture case named after every bundled finding id", function()
    local _, out = h.sceplab({ "playbooks", "list" })
    local n = 0
    for ids in out:gmatch("raises: ([^\n]+)") do
      for id in ids:gmatch("[^, ]+") do
        n = n + 1
        local expect = h.read(bundled .. "/fixtures/" .. id .. "/expect.lua")
        assert.matches('"' .. id .. '"', expect, 1, true)
      end
    end
    assert.is_true(n >= 20, "only " .. n .. " ids listed")
  end)

  it("fails a case whose expectation is not met, naming what is missing", function()
    local d = h.tmpname()
    assert(os.execute("mkdir -p " .. h.shquote(d .. "/fixtures/wrong")))
    h.write(d .. "/fixtures/wrong/NDESPlugin.log", h.read(bundled .. "/fixtures/ca-template-unsupported/NDESPlugin.log"))
    h.write(d .. "/fixtures/wrong/expect.lua", 'return { raises = { "ca-key-too-small" }, verdict = "enrollment-succeeded" }')
    local code, out = h.sceplab({ "playbooks", "test", d })
    assert.are.equal(1, code)
    assert.matches("FAILED  wrong", out, 1, true)
    assert.matches("'ca-key-too-small' was not raised", out, 1, true)
    assert.matches("verdict enrollment-succeeded expected, got failed at step 4", out, 1, true)
  end)

  it("rejects an expect.lua with an unknown field", function()
    local d = h.tmpname()
    assert(os.execute("mkdir -p " .. h.shquote(d .. "/fixtures/bad")))
    h.write(d .. "/fixtures/bad/expect.lua", 'return { rises = { "x" } }')
    local code, _, err = h.sceplab({ "playbooks", "test", d })
    assert.are.equal(3, code)
    assert.matches("expect.lua: unknown field 'rises'", err, 1, true)
  end)
end)

describe("the HTML report, as a person sees it", function()
  -- Rendered by headless Chromium to PDF and read back with pdftotext: only what is visible
  -- on the page comes back, in reading order.
  local function visible_text(html_path)
    local dir = h.tmpdir()
    local pdf = dir .. "/report.pdf"
    local cmd = ("env -u LD_PRELOAD ASAN_OPTIONS= timeout 120 chromium --headless --no-sandbox --disable-gpu " ..
                 "--user-data-dir=%s --no-pdf-header-footer --print-to-pdf=%s file://%s >/dev/null 2>&1")
                :format(h.shquote(dir .. "/profile"), h.shquote(pdf), h.shquote(html_path))
    assert(os.execute(cmd), "chromium failed to render " .. html_path)
    local p = io.popen("env -u LD_PRELOAD pdftotext " .. h.shquote(pdf) .. " - 2>&1")
    local text = p:read("a")
    p:close()
    return (text:gsub("%s+", " "))
  end

  it("shows the failing steps, the findings, their fixes and the evidence", function()
    local out = h.tmpname() .. ".html"
    local code, stdout = h.sceplab({ "diagnose", "--format", "html", "-o", out, bundle })
    assert.are.equal(1, code)
    assert.are.equal("", stdout)
    local html = h.read(out)
    assert.is_nil(html:find("<script", 1, true), "the report must not need scripts")
    assert.is_nil(html:find("https?://[^\"]*%.css"), "the report must be self-contained")
    local text = visible_text(out)
    assert.matches("Attempt 1: failed at step 4 (the CA issues)", text, 1, true)
    assert.matches("Step 4: FAILED", text, 1, true)
    assert.matches("Step 5: no evidence", text, 1, true)
    assert.matches("IIS_IUSRS cannot impersonate", text, 1, true)
    assert.matches("Impersonate a client after authentication", text, 1, true)
    assert.matches("CA failed request 0x80094800", text, 1, true)
    assert.matches("Timeline around the failure", text, 1, true)
  end)

  it("escapes log text instead of rendering it", function()
    local dir = h.tmpdir()
    local plugin = h.read(h.fixture("logs/NDESPlugin.log"))
      :gsub("CA failed request 0x80094800", "CA failed request 0x80094800 <b id=x>bold</b><script>alert(1)</script>")
    h.write(dir .. "/NDESPlugin.log", plugin)
    local out = dir .. "/r.html"
    h.sceplab({ "diagnose", "--format", "html", "-o", out, dir })
    local html = h.read(out)
    assert.is_nil(html:find("<script>", 1, true))
    assert.matches("&lt;b id=x&gt;bold&lt;/b&gt;", html, 1, true)
    assert.matches("<b id=x>bold</b>", visible_text(out), 1, true)
  end)
end)

describe("match.patterns", function()
  local function dir_with(text)
    local d = h.tmpdir()
    h.write(d .. "/p.lua", text)
    return d
  end

  it("restricts the records a playbook sees to those matching a Lua pattern", function()
    local d = dir_with([[return { description = "d", step = 4, severity = "warning",
      findings = { ["team-template-code"] = { title = "t", cause = "c", fix = {} } },
      match = { contains = { "CA failed request" }, patterns = { "0x8009%x%x%x%x$" } },
      check = function(recs) return { { id = "team-template-code", evidence = recs } } end }]])
    local _, rep = diagnose_json({ "diagnose", "--format", "json", "--playbooks", d, h.fixture("logs/NDESPlugin.log") })
    local f = by_id(rep, "team-template-code")
    assert.is_truthy(f)
    assert.are.equal(1, #f.evidence)
    assert.matches("0x80094800", f.evidence[1].text, 1, true)
  end)

  it("refuses patterns without a criterion the C pre-filter can use, naming the field", function()
    local d = dir_with([[return { description = "d", step = 4, severity = "warning",
      findings = { ["x"] = { title = "t", cause = "c", fix = {} } },
      match = { patterns = { "foo" } }, check = function() return {} end }]])
    local code, _, err = h.sceplab({ "playbooks", "list", "--playbooks", d })
    assert.are.equal(3, code)
    assert.matches("p.lua: field 'match.patterns' needs", err, 1, true)
  end)

  it("refuses a malformed pattern", function()
    local d = dir_with([[return { description = "d", step = 4, severity = "warning",
      findings = { ["x"] = { title = "t", cause = "c", fix = {} } },
      match = { contains = { "a" }, patterns = { "[unclosed" } }, check = function() return {} end }]])
    local code, _, err = h.sceplab({ "playbooks", "list", "--playbooks", d })
    assert.are.equal(3, code)
    assert.matches("field 'match.patterns' entry 1 is not a Lua pattern", err, 1, true)
  end)
end)

describe("progress on stderr", function()
  it("counts the bytes read through the filter, even when nothing passes, and clears its line", function()
    local script = h.write(h.tmpname() .. ".lua", [[
      local logs = require "sceplab.core.logs"
      local lg = assert(logs.open(arg[1], { contains = { "NOMATCHXYZ" } }, { progress = 1000 }))
      assert(lg:next() == nil)
      lg:close()
      logs.progress_end()
    ]])
    local code, _, err = h.sceplab({ "run", script, h.fixture("logs/u_ex200524.log") })
    assert.are.equal(0, code, err)
    assert.matches("\rsceplab: 0 MB read", err, 1, true)
    assert.matches("\r\27[K", err, 1, true)
  end)

  it("stays silent when stderr is not a terminal", function()
    local _, _, err = h.sceplab({ "diagnose", bundle })
    assert.is_nil(err:find("MB read", 1, true))
  end)
end)

describe("steps without evidence", function()
  it("counts records the parsers placed on a step even when no playbook wanted them", function()
    -- the iOS case's GetCACert/GetCACaps requests are step 2 but pass no playbook's filter
    local _, rep = diagnose_json({ "diagnose", "--format", "json", h.fixtures .. "/../../lua/playbooks/fixtures/healthy-ios" })
    for _, s in ipairs(rep.steps_without_evidence) do assert.are_not.equal(2, s) end
    local ios
    for _, i in ipairs(rep.inputs) do if i.format == "ios" then ios = i end end
    assert.is_true(ios.steps[2] >= 2)
  end)
end)

describe("the C substring pre-filter with many needles", function()
  it("passes exactly the records that one-needle filters pass, case-insensitively", function()
    local script = h.write(h.tmpname() .. ".lua", [[
      local logs = require "sceplab.core.logs"
      local function lines(needles)
        local lg = assert(logs.open(arg[1], { contains = needles }))
        local set, n = {}, 0
        for r in lg:records() do set[r.line] = true n = n + 1 end
        lg:close()
        return set, n
      end
      local needles = { "ca FAILED request", "VERIFY challenge", "thumbprint is", "nomatch-xyz", "Calling", "CALLING init" }
      local union = {}
      for _, nd in ipairs(needles) do
        for l in pairs(lines({ nd })) do union[l] = true end
      end
      local all, n = lines(needles)
      local u = 0
      for l in pairs(union) do u = u + 1 assert(all[l], "line " .. l .. " missing with many needles") end
      assert(u == n, ("union %d, many-needle filter %d"):format(u, n))
      print(n)
    ]])
    local code, out, err = h.sceplab({ "run", script, h.fixture("logs/NDESPlugin.log") })
    assert.are.equal(0, code, err)
    assert.is_true(tonumber(out) >= 4 and tonumber(out) < 12, out)
  end)
end)

describe("sceplab diagnose on inputs it cannot read", function()
  it("exits 3 when no input is a log, as timeline does, and still reports which files were not read", function()
    local dir = h.tmpdir()
    h.write(dir .. "/a.txt", "hello\n")
    h.write(dir .. "/b.txt", "world\n")
    local code, out, err = h.sceplab({ "diagnose", dir, "--format", "json" })
    assert.are.equal(3, code, err)
    assert.matches("no input could be read as a log %(2 file%(s%)", err)
    local rep = json.decode(out)
    assert.are.equal(2, #rep.inputs)
    assert.matches("not recognised", rep.inputs[1].error)
    local tcode, _, terr = h.sceplab({ "timeline", dir })
    assert.are.equal(3, tcode)
    assert.matches("no input could be read as a log", terr)
    -- a named file that is not a log: 3 even beside a readable one, naming it
    code, _, err = h.sceplab({ "diagnose", dir .. "/a.txt", h.fixture("logs/u_ex200524.log") })
    assert.are.equal(3, code)
    assert.matches("a%.txt: log format not recognised", err)
    os.execute("rm -rf " .. h.shquote(dir))
  end)
end)
