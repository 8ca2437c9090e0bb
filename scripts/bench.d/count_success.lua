-- scripts/bench server: of the answers DIR/a1.der ... aN.der, how many are a CertRep whose
-- pkiStatus is SUCCESS, FAILURE or PENDING, and how many are none of these (an HTTP error page, no
-- answer), read from the CertRep's signed attributes (not opened: the check must stay cheaper than
-- the server's work, and it runs after the timed part). The status is the attribute id-pkiStatus
-- (2.16.840.1.113733.1.9.3) with its value "0", "2" or "3" as a PrintableString.
local dir, n = arg[1], tonumber(arg[2])
local attr = "\6\10\96\134\72\1\134\248\69\1\9\3\49\3\19\1"
local count = { ["0"] = 0, ["2"] = 0, ["3"] = 0, other = 0 }
for i = 1, n do
  local f = io.open(("%s/a%d.der"):format(dir, i), "rb")
  local body = f and f:read("a") or ""
  if f then f:close() end
  local at = body:find(attr, 1, true)
  local status = at and body:sub(at + #attr, at + #attr)
  if count[status] then count[status] = count[status] + 1 else count.other = count.other + 1 end
end
print(count["0"], count["2"], count["3"], count.other)
return 0
