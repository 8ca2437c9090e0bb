-- Prints what a diagnose JSON report says of the work: records handed to the playbooks, success
-- records counted in C, findings.
local sceplab = require "sceplab"
local f = assert(io.open(arg[1], "rb"))
local rep = sceplab.json.decode(f:read("a"))
f:close()
local ids = {}
for _, x in ipairs(rep.findings) do ids[#ids + 1] = x.id .. " (" .. math.tointeger(x.evidence_count or #x.evidence) .. ")" end
print(("records handed to the playbooks: %d; success records counted in C: %d; findings: %s")
  :format(rep.records_examined, rep.records_counted or 0, table.concat(ids, ", ")))
