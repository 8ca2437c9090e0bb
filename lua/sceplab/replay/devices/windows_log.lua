-- The Windows device's log as replay writes it: DeviceManagement-Enterprise-Diagnostics-Provider/
-- Admin, as `wevtutil qe /f:RenderedXml` prints it (read back by the XML format, fmt_xml.c).
-- The simulator (windows.lua) decides what happens; this file only formats: one function per
-- kind of record, taking the record's time (Unix seconds, fractions kept) and its fields, and
-- returning its text. The whole interface is `file` and the functions below.
local codec = require "sceplab.core.codec"

local M = {}

--- The file name a collection gives the log.
M.file = "DeviceManagement-Enterprise-Diagnostics-Provider-Admin.xml"

local LEVELS = { [2] = "Error", [3] = "Warning", [4] = "Information" }

-- XML text: the server's answers are quoted in these events (codec.xml, as every XML writer)
local function xml_esc(s) return codec.xml(tostring(s)) end

--- One event: its ID, level (2 error, 3 warning, 4 information) and message.
function M.event(t, id, level, text)
  return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>" ..
    "<Provider Name='Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider' Guid='{3da494e4-0fe2-415c-b895-fb5265c5c83b}'/>" ..
    "<EventID>%d</EventID><Version>0</Version><Level>%d</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>" ..
    "<TimeCreated SystemTime='%s.%07dZ'/><Channel>Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin</Channel>" ..
    "<Computer>DESKTOP-SCEPLAB</Computer></System><EventData><Data Name='Message1'>%s</Data></EventData>" ..
    "<RenderingInfo Culture='en-US'><Message>%s</Message><Level>%s</Level></RenderingInfo></Event>\n")
    :format(id, level, os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)), math.floor((t % 1) * 1e7), xml_esc(text),
            xml_esc(text), LEVELS[level])
end

return M
