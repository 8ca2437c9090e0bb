-- The replay's virtual clock: real time plus what the advance steps added. The server reads the
-- same offset from the clock file at each request, so its logs, the connector's and the device's
-- agree, and a token expires when the story says.
local M = {}

local Clock = {}
Clock.__index = Clock

--- A clock at real time, its offset written to file (what the server reads).
function M.new(file)
  local c = setmetatable({ offset = 0, file = file }, Clock)
  c:advance(0)
  return c
end

--- The virtual time: Unix seconds.
function Clock:now() return os.time() + self.offset end

function Clock:advance(minutes)
  self.offset = self.offset + 60 * minutes
  local f = assert(io.open(self.file, "wb"))
  f:write(tostring(self.offset), "\n")
  f:close()
end

--- "N days, N hours, N minutes" for a number of minutes (what a step line says).
function M.duration(minutes)
  local d, h, m = minutes // 1440, minutes % 1440 // 60, minutes % 60
  local parts = {}
  if d > 0 then parts[#parts + 1] = ("%d day%s"):format(d, d == 1 and "" or "s") end
  if h > 0 then parts[#parts + 1] = ("%d hour%s"):format(h, h == 1 and "" or "s") end
  if m > 0 or #parts == 0 then parts[#parts + 1] = ("%d minute%s"):format(m, m == 1 and "" or "s") end
  return table.concat(parts, " ")
end

--- When a certificate enters its renewal window: threshold percent of its lifetime left (Unix
-- seconds), or nil when it cannot be read.
function M.renewal_time(cert_pem, threshold)
  local doc = cert_pem and (require "sceplab.pure").x509.parse(cert_pem)
  local c = doc and doc.certificates and doc.certificates[1]
  local t = require "sceplab.time"
  local nb, na = c and t.parse(c.not_before), c and t.parse(c.not_after)
  if not nb or not na or na <= nb then return nil end
  return math.floor(na - (na - nb) * threshold / 100)
end

return M
