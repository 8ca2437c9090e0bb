-- The iOS device's log as replay writes it: profiled's lines in a Console copy ("Copy" in
-- Console.app: tab-separated, no date; read back by fmt_ios.c). The simulator (ios.lua) decides
-- what happens; this file only formats: one function per kind of record, taking the record's
-- time (Unix seconds, fractions kept) and its fields, and returning its text.
local M = {}

--- The file name a collection gives the copy.
M.file = "ios-console.txt"

--- One line of profiled: its level (default, debug, error) and text.
function M.line(t, level, text)
  return ("%s\t%s.%06d +0000\tprofiled\t%s\n"):format(level, os.date("!%H:%M:%S", math.floor(t)),
    math.floor((t % 1) * 1e6), text)
end

return M
