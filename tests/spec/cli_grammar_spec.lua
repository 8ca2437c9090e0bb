-- One grammar across commands: --format and --json wherever there is an output to choose,
-- --quiet, --color, times as people write them (-2h, yesterday, Europe/Berlin), and settings
-- files with flag > environment > file > default, as `sceplab config show` says.
local h = require "helper"
local cjson = require "cjson"
local cli = require "sceplab.cli"
local util = require "sceplab.cli.util"
local time = require "sceplab.time"

local iis = h.fixture("logs/u_ex200524.log")

describe("output choice", function()
  it("every command with --json takes --format text|json, and every one with --format takes --json", function()
    local p = cli.build_parser(nil)
    local seen = 0
    util.each_command(p, function(c, words)
      if #c._commands > 0 or c._hidden then return end
      local json, fmt = util.find_option(c, "--json"), util.find_option(c, "--format")
      assert.are.equal(json ~= nil, fmt ~= nil, table.concat(words, " "))
      if json then seen = seen + 1 end
    end)
    assert.is_true(seen >= 12, seen .. " commands with an output choice")
  end)

  it("--json is --format json (jsonl for timeline); both at once must agree", function()
    local code, out = h.sceplab({ "decode", "--format", "json", h.fixture("decode/device.pem") })
    assert.are.equal(0, code)
    assert.are.equal("certificates", cjson.decode(out).kind)
    local code2, out2 = h.sceplab({ "diagnose", "--json", iis })
    assert.are.equal(1, code2)
    assert.is_table(cjson.decode(out2).findings)
    local code3, out3 = h.sceplab({ "timeline", "--json", "-q", iis })
    assert.are.equal(0, code3)
    local first = h.lines(out3)[1]
    assert.are.equal("iis", cjson.decode(first).source)
    local code4, _, err4 = h.sceplab({ "decode", "--json", "--format", "text", h.fixture("decode/device.pem") })
    assert.are.equal(2, code4)
    assert.matches("two outputs", err4)
  end)

  it("--quiet leaves results and errors only", function()
    local _, _, err = h.sceplab({ "timeline", iis })
    assert.matches("skipped 1", err)
    local code, out, err2 = h.sceplab({ "timeline", "--quiet", iis })
    assert.are.equal(0, code)
    assert.are.equal("", err2)
    assert.matches("GetCACaps", out)
    -- before the command too
    local _, _, err3 = h.sceplab({ "-q", "timeline", iis })
    assert.are.equal("", err3)
  end)

  it("--color always colours probe's severities and diagnose's report; never and NO_COLOR do not", function()
    local code, out = h.sceplab({ "diagnose", "--color", "always", iis })
    assert.are.equal(1, code)
    assert.matches("\27%[", out)
    local _, plain = h.sceplab({ "diagnose", "--color", "never", iis })
    assert.not_matches("\27%[", plain)
    local _, auto = h.sceplab_env({ NO_COLOR = "1" }, { "diagnose", iis })
    assert.not_matches("\27%[", auto)
    -- probe: a closed port is one failed check, in red when asked
    local _, pout = h.sceplab({ "probe", "--color", "always", "http://127.0.0.1:1/certsrv/mscep/mscep.dll" })
    assert.matches("\27%[1;31mfail", pout)
  end)

  it("--color always colours timeline's levels and evidence; never, NO_COLOR and JSONL do not", function()
    local code, out = h.sceplab({ "timeline", "-q", "--color", "always", iis })
    assert.are.equal(0, code)
    assert.matches("\27%[31merror\27%[0m", out)
    assert.matches("\27%[2m%[u_ex200524%.log:%d+%]\27%[0m\n", out)
    local _, plain = h.sceplab({ "timeline", "-q", "--color", "never", iis })
    assert.not_matches("\27", plain)
    local _, auto = h.sceplab_env({ NO_COLOR = "1" }, { "timeline", "-q", iis })
    assert.not_matches("\27", auto)
    local _, jsonl = h.sceplab({ "timeline", "-q", "--color", "always", "--jsonl", iis })
    assert.not_matches("\27", jsonl)
    -- the colour sequences are sceplab's: a record's own escape bytes stay escaped inside them
    assert.are.equal(select(2, plain:gsub("\n", "")), select(2, out:gsub("\n", "")))
  end)
end)

describe("times", function()
  local now = 1590316560 -- 2020-05-24T10:36:00Z, a Sunday; Berlin is +02:00 in summer

  it("reads relative times and days in the zone", function()
    local utc = assert(time.zone("UTC"))
    assert.are.equal(now - 7200, time.instant("-2h", utc, now))
    assert.are.equal(now - 86400 - 43200, time.instant("-1d12h", utc, now))
    assert.are.equal(now + 90, time.instant("+90s", utc, now))
    assert.are.equal(1590278400, time.instant("today", utc, now))          -- 2020-05-24T00:00:00Z
    assert.are.equal(1590192000, time.instant("yesterday", utc, now))      -- 2020-05-23T00:00:00Z
    local plus = assert(time.zone("+05:30"))
    assert.are.equal(1590258600, time.instant("today", plus, now))         -- 2020-05-24T00:00:00+05:30
    assert.is_nil((time.instant("-2x", utc, now)))
    assert.is_nil((time.instant("last week", utc, now)))
  end)

  it("takes IANA zone names, with their summer time, and refuses unknown ones", function()
    local berlin = assert(time.zone("Europe/Berlin"))
    assert.is_true(time.use_zone(berlin))
    assert.are.equal(1590271200, time.instant("today", berlin, now))      -- 2020-05-24T00:00:00+02:00
    assert.are.equal(1590184800, time.instant("yesterday", berlin, now))
    -- no zone written: read in Berlin; one written: as written
    assert.are.equal(1590308400, time.instant("2020-05-24T10:20:00", berlin))
    assert.are.equal(1590315600, time.instant("2020-05-24T10:20:00Z", berlin))
    -- winter: +01:00
    assert.are.equal(1579512000, time.instant("2020-01-20 10:20:00", berlin))
    local bad = assert(time.zone("Europe/Berln"))
    local ok, why = time.use_zone(bad)
    assert.is_nil(ok)
    assert.matches("no such zone", why)
    assert.is_nil((time.zone("../../etc/passwd")))
    assert.is_true(time.use_zone(assert(time.zone("UTC"))))
  end)

  it("timeline shows Berlin time, reads --since in it, and takes -2h as a value", function()
    local code, out = h.sceplab({ "timeline", "-q", "--tz", "Europe/Berlin", "--since", "2020-05-24 12:20", iis })
    assert.are.equal(0, code)
    local first = h.lines(out)[1]
    assert.matches("^2020%-05%-24 12:20:01%.000%+0200 ", first)
    local code2, _, err2 = h.sceplab({ "timeline", "--since", "-2h", iis })
    assert.are.equal(0, code2, err2)
    assert.matches("no records matched", err2) -- the fixture is from 2020
    local code3, out3 = h.sceplab({ "timeline", "-q", "--since", "-100000d", iis })
    assert.are.equal(0, code3)
    assert.are.equal(8, #h.lines(out3))
    local code4, _, err4 = h.sceplab({ "timeline", "--tz", "Mars/Olympus", iis })
    assert.are.equal(2, code4)
    assert.matches("^sceplab: %-%-tz 'Mars/Olympus': no such zone", err4)
  end)
end)

describe("settings files", function()
  local dir = h.tmpdir()
  local conf = h.write(dir .. "/sceplab.conf", table.concat({
    "# a comment",
    "color = never",
    "[timeline]",
    "tz = +05:30",
    "min-level = warning",
    "[serve]",
    "port = 9090",
    "set = a=1",
    "set = b=2",
    "[ca]",
    "dir = /var/lib/sceplab-ca",
  }, "\n") .. "\n")

  it("applies a file's settings to the command, under its flags", function()
    local code, out = h.sceplab({ "timeline", "-q", "--config", conf, iis })
    assert.are.equal(0, code)
    local lines = h.lines(out)
    assert.matches("^2020%-05%-24 15:50:01%.000%+05:30 .* error ", lines[1]) -- the 500 at 10:20:01Z, in +05:30
    for _, l in ipairs(lines) do assert.not_matches(" info ", l) end
    local _, out2 = h.sceplab({ "timeline", "-q", "--config", conf, "--tz", "UTC", "--min-level", "error", iis })
    assert.matches("^2020%-05%-24 10:20:01%.000Z ", h.lines(out2)[1])
  end)

  it("reads /etc then the user's file, or SCEPLAB_CONFIG; show says what comes from where", function()
    local code, out = h.sceplab_env({ SCEPLAB_CONFIG = conf }, { "config", "show", "serve" })
    assert.are.equal(0, code)
    assert.matches("\nport +%= 9090 +# " .. conf:gsub("%p", "%%%0") .. ":7\n", out)
    assert.matches("\nset +%= a=1, b=2 ", out)
    assert.matches("\npolicy +%= static +# default\n", out)
    assert.matches("\ncolor +%= never +# " .. conf:gsub("%p", "%%%0") .. ":2\n", out)
    -- the environment wins over the file
    local _, out2 = h.sceplab_env({ SCEPLAB_CONFIG = conf, SCEPLAB_STATE = "/srv/st" }, { "config", "show", "ca", "list" })
    assert.matches("\ndir +%= /srv/st +# environment SCEPLAB_STATE\n", out2)
    local _, out3 = h.sceplab_env({ SCEPLAB_CONFIG = conf }, { "config", "show", "ca", "list", "--format", "json" })
    local doc = cjson.decode(out3)
    assert.are.equal("ca list", doc.command)
    local dir_row
    for _, r in ipairs(doc.settings) do if r.key == "dir" then dir_row = r end end
    assert.are.same({ key = "dir", value = "/var/lib/sceplab-ca", source = conf .. ":11" }, dir_row)
    -- the default files: XDG_CONFIG_HOME's, listed with /etc's
    local xdg = h.tmpdir()
    assert(os.execute("mkdir -p " .. h.shquote(xdg .. "/sceplab")))
    h.write(xdg .. "/sceplab/sceplab.conf", "[diagnose]\nformat = md\n")
    local _, out4 = h.sceplab_env({ XDG_CONFIG_HOME = xdg }, { "config", "show" })
    assert.matches("# /etc/sceplab/sceplab%.conf", out4)
    assert.matches("%[diagnose%]\nformat = md +# " .. xdg:gsub("%p", "%%%0") .. "/sceplab/sceplab%.conf:2", out4)
    local code5, out5 = h.sceplab_env({ XDG_CONFIG_HOME = xdg }, { "diagnose", iis })
    assert.are.equal(1, code5)
    assert.matches("^# ", out5) -- markdown
  end)

  it("names the file and line of a mistake, and refuses secrets", function()
    for _, case in ipairs({
      { "[serve]\nprot = 80\n", ":2: %[serve%] prot: not a setting of 'sceplab serve' %(one of " },
      { "[serve]\nport = eighty\n", ":2: port = eighty: " },
      { "[timeline]\nmin-level = loud\n", ":2: min%-level = loud: one of verbose, info, warning, error, critical" },
      { "[serve]\nchallenge = s3cret\n", ":2: challenge: a secret does not belong in a configuration file" },
      { "just words\n", ":1: expected key = value or %[command%]" },
      { "bind = 0.0.0.0\n", ":1: bind: not a setting for every command" },
    }) do
      local f = h.write(dir .. "/bad.conf", case[1])
      local cmd = case[1]:match("^%[(%w+)%]") or "serve"
      local code, _, err = h.sceplab({ "config", "show", cmd, "--config", f })
      assert.are.equal(3, code, case[1] .. err)
      assert.matches("^sceplab: " .. f:gsub("%p", "%%%0") .. case[2], err)
      assert.are.equal(1, #h.lines(err), err)
    end
    local code, _, err = h.sceplab({ "decode", "--config", dir .. "/missing.conf", h.fixture("decode/device.pem") })
    assert.are.equal(3, code)
    assert.matches("missing%.conf: no such file", err)
  end)
end)
