-- Log ingestion: golden records per format, encodings, time zones, C-side filters, skipping,
-- and the merged timeline.
local h = require "helper"
local json = require "cjson"
local sceplab = require "sceplab"

local dir = h.fixture("logs")

local function records(path, filter, opts)
  local lg = assert(sceplab.logs.open(path, filter, opts))
  local out = {}
  for r in lg:records() do
    r.time_us = nil
    out[#out + 1] = r
  end
  local stats = lg:stats()
  lg:close()
  return out, stats
end

local function without(r, ...)
  local c = {}
  for k, v in pairs(r) do c[k] = v end
  for _, k in ipairs({ ... }) do c[k] = nil end
  return c
end

describe("log formats", function()
  -- Formats without a date take it from the file, which git does not keep: the tests give it.
  local dates = { ["ios-console.txt"] = "2020-05-24", ["ios-syslog.log"] = "2021-06-01",
                  ["ios-syslog-nserror.log"] = "2020-10-29", ["ios-console-copy.txt"] = "2020-10-29" }
  -- CRS files and registry exports carry no time: theirs is the file's, which git does not keep
  local file_timed = { ["MSCEP.reg"] = true, ["CertificateRequestStatus/Failed/9A1B2C3D4E5F60718293A4B5C6D7E8F9.CRS"] = true }
  for _, name in ipairs({ "u_ex200524.log", "NDESPlugin.log", "NDESPlugin-old.log",
                          "CertificateRegistrationPoint_2020-05-24_101500.svclog", "DeviceManagement-Admin.xml",
                          "DeviceManagement-Rendered.xml", "OMADMLog.log", "ios-console.txt", "ios-syslog.log",
                          "ios-syslog-nserror.log", "ios-console-copy.txt", "DeviceManagement-copy-details.txt",
                          "DeviceManagement-copy-flattened.txt",
                          "DeviceManagement-Admin-export.txt", "NDES-Application.csv", "SetupMsi.log", "MSCEP.reg", "radius.log",
                          "CertificateRequestStatus/Failed/9A1B2C3D4E5F60718293A4B5C6D7E8F9.CRS", "intune-api.log" }) do
    it("reads " .. name .. " exactly as its golden JSONL", function()
      local got = records(dir .. "/" .. name, nil, { date = dates[name] })
      local want = {}
      for line in io.lines(h.fixture("golden/" .. name:match("[^/]+$") .. ".jsonl")) do want[#want + 1] = json.decode(line) end
      assert.are.equal(#want, #got)
      local skip = file_timed[name] and { "file", "time", "utc_offset" } or { "file" }
      for i = 1, #want do
        assert.are.same(without(want[i], table.unpack(skip)), without(got[i], table.unpack(skip)), name .. " record " .. i)
      end
    end)
  end

  it("reads iOS logs as admins copy them: NSError lines kept with their record, lower-case tab-separated Console copies", function()
    -- the syslog copy starts in the middle of a record: its first two lines (an NSError's, of a record
    -- not pasted) are a record of their own, an error at the time of the record after them
    local got, stats = records(dir .. "/ios-syslog-nserror.log", nil, { date = "2020-10-29" })
    assert.are.equal(5, #got)
    assert.are.equal(0, stats.skipped)
    assert.are.equal("Domain : MCSCEPErrorDomain\nCode   : 22013", got[1].message)
    assert.are.equal("error", got[1].level)
    assert.are.equal(got[2].time, got[1].time)
    assert.is_true(got[1].time_inferred)
    table.remove(got, 1)
    local failed = got[3]
    assert.are.equal("error", failed.level)
    assert.are.equal(5, failed.line)
    assert.matches("\nDesc   : Profile Installation Failed\n", failed.message)
    assert.matches("\nCode   : 22013\nType   : MCFatalError$", failed.message)
    for _, r in ipairs(got) do assert.are.equal("ios", r.platform) end -- profiled and mdmd: the device's own
    assert.are.equal("mdmd", got[4].component)
    assert.are.equal(19, got[4].line)
    local copy = records(dir .. "/ios-console-copy.txt", nil, { date = "2020-10-29" })
    assert.are.equal(4, #copy)
    assert.are.equal("error", copy[3].level)
    assert.are.equal("2020-10-29T13:14:05.002310Z", copy[3].time)
    assert.matches("Code=22013.*\nUserInfo=", copy[3].message)
    assert.matches("^ios: iOS console", sceplab.logs.explain(dir .. "/ios-console-copy.txt"))
  end)

  it("reads Event Viewer's 'Copy details as text' blocks, newest first, with the zone their event XML shows", function()
    local t = sceplab.logs.timeline({ dir .. "/DeviceManagement-copy-details.txt" })
    local got = t.records
    assert.are.equal(3, #got)
    assert.are.same({ 306, 307, 32 }, { got[1].event_id, got[2].event_id, got[3].event_id }) -- time order
    assert.is_true(t.inputs[1].sorted)
    -- the 307 block has no XML: its local 3:16:04 AM is UTC-7, learnt from the 32 block's SystemTime
    assert.are.equal("2020-05-24T10:16:04Z", got[2].time)
    assert.are.equal(-420, got[2].utc_offset)
    assert.is_nil(got[2].zone_assumed)
    assert.are.equal("2020-05-24T10:16:04.392051Z", got[3].time)
    assert.matches("^SCEP: CspExecute for UniqueId .*\nResult : %(Unknown Win32 Error code: 0x2ab0003%)%.$", got[1].message)
    assert.are.equal("DESKTOP-1234567", got[3].host)
    assert.are.equal("Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin", got[3].context)
    assert.are.equal(2, got[3].step)
    assert.are.equal(35, got[2].line)
    -- --assume-offset wins over what the XML shows
    local shifted = sceplab.logs.timeline({ dir .. "/DeviceManagement-copy-details.txt" }, { offset = 60 }).records
    assert.are.equal("2020-05-24T02:16:01Z", shifted[1].time)
    -- the one-line form web pages make of a block
    local flat = records(dir .. "/DeviceManagement-copy-flattened.txt")
    assert.are.equal(2, #flat)
    assert.are.equal(307, flat[2].event_id)
    assert.are.equal("error", flat[2].level)
    assert.matches("^SCEP: Failed LogError Message", flat[2].message)
    assert.matches("Microsoft%-Windows%-DeviceManagement", flat[2].component)
  end)

  it("reads UTF-16LE with a BOM and CRLF as the same records", function()
    local a = records(dir .. "/NDESPlugin.log")
    local b = records(dir .. "/NDESPlugin-utf16.log")
    assert.are.equal(#a, #b)
    for i = 1, #a do assert.are.same(without(a[i], "file", "offset"), without(b[i], "file", "offset")) end
    assert.matches("UTF%-16LE", sceplab.logs.explain(dir .. "/NDESPlugin-utf16.log"))
  end)

  it("keeps the IIS details a diagnosis needs", function()
    local got, stats = records(dir .. "/u_ex200524.log")
    assert.are.equal(1, stats.skipped)
    assert.are.equal("line 8: 9 fields where #Fields declares 15", stats.examples[1])
    local r500, r403 = got[6], got[7]
    assert.are.equal(500, r500.http_status)
    assert.are.equal(1346, r500.win32_status)
    assert.are.equal("ERROR_BAD_IMPERSONATION_LEVEL", r500.hresult_name)
    assert.are.equal("ios", r500.platform)
    assert.are.equal("NDES01", r500.host) -- from the second #Fields directive
    assert.are.equal(16, r403.http_substatus)
    assert.are.equal("0x800B0109", r403.hresult)
    assert.are.equal("CERT_E_UNTRUSTEDROOT", r403.hresult_name)
    assert.are.equal("VerifyRequest", r403.scep_operation)
    assert.are.equal("android", got[8].platform)
  end)

  it("converts CMTrace local time with the Windows bias, and accepts an override", function()
    local got = records(dir .. "/NDESPlugin.log")
    assert.are.equal("2020-05-24T10:16:05.500000Z", got[4].time) -- 3:16:05.500 local, bias +420
    assert.are.equal(-420, got[4].utc_offset)
    assert.are.equal("2020-05-24T10:15:59.123456Z", got[1].time) -- 7 fraction digits, 1-digit month
    local iso = records(dir .. "/NDESPlugin.log", nil, { bias = -420 }) -- a writer that used the ISO sign
    assert.are.equal("2020-05-23T20:16:05.500000Z", iso[4].time)
  end)

  it("keeps multi-line messages whole", function()
    local got = records(dir .. "/NDESPlugin.log")
    local m = got[11].message
    assert.matches("^Verify challenge returns %-%- 403", m)
    assert.matches("<body><h2>403 %- Forbidden: Access is denied%.</h2></body></html>$", m)
    assert.are.equal("error", got[11].level)
    assert.are.equal(11, got[11].line)
    assert.are.equal(14, got[12].line)
  end)

  it("reads WCF traces in compact and pretty-printed form", function()
    local got, stats = records(dir .. "/CertificateRegistrationPoint_2020-05-24_101500.svclog")
    assert.are.equal(3, #got)
    assert.are.equal(1, stats.skipped)
    assert.matches("line 18: no readable TimeCreated", stats.examples[1])
    assert.are.equal("CertificateRegistrationPoint", got[3].component)
    assert.are.equal("error", got[3].level)
    assert.are.equal(3, got[3].line)
    assert.matches("^Signing certificate could not be retrieved%.\r\n", got[3].message)
    assert.are.equal("59d8b46f903cefd84e9886384eac32c19d266dfa", got[2].transaction_id)
  end)

  it("reads a WCF TraceRecord as .NET prints the exception, without the trace's identifier URL", function()
    local got = records(h.root .. "/lua/playbooks/fixtures/signing-cert-missing-safecertcontext/CertificateRegistrationPoint_2020-05-24_101500.svclog")
    assert.are.equal(1, #got)
    assert.are.equal(3, got[1].step) -- the AppDomain is CertificateRegistrationSvc
    assert.are.equal("error", got[1].level)
    assert.matches("^Handling an exception%. System%.Security%.Cryptography%.CryptographicException: m_safeCertContext is an invalid handle%. at ", got[1].message)
    assert.matches("ValidationPhase1(String challenge)", got[1].message, 1, true)
    assert.is_nil(got[1].message:find("msdn.microsoft.com", 1, true))
  end)

  it("tests records already in Lua with the readers' own filter (logs.filter(spec):test(rec))", function()
    local logs = require "sceplab.core.logs"
    local specs = {
      { any = true, statuses = { 403 }, contains = { "0x80094800" } },
      { any = true, sources = { "iis" }, operations = { "VerifyRequest" }, statuses = { 403 } },
      { any = true, hresults = { 0x800B0109 }, min_level = "error" },
      { contains = { "Verify challenge returns" }, min_level = "error" },
      { contains_all = { "verify", "TRUE" } },
    }
    local hits = {}
    for _, name in ipairs({ "NDESPlugin.log", "u_ex200524.log" }) do
      local all = records(dir .. "/" .. name)
      for i, spec in ipairs(specs) do
        local passed = {}
        for _, r in ipairs(records(dir .. "/" .. name, spec)) do passed[r.line] = true end
        local f = logs.filter(spec)
        spec.contains = { "changed after compiling" } -- the filter keeps its own copy
        for _, r in ipairs(all) do
          assert.are.equal(passed[r.line] == true, f:test(r), ("%s spec %d line %d"):format(name, i, r.line))
          if f:test(r) then hits[i] = (hits[i] or 0) + 1 end
        end
      end
    end
    for i = 1, #specs do assert.is_truthy(hits[i], "spec " .. i .. " passes nothing: the test proves nothing") end
    assert.has_error(function() logs.filter({ min_level = "loud" }) end)
  end)

  it("reads Windows event XML with and without rendered messages", function()
    local got = records(dir .. "/DeviceManagement-Admin.xml")
    assert.are.same({ 306, 36, 307, 32 }, { got[1].event_id, got[2].event_id, got[3].event_id, got[4].event_id })
    assert.are.equal("error", got[4].level)
    assert.are.equal("0x80091007", got[4].hresult)
    assert.are.equal("CRYPT_E_HASH_VALUE", got[4].hresult_name)
    assert.are.equal("AC_d70bf40e-1822-44b4-9ee5-0cc777c5bf70/LogicalName_3b597a2d_27d2_45ff_bca6_57d2db6f17fb;Hash=1399397888",
      got[1].request_id)
    local r = records(dir .. "/DeviceManagement-Rendered.xml")
    assert.are.equal("SCEP: Certificate installed successfully.", r[1].message)
    assert.are.equal(5, r[1].step)
    local only = records(dir .. "/DeviceManagement-Admin.xml", { event_ids = { 32 } })
    assert.are.equal(1, #only)
  end)

  it("reads the Android OMADM log: jscep transport, CertRep, install states", function()
    local got, stats = records(dir .. "/OMADMLog.log")
    assert.are.equal(1, stats.skipped)
    assert.are.equal("2018-02-27T05:16:20.615000Z", got[4].time)
    assert.is_true(got[4].zone_assumed)
    assert.are.equal("GetCACert", got[4].scep_operation)
    assert.are.equal(200, got[5].http_status)
    assert.are.equal(503, got[8].http_status)
    assert.are.equal("error", got[8].level)
    assert.are.equal(1, got[2].step) -- a root installed: the profile step, not the enrolled certificate
    assert.are.equal("AC_51bad41f-3854-4eb5-a2f2-0f7a94034ee8/LogicalName_39907e78_e61b_4730_b9fa_d44a53e4;Hash=1677525787",
      got[7].request_id)
    local shifted = records(dir .. "/OMADMLog.log", nil, { offset = -480 }) -- the device was on US Pacific time
    assert.are.equal("2018-02-27T13:16:20.615000Z", shifted[4].time)
  end)

  it("reads iOS console copies, RTF debris and all, and the legacy syslog", function()
    local got = records(dir .. "/ios-console.txt", nil, { date = "2020-05-24" })
    assert.are.equal("2020-05-24T23:30:53.691033Z", got[1].time) -- 18:30:53.691033 -0500
    assert.is_true(got[1].date_assumed)
    assert.are.equal(-300, got[1].utc_offset)
    assert.are.equal("GetCACert", got[1].scep_operation)
    assert.matches('^Profile "www%.windowsintune%.com%.SCEP%..-" installed%.$', got[5].message)
    assert.are.equal(5, got[5].step)
    assert.are.equal("AC_51bad41f/LogicalName_1892fe4c;Hash=-912418295", got[5].request_id)
    assert.are.equal("error", got[6].level)
    local sys = records(dir .. "/ios-syslog.log", nil, { date = "2021-06-01" })
    assert.are.equal("2021-05-23T14:15:36Z", sys[1].time)
    assert.are.equal("profiled", sys[1].component)
    assert.are.equal("error", sys[2].level)
  end)

  it("reads Event Viewer text (UTF-16) and CSV exports with multi-line and quoted descriptions", function()
    local got, stats = records(dir .. "/DeviceManagement-Admin-export.txt")
    assert.are.equal(3, #got)
    assert.are.equal(1, stats.skipped)
    assert.are.same({ 306, 307, 32 }, { got[1].event_id, got[2].event_id, got[3].event_id })
    assert.matches("SCEPInstallCertificateWithScepHelper:\r?\nFailed to Initialize", got[2].message)
    assert.are.equal(5, got[3].line)
    assert.are.equal("2020-05-24T03:16:04Z", got[3].time)
    local csv = records(dir .. "/NDES-Application.csv")
    assert.are.equal(29, csv[1].event_id)
    assert.matches('badly encoded, "quoted" here%.$', csv[1].message)
    assert.are.equal("2020-05-24T15:16:17Z", csv[2].time) -- 3:16:17 PM
  end)

  it("reads CRS files as records whose folder is their status", function()
    local failed = records(dir .. "/CertificateRequestStatus/Failed/9A1B2C3D4E5F60718293A4B5C6D7E8F9.CRS")
    assert.are.equal(1, #failed)
    local r = failed[1]
    assert.are.equal("crs", r.source)
    assert.are.equal("Failed", r.component)
    assert.are.equal("error", r.level)
    assert.are.equal(6, r.step)
    assert.are.equal("0x80094800", r.hresult)
    assert.are.equal("CERTSRV_E_UNSUPPORTED_CERT_TYPE", r.hresult_name)
    assert.are.equal("a1c0ffee0000000000000000000000000000beef", r.transaction_id)
    assert.are.equal("AC_d70bf40e-1822-44b4-9ee5-0cc777c5bf70/LogicalName_0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0;Hash=-1271337020",
      r.request_id)
    local ok = records(dir .. "/CertificateRequestStatus/Succeed/D6CB79962ED142C7B045DC2ED8384609.CRS")
    assert.are.equal("info", ok[1].level)
    assert.are.equal("Succeed", ok[1].component)
  end)

  it("reads the connector's SetupMsi.log (UTF-16) and names a failed install", function()
    local got = records(dir .. "/SetupMsi.log")
    assert.are.equal(4, #got) -- property dumps are not records; an action line is
    assert.are.equal("Action", got[2].component)
    assert.are.equal("2020-05-24T16:13:01Z", got[2].time)
    assert.are.equal("2020-05-24T16:13:11.905000Z", got[3].time) -- the date from the log's header
    assert.are.equal("MSI (c)", got[3].component)
    assert.matches("Installation completed successfully", got[3].message)
    assert.are.equal(0, got[4].win32_status)
    local failed = records(dir .. "/SetupMsi-failed.log", nil, { date = "2020-05-24" })
    assert.are.equal("error", failed[1].level)
    assert.are.equal(1603, failed[2].win32_status)
    assert.are.equal("ERROR_INSTALL_FAILURE", failed[2].hresult_name)
  end)

  it("reads registry exports value by value", function()
    local got = records(dir .. "/MSCEP.reg")
    assert.are.equal(6, #got)
    assert.are.equal("HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Cryptography\\MSCEP", got[1].component)
    assert.are.equal('"EncryptionTemplate"="IntuneSCEP"', got[1].message)
    assert.matches("MSCEP\\Modules\\NDESPolicy$", got[4].component)
    assert.are.equal('"NDESCertThumbprint"="d00593a15526f6026d4e4ebafcf85eccd5389f01"', got[4].message)
    assert.are.equal('"SigningCertificate"=hex:30,82,03,85,30,82,02,6d,a0,03,02,01,02,02,14,33,01,a2,67,80,81,cd,9b', got[5].message)
    assert.are.equal(12, got[6].line)
  end)

  it("reads a zip bundle in place", function()
    local bundle = h.fixture("bundles/ndes-bundle.zip")
    local members = assert(sceplab.logs.members(bundle))
    assert.are.equal(6, #members)
    local t = sceplab.logs.timeline({ bundle })
    local by_format, crs = {}, nil
    for _, i in ipairs(t.inputs) do
      if i.format then by_format[i.format] = i.records end
    end
    assert.are.same({ iis = 8, cmtrace = 12, svclog = 3, crs = 1, eventtext = 3 }, by_format)
    for _, r in ipairs(t.records) do if r.source == "crs" then crs = r end end
    assert.are.equal("2020-05-24T12:00:00Z", crs.time) -- the member's time in the archive
    assert.matches("ndes%-bundle%.zip!NDES01/CertificateRequestStatus/Failed/", crs.file)
    assert.are.equal(27, #t.records)
    -- the attempts: the device's enrollment (IIS, NDESPlugin, CRP, device events joined by request id,
    -- transaction and time) and the failed request the CRS file reports on its own
    assert.are.equal(2, #t.attempts)
    local main, failed = t.attempts[1], t.attempts[2]
    assert.are.same({ "cmtrace", "eventtext", "iis", "svclog" }, main.sources)
    assert.are.equal(2, main.errors) -- the device events 307 and 32; the 10:20 failures are beyond the window
    local has = {}
    for _, k in ipairs(main.keys) do has[k] = true end
    assert.is_true(has["transaction:59d8b46f903cefd84e9886384eac32c19d266dfa"])
    assert.is_true(has["request:AC_d70bf40e-1822-44b4-9ee5-0cc777c5bf70/LogicalName_3b597a2d_27d2_45ff_bca6_57d2db6f17fb;Hash=1399397888"])
    assert.are.same({ "crs" }, failed.sources)
    local nothing, err = sceplab.logs.members(dir .. "/u_ex200524.log")
    assert.is_nil(nothing)
    assert.matches("not a zip archive", err)
  end)

  it("filters in C", function()
    local errs = records(dir .. "/NDESPlugin.log", { min_level = "error" })
    assert.are.equal(2, #errs)
    local hits = records(dir .. "/NDESPlugin.log", { contains = { "verify challenge" } })
    assert.are.equal(2, #hits)
    local s500 = records(dir .. "/u_ex200524.log", { statuses = { 500, 403 } })
    assert.are.equal(2, #s500)
    local window = records(dir .. "/u_ex200524.log", { since = sceplab.timeline.parse_time("2020-05-24T10:16:05Z"),
                                                      ["until"] = sceplab.timeline.parse_time("2020-05-24T12:16:17+02:00") })
    assert.are.equal(3, #window)
    local none = records(dir .. "/u_ex200524.log", { sources = { "cmtrace" } })
    assert.are.equal(0, #none)
    assert.has_error(function() sceplab.logs.open(dir .. "/u_ex200524.log", { min_level = "loud" }) end)
  end)

  it("skips and counts what it cannot read", function()
    local tmp = h.tmpname()
    local f = assert(io.open(tmp, "wb"))
    f:write("#Software: Microsoft Internet Information Services 10.0\n#Fields: date time cs-method sc-status\n")
    f:write("2020-05-24 10:00:00 GET 200\n", "2020-13-40 10:00:00 GET 200\n", string.rep("x", 1100000), "\n",
            "2020-05-24 10:00:01 GET 404\n")
    f:close()
    local got, stats = records(tmp)
    os.remove(tmp)
    assert.are.equal(2, #got)
    assert.are.equal(2, stats.skipped)
    assert.matches("out of range", stats.examples[1])
    assert.matches("longer than 1 MiB", stats.examples[2])
    assert.are.equal(6, got[2].line)
  end)

  it("refuses a file in no known format with the path named", function()
    local v, err, code = sceplab.logs.open(h.fixture("decode/device.csr"))
    assert.is_nil(v)
    assert.are.equal("input", code)
    assert.matches("device%.csr: log format not recognised", err)
  end)
end)

describe("sceplab timeline", function()
  it("merges a bundle in UTC order with a stable tie-break", function()
    local code, out, err = h.sceplab({ "timeline", dir, "--jsonl" })
    assert.are.equal(0, code, err)
    local prev, n = nil, 0
    for line in out:gmatch("[^\n]+") do
      local r = json.decode(line)
      n = n + 1
      assert.matches("Z$", r.time)
      local t = sceplab.timeline.parse_time(r.time)
      if prev then assert.is_true(prev <= t, r.time .. " comes after a later record") end
      prev = t
      for _, k in ipairs({ "time", "source", "file", "line", "level", "message" }) do assert.is_not_nil(r[k], k) end
    end
    assert.are.equal(8 + 12 + 12 + 2 + 3 + 4 + 1 + 8 + 6 + 2 + 3 + 2 + 2 + 3 + 2 + 6 + 4 + 4 + 3 + 2 + 2 + 5 + 7, n) -- + the iOS and Event Viewer copies, an iOS copy's leading NSError lines, SetupMsi's action line and serve's Intune API calls and FreeRADIUS's log
  end)

  it("walks past empty folders (a CertificateRequestStatus/Processing with nothing in it)", function()
    local d = h.tmpdir()
    os.execute("mkdir -p " .. h.shquote(d .. "/CertificateRequestStatus/Processing") .. " " .. h.shquote(d .. "/empty"))
    h.write(d .. "/u_ex200524.log", h.read(dir .. "/u_ex200524.log"))
    local code, out, err = h.sceplab({ "timeline", d, "--jsonl" })
    assert.are.equal(0, code, err)
    assert.matches("u_ex200524.log", out, 1, true)
  end)

  it("reads its own JSONL back: an exported timeline merges with fresh logs", function()
    local code, out = h.sceplab({ "timeline", dir .. "/NDESPlugin.log", "--jsonl" })
    assert.are.equal(0, code)
    local export = h.write(h.tmpname() .. ".jsonl", out)
    local c2, merged = h.sceplab({ "timeline", export, dir .. "/u_ex200524.log", "--jsonl" })
    local c3, errors_only = h.sceplab({ "timeline", export, "--min-level", "error", "--jsonl" })
    os.remove(export)
    assert.are.equal(0, c2)
    assert.are.equal(0, c3)
    local n, sources, prev = 0, {}, nil
    for line in merged:gmatch("[^\n]+") do
      local r = json.decode(line)
      n = n + 1
      sources[r.source] = true
      local t = sceplab.timeline.parse_time(r.time)
      if prev then assert.is_true(prev <= t) end
      prev = t
    end
    assert.are.equal(12 + 8, n)
    assert.is_true(sources.cmtrace and sources.iis)
    assert.are.equal(2, #h.lines(errors_only))
  end)

  it("filters by request id in any spelling, and groups attempts", function()
    local code, out = h.sceplab({ "timeline", dir .. "/NDESPlugin.log", "--attempts", "--request",
      "ModelName_AC_d70bf40e-1822-44b4-9ee5-0cc777c5bf70_LogicalName_3b597a2d_27d2_45ff_bca6_57d2db6f17fb_Hash_1399397888" })
    assert.are.equal(0, code)
    assert.matches("Data for User", out)
    assert.matches("request:AC_d70bf40e", out)
  end)

  it("shows times in the zone asked for", function()
    local _, out = h.sceplab({ "timeline", dir .. "/u_ex200524.log", "--tz=-07:00" })
    assert.matches("^2020%-05%-24 03:16:03%.000%-07:00", out)
  end)

  it("explains formats, and exits 3 for a named file it cannot read", function()
    local code, out = h.sceplab({ "timeline", "--explain-format", dir .. "/u_ex200524.log", dir .. "/NDESPlugin-old.log" })
    assert.are.equal(0, code)
    assert.matches("u_ex200524%.log: iis: IIS W3C extended log", out)
    assert.matches("older form", out)
    local c2, _, err = h.sceplab({ "timeline", h.fixture("decode/device.csr") })
    assert.are.equal(3, c2)
    assert.matches("device%.csr: log format not recognised", err)
    local c3, _, err3 = h.sceplab({ "timeline", "/nonexistent/bundle" })
    assert.are.equal(3, c3)
    assert.matches("/nonexistent/bundle", err3)
  end)
end)

describe("log text shown on terminals and in reports", function()
  it("escapes control characters, C1 controls and bidirectional overrides from the logs", function()
    local dir = h.tmpdir()
    local evil = "\27]0;owned\7\27[2J\27[31mred \xC2\x9B2J \xE2\x80\xAEtxt.exe"
    h.write(dir .. "/NDESPlugin.log", ('<![LOG[%s ERROR 0x800b0109]LOG]!><time="10:16:06.1234567+000" date="05-24-2020" component="NDESPlugin" context="" type="3" thread="1" file="">\n'):format(evil))
    h.write(dir .. "/\27[31mbad\27[0m.log", ('<![LOG[%s]LOG]!><time="10:16:07.1234567+000" date="05-24-2020" component="NDESPlugin" context="" type="3" thread="1" file="">\n'):format(evil))
    local code, out, err = h.sceplab({ "timeline", dir })
    assert.are.equal(0, code, err)
    for _, o in ipairs({ out, err }) do
      assert.is_nil(o:find("\27", 1, true), o)
      assert.is_nil(o:find("\xC2\x9B", 1, true))
      assert.is_nil(o:find("\xE2\x80\xAE", 1, true))
    end
    assert.matches("\\x1B%[2J\\x1B%[31mred \\u009B2J \\u202Etxt%.exe", out)
    assert.matches("\\x1B%[31mbad\\x1B%[0m%.log", out)
    for _, fmt in ipairs({ "text", "md", "html" }) do
      local _, rout = h.sceplab({ "diagnose", dir, "--format", fmt })
      assert.is_nil(rout:find("\27", 1, true), fmt)
      assert.is_nil(rout:find("\xE2\x80\xAE", 1, true), fmt)
      assert.matches("\\x1B", rout, fmt)
    end
    local _, _, derr = h.sceplab({ "decode", dir .. "/\27[31mbad\27[0m.log" })
    assert.is_nil(derr:find("\27", 1, true), derr)
    os.execute("rm -rf " .. h.shquote(dir))
  end)
end)

describe("times given on the command line and in files", function()
  it("refuses absurd offsets, biases and dates with a usage error naming the option", function()
    local log = h.fixture("logs/NDESPlugin.log")
    for _, args in ipairs({ { "--bias", "99999" }, { "--bias", "-1081" }, { "--tz", "+99:99" }, { "--tz", "+05:75" },
                            { "--assume-offset", "-25:00" }, { "--date", "2020-02-31" }, { "--date", "6103-01-01" },
                            { "--since", "2020-13-01T00:00:00Z" }, { "--until", "2021-02-29" } }) do
      for _, cmd in ipairs({ "timeline", "diagnose" }) do
        if cmd == "timeline" or not ({ ["--tz"] = 1, ["--since"] = 1, ["--until"] = 1 })[args[1]] then
          local full = { cmd, log, args[1] .. "=" .. args[2] }
          local code, _, err = h.sceplab(full)
          assert.are.equal(2, code, table.concat(full, " ") .. ": " .. err)
          assert.matches("^sceplab: " .. args[1]:gsub("%p", "%%%0"), err)
        end
      end
    end
    assert.has_error(function() sceplab.logs.open(log, nil, { offset = -25200 }) end)
    assert.has_error(function() sceplab.logs.open(log, nil, { bias = 99999 }) end)
    assert.has_error(function() sceplab.logs.open(log, nil, { date = "2020-02-30" }) end)
    assert.has_no.errors(function() assert(sceplab.logs.open(log, nil, { date = "2020-02-29", offset = -420 })):close() end)
  end)

  it("--assume-offset shifts zone-less records by hours in timeline and diagnose alike", function()
    local log = h.fixture("logs/OMADMLog.log")
    local function first_time(cmd)
      local code, out, err = h.sceplab(cmd)
      assert.are.equal(cmd[1] == "diagnose" and 1 or 0, code, err)
      return out
    end
    local plain = json.decode(h.lines(first_time({ "timeline", log, "--jsonl" }))[1]).time
    local shifted = json.decode(h.lines(first_time({ "timeline", log, "--jsonl", "--assume-offset=-07:00" }))[1]).time
    local t0, t1 = sceplab.timeline.parse_time(plain), sceplab.timeline.parse_time(shifted)
    assert.are.equal(7 * 3600, t1 - t0)
    local rep0 = json.decode(first_time({ "diagnose", log, "--format", "json" }))
    local rep1 = json.decode(first_time({ "diagnose", log, "--format", "json", "--assume-offset=-07:00" }))
    local e0, e1 = rep0.findings[1].evidence[1], rep1.findings[1].evidence[1]
    assert.are.equal(e0.line, e1.line)
    assert.are.equal(7 * 3600, sceplab.timeline.parse_time(e1.time) - sceplab.timeline.parse_time(e0.time))
  end)

  it("skips a CMTrace record whose written bias is no zone", function()
    local path = h.write(h.tmpname(), '<![LOG[a]LOG]!><time="10:16:06.123+99999" date="05-24-2020" component="x" context="" type="1" thread="1" file="">\n' ..
      '<![LOG[b]LOG]!><time="10:16:07.123+000" date="02-30-2020" component="x" context="" type="1" thread="1" file="">\n' ..
      '<![LOG[c]LOG]!><time="10:16:08.123+060" date="05-24-2020" component="x" context="" type="1" thread="1" file="">\n')
    local lg = assert(sceplab.logs.open(path))
    local got = {}
    for r in lg:records() do got[#got + 1] = r.message end
    local st = lg:stats()
    lg:close()
    os.remove(path)
    assert.are.same({ "c" }, got)
    assert.are.equal(2, st.skipped)
  end)
end)

describe("timeline --format ecs", function()
  it("writes Elastic Common Schema documents, one per line, with the standard fields by their ECS names", function()
    local code, out, err = h.sceplab({ "timeline", h.fixture("bundles/ndes-bundle.zip"), "--format", "ecs" })
    assert.are.equal(0, code, err)
    local n, iis, evt, hres = 0, nil, nil, nil
    for line in out:gmatch("[^\n]+") do
      local d = json.decode(line)
      n = n + 1
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d", d["@timestamp"])
      assert.are.equal("sceplab", d.event.module)
      assert.matches("^sceplab%.", d.event.dataset)
      assert.matches("ndes%-bundle%.zip!", d.log.file.path)
      assert.is_not_nil(d.log.level)
      assert.is_number(d.sceplab.line)
      if d.sceplab.source == "iis" and d.http.response.status_code == 500 then iis = d end
      if d.event.code == "32" then evt = d end
      if d.error and d.error.code then hres = d end
    end
    assert.are.equal(27, n)
    assert.are.equal("GET", iis.http.request.method)
    assert.matches("^/certsrv/mscep/mscep%.dll", iis.url.path)
    assert.matches("operation=", iis.url.query)
    assert.is_number(iis.event.duration)
    assert.are.equal("failure", iis.event.outcome)
    assert.matches("DeviceManagement", evt.event.provider)
    assert.matches("^0x", hres.error.code)
  end)

  it("writes the same records as --jsonl, in C, and reads its JSONL back unchanged", function()
    local _, a = h.sceplab({ "timeline", h.fixture("bundles/ndes-bundle.zip"), "--jsonl" })
    local export = h.write(h.tmpname() .. ".jsonl", a)
    local _, b = h.sceplab({ "timeline", export, "--jsonl" })
    os.remove(export)
    assert.are.equal(a, b)
  end)
end)

describe("format names", function()
  it("come from the C table, and an unknown --source is a usage error listing them", function()
    local names = {}
    for _, f in ipairs(sceplab.logs.formats()) do names[#names + 1] = f.name end
    for _, want in ipairs({ "iis", "cmtrace", "svclog", "eventxml", "android", "ios", "syslog", "eventtext", "eventcsv",
                            "evtx", "crs", "msi", "registry" }) do
      assert.truthy(table.concat(names, " "):find(want, 1, true), want)
    end
    local code, out, err = h.sceplab({ "timeline", h.fixture("logs/u_ex200524.log"), "--source", "iss" })
    assert.are.equal(2, code)
    assert.are.equal("", out)
    assert.matches("%-%-source 'iss': not a format %(one of .*iis, .*cmtrace", err)
    local fcode, _, ferr = h.sceplab({ "timeline", h.fixture("logs/u_ex200524.log"), "--as", "evtx" })
    assert.are.equal(2, fcode) -- a binary container is found by its signature, never forced
    assert.matches("must be one of .*'iis'.*'cmtrace'", ferr)
    -- --format is the output; an input format given there says where it goes
    fcode, _, ferr = h.sceplab({ "timeline", h.fixture("logs/u_ex200524.log"), "--format", "iis" })
    assert.are.equal(2, fcode)
    assert.matches("to read every file as iis, use %-%-as iis", ferr)
  end)
end)

describe("the merged timeline", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. h.shquote(dir)) end)

  local function py(code)
    local path = h.write(dir .. "/make.py", code)
    assert(os.execute(h.CLEAN .. "python3 " .. h.shquote(path) .. " " .. h.shquote(dir)))
  end

  it("reads a zip of 3,000 CRS files and a large member in one pass, in time order, memory bounded", function()
    py([[
import sys, zipfile
d = sys.argv[1]
crs = open("]] .. h.fixture("decode/succeed.crs") .. [[", "rb").read()
iis = ["#Software: Microsoft Internet Information Services 10.0",
       "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query sc-status sc-substatus sc-win32-status time-taken"]
for i in range(30000):
    iis.append("2020-05-24 %02d:%02d:%02d 10.0.0.1 GET /certsrv/mscep/mscep.dll operation=GetCACaps 200 0 0 %d" % (10 + i // 3600, (i // 60) % 60, i % 60, i % 97))
with zipfile.ZipFile(d + "/bundle.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for i in range(3000):
        info = zipfile.ZipInfo("NDES01/CertificateRequestStatus/Succeed/%05d.CRS" % i, (2020, 5, 24, 9, i // 60 % 60, i % 60))
        z.writestr(info, crs)
    z.writestr(zipfile.ZipInfo("NDES01/u_ex200524.log", (2020, 5, 24, 12, 0, 0)), "\n".join(iis) + "\n")
]])
    local spool = h.tmpdir()
    local out = dir .. "/out.jsonl"
    local cmd = ("env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=0 TMPDIR=%s /usr/bin/time -f '%%M' %s timeline %s --jsonl >%s 2>%s")
      :format(h.shquote(spool), h.shquote(h.bin), h.shquote(dir .. "/bundle.zip"), h.shquote(out), h.shquote(dir .. "/err"))
    assert(os.execute(cmd))
    local kb = tonumber(h.read(dir .. "/err"):match("(%d+)%s*$"))
    local n, last, crs, iis = 0, nil, 0, 0
    for line in io.lines(out) do
      local r = json.decode(line)
      n = n + 1
      if last then assert.is_true(r.time >= last, r.time .. " after " .. last) end
      last = r.time
      if r.source == "crs" then crs = crs + 1 elseif r.source == "iis" then iis = iis + 1 end
    end
    assert.are.equal(3000, crs)
    assert.are.equal(30000, iis)
    assert.is_true(kb < 400 * 1024, kb .. " KB")
    -- the large member was spooled to an unlinked file: nothing is left behind
    assert.are.equal("", io.popen("ls -A " .. h.shquote(spool)):read("a"))
    os.execute("rm -rf " .. h.shquote(spool))
  end)

  it("keeps a directory of 600 CRS files within 32 open files", function()
    local crs = h.read(h.fixture("decode/succeed.crs"))
    for i = 1, 600 do h.write(("%s/%04d.CRS"):format(dir, i), crs) end
    local p = io.popen(("ulimit -n 32; env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=0 %s timeline %s --jsonl 2>&1 | wc -l")
      :format(h.shquote(h.bin), h.shquote(dir)))
    local lines = tonumber(p:read("a"):match("%d+"))
    p:close()
    assert.are.equal(600, lines)
  end)

  it("puts an Event Viewer export written newest first in time order", function()
    h.write(dir .. "/newest-first.txt", table.concat({
      "Level\tDate and Time\tSource\tEvent ID\tTask Category",
      "Error\t5/24/2020 10:16:09 AM\tMicrosoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider\t32\tNone\tSCEP: Certificate enroll failed. Result: (The hash value is not correct.).",
      "Error\t5/24/2020 10:16:08 AM\tMicrosoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider\t307\tNone\tSCEP: Failed LogError Message",
      "Information\t5/24/2020 10:16:01 AM\tMicrosoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider\t306\tNone\tSCEP: CspExecute for UniqueId",
    }, "\r\n") .. "\r\n")
    local t = sceplab.logs.timeline({ dir .. "/newest-first.txt" })
    local ids = {}
    for _, r in ipairs(t.records) do ids[#ids + 1] = r.event_id end
    assert.are.same({ 306, 307, 32 }, ids)
    assert.is_true(t.inputs[1].sorted)
    assert.are.same({ 4, 3, 2 }, { t.records[1].line, t.records[2].line, t.records[3].line })
  end)

  it("reads its own JSONL back through the same C filter, so diagnose finds what it finds in the logs", function()
    local bundle = h.fixture("bundles/ndes-bundle.zip")
    local code, jsonl = h.sceplab({ "timeline", bundle, "--jsonl" })
    assert.are.equal(0, code)
    h.write(dir .. "/timeline.jsonl", jsonl)
    local function ids(path)
      local _, out = h.sceplab({ "diagnose", path, "--format", "json" })
      local set = {}
      for _, f in ipairs(json.decode(out).findings) do set[#set + 1] = f.id end
      table.sort(set)
      return set, json.decode(out)
    end
    local want = ids(bundle)
    local got, rep = ids(dir .. "/timeline.jsonl")
    assert.is_true(#want > 0)
    assert.are.same(want, got)
    -- evidence names the file each record first came from, not the export
    for _, f in ipairs(rep.findings) do
      for _, e in ipairs(f.evidence) do assert.matches("ndes%-bundle%.zip!", e.file) end
    end
    local lg = assert(sceplab.logs.open(dir .. "/timeline.jsonl", { any = true, statuses = { 500 }, contains = { "verify" } }))
    local n = 0
    for r in lg:records() do
      n = n + 1
      assert.is_true(r.http_status == 500 or (r.message or ""):lower():find("verify", 1, true) ~= nil)
    end
    lg:close()
    assert.is_true(n > 0)
  end)

  it("raises from records() on a read error in the middle, and the merge reports it on the input", function()
    py([[
import sys, zipfile, random
d = sys.argv[1]
random.seed(7)
lines = ["#Software: Microsoft Internet Information Services 10.0", "#Fields: date time cs-method cs-uri-stem cs-uri-query sc-status"]
for i in range(40000):
    lines.append("2020-05-24 10:%02d:%02d GET /certsrv/mscep/mscep.dll operation=%x 200" % ((i // 60) % 60, i % 60, random.getrandbits(64)))
with zipfile.ZipFile(d + "/broken.zip", "w", zipfile.ZIP_STORED) as z:
    z.writestr("small.log", "\n".join(lines[:2000]) + "\n")
b = bytearray(open(d + "/broken.zip", "rb").read())
b[len(b) // 2] ^= 0x40   # stored: the CRC no longer matches, found at the end of the member
open(d + "/broken.zip", "wb").write(bytes(b))
]])
    local lg = assert(sceplab.logs.open_member(dir .. "/broken.zip", 0))
    local n = 0
    local ok, err = pcall(function() for _ in lg:records() do n = n + 1 end end)
    lg:close()
    assert.is_false(ok)
    assert.is_true(n > 0)
    assert.matches("read error", err)
    local t = sceplab.logs.timeline({ dir .. "/broken.zip" })
    assert.are.equal("iis", t.inputs[1].format)
    assert.truthy(t.inputs[1].error)
    assert.is_true(#t.records > 0)
  end)
end)

describe("counting records in C (merge counters)", function()
  local logs = require "sceplab.core.logs"
  local function iis(path, n, step_s)
    local lines = { "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) sc-status sc-substatus sc-win32-status time-taken" }
    for i = 0, n - 1 do
      local t = os.time({ year = 2020, month = 5, day = 1, hour = 0 }) + i * step_s
      lines[#lines + 1] = os.date("!%Y-%m-%d %H:%M:%S", t) ..
        " 10.0.0.5 POST /CertificateRegistrationSvc/Certificate/VerifyRequest - 443 - 10.0.0.5 NDES_Plugin 200 0 0 5"
    end
    h.write(path, table.concat(lines, "\n") .. "\n")
  end

  it("keeps every record counted and the entries bounded however long the log runs", function()
    local d = h.tmpdir()
    iis(d .. "/u_ex.log", 30000, 60) -- one success a minute for almost three weeks
    local m = assert(logs.merge({ d }, { statuses = { 599 } },
      { counters = { { sources = { "iis" }, operations = { "VerifyRequest" }, statuses = { 200 } } } }))
    for _ in m:records() do end
    local counts = m:counts()
    m:close()
    local total, first, last = 0, math.huge, -math.huge
    for _, c in ipairs(counts) do
      total = total + c.count
      assert.matches("^minutes:%-?%d+%+%d+$", c.key)
      first = math.min(first, c.first.line)
      last = math.max(last, c.last.line)
      assert.is_true(c.first.line <= c.last.line)
    end
    assert.are.equal(30000, total)
    assert.is_true(#counts <= 1024, #counts .. " entries")
    assert.is_true(#counts >= 512, "the buckets widened more than needed: " .. #counts)
    assert.are.equal(2, first)
    assert.are.equal(30001, last)
  end)
end)

describe("continuation lines", function()
  -- A record's fields (the URL a jscep line names) are views into its message; appending the lines
  -- that continue it moved the message buffer and left them pointing at freed memory, which the
  -- bundle's time inference then read (found by fuzz_bundle; the input is its regression seed).
  it("move the fields found in a record's first line with its message", function()
    local dir = h.tmpname()
    os.execute("mkdir -p " .. h.shquote(dir))
    h.write(dir .. "/ios-console.txt", h.read(h.root .. "/tests/fuzz/regressions/continuation-moves-url.bin"))
    local code, _, err = h.sceplab({ "timeline", "--format", "jsonl", dir })
    os.remove(dir .. "/ios-console.txt")
    os.remove(dir)
    assert.is_nil(err:find("Sanitizer", 1, true), err)
    assert.is_true(code == 0 or code == 1, err)
  end)
end)
