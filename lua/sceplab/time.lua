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
function M.assume_zone(s)
  if type(s) ~= "string" or not s:match("^%a[%w_+%-]*/?[%w_+%-/]*$") then return nil, "expected +HH:MM or a zone name" end
  local ok, why = (require "sceplab.core.logs").zone(s)
  if not ok then return nil, why end
  return s
end

--- A display zone as --tz takes it: {kind = "utc"|"offset"|"local"|"iana", offset (minutes, for
-- utc and offset), name (for iana)} | nil, message. An IANA name must be in the zone database.
function M.zone(s)
  s = tostring(s)
  if s == "UTC" or s == "Z" or s == "utc" then return { kind = "utc", offset = 0 } end
  if s == "local" then return { kind = "local" } end
  if s:match("^[+-]") then
    local off, why = M.offset(s)
    if not off then return nil, why end
    return { kind = "offset", offset = off }
  end
  if not s:match("^[%a][%w_+%-]*$") and not s:match("^[%a][%w_+%-]*/[%w_+%-/]+$") then
    return nil, "expected UTC, local, +HH:MM or a zone name such as Europe/Berlin"
  end
  return { kind = "iana", name = s }
end

--- Makes an IANA zone the process's local zone (timeline's display, times read in it).
function M.use_zone(z)
  if z.kind ~= "iana" then return true end
  local ok, why = (require "sceplab.core.sys").set_zone(z.name)
  if not ok then return nil, why .. " (e.g. Europe/Berlin, America/New_York, Asia/Kolkata)" end
  return true
end

-- Seconds since the epoch of a wall-clock time in zone z (a table of year, month, day, hour, min,
-- sec): arithmetic for UTC and offsets, mktime (os.time) for the local and IANA zones, which
-- knows their summer times.
local function wall_to_epoch(t, z)
  if z.kind == "utc" or z.kind == "offset" then
    return M.days_from_civil(t.year, t.month, t.day) * 86400 + t.hour * 3600 + t.min * 60 + t.sec - (z.offset or 0) * 60
  end
  return os.time({ year = t.year, month = t.month, day = t.day, hour = t.hour, min = t.min, sec = t.sec })
end

-- The wall clock in zone z at epoch seconds e.
local function epoch_to_wall(e, z)
  if z.kind == "utc" or z.kind == "offset" then
    return os.date("!*t", math.floor(e + (z.offset or 0) * 60))
  end
  return os.date("*t", math.floor(e))
end

local UNITS = { s = 1, m = 60, h = 3600, d = 86400, w = 7 * 86400 }

--- A time as --since and --until take it, in seconds since the epoch | nil, message:
-- relative to now ("-2h", "-90m", "-1d12h", "now"), a day in the zone ("today", "yesterday": its
-- first second), or ISO 8601 ("2020-05-24T10:16:00Z"; without a zone, read in zone z).
function M.instant(s, z, now)
  z = z or { kind = "utc", offset = 0 }
  now = now or os.time()
  s = tostring(s)
  local lower = s:lower()
  if lower == "now" then return now end
  if lower == "today" or lower == "yesterday" then
    local w = epoch_to_wall(now, z)
    w.hour, w.min, w.sec = 0, 0, 0
    if lower == "yesterday" then
      -- the day before, whatever its length (a summer-time change makes it 23 or 25 hours)
      local y, m, d = w.year, w.month, w.day - 1
      if d < 1 then
        m = m - 1
        if m < 1 then m, y = 12, y - 1 end
        d = M.days_in_month(y, m)
      end
      w.year, w.month, w.day = y, m, d
    end
    return wall_to_epoch(w, z)
  end
  local sign, rest = s:match("^([+-])(%d.*)$")
  if sign and rest:match("^[%d%a]+$") then
    local total, pos = 0, 1
    while pos <= #rest do
      local n, unit, nxt = rest:match("^(%d+)(%a)()", pos)
      if not n or not UNITS[unit] then return nil, "expected a relative time such as -2h, -30m, -1d12h (units s, m, h, d, w)" end
      total = total + tonumber(n) * UNITS[unit]
      pos = nxt
    end
    return sign == "-" and now - total or now + total
  end
  local t = M.parse(s)
  if t == nil then
    return nil, "expected an ISO 8601 time such as 2020-05-24T10:16:00Z, a relative time such as -2h, or today, yesterday"
  end
  -- no zone written: the time is a wall-clock time in z
  local zoned = s:match("[Zz]$") or s:match("[T ]%d%d:%d%d[:%d.]*[+-]%d%d:?%d%d$")
  if not zoned and z.kind ~= "utc" then
    local wall = os.date("!*t", math.floor(t))
    return wall_to_epoch(wall, z) + (t - math.floor(t))
  end
  return t
end

--- The time options timeline and diagnose share, checked: --assume-offset (minutes, or a zone
-- name whose offset each record gets at its own moment), --bias, --date, --tz (the display zone),
-- --since, --until (read in --tz when it is given). Returns {offset, zone (the assumed zone's
-- name), bias, date, display (M.zone's table), since, ["until"]} | nil, message.
function M.from_args(args)
  local out = {}
  local function fail(opt, v, why) return nil, ("--%s '%s': %s"):format(opt, tostring(v), why) end
  if args.assume_offset then
    local off, why = M.offset(args.assume_offset)
    if off then out.offset = off
    elseif tostring(args.assume_offset):match("^%a") then
      local z, zwhy = M.assume_zone(args.assume_offset)
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
  local zone = { kind = "utc", offset = 0 }
  if args.tz then
    local z, why = M.zone(args.tz)
    if not z then return fail("tz", args.tz, why) end
    local ok, zwhy = M.use_zone(z)
    if not ok then return fail("tz", args.tz, zwhy) end
    zone = z
  end
  out.display = zone
  for _, k in ipairs({ "since", "until" }) do
    if args[k] then
      local t, why = M.instant(args[k], zone)
      if not t then return fail(k, args[k], why) end
      out[k] = t
    end
  end
  return out
end

return M
