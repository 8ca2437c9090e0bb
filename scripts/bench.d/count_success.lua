-- scripts/bench server: how many of the answers DIR/a1.der ... aN.der are a CertRep whose
-- pkiStatus is SUCCESS, read from its signed attributes (not opened: the check must stay cheaper
-- than the server's work, and it runs after the timed part). The status is the attribute
-- id-pkiStatus (2.16.840.1.113733.1.9.3) with its value "0" as a PrintableString.
local dir, n = arg[1], tonumber(arg[2])
local success = "\6\10\96\134\72\1\134\248\69\1\9\3\49\3\19\1\48"
local ok = 0
for i = 1, n do
  local f = io.open(("%s/a%d.der"):format(dir, i), "rb")
  if f then
    local body = f:read("a")
    f:close()
    if body:find(success, 1, true) then ok = ok + 1 end
  end
end
print(ok)
return 0
