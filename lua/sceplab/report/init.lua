-- Diagnosis reports: the table sceplab.diagnose.run returns, rendered as text (a terminal, text.lua),
-- Markdown (a ticket, md.lua) or HTML (one self-contained file, html.lua). JSON is
-- sceplab.json.encode of the same table. Every value taken from the logs is escaped for its format;
-- what the formats say alike is in words.lua. decoded.lua renders decoded documents (decode, getca).
local words = require "sceplab.report.words"

local M = {}

--- The six steps of the Intune SCEP workflow (seed 003), as findings number them.
M.STEPS = words.STEPS
M.who_text = words.who_text

-- A copy of the report whose strings show control characters, bidirectional overrides and bytes
-- that are not UTF-8 as escapes (codec.visible): log text must not drive the terminal that shows
-- a report, nor hide in a ticket. The renderers add their own colour codes afterwards.
local visible = (require "sceplab.core.codec").visible
local function shown(v, seen)
  if type(v) == "string" then return visible(v) end
  if type(v) ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local out = {}
  if getmetatable(v) ~= nil then (require "sceplab.json").array(out) end -- arrays: the only tables with one
  seen[v] = out
  for k, x in pairs(v) do out[shown(k, seen)] = shown(x, seen) end
  return out
end
M.shown = shown

--- Renders rep as "text", "md" or "html"; colour applies to text only.
function M.render(rep, format, colour)
  rep = shown(rep)
  if format == "md" then return (require "sceplab.report.md").render(rep) end
  if format == "html" then return (require "sceplab.report.html").render(rep) end
  return (require "sceplab.report.text").render(rep, colour)
end

return M
