-- The Android device's log as replay writes it: Company Portal's OMADMLog.log, tab-separated, in
-- local time (UTC here), with jscep's transport lines (read back by fmt_android.c). The simulator
-- (android.lua) decides what happens; this file only formats: one function per kind of record,
-- taking the record's time (Unix seconds, fractions kept) and its fields, and returning its text.
local M = {}

--- The file name a collection gives the log.
M.file = "OMADMLog.log"

--- One line: its level (VERB, INFO, ...), the component (a Java class) and the text.
function M.line(t, level, component, text)
  return ("%s.%07d\t%s\tEvent\t%s\t%d\t%d\t%s\n"):format(os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)),
    math.floor((t % 1) * 1e7), level, component, 18327, 10, text)
end

return M
