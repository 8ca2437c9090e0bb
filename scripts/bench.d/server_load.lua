-- scripts/bench server-devices: one load worker, enrolling keys FROM..TO (made in advance) in one process.
-- arg: url, challenge, key directory (k1.pem ...), from, to, tag (makes every subject unique: a
-- server may refuse a subject it issued before)
local sceplab = require "sceplab"
local url, challenge, dir, from, to, tag = arg[1], arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5]), arg[6]
local c = sceplab.scep.client{ url = url }
local ok = 0
for i = from, to do
  local f = assert(io.open(("%s/k%d.pem"):format(dir, i), "rb"))
  local key = assert(sceplab.scep.pkey.load(f:read("a")))
  f:close()
  local r, err = c:enroll({ url = url, subject = ("CN=load-%s-%d"):format(tag, i), challenge = challenge }, { key = key })
  if r and r.status == "SUCCESS" then ok = ok + 1 else io.stderr:write(tostring(err or (r and r.status)), "\n") end
  c.exchanges = {}
end
print(ok)
return 0
