-- What the command modules (cli/*.lua) share with the CLI's entry point (cli/init.lua): the exit
-- codes, the run's global settings, one-line messages on stderr, progress, the checks of what a
-- user types (URLs, hex values), reading an input, and walking the parser. The entry point and
-- the commands both require this module; it requires neither.
local M = {}

M.EXIT = { ok = 0, failed = 1, usage = 2, input = 3, network = 4, internal = 70 }

--- The run's global settings (--quiet, --color, --config), after flags, files and defaults.
M.opts = { quiet = false, color = "auto" }

--- What the engine says about itself ({version, commit, ...}), set by cli.main.
M.host = {}

--- One line on stderr, prefixed "sceplab: " (the command modules use it too). What it names (a
-- file, a line of a log) is shown with control characters escaped, on one line.
local function stderr(fmt, ...)
  local visible = (require "sceplab.core.codec").visible
  io.stderr:write("sceplab: ", (visible(fmt:format(...)):gsub("\n", " ")), "\n")
end
M.stderr = stderr

--- A note on stderr (what was assumed, what was skipped): one line, unless --quiet.
function M.note(fmt, ...)
  if not M.opts.quiet then stderr(fmt, ...) end
end

--- Whether text written to fd (1 stdout, 2 stderr) gets colours: --color always|never, else a
-- terminal with NO_COLOR unset (https://no-color.org) and TERM other than dumb.
function M.colour(fd)
  local c = M.opts.color or "auto"
  if c == "always" then return true end
  if c == "never" then return false end
  if (os.getenv("NO_COLOR") or "") ~= "" or os.getenv("TERM") == "dumb" then return false end
  return (require "sceplab.core.sys").isatty(fd or 1)
end

--- Whether a progress line may be drawn on stderr: a terminal, and not --quiet.
function M.progress()
  return not M.opts.quiet and (require "sceplab.core.sys").isatty(2)
end

--- Tells the log readers' progress line how much the paths hold, so it shows a total and a
-- percentage; left unknown when a zip is among them (what is read there is what it unpacks).
function M.progress_total(paths)
  local sys = require "sceplab.core.sys"
  local total = 0
  for _, p in ipairs(paths) do
    local n, zip = sys.du(p)
    if not n or zip then total = 0 break end
    total = total + n
  end
  (require "sceplab.core.logs").progress_total(total)
end

--- A URL the HTTP client can use: url | nil, one line saying what is wrong with it (what names
-- the option or argument). A usage mistake, caught before anything is sent.
function M.check_url(url, what)
  local shown = (require "sceplab.core.codec").visible(tostring(url)):sub(1, 120)
  local scheme, rest = tostring(url):match("^(%a[%w+.%-]*)://(.*)$")
  if not scheme then
    return nil, ("%s '%s': not a URL (expected http://HOST/PATH or https://HOST/PATH, such as https://ndes.contoso.com/certsrv/mscep/mscep.dll)"):format(what, shown)
  end
  if scheme:lower() ~= "http" and scheme:lower() ~= "https" then
    return nil, ("%s '%s': %s:// is not HTTP (SCEP runs over http:// or https://)"):format(what, shown, scheme)
  end
  if url:find("[%s%c]") then
    return nil, ("%s '%s': a space or control character in a URL (percent-encode it: %%20)"):format(what, shown)
  end
  local host, port = rest:match("^%[([%x:.]+)%](.*)$")
  if not host then host, port = rest:match("^([^/?#:@]+)(.*)$") end
  if not host or host == "" then return nil, ("%s '%s': no host name"):format(what, shown) end
  port = port and port:match("^:([^/?#]*)")
  if port and (not port:match("^%d+$") or tonumber(port) < 1 or tonumber(port) > 65535) then
    return nil, ("%s '%s': port '%s' is not 1..65535"):format(what, shown, port)
  end
  return url
end

--- A hexadecimal value (colons, spaces and dashes between digits allowed, as copied from
-- certificate dialogs): upper-case digits | nil, message. lengths: accepted digit counts.
function M.check_hex(value, what, lengths, names)
  local v = tostring(value)
  local digits = v:gsub("[:%s%-]", "")
  local shown = (require "sceplab.core.codec").visible(v):sub(1, 80)
  if digits == "" or digits:find("%X") then
    return nil, ("%s '%s': not hexadecimal"):format(what, shown)
  end
  if lengths then
    local ok = false
    for _, n in ipairs(lengths) do ok = ok or #digits == n end
    if not ok then
      return nil, ("%s '%s': %d hex digits, expected %s"):format(what, shown, #digits, names or table.concat(lengths, " or "))
    end
  end
  return digits:upper()
end

--- Reads a file, or standard input for "-", of at most `limit` bytes (default: what the decoders
-- accept, 64 MiB); returns bytes | nil, message. The limit holds while reading, so a 3 GB file, a
-- pipe or /dev/zero costs at most the limit in memory before the refusal.
function M.read_input(path, limit)
  return (require "sceplab.core.sys").read_file(path, limit or (require "sceplab.core.decode").max_input)
end

--- The option of cmd with the alias given (--format), or nil.
local function find_option(cmd, alias)
  for _, o in ipairs(cmd._options) do
    for _, a in ipairs(o._aliases) do
      if a == alias then return o end
    end
  end
end
M.find_option = find_option


--- Calls fn(cmd, path) for every command under parser (path: the words naming it).
local function each_command(parser, fn, path)
  path = path or {}
  for _, c in ipairs(parser._commands) do
    local sub = { table.unpack(path) }
    sub[#sub + 1] = c._name
    fn(c, sub)
    each_command(c, fn, sub)
  end
end
M.each_command = each_command

--- The command named by words ({"ca", "list"}) in parser p | nil, the first unknown word.
local function find_command(p, words)
  local c = p
  for _, w in ipairs(words) do
    local found
    for _, sub in ipairs(c._commands) do
      if sub._name == w and not sub._hidden then found = sub end
    end
    if not found then return nil, w end
    c = found
  end
  return c
end
M.find_command = find_command

return M
