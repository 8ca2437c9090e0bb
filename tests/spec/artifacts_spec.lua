-- The device logs' writers (sceplab.core.artifacts, src/core/logs/formats): each line is the one
-- `sceplab replay`'s device simulators write today, and sceplab's own reader of the format reads
-- it back (time, level, event ID or component, the text), hostile text included.
local h = require "helper"
local sceplab = require "sceplab"
local art = require "sceplab.core.artifacts"
local codec = require "sceplab.core.codec"

-- what replay's Lua writers returned before the simulators called the C writers (kept here, so
-- the C writers are held to the same bytes the bundled scenarios and their fixtures were made with)
local replay_line = {
  windows = function(t, e)
    local levels = { [2] = "Error", [3] = "Warning", [4] = "Information" }
    local esc = function(s) return codec.xml(tostring(s)) end
    return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>" ..
      "<Provider Name='Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider' Guid='{3da494e4-0fe2-415c-b895-fb5265c5c83b}'/>" ..
      "<EventID>%d</EventID><Version>0</Version><Level>%d</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>" ..
      "<TimeCreated SystemTime='%s.%07dZ'/><Channel>Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin</Channel>" ..
      "<Computer>DESKTOP-SCEPLAB</Computer></System><EventData><Data Name='Message1'>%s</Data></EventData>" ..
      "<RenderingInfo Culture='en-US'><Message>%s</Message><Level>%s</Level></RenderingInfo></Event>\n")
      :format(e.id, e.level, os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)), math.floor((t % 1) * 1e7), esc(e.text),
              esc(e.text), levels[e.level])
  end,
  android = function(t, e)
    return ("%s.%07d\t%s\tEvent\t%s\t%d\t%d\t%s\n"):format(os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)),
      math.floor((t % 1) * 1e7), e.level, e.component, 18327, 10, e.text)
  end,
  ios = function(t, e)
    return ("%s\t%s.%06d +0000\tprofiled\t%s\n"):format(e.level, os.date("!%H:%M:%S", math.floor(t)),
      math.floor((t % 1) * 1e6), e.text)
  end,
}

local T = 1590315366 -- 2020-05-24T10:16:06Z

local events = {
  windows = {
    { id = 306, level = 4, text = "SCEP: CspExecute for UniqueId : (ModelName_AC_x_LogicalName_y_Hash_1) Result : (0x2ab0003)." },
    { id = 32, level = 2, text = "SCEP: Certificate enroll failed. Result: (Internal server error (500).)." },
    { id = 307, level = 3, text = "<b>&'\"</b> \27[31m quoted by a server" },
  },
  android = {
    { level = "VERB", component = "org.jscep.transport.UrlConnectionGetTransport",
      text = "Sending PkiOperation to http://ndes.contoso.com/certsrv/mscep/mscep.dll" },
    { level = "INFO", component = "com.microsoft.omadm.platforms.android.certmgr.state.NativeScepCertInstallStateMachine",
      text = "SCEP cert 'ModelName=AC_x%2FLogicalName_y' state changed from CERT_ACCESS_REQUESTED to CERT_ACCESS_GRANTED" },
  },
  ios = {
    { level = "default", text = "Attempting to retrieve issued certificate..." },
    { level = "error", text = "Cannot retrieve SCEP identity: NSError: Desc   : A network error occurred." },
  },
}

local function read_back(platform, lines, date)
  local dir = h.tmpname()
  os.execute("mkdir -p " .. h.shquote(dir))
  local path = dir .. "/" .. art.device_file(platform)
  h.write(path, table.concat(lines))
  local lg = assert(sceplab.logs.open(path, nil, date and { date = date } or nil))
  local out = {}
  for r in lg:records() do out[#out + 1] = r end
  local format = lg:stats().format
  lg:close()
  os.remove(path)
  os.remove(dir)
  return out, format
end

describe("the device logs' writers", function()
  for _, platform in ipairs({ "windows", "android", "ios" }) do
    it(("write %s's lines as replay writes them, and read back as that log"):format(platform), function()
      local lines = {}
      for i, e in ipairs(events[platform]) do
        local t = T + i
        local line = art.device_line(platform, t, e)
        assert.are.equal(replay_line[platform](t, e), line)
        lines[#lines + 1] = line
      end
      local recs = read_back(platform, lines, "2020-05-24")
      assert.are.equal(#events[platform], #recs)
      for i, e in ipairs(events[platform]) do
        local r = recs[i]
        assert.are.equal(os.date("!%Y-%m-%dT%H:%M:%S", T + i) .. "Z", r.time)
        -- an ESC cannot be in XML: U+FFFD in its place, as every XML writer of sceplab writes it
        assert.are.equal(platform == "windows" and e.text:gsub("\27", "\u{FFFD}") or e.text, r.message)
        if platform == "windows" then
          assert.are.equal(e.id, r.event_id)
          assert.are.equal(({ [2] = "error", [3] = "warning", [4] = "info" })[e.level], r.level)
        elseif platform == "android" then
          assert.are.equal(e.component, r.component)
        end
      end
    end)
  end

  it("keep a fraction of a second, and a text on its line whatever it holds", function()
    local e = { level = "VERB", component = "x", text = "first\nSecond line\r\n2020-01-01T00:00:00.0000000\tERROR\tEvent\tforged" }
    local line = art.device_line("android", T + 0.25, e)
    assert.are.equal(1, select(2, line:gsub("\n", "")))
    local recs = read_back("android", { line })
    assert.are.equal(1, #recs)
    assert.matches("^2020%-05%-24T10:16:06%.25", recs[1].time)
    local ios = art.device_line("ios", T + 0.5, { level = "default", text = "a\nb" })
    assert.are.equal("default\t10:16:06.500000 +0000\tprofiled\ta b\n", ios)
  end)

  it("refuse what a format cannot write: an unknown platform, a Windows level, a missing severity", function()
    assert.has_error(function() art.device_line("symbian", T, { text = "x" }) end)
    assert.has_error(function() art.device_line("windows", T, { id = 1, level = 7, text = "x" }) end)
    assert.has_error(function() art.device_line("android", T, { text = "x" }) end)
    assert.are.equal("OMADMLog.log", art.device_file("android"))
    assert.are.equal("ios-console.txt", art.device_file("ios"))
    assert.are.equal("DeviceManagement-Enterprise-Diagnostics-Provider-Admin.xml", art.device_file("windows"))
  end)
end)
