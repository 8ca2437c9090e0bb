-- The replay's device logs, record by record: each platform's writer (sceplab.core.artifacts, in C
-- beside the reader of its format) formats a record into exactly these bytes, the ones the Lua
-- writers it replaced wrote, which the C reader of that format reads back into the same time,
-- level, event and text. And the run plays every kind of step a scenario may name.
local h = require "helper"
require "sceplab.core" -- registers the C modules
local logs = require "sceplab.core.logs"
local art = require "sceplab.core.artifacts"

local T = 1590315361 -- 2020-05-24T10:16:01Z

local CASES = {
  { platform = "windows", write = function() return art.device_line("windows", T + 0.5, { id = 32, level = 2, text = "SCEP: a <b> & 'c'" }) end,
    bytes = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>" ..
      "<Provider Name='Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider' Guid='{3da494e4-0fe2-415c-b895-fb5265c5c83b}'/>" ..
      "<EventID>32</EventID><Version>0</Version><Level>2</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>" ..
      "<TimeCreated SystemTime='2020-05-24T10:16:01.5000000Z'/><Channel>Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin</Channel>" ..
      "<Computer>DESKTOP-SCEPLAB</Computer></System><EventData><Data Name='Message1'>SCEP: a &lt;b&gt; &amp; &apos;c&apos;</Data></EventData>" ..
      "<RenderingInfo Culture='en-US'><Message>SCEP: a &lt;b&gt; &amp; &apos;c&apos;</Message><Level>Error</Level></RenderingInfo></Event>\n",
    read = { format = "eventxml", time = "2020-05-24T10:16:01.500000Z", level = "error", event_id = 32,
             message = "SCEP: a <b> & 'c'" } },
  { platform = "android",
    write = function() return art.device_line("android", T + 0.25, { level = "VERB", component = "org.jscep.transport.UrlConnectionGetTransport", text = "Sending GetCACert(ca) to http://x" }) end,
    bytes = "2020-05-24T10:16:01.2500000\tVERB\tEvent\torg.jscep.transport.UrlConnectionGetTransport\t18327\t10\tSending GetCACert(ca) to http://x\n",
    read = { format = "android", time = "2020-05-24T10:16:01.250000Z", level = "verbose",
             component = "org.jscep.transport.UrlConnectionGetTransport", message = "Sending GetCACert(ca) to http://x" } },
  { platform = "ios", write = function() return art.device_line("ios", T + 0.125, { level = "error", text = "Profile installation failed." }) end,
    bytes = "error\t10:16:01.125000 +0000\tprofiled\tProfile installation failed.\n",
    read = { format = "ios", time = "2020-05-24T10:16:01.125000Z", level = "error", component = "profiled",
             message = "Profile installation failed." } },
}

describe("replay's device log writers", function()
  for _, c in ipairs(CASES) do
    it(c.platform .. ": the bytes of a record, and the reader reads it back", function()
      local text = c.write()
      assert.are.equal(c.bytes, text)
      local file = art.device_file(c.platform)
      assert.are.equal(file, (require "sceplab.replay.devices").PLATFORMS[c.platform].log)
      local dir = h.tmpdir()
      local path = h.write(dir .. "/" .. file, text)
      local lg = assert(logs.open(path, nil, { date = "2020-05-24" }))
      local recs = {}
      for r in lg:records() do recs[#recs + 1] = r end
      local format = lg:stats().format
      lg:close()
      os.execute("rm -rf " .. h.shquote(dir))
      assert.are.equal(1, #recs)
      assert.are.equal(c.read.format, format)
      for k, v in pairs(c.read) do
        if k ~= "format" then assert.are.equal(v, recs[1][k], k) end
      end
    end)
  end
end)

describe("replay's steps", function()
  it("plays every kind of step a scenario may name, and no other", function()
    local steps = require "sceplab.replay.steps"
    local scenario = require "sceplab.replay.scenario"
    for kind in pairs(scenario.STEPS) do assert.are.equal("function", type(steps[kind]), kind) end
    for kind in pairs(steps) do assert.is_true(scenario.STEPS[kind], kind) end
  end)
end)

describe("replay's working directory", function()
  it("is made with mkdtemp under TMPDIR: one that cannot be made is said, not replaced by another", function()
    local bundle = h.tmpname()
    local code, _, err = h.sceplab_env({ TMPDIR = "/nonexistent-sceplab-tmp" }, { "replay", "healthy-windows", "--bundle", bundle })
    os.execute("rm -rf " .. h.shquote(bundle))
    assert.are.equal(1, code)
    assert.matches("cannot make a temporary directory in /nonexistent%-sceplab%-tmp %(TMPDIR%)", err)
  end)
end)
