-- Prints records_examined of a diagnose JSON report.
local sceplab = require "sceplab"
local f = assert(io.open(arg[1], "rb"))
local rep = sceplab.json.decode(f:read("a"))
f:close()
print(math.tointeger(rep.records_examined) or rep.records_examined)
