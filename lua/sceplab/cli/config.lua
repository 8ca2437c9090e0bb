-- Configuration files: what a flag sets, written down once. INI, one setting a line:
--
--   # /etc/sceplab/sceplab.conf
--   color = never              # before any section: every command that has the option
--   [serve]                    # a command; [ca] covers ca init, ca list, ...; [ca list] one of them
--   bind = 0.0.0.0
--   policy = /etc/sceplab/policy.lua
--   set = challenge=s3cret     # a repeatable option: one line each
--
-- Files: /etc/sceplab/sceplab.conf, then $XDG_CONFIG_HOME/sceplab/sceplab.conf (else
-- ~/.config/...), a later one overriding an earlier; --config FILE (or SCEPLAB_CONFIG) replaces
-- both. Precedence: the flag, then the environment variable the command reads, then the files,
-- then the built-in default. Keys are the command's long option names; secrets are refused (they
-- belong in the environment, which stays out of ps and out of world-readable files).
local util = require "sceplab.cli.util"

local M = {}
local EXIT, stderr, find_command = util.EXIT, util.stderr, util.find_command

M.SYSTEM = "/etc/sceplab/sceplab.conf"

--- Keys before any section: applied to every command that has the option.
M.GLOBAL_KEYS = { color = true, quiet = true, tz = true, dir = true, db = true, playbooks = true }

--- Options whose value a command takes from an environment variable when the flag is not given.
M.ENV = { dir = "SCEPLAB_STATE", db = "SCEPLAB_DB", playbooks = "SCEPLAB_PLAYBOOKS" }

-- Options that are no setting: what one run reads, writes or does, and secrets.
local NOT_SETTINGS = {
  help = true, config = true, version = true, json = true, jsonl = true, list = true, check = true,
  ["explain-format"] = true, from = true, output = true, out = true, ["key-out"] = true, ["cert-out"] = true,
  ["chain-out"] = true, key = true, ["key-pass"] = true, resume = true, activate = true, token = true,
  challenge = true, ["worker"] = true, ["worker-out"] = true, ["worker-from"] = true, ["worker-to"] = true,
  ["worker-delay"] = true, ["worker-interval"] = true, ["worker-retry"] = true, ["worker-save"] = true, save = true, ["request-id"] = true, ["issued-at"] = true,
}
local SECRETS = { challenge = "SCEPLAB_CHALLENGE", ["key-pass"] = "a key file without a passphrase, mode 0600",
                  ["admin-password"] = "SCEPLAB_ADMIN_PASSWORD" }

--- The files read, in order: {path, ...}.
function M.files(explicit)
  explicit = explicit or os.getenv("SCEPLAB_CONFIG")
  if explicit and explicit ~= "" then return { explicit }, true end
  local xdg = os.getenv("XDG_CONFIG_HOME")
  if not xdg or xdg == "" then
    local home = os.getenv("HOME")
    xdg = home and home ~= "" and (home .. "/.config") or nil
  end
  local list = { M.SYSTEM }
  if xdg then list[#list + 1] = xdg .. "/sceplab/sceplab.conf" end
  return list, false
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

--- Parses one file's text: {sections = {[name] = {{key, value, where}, ...}}, order = {name...}}
-- | nil, message naming file:line.
function M.parse(text, file)
  local conf = { sections = {}, order = {} }
  local section = ""
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("\r$", "")
    if n == 1 then line = line:gsub("^\239\187\191", "") end -- a UTF-8 BOM from a Windows editor
    local s = trim(line)
    if s ~= "" and not s:match("^[#;]") then
      local name, rest = s:match("^%[%s*(.-)%s*%](.*)$")
      if name and not (rest == "" or rest:match("^%s*[#;]")) then
        return nil, ("%s:%d: [%s]: text after the section's name"):format(file, n, name)
      end
      if name then
        if not name:match("^[%w%-_ ]+$") then
          return nil, ("%s:%d: [%s]: expected a command name, such as [serve] or [ca list]"):format(file, n, name)
        end
        section = name:gsub("%s+", " ")
      else
        local key, value = s:match("^([%w%-_]+)%s*=%s*(.-)$")
        if not key then
          return nil, ("%s:%d: expected key = value or [command]"):format(file, n)
        end
        -- a comment after a value needs the space before it, so a # inside a value stays
        value = trim(value:gsub("%s+[#;].*$", ""))
        if #value >= 2 and value:match('^".*"$') then value = value:sub(2, -2) end
        key = key:lower():gsub("_", "-")
        if SECRETS[key] then
          return nil, ("%s:%d: %s: a secret does not belong in a configuration file (use %s)"):format(file, n, key, SECRETS[key])
        end
        if not conf.sections[section] then
          conf.sections[section] = {}
          conf.order[#conf.order + 1] = section
        end
        table.insert(conf.sections[section], { key = key, value = value, where = ("%s:%d"):format(file, n) })
      end
    end
  end
  return conf
end

--- Reads the configuration: {files = {{path, read = bool, why?}}, entries = {section = {...}}}
-- | nil, message. A missing default file is fine; a missing --config file is not.
function M.load(explicit)
  local sys = require "sceplab.core.sys"
  local paths, named = M.files(explicit)
  local out = { files = {}, sections = {}, order = {} }
  for _, path in ipairs(paths) do
    local kind = sys.kind(path)
    if not kind then
      if named then return nil, ("%s: no such file (--config or SCEPLAB_CONFIG)"):format(path) end
      out.files[#out.files + 1] = { path = path, read = false, why = "not present" }
    elseif kind ~= "file" then
      return nil, ("%s: not a file (a configuration file is key = value lines)"):format(path)
    else
      local text, err = sys.read_file(path, 1 << 20)
      if not text then return nil, err end
      local conf, perr = M.parse(text, path)
      if not conf then return nil, perr end
      out.files[#out.files + 1] = { path = path, read = true }
      for _, name in ipairs(conf.order) do
        if not out.sections[name] then
          out.sections[name] = {}
          out.order[#out.order + 1] = name
        end
        for _, e in ipairs(conf.sections[name]) do table.insert(out.sections[name], e) end
      end
    end
  end
  return out
end

--- The long name of an argparse option ("tls-cert" for --tls-cert), or nil for a short-only one.
function M.long_name(opt)
  for _, alias in ipairs(opt._aliases) do
    if alias:sub(1, 2) == "--" then return alias:sub(3) end
  end
end

--- The result-table key argparse stores an option under.
function M.target(opt)
  return opt._target or opt:_get_default_target()
end

--- True when argv gives the option (any alias, --name=value and -oVALUE forms), before "--".
function M.given(argv, opt)
  for _, a in ipairs(argv) do
    if a == "--" then return false end
    for _, alias in ipairs(opt._aliases) do
      if a == alias or (alias:sub(1, 2) == "--" and a:sub(1, #alias + 1) == alias .. "=") then return true end
      if alias:sub(1, 2) ~= "--" and a:sub(1, 1) == "-" and a:sub(2, 2) ~= "-" and a:find(alias:sub(2, 2), 2, true) then
        return true -- short flags bundled (-vq) or a value glued on (-ofile)
      end
    end
  end
  return false
end

--- Whether an option can be set in a file.
function M.settable(opt)
  local name = M.long_name(opt)
  return name ~= nil and not NOT_SETTINGS[name] and not opt._hidden
end

local function boolean(v)
  v = v:lower()
  if v == "true" or v == "yes" or v == "on" or v == "1" then return true end
  if v == "false" or v == "no" or v == "off" or v == "0" then return false end
end

-- A file's text for option opt, converted and checked as argparse would: value | nil, why.
local function convert(opt, text)
  if opt._maxargs == 0 then
    local b = boolean(text)
    if b == nil then return nil, "expected true or false" end
    return b
  end
  if opt._choices then
    local ok = false
    for _, c in ipairs(opt._choices) do ok = ok or c == text end
    if not ok then return nil, "one of " .. table.concat(opt._choices, ", ") end
  end
  local conv = opt._convert
  if type(conv) == "function" then
    local v, why = conv(text)
    if v == nil then return nil, why or "malformed value" end
    return v
  end
  return text
end

-- The sections that apply to a command path ({"ca", "list"}), most specific first, then "".
local function sections_for(path)
  local out = {}
  for i = #path, 1, -1 do out[#out + 1] = table.concat(path, " ", 1, i) end
  out[#out + 1] = ""
  return out
end

--- Where an option of the command at path gets its value when the flag is absent: the env var
-- name, or the file entries (last one wins; all of them for a repeatable option).
local function file_entries(conf, path, name)
  for _, sec in ipairs(sections_for(path)) do
    local found = {}
    if sec ~= "" or M.GLOBAL_KEYS[name] then
      for _, e in ipairs(conf.sections[sec] or {}) do
        if e.key == name then found[#found + 1] = e end
      end
    end
    if #found > 0 then return found end
  end
end

-- The settable options of a command and of every command under it ([ca] covers ca init, ca
-- list, ...): {name = option}.
local function options_under(parser, into)
  into = into or {}
  for _, opt in ipairs(parser._options) do
    local name = M.long_name(opt)
    if name and M.settable(opt) and not into[name] then into[name] = opt end
  end
  for _, c in ipairs(parser._commands or {}) do options_under(c, into) end
  return into
end

--- Checks every entry of the sections that apply to the command (cmd: its argparse parser; a
-- section of a parent command is checked against the options of the commands under it): unknown
-- keys and bad values are errors naming file:line. Returns true | nil, message.
function M.check(conf, path, cmd)
  local node, own = cmd, options_under(cmd)
  for _, sec in ipairs(sections_for(path)) do
    local allowed = sec ~= "" and options_under(node) or {}
    for _, e in ipairs(conf.sections[sec] or {}) do
      if sec == "" then
        if not M.GLOBAL_KEYS[e.key] then
          return nil, ("%s: %s: not a setting for every command (put it under a [command] section; before any: %s)")
            :format(e.where, e.key, table.concat(M.sorted_keys(M.GLOBAL_KEYS), ", "))
        end
        if own[e.key] then
          local _, why = convert(own[e.key], e.value)
          if why then return nil, ("%s: %s = %s: %s"):format(e.where, e.key, e.value, why) end
        end
      else
        local opt = allowed[e.key]
        if not opt then
          local known = M.sorted_keys(allowed)
          return nil, ("%s: [%s] %s: not a setting of 'sceplab %s' (%s)"):format(e.where, sec, e.key, sec,
            #known > 0 and ("one of " .. table.concat(known, ", ")) or "it has none")
        end
        local _, why = convert(opt, e.value)
        if why then return nil, ("%s: %s = %s: %s"):format(e.where, e.key, e.value, why) end
      end
    end
    if sec ~= "" then node = node._parent or node end
  end
  return true
end

function M.sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

--- Fills args with the files' values for the options of cmd that argv does not give and whose
-- environment variable is unset. Returns true | nil, message.
function M.apply(conf, path, cmd, args, argv)
  local ok, err = M.check(conf, path, cmd)
  if not ok then return nil, err end
  for _, opt in ipairs(cmd._options) do
    local name = M.long_name(opt)
    if name and M.settable(opt) and not M.given(argv, opt) and not (M.ENV[name] and os.getenv(M.ENV[name])) then
      local entries = file_entries(conf, path, name)
      if entries then
        local target = M.target(opt)
        if opt._maxcount ~= 1 then
          local list = {}
          for _, e in ipairs(entries) do list[#list + 1] = (convert(opt, e.value)) end
          args[target] = list
        else
          args[target] = (convert(opt, entries[#entries].value))
        end
      end
    end
  end
  return true
end

--- Every setting of the command at path with its effective value and where it comes from
-- (environment, file:line, default): {{key, value, source}}.
function M.effective(conf, path, cmd)
  local rows = {}
  for _, opt in ipairs(cmd._options) do
    local name = M.long_name(opt)
    if name and M.settable(opt) then
      local row = { key = name }
      local entries = file_entries(conf, path, name)
      if M.ENV[name] and os.getenv(M.ENV[name]) then
        row.value, row.source = os.getenv(M.ENV[name]), "environment " .. M.ENV[name]
      elseif entries then
        local vals, wheres = {}, {}
        for i = opt._maxcount ~= 1 and 1 or #entries, #entries do
          vals[#vals + 1] = entries[i].value
          wheres[#wheres + 1] = entries[i].where
        end
        row.value, row.source = table.concat(vals, ", "), table.concat(wheres, ", ")
      else
        local d = opt._default
        if opt._maxargs == 0 then d = "false" end
        row.value, row.source = d ~= nil and tostring(d) or "", "default"
      end
      rows[#rows + 1] = row
    end
  end
  return rows
end

--- `sceplab config show [COMMAND]`: the files read and the settings they hold, each checked against
-- its command, or every setting of one command and where its value comes from (p: the full parser).
function M.show(p, args, conf)
  local doc = { files = conf.files }
  if #args.for_command > 0 then
    local cmd, unknown = find_command(p, args.for_command)
    if not cmd then
      stderr("config show: no command '%s' (sceplab help lists them)", unknown)
      return EXIT.usage
    end
    if #cmd._commands > 0 then
      local subs = {}
      for _, c in ipairs(cmd._commands) do subs[#subs + 1] = c._name end
      stderr("config show %s: name one of its commands (%s)", table.concat(args.for_command, " "), table.concat(subs, ", "))
      return EXIT.usage
    end
    local ok, err = M.check(conf, args.for_command, cmd)
    if not ok then stderr("%s", err) return EXIT.input end
    doc.command = table.concat(args.for_command, " ")
    doc.settings = M.effective(conf, args.for_command, cmd)
  else
    -- every section in the files, each checked against its command
    doc.sections = {}
    for _, name in ipairs(conf.order) do
      local words = {}
      for w in name:gmatch("%S+") do words[#words + 1] = w end
      if #words > 0 then
        local cmd, unknown = find_command(p, words)
        if not cmd then
          stderr("%s: [%s]: no command '%s' (sceplab help lists them)", conf.sections[name][1].where, name, unknown)
          return EXIT.input
        end
        local ok, err = M.check({ sections = { [name] = conf.sections[name] } }, words, cmd)
        if not ok then stderr("%s", err) return EXIT.input end
      else
        for _, e in ipairs(conf.sections[name]) do
          if not M.GLOBAL_KEYS[e.key] then
            stderr("%s: %s: not a setting for every command (before any section: %s)", e.where, e.key,
              table.concat(M.sorted_keys(M.GLOBAL_KEYS), ", "))
            return EXIT.input
          end
        end
      end
      local entries = {}
      for _, e in ipairs(conf.sections[name]) do entries[#entries + 1] = { key = e.key, value = e.value, source = e.where } end
      doc.sections[#doc.sections + 1] = { name = name, settings = entries }
    end
  end
  if args.format == "json" then
    local json = require "sceplab.json"
    for _, f in ipairs(doc.files) do f.why = f.why end
    io.stdout:write(json.encode(doc), "\n")
    return EXIT.ok
  end
  local out = {}
  for _, f in ipairs(doc.files) do out[#out + 1] = ("# %s%s"):format(f.path, f.read and "" or (" (" .. f.why .. ")")) end
  local function rows(list)
    local w = 0
    for _, r in ipairs(list) do w = math.max(w, #r.key) end
    for _, r in ipairs(list) do
      out[#out + 1] = ("%-" .. w .. "s = %-30s # %s"):format(r.key, r.value ~= "" and r.value or "-", r.source)
    end
  end
  if doc.settings then
    out[#out + 1] = ("[%s]"):format(doc.command)
    rows(doc.settings)
  else
    for _, sec in ipairs(doc.sections) do
      if sec.name ~= "" then out[#out + 1] = ("[%s]"):format(sec.name) end
      rows(sec.settings)
    end
    if #doc.sections == 0 then out[#out + 1] = "# no settings: every command runs with its defaults" end
    out[#out + 1] = "# every setting of a command, and where its value comes from: sceplab config show COMMAND"
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
  return EXIT.ok
end

return M
