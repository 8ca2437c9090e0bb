-- Dates and zones: a log without a date takes it from what the bundle proves (the requests IIS
-- logged, ids NDES's records name), then a date written in it, then its zip entry's or its file's
-- time, and says which (date_source); local times without a zone take the offset the bundle proves,
-- and the report says when nothing does (offset_source); one day/month order per file, offsets per
-- record, zones across daylight saving changes.
local h = require "helper"
local json = require "cjson"
local sceplab = require "sceplab"

local dir

-- Writes a zip of name -> text, every entry dated stamp ({y, m, d, H, M, S}).
local function zip(path, files, stamp)
  local args = { path, table.concat(stamp, ",") }
  local tmp = {}
  for name, text in pairs(files) do
    local f = h.write(h.tmpname(), text)
    tmp[#tmp + 1] = f
    args[#args + 1] = name .. "=" .. f
  end
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = h.shquote(a) end
  assert(os.execute("python3 -c " .. h.shquote([[
import sys, zipfile
out, stamp = sys.argv[1], tuple(int(x) for x in sys.argv[2].split(","))
with zipfile.ZipFile(out, "w") as z:
    for a in sys.argv[3:]:
        name, path = a.split("=", 1)
        z.writestr(zipfile.ZipInfo(name, date_time=stamp), open(path, "rb").read())
]]) .. " " .. table.concat(quoted, " ")))
  for _, f in ipairs(tmp) do os.remove(f) end
  return path
end

local function touch(path, stamp)
  assert(os.execute("touch -d " .. h.shquote(stamp) .. " " .. h.shquote(path)))
  return path
end

local function by_file(records, pattern)
  local out = {}
  for _, r in ipairs(records) do if r.file:find(pattern) then out[#out + 1] = r end end
  return out
end

-- An iPhone's requests (a Console copy: times of day and their offset, no date) and the lines IIS
-- wrote for them, in UTC: 19:30 at -05:00 is 00:30 the next day.
local IIS = table.concat({
  "#Software: Microsoft Internet Information Services 10.0",
  "#Fields: date time s-computername cs-method cs-uri-stem cs-uri-query s-port c-ip cs(User-Agent) sc-status sc-substatus sc-win32-status time-taken",
  "2020-05-25 00:30:54 NDES01 GET /certsrv/mscep/mscep.dll operation=GetCACert&message=SCEP%20Authority 443 10.5.14.22 profiled/1.0+CFNetwork/811.5.4+Darwin/16.6.0 200 0 0 31",
  "2020-05-25 00:30:55 NDES01 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=SCEP%20Authority 443 10.5.14.22 profiled/1.0+CFNetwork/811.5.4+Darwin/16.6.0 200 0 0 2",
  "2020-05-25 00:31:02 NDES01 GET /certsrv/mscep/mscep.dll operation=PKIOperation&message=MIIB 443 10.5.14.22 profiled/1.0+CFNetwork/811.5.4+Darwin/16.6.0 500 0 0 2",
}, "\n") .. "\n"
local IOS = table.concat({
  "Debug 19:30:53.691033 -0500 profiled Performing synchronous URL request: https://ndes.contoso.com/certsrv/mscep/mscep.dll?operation=GetCACert&message=SCEP%20Authority",
  "Debug 19:30:54.640644 -0500 profiled Performing synchronous URL request: https://ndes.contoso.com/certsrv/mscep/mscep.dll?operation=GetCACaps&message=SCEP%20Authority",
  "Error 19:31:02.000001 -0500 profiled The Registration Authority's response is invalid.",
}, "\n") .. "\n"

describe("dates of logs that write none", function()
  setup(function() dir = h.tmpdir() end)
  teardown(function() os.execute("rm -rf " .. h.shquote(dir)) end)

  it("gives an iOS Console copy in an old zip the date of the requests IIS logged for it (correlated)", function()
    -- before: the zip entry's day (2018-01-02), years away from the NDES records it answers
    local bundle = zip(dir .. "/case.zip", { ["NDES01/u_ex200525.log"] = IIS, ["iPhone/console.txt"] = IOS }, { 2018, 1, 2, 12, 0, 0 })
    local t = sceplab.logs.timeline({ bundle })
    local ios = by_file(t.records, "console%.txt$")
    assert.are.equal(3, #ios)
    assert.are.equal("2020-05-25T00:30:53.691033Z", ios[1].time)
    assert.are.equal("2020-05-25T00:31:02.000001Z", ios[3].time)
    for _, r in ipairs(ios) do
      assert.are.equal("correlated", r.date_source)
      assert.are.equal("record", r.offset_source) -- the Console writes each record's offset
    end
    local input
    for _, i in ipairs(t.inputs) do if i.file:find("console%.txt$") then input = i end end
    assert.are.equal("correlated", input.date_source)
    assert.matches("^2020%-05%-24, correlated: 2 of its 2 device records fall within 3 minutes of requests u_ex200525%.log logged",
                   input.date_note)
    -- the device's requests and IIS's lines are one attempt now
    for _, r in ipairs(t.records) do if r.source == "iis" then assert.are.equal("record", r.date_source) end end
    -- what --explain-format says
    local code, out = h.sceplab({ "timeline", "--explain-format", bundle })
    assert.are.equal(0, code)
    assert.matches("console%.txt: ios: iOS console copy[^\n]*\n  date_source correlated %(2020%-05%-24, correlated:", out)
    -- --date still decides
    local given = by_file(sceplab.logs.timeline({ bundle }, { date = "2019-02-03" }).records, "console%.txt$")
    assert.are.equal("2019-02-04T00:30:53.691033Z", given[1].time)
    assert.are.equal("option", given[1].date_source)
  end)

  it("correlates a Console copy in a zip inside the case zip as one beside the IIS log", function()
    -- the device's own zip inside the case zip (case.zip!iPhone.zip!console.txt) is placed by the
    -- outer zip's IIS lines as a member of the outer zip is
    local inner = zip(dir .. "/iPhone.zip", { ["console.txt"] = IOS }, { 2018, 1, 2, 12, 0, 0 })
    local f = assert(io.open(inner, "rb"))
    local bytes = f:read("a")
    f:close()
    local bundle = zip(dir .. "/case-nested.zip", { ["NDES01/u_ex200525.log"] = IIS, ["iPhone.zip"] = bytes },
                       { 2018, 1, 2, 12, 0, 0 })
    local ios = by_file(sceplab.logs.timeline({ bundle }).records, "iPhone%.zip!console%.txt$")
    assert.are.equal(3, #ios)
    assert.are.equal("2020-05-25T00:30:53.691033Z", ios[1].time)
    for _, r in ipairs(ios) do assert.are.equal("correlated", r.date_source) end
  end)

  it("takes a date written in the file before its file's time", function()
    -- before: the file's modification time (2019-01-01)
    local p = touch(h.write(dir .. "/header.txt", "Console log of J. Doe's iPhone, saved 2020-05-24\n" .. IOS), "2019-01-01 12:00:00Z")
    local got = sceplab.logs.timeline({ p }).records
    assert.are.equal("2020-05-25T00:30:53.691033Z", got[1].time)
    assert.are.equal("file", got[1].date_source)
    local _, out = h.sceplab({ "timeline", "--explain-format", p })
    assert.matches("date_source file %(2020%-05%-24, written in the file %(line 1%)%)", out)
  end)

  it("takes the zip entry's time when nothing else says, then the file's modification time, and says which", function()
    local bundle = zip(dir .. "/alone.zip", { ["console.txt"] = IOS }, { 2021, 3, 4, 12, 0, 0 })
    local got = sceplab.logs.timeline({ bundle }).records
    assert.are.equal("2021-03-05T00:30:53.691033Z", got[1].time)
    assert.are.equal("zip-entry", got[1].date_source)
    local p = touch(h.write(dir .. "/plain.txt", IOS), "2019-07-08 12:00:00Z")
    got = sceplab.logs.timeline({ p }).records
    assert.are.equal("2019-07-09T00:30:53.691033Z", got[1].time)
    assert.are.equal("mtime", got[1].date_source)
    local t = sceplab.logs.timeline({ p })
    assert.matches("the file's modification time", t.inputs[1].date_note)
  end)

  it("rolls the day when the times of one file cross midnight", function()
    -- before: the record after midnight was dated the same day, a day early
    local p = h.write(dir .. "/midnight.txt", table.concat({
      "Default 23:59:58.000000 -0500 profiled Attempting to retrieve issued certificate...",
      "Error 00:00:03.000000 -0500 profiled The Registration Authority's response is invalid.",
      "Default 00:10:00.000000 -0500 mdmd Still there",
    }, "\n") .. "\n")
    local got = sceplab.logs.timeline({ p }, { date = "2020-05-24" }).records
    assert.are.equal("2020-05-25T04:59:58Z", got[1].time)
    assert.are.equal("2020-05-25T05:00:03Z", got[2].time)
    assert.are.equal("2020-05-25T05:10:00Z", got[3].time)
  end)

  it("places a syslog copy's year and zone by the requests IIS logged", function()
    local syslog = "May 24 19:30:53 iPhone profiled[150] <Notice>: Performing synchronous URL request: https://ndes.contoso.com/certsrv/mscep/mscep.dll?operation=GetCACert\n"
                .. "May 24 19:30:54 iPhone profiled[150] <Notice>: Performing synchronous URL request: https://ndes.contoso.com/certsrv/mscep/mscep.dll?operation=GetCACaps\n"
                .. "May 24 19:31:02 iPhone profiled[150] <Error>: The Registration Authority's response is invalid.\n"
    local bundle = zip(dir .. "/syslog.zip", { ["u_ex200525.log"] = IIS, ["iphone.log"] = syslog }, { 2023, 1, 2, 12, 0, 0 })
    local got = by_file(sceplab.logs.timeline({ bundle }).records, "iphone%.log$")
    assert.are.equal("2020-05-25T00:30:53Z", got[1].time)
    assert.are.equal("correlated", got[1].date_source)
    assert.are.equal("correlated", got[1].offset_source)
    assert.are.equal(-300, got[1].utc_offset)
  end)
end)

describe("offsets of logs that write none", function()
  setup(function() dir = h.tmpdir() end)
  teardown(function() os.execute("rm -rf " .. h.shquote(dir)) end)

  it("gives the sample bundle's device events the offset its IIS requests prove (-07:00)", function()
    -- before: read as UTC, the device's error at 03:16Z and NDES's lines at 10:16Z for one attempt
    local t = sceplab.logs.timeline({ h.fixture("bundles/ndes-bundle.zip") })
    local dev = by_file(t.records, "DeviceManagement%-Admin%.txt$")
    assert.are.equal(3, #dev)
    assert.are.equal(32, dev[3].event_id)
    assert.are.equal("2020-05-24T10:16:04Z", dev[3].time)
    assert.are.equal(-420, dev[3].utc_offset)
    assert.are.equal("correlated", dev[3].offset_source)
    assert.is_nil(dev[3].zone_assumed)
    -- --assume-offset still decides
    dev = by_file(sceplab.logs.timeline({ h.fixture("bundles/ndes-bundle.zip") }, { offset = 60 }).records, "DeviceManagement")
    assert.are.equal("2020-05-24T02:16:04Z", dev[3].time)
    assert.are.equal("option", dev[3].offset_source)
    local code, out = h.sceplab({ "timeline", "--jsonl", "--assume-offset", "+01:00", h.fixture("bundles/ndes-bundle.zip") })
    assert.are.equal(0, code)
    assert.matches('"date_source":"record"[^\n]*"offset_source":"option"[^\n]*"time":"2020%-05%-24T02:16:04Z"', out)
  end)

  it("gives an Android log the offset of the requests IIS logged from it", function()
    -- jscep's transport lines, as the Company Portal writes them (local time, no zone)
    local function line(t, text) return "2020-05-24T" .. t .. "\tVERB\tEvent\torg.jscep.transport.UrlConnectionGetTransport\t18327\t10\t" .. text .. "\n" end
    local url = "https://ndes.contoso.com/certsrv/mscep/mscep.dll?operation="
    local omadm = line("03:20:00.6150000", "Sending GetCACert(ca) to " .. url .. "GetCACert&message=ca")
               .. line("03:20:00.6530000", "Received '200 OK' when sending GetCACert(ca) to " .. url .. "GetCACert&message=ca")
               .. line("03:20:01.9000000", "Sending PkiOperation to " .. url .. "PKIOperation&message=MIIB")
               .. line("03:20:02.0000000", "Received '500 Internal Server Error' when sending PkiOperation to " .. url .. "PKIOperation&message=MIIB")
    local iis = "#Fields: date time cs-method cs-uri-stem cs-uri-query c-ip cs(User-Agent) sc-status sc-substatus sc-win32-status time-taken\n"
             .. "2020-05-24 10:20:01 GET /certsrv/mscep/mscep.dll operation=GetCACert&message=ca 10.5.14.30 Dalvik/2.1.0+(Linux;+U;+Android+12) 200 0 0 2\n"
             .. "2020-05-24 10:20:02 GET /certsrv/mscep/mscep.dll operation=PKIOperation&message=MIIB 10.5.14.30 Dalvik/2.1.0+(Linux;+U;+Android+12) 500 0 1346 2\n"
    os.execute("mkdir -p " .. h.shquote(dir .. "/android"))
    h.write(dir .. "/android/OMADMLog.log", omadm)
    h.write(dir .. "/android/u_ex200524.log", iis)
    local t = sceplab.logs.timeline({ dir .. "/android" })
    local got = by_file(t.records, "OMADMLog")
    assert.are.equal("2020-05-24T10:20:00.615000Z", got[1].time)
    assert.are.equal(-420, got[1].utc_offset)
    assert.are.equal("correlated", got[1].offset_source)
    assert.matches("^%-07:00, correlated: 4 of its 4 device records", t.inputs[1].offset_note)
    -- a server that logs a request every few seconds meets any reading of a log's times: nothing
    -- is proven then, and the log says its times are unzoned
    local busy = { "#Fields: date time cs-method cs-uri-stem cs-uri-query c-ip cs(User-Agent) sc-status sc-substatus sc-win32-status time-taken" }
    for s = 0, 86399, 20 do
      busy[#busy + 1] = ("2020-05-24 %02d:%02d:%02d GET /certsrv/mscep/mscep.dll operation=%s&message=ca 10.5.14.30 Dalvik/2.1.0+(Linux;+U;+Android+12) 200 0 0 2")
        :format(s // 3600, s // 60 % 60, s % 60, s % 40 == 0 and "GetCACert" or "PKIOperation")
    end
    h.write(dir .. "/android/u_ex200524.log", table.concat(busy, "\n") .. "\n")
    t = sceplab.logs.timeline({ dir .. "/android" })
    got = by_file(t.records, "OMADMLog")
    assert.are.equal("assumed", got[1].offset_source)
    assert.are.equal("2020-05-24T03:20:00.615000Z", got[1].time)
    assert.matches("more than one reading alike", t.inputs[1].offset_note)
  end)

  it("says in the report that device times are unzoned when nothing proves their offset", function()
    -- before: the Android log's local times were read as UTC without a word
    local p = h.write(dir .. "/OMADMLog.log", "2020-05-24T03:20:02.0000000\tERROR\tEvent\torg.jscep.transport.UrlConnectionGetTransport\t18327\t10\tReceived '500 Internal Server Error' when sending PKIOperation to https://ndes.contoso.com/certsrv/mscep/mscep.dll\n")
    local _, out = h.sceplab({ "diagnose", "--format", "json", p })
    local rep = json.decode(out)
    assert.are.equal(1, #rep.time_notes)
    assert.matches("OMADMLog%.log: times are unzoned", rep.time_notes[1])
    assert.are.equal("assumed", rep.inputs[1].offset_source)
    local _, text = h.sceplab({ "diagnose", p })
    assert.matches("Times: [^\n]*OMADMLog%.log: times are unzoned %(local times without a zone, and nothing proves one: read as UTC%)", text)
    for _, f in ipairs(rep.findings) do
      for _, e in ipairs(f.evidence) do assert.are.equal("no zone written: read as UTC", e.time_note) end
    end
    local _, md = h.sceplab({ "diagnose", "--format", "md", p })
    assert.matches("%- Times: [^\n]*times are unzoned", md)
    -- with an offset given, nothing to say
    _, out = h.sceplab({ "diagnose", "--format", "json", "--assume-offset=-07:00", p })
    assert.are.equal(0, #json.decode(out).time_notes)
  end)

  it("says when a finding's evidence rests on an inferred date", function()
    -- before: the evidence's time was shown as if the log had written it
    local src = h.read(h.root .. "/lua/playbooks/fixtures/ios-scep-error/ios-console.txt")
    local p = touch(h.write(dir .. "/ios-console.txt", src), "2026-11-30 12:00:00Z")
    local _, out = h.sceplab({ "diagnose", "--format", "json", p })
    local rep = json.decode(out)
    local f
    for _, x in ipairs(rep.findings) do if x.id == "ios-scep-error" then f = x end end
    assert.is_truthy(f)
    assert.are.equal("date from the file's modification time", f.evidence[1].time_note)
    local _, text = h.sceplab({ "diagnose", p })
    assert.matches("ios%-console%.txt:%d+  2026%-11%-30T[%d:.]+Z %(date from the file's modification time%)", text)
    local _, html = h.sceplab({ "diagnose", "--format", "html", p })
    assert.matches("Z %(date from the file&#39;s modification time%)</td>", html)
    -- --date: the date is the admin's word, nothing to say
    _, out = h.sceplab({ "diagnose", "--format", "json", "--date", "2026-11-30", p })
    for _, x in ipairs(json.decode(out).findings) do
      for _, e in ipairs(x.evidence) do assert.is_nil(e.time_note) end
    end
  end)

  it("reads a named zone's offset at each record's moment, across a daylight saving change", function()
    -- before: --assume-offset took one offset for the whole file, or refused a zone's name
    local p = h.write(dir .. "/dst.log", table.concat({
      "2024-03-31T00:30:00.0000000\tINFO\tEvent\tcom.microsoft.omadm.Enroll\t1\t1\tbefore the change",
      "2024-03-31T02:30:00.0000000\tINFO\tEvent\tcom.microsoft.omadm.Enroll\t1\t1\tafter the change",
      "2024-10-27T01:30:00.0000000\tINFO\tEvent\tcom.microsoft.omadm.Enroll\t1\t1\tfirst 01:30",
      "2024-10-27T01:20:00.0000000\tINFO\tEvent\tcom.microsoft.omadm.Enroll\t1\t1\tsecond 01:20",
    }, "\n") .. "\n")
    local got = sceplab.logs.timeline({ p }, { zone = "Europe/London" }).records
    assert.are.same({ "2024-03-31T00:30:00Z", "2024-03-31T01:30:00Z" }, { got[1].time, got[2].time })
    assert.are.same({ 0, 60 }, { got[1].utc_offset, got[2].utc_offset })
    assert.are.equal("zone", got[1].offset_source)
    -- the hour the clocks repeat: the log has passed 01:30 BST, so 01:20 is GMT
    assert.are.equal("2024-10-27T00:30:00Z", got[3].time)
    assert.are.equal("2024-10-27T01:20:00Z", got[4].time)
    local code, out = h.sceplab({ "timeline", "--jsonl", "--assume-offset", "Europe/London", p })
    assert.are.equal(0, code)
    assert.matches('"offset_source":"zone"', out)
    local code2, _, err = h.sceplab({ "timeline", "--assume-offset", "Europe/Nowhere", p })
    assert.are.equal(2, code2)
    assert.matches("%-%-assume%-offset 'Europe/Nowhere': zone 'Europe/Nowhere': not in the time zone database", err)
  end)

  it("gives each pasted event block without XML the offset of the nearest block with it (a file across a change)", function()
    -- before: the first block's offset for the whole file, an hour off after the change
    local function block(date, sys)
      return table.concat({ "Log Name:      Application", "Source:        Microsoft-Windows-NetworkDeviceEnrollmentService",
        "Date:          " .. date, "Event ID:      31", "Level:         Error", "Computer:      NDES01", "Description:",
        "The Network Device Enrollment Service cannot submit the certificate request.",
        sys and ("Event Xml:\n<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System><TimeCreated SystemTime=\"" .. sys .. "\" /></System></Event>") or "",
        "" }, "\n")
    end
    local p = h.write(dir .. "/blocks.txt", block("3/30/2024 10:00:00 AM", "2024-03-30T10:00:00.0000000Z") ..
      block("3/30/2024 11:00:00 AM") .. block("4/2/2024 10:00:00 AM", "2024-04-02T09:00:00.0000000Z") .. block("4/2/2024 11:00:00 AM"))
    local got = sceplab.logs.timeline({ p }).records
    assert.are.same({ "2024-03-30T10:00:00Z", "2024-03-30T11:00:00Z", "2024-04-02T09:00:00Z", "2024-04-02T10:00:00Z" },
                    { got[1].time, got[2].time, got[3].time, got[4].time })
    assert.are.same({ "record", "file", "record", "file" }, { got[1].offset_source, got[2].offset_source, got[3].offset_source, got[4].offset_source })
  end)

  it("reads +0530 as five and a half hours", function()
    -- before: "+0530" was read as "+05:00"
    local p = h.write(dir .. "/kolkata.xml", '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
      .. '<Provider Name="Microsoft-Windows-CertificationAuthority"/><EventID>22</EventID><Level>2</Level>'
      .. '<TimeCreated SystemTime="2024-02-13T15:46:06.000+0530"/><Computer>CA01</Computer></System>'
      .. '<EventData><Data>denied</Data></EventData></Event>\n')
    local got = sceplab.logs.timeline({ p }).records
    assert.are.equal("2024-02-13T10:16:06Z", got[1].time)
    assert.are.equal(330, got[1].utc_offset)
    local code, out = h.sceplab({ "timeline", "--tz", "+0530", p })
    assert.are.equal(0, code)
    assert.matches("^2024%-02%-13 15:46:06%.000%+05:30 ", out)
  end)
end)

describe("day/month order of Event Viewer exports", function()
  setup(function() dir = h.tmpdir() end)
  teardown(function() os.execute("rm -rf " .. h.shquote(dir)) end)

  local SRC = "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider"

  it("reads an en-GB CSV export day first, its ambiguous dates decided by its unambiguous ones", function()
    -- before: month/day always: 13/02/2024 was lost, 05/02/2024 read as 2 May
    local p = h.write(dir .. "/en-GB.csv", table.concat({
      "Level,Date and Time,Source,Event ID,Task Category",
      "Error,13/02/2024 15:16:04," .. SRC .. ",32,None,\"SCEP: Certificate enroll failed. Result: (The hash value is not correct.).\"",
      "Information,05/02/2024 09:00:00," .. SRC .. ",306,None,\"SCEP: CspExecute\"",
    }, "\r\n") .. "\r\n")
    local t = sceplab.logs.timeline({ p }, { offset = 0 })
    assert.are.equal(2, #t.records)
    assert.are.equal("2024-02-05T09:00:00Z", t.records[1].time)
    assert.are.equal("2024-02-13T15:16:04Z", t.records[2].time)
    assert.matches("^day first: 13/02/2024 %(line 2%) reads only that way", t.inputs[1].order_note)
    local _, out = h.sceplab({ "timeline", "--explain-format", p })
    assert.matches("day/month order day first: 13/02/2024", out)
  end)

  it("decides the order once per file: a text export's ambiguous first lines follow a later unambiguous one", function()
    -- before: each line guessed on its own: 04/03 was 3 April while 24/03 was 24 March
    local p = h.write(dir .. "/export.txt", table.concat({
      "Level\tDate and Time\tSource\tEvent ID\tTask Category",
      "Error\t04/03/2024 10:00:00\t" .. SRC .. "\t32\tNone\tSCEP: Certificate enroll failed.",
      "Error\t24/03/2024 10:00:00\t" .. SRC .. "\t32\tNone\tSCEP: Certificate enroll failed.",
    }, "\n") .. "\n")
    local got = sceplab.logs.timeline({ p }).records
    assert.are.same({ "2024-03-04T10:00:00Z", "2024-03-24T10:00:00Z" }, { got[1].time, got[2].time })
    -- a German export (dots, 24-hour clock) reads too
    local de = h.write(dir .. "/de.txt", "Level\tDate and Time\tSource\tEvent ID\tTask Category\n"
      .. "Error\t05.02.2024 15:16:04\t" .. SRC .. "\t32\tNone\tSCEP: Certificate enroll failed.\n")
    assert.are.equal("2024-02-05T15:16:04Z", sceplab.logs.timeline({ de }).records[1].time)
    -- and an en-US one stays month first
    local us = h.write(dir .. "/us.txt", "Level\tDate and Time\tSource\tEvent ID\tTask Category\n"
      .. "Error\t5/2/2024 3:16:04 PM\t" .. SRC .. "\t32\tNone\tSCEP: Certificate enroll failed.\n")
    assert.are.equal("2024-05-02T15:16:04Z", sceplab.logs.timeline({ us }).records[1].time)
  end)
end)
