-- scripts/bench client: N enrollments in one sceplab process (the Lua API), keys made in advance.
-- arg[1] url, arg[2] challenge, arg[3] key directory (a1.pem ... aN.pem), arg[4] N
local sceplab = require "sceplab"
local url, challenge, dir, n = arg[1], arg[2], arg[3], tonumber(arg[4])
local c = sceplab.scep.client{ url = url }
local ok = 0
for i = 1, n do
  local f = assert(io.open(("%s/a%d.pem"):format(dir, i), "rb"))
  local key = assert(sceplab.scep.pkey.load(f:read("a")))
  f:close()
  local r = assert(c:enroll({ url = url, subject = ("CN=lib-%d-%d"):format(i, os.time()), challenge = challenge }, { key = key }))
  if r.status == "SUCCESS" then ok = ok + 1 end
  c.exchanges = {} -- keep the per-client log from growing over the run
end
io.stderr:write(("in-process: %d/%d issued\n"):format(ok, n))
return ok == n and 0 or 1
