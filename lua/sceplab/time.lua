-- Times as the command line and fixtures write them, checked once, in one place: UTC offsets in
-- minutes east (what sceplab.core.logs takes), CMTrace biases in minutes, calendar dates, and ISO
-- 8601 instants in seconds since the epoch. Absurd values (an offset of 99 hours, 31 February, the
-- year 6103) are refused with a message instead of shifting records by days or years.
local M = {}

M.MAX_OFFSET_MIN = 18 * 60  -- ISO 8601 and every zone database stay within 18 hours of UTC
M.MIN_YEAR, M.MAX_YEAR = 1970, 2200 -- what the log parsers accept

local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function leap(y) return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) end

--- Days in month m of year y.
function M.days_in_month(y, m)
  return m == 2 and leap(y) and 29 or DAYS[m]
end

--- Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
function M.days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function valid_date(y, m, d)
  return y >= M.MIN_YEAR and y <= M.MAX_YEAR and m >= 1 and m <= 12 and d >= 1 and d <= M.days_in_month(y, m)
end

--- "+05:30", "-0700", "Z": minutes east of UTC | nil, message.
function M.offset(s)
  if s == "Z" or s == "UTC" or s == "+00:00" then return 0 end
  local sign, h, m = tostring(s):match("^([+-])(%d%d):?(%d%d)$")
  if not sign then return nil, "expected +HH:MM or -HH:MM" end
  h, m = tonumber(h), tonumber(m)
  local min = h * 60 + m
  if m > 59 or min > M.MAX_OFFSET_MIN then return nil, "offsets stay within 18:00 of UTC" end
  return sign == "-" and -min or min
end

--- A CMTrace bias in minutes (UTC = local + bias) | nil, message.
function M.bias(n)
  if math.type(n) ~= "integer" then return nil, "expected whole minutes" end
  if n < -M.MAX_OFFSET_MIN or n > M.MAX_OFFSET_MIN then return nil, "a bias stays within 1080 minutes (18 hours)" end
  return n
end

--- "YYYY-MM-DD", a real calendar date from 1970 to 2200 | nil, message.
function M.date(s)
  local y, m, d = tostring(s):match("^(%d%d%d%d)-(%d%d)-(%d%d)$")
  if not y then return nil, "expected YYYY-MM-DD" end
  if not valid_date(tonumber(y), tonumber(m), tonumber(d)) then return nil, "no such date" end
  return s
end

--- Seconds since the epoch from "YYYY-MM-DD[T ]HH:MM[:SS][.fff][Z|+HH:MM]" (UTC when no zone) | nil.
function M.parse(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, rest = s:match("^(%d%d%d%d)-(%d%d)-(%d%d)(.*)$")
  if not y then return nil end
  local h, mi, sec, frac, zone = rest:match("^[T ](%d%d):(%d%d):?(%d*)(%.?%d*)(.*)$")
  if rest ~= "" and not h then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  h, mi, sec = tonumber(h) or 0, tonumber(mi) or 0, tonumber(sec) or 0
  if not valid_date(y, mo, d) or h > 23 or mi > 59 or sec > 60 then return nil end
  local t = M.days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
  if frac and #frac > 1 then t = t + tonumber("0" .. frac) end
  if zone and zone ~= "" and zone ~= "Z" then
    local off = M.offset(zone)
    if not off then return nil end
    t = t - off * 60
  end
  return t
end

--- An IANA zone name the time zone database has ("Europe/London") | nil, message.
function M.zone(s)
  if type(s) ~= "string" or not s:match("^%a[%w_+%-]*/?[%w_+%-/]*$") then return nil, "expected +HH:MM or a zone name" end
  local ok, why = (require "sceplab.core.logs").zone(s)
  if not ok then return nil, why end
  return s
end

--- The time options timeline and diagnose share, checked: --assume-offset (minutes, or a zone
-- name whose offset each record gets at its own moment), --bias, --date, --since, --until.
-- Returns {offset, zone, bias, date, since, ["until"]} | nil, message.
function M.from_args(args)
  local out = {}
  local function fail(opt, v, why) return nil, ("--%s '%s': %s"):format(opt, tostring(v), why) end
  if args.assume_offset then
    local off, why = M.offset(args.assume_offset)
    if off then out.offset = off
    elseif tostring(args.assume_offset):match("^%a") then
      local z, zwhy = M.zone(args.assume_offset)
      if not z then return fail("assume-offset", args.assume_offset, zwhy) end
      out.zone = z
    else return fail("assume-offset", args.assume_offset, why) end
  end
  if args.bias then
    local b, why = M.bias(args.bias)
    if not b then return fail("bias", args.bias, why) end
    out.bias = b
  end
  if args.date then
    local d, why = M.date(args.date)
    if not d then return fail("date", args.date, why) end
    out.date = d
  end
  for _, k in ipairs({ "since", "until" }) do
    if args[k] then
      local t = M.parse(args[k])
      if not t then return fail(k, args[k], "expected an ISO 8601 time such as 2020-05-24T10:16:00Z") end
      out[k] = t
    end
  end
  return out
end

return M
