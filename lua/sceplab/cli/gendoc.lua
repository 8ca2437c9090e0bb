-- Man pages and shell completions, generated from the argparse parser the CLI parses with and
-- prints its help from, so neither can drift from the options a command takes. The build runs
-- `sceplab __generate man|bash|zsh OUT` (src/CMakeLists.txt); tests/spec/install_spec.lua
-- regenerates them and compares with what the build installed, and with `sceplab help`.
local util = require "sceplab.cli.util"

local M = {}

-- What an option's or argument's value is, for completion: a file, a directory, or a bundled
-- name (completed from the installed tree). Keyed by long option name or argument name.
M.VALUE_KIND = {
  key = "file", ["key-out"] = "file", ["cert-out"] = "file", ["chain-out"] = "file", cert = "file", out = "file",
  output = "file", cacert = "file", root = "file", profile = "file", state = "file", resume = "file",
  config = "file", ["tls-cert"] = "file", ["tls-key"] = "file", token = "file", from = "file", policy = "file",
  input = "file", script = "file", paths = "file", scenario = "file",
  trace = "dir", dir = "dir", playbooks = "dir", bundle = "dir", keys = "dir",
}

local function visible(c) return not c._hidden end

-- Each public command with its path: {{cmd, path = {"ca", "list"}}, ...}, depth first.
local function commands(p)
  local out = {}
  util.each_command(p, function(c, path)
    for i = 1, #path do
      -- a hidden command hides what is under it
      local node = p
      for j = 1, i do
        for _, s in ipairs(node._commands) do if s._name == path[j] then node = s end end
      end
      if node._hidden then return end
    end
    out[#out + 1] = { cmd = c, path = path }
  end)
  return out
end

local function long_name(o)
  for _, a in ipairs(o._aliases) do if a:sub(1, 2) == "--" then return a:sub(3) end end
  return o._name:gsub("^%-+", "")
end

local function value_kind(name)
  return M.VALUE_KIND[name]
end

local function public_options(c)
  local out = {}
  for _, o in ipairs(c._options) do
    if not o._hidden then out[#out + 1] = o end
  end
  return out
end

local function public_commands(c)
  local out = {}
  for _, s in ipairs(c._commands) do if visible(s) then out[#out + 1] = s end end
  return out
end

-- The first sentence of a description, for NAME lines and completion menus.
local function summary(text)
  text = (text or ""):gsub("%s+", " ")
  local first = text:match("^(.-%.)%s") or text
  return (first:gsub("%.$", ""))
end

-- roff: backslashes, dashes of options, and lines that would start a request.
local function roff(s)
  s = tostring(s or ""):gsub("\\", "\\e"):gsub("%-", "\\-")
  return (s:gsub("\n([.'])", "\n\\&%1"):gsub("^([.'])", "\\&%1"))
end

local function usage_lines(c)
  local u = c:get_usage():gsub("^Usage: ", "")
  local out = {}
  for line in (u .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = (line:gsub("^%s+", "")) end
  return out
end

local function option_label(o)
  local parts = {}
  for _, a in ipairs(o._public_aliases) do parts[#parts + 1] = "\\fB" .. roff(a) .. "\\fR" end
  local label = table.concat(parts, ", ")
  local args = o:_get_argument_list()
  if #args > 0 then label = label .. " \\fI" .. roff(table.concat(args, " ")) .. "\\fR" end
  return label
end

local function option_text(o)
  local d = o._description or ""
  if o._default ~= nil and o._maxargs > 0 and not d:find("default", 1, true) then
    d = d .. (" (default: %s)"):format(tostring(o._default))
  end
  if o._maxcount and o._maxcount > 1 and not d:lower():find("repeatable", 1, true) then d = d .. " Repeatable." end
  return d
end

-- The OPTIONS block of one command: arguments, then options.
local function options_section(c, out)
  for _, a in ipairs(c._arguments) do
    out[#out + 1] = ".TP"
    out[#out + 1] = "\\fI" .. roff(table.concat(a:_get_argument_list(), " ")) .. "\\fR"
    out[#out + 1] = roff(a._description or "")
  end
  for _, o in ipairs(public_options(c)) do
    out[#out + 1] = ".TP"
    out[#out + 1] = option_label(o)
    out[#out + 1] = roff(option_text(o))
  end
end

local EXIT_STATUS = {
  { "0", "success" },
  { "1", "the operation ran and reports a failure (an enrollment refused, a diagnosis with errors)" },
  { "2", "usage: an unknown command or option, a missing or malformed argument" },
  { "3", "unreadable or invalid input: a file that cannot be read or is not what it claims" },
  { "4", "network or transport failure" },
  { "70", "internal error: a bug in sceplab; report it with the command line and sceplab --version" },
}

local ENVIRONMENT = {
  { "SCEPLAB_CHALLENGE", "The challenge password of enroll and bench, and the static policy's of serve; kept out of ps and of configuration files." },
  { "SCEPLAB_STATE", "The state directory of serve, ca and intune (default ./sceplab-state); overrides the configuration file." },
  { "SCEPLAB_DB", "The CA's database of serve, ca and intune: a postgresql:// URL (default: ca.db in the state directory); overrides the configuration file." },
  { "SCEPLAB_PLAYBOOKS", "Colon-separated directories of playbooks for diagnose and playbooks, before --playbooks." },
  { "SCEPLAB_CONFIG", "A configuration file to read instead of the default ones (as --config)." },
  { "SCEPLAB_ADMIN_PASSWORD", "The password of serve's NDES admin page (--admin-user)." },
  { "SCEPLAB_INTUNE_CLIENT_SECRET", "The Entra ID app's client secret: serve --policy intune-api, intune token --client-id, and the secret intune cloud accepts." },
  { "SCEPLAB_INTUNE_PROXY_PASSWORD", "The password of serve --policy intune-api's proxy (--set proxy_user)." },
  { "SCEPLAB_INTUNE_KEY_PASSWORD", "The password of an encrypted --set client_key (serve --policy intune-api)." },
  { "SCEPLAB_LUA_PATH", "A Lua tree to run instead of the installed one (development)." },
  { "NO_COLOR", "When set and not empty, no colours unless --color always." },
  { "XDG_CONFIG_HOME", "Where the user's configuration file is (default ~/.config)." },
}

local function header(name, title)
  return {
    ('.\\" Generated by sceplab __generate man from the command line parser; do not edit.'),
    ('.TH %s 1 "" "sceplab %s" "User Commands"'):format(roff(name:upper()), roff(util.host and util.host.version or "")),
    ".SH NAME",
    ("%s \\- %s"):format(roff(name), roff(title)),
  }
end

local function common_tail(out, see)
  out[#out + 1] = ".SH EXIT STATUS"
  for _, e in ipairs(EXIT_STATUS) do
    out[#out + 1] = ".TP"
    out[#out + 1] = "\\fB" .. e[1] .. "\\fR"
    out[#out + 1] = roff(e[2])
  end
  out[#out + 1] = ".SH SEE ALSO"
  out[#out + 1] = roff(table.concat(see, ", "))
  out[#out + 1] = "and the documentation in \\fI/usr/share/doc/sceplab\\fR (cli.md, playbooks.md, policies.md, deploy.md)."
end

--- The page of one top-level command: its usage, description, options, and its sub-commands'.
function M.man_command(c)
  local name = "sceplab-" .. c._name
  local out = header(name, summary(c._description))
  out[#out + 1] = ".SH SYNOPSIS"
  out[#out + 1] = ".nf"
  local subs = public_commands(c)
  local list = #subs > 0 and subs or { c }
  for _, s in ipairs(list) do
    for _, line in ipairs(usage_lines(s)) do out[#out + 1] = roff(line) end
  end
  out[#out + 1] = ".fi"
  out[#out + 1] = ".SH DESCRIPTION"
  out[#out + 1] = roff(c._description or "")
  if #subs == 0 then
    out[#out + 1] = ".SH OPTIONS"
    options_section(c, out)
  else
    out[#out + 1] = ".SH COMMANDS"
    for _, s in ipairs(subs) do
      out[#out + 1] = ".SS " .. roff(c._name .. " " .. s._name)
      out[#out + 1] = roff(s._description or "")
      local subsubs = public_commands(s)
      if #subsubs > 0 then
        for _, ss in ipairs(subsubs) do
          out[#out + 1] = ".TP"
          out[#out + 1] = "\\fB" .. roff(ss._name) .. "\\fR"
          out[#out + 1] = roff(ss._description or "")
        end
      else
        options_section(s, out)
      end
    end
  end
  common_tail(out, { "sceplab(1)" })
  return table.concat(out, "\n") .. "\n"
end

--- sceplab(1): the commands, the global options, files and environment.
function M.man_main(p)
  local out = header("sceplab", summary(p._description))
  out[#out + 1] = ".SH SYNOPSIS"
  out[#out + 1] = ".nf"
  out[#out + 1] = "\\fBsceplab\\fR [\\fB\\-\\-config\\fR \\fIFILE\\fR] [\\fB\\-q\\fR] [\\fB\\-\\-color\\fR \\fIWHEN\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]"
  out[#out + 1] = "\\fBsceplab help\\fR [\\fICOMMAND\\fR]"
  out[#out + 1] = "\\fBsceplab \\-\\-version\\fR"
  out[#out + 1] = ".fi"
  out[#out + 1] = ".SH DESCRIPTION"
  out[#out + 1] = roff(p._description or "")
  out[#out + 1] = ".PP"
  out[#out + 1] = roff("Every command prints errors as one line on standard error, naming the file, line or field; "
    .. "text output is for people, --format json (or --json) for scripts.")
  out[#out + 1] = ".SH COMMANDS"
  local see = {}
  for _, c in ipairs(public_commands(p)) do
    out[#out + 1] = ".TP"
    out[#out + 1] = ("\\fB%s\\fR"):format(roff(c._name))
    out[#out + 1] = roff(summary(c._description) .. ".") .. (c._name ~= "help" and (" See \\fBsceplab\\-" .. roff(c._name) .. "\\fR(1).") or "")
    if c._name ~= "help" then see[#see + 1] = "sceplab-" .. c._name .. "(1)" end
  end
  out[#out + 1] = ".SH GLOBAL OPTIONS"
  out[#out + 1] = "Every command takes them, before or after its name."
  for _, o in ipairs(public_options(p)) do
    out[#out + 1] = ".TP"
    out[#out + 1] = option_label(o)
    out[#out + 1] = roff(option_text(o))
  end
  out[#out + 1] = ".SH FILES"
  out[#out + 1] = ".TP"
  out[#out + 1] = "\\fI/etc/sceplab/sceplab.conf\\fR"
  out[#out + 1] = roff("The system's settings, then the user's in $XDG_CONFIG_HOME/sceplab/sceplab.conf: "
    .. "key = value lines under [command] sections, a key being a long option of that command (bind, port, "
    .. "policy, dir, playbooks, format, tz, ...). A flag overrides the environment, which overrides the files, "
    .. "which override the defaults; sceplab config show prints each setting and where it comes from.")
  out[#out + 1] = ".TP"
  out[#out + 1] = "\\fI/var/lib/sceplab\\fR"
  out[#out + 1] = roff("The state directory of the sceplab-serve service (systemd StateDirectory): the CA, its database and the IIS-style logs.")
  out[#out + 1] = ".SH ENVIRONMENT"
  for _, e in ipairs(ENVIRONMENT) do
    out[#out + 1] = ".TP"
    out[#out + 1] = "\\fB" .. roff(e[1]) .. "\\fR"
    out[#out + 1] = roff(e[2])
  end
  table.sort(see)
  common_tail(out, see)
  return table.concat(out, "\n") .. "\n"
end

--- The man pages: {file name = text}.
function M.man_pages(p)
  local pages = { ["sceplab.1"] = M.man_main(p) }
  for _, c in ipairs(public_commands(p)) do
    if c._name ~= "help" then pages["sceplab-" .. c._name .. ".1"] = M.man_command(c) end
  end
  return pages
end

-- Shell words: single-quoted.
local function sq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- The bash completion script: tables of each command's sub-commands, options, options taking a
-- value, their choices and whether they name files or directories, and one function reading them.
function M.bash(p)
  local out = {
    "# bash completion for sceplab. Generated by `sceplab __generate bash` from the command line",
    "# parser; do not edit.",
    "declare -gA _sceplab_cmds _sceplab_opts _sceplab_valued _sceplab_choices _sceplab_kind",
  }
  local function emit(c, key)
    local subs, opts, valued = {}, {}, {}
    for _, s in ipairs(public_commands(c)) do subs[#subs + 1] = s._name end
    for _, o in ipairs(public_options(c)) do
      for _, a in ipairs(o._public_aliases) do opts[#opts + 1] = a end
      if o._maxargs > 0 then
        for _, a in ipairs(o._public_aliases) do
          valued[#valued + 1] = a
          if o._choices then out[#out + 1] = ("_sceplab_choices[%s]=%s"):format(sq(key .. "|" .. a), sq(table.concat(o._choices, " "))) end
          local kind = value_kind(long_name(o))
          if kind then out[#out + 1] = ("_sceplab_kind[%s]=%s"):format(sq(key .. "|" .. a), kind) end
        end
      end
    end
    for _, a in ipairs(c._arguments) do
      if a._choices then out[#out + 1] = ("_sceplab_choices[%s]=%s"):format(sq(key .. "|"), sq(table.concat(a._choices, " "))) end
      local kind = value_kind(a._name)
      if kind then out[#out + 1] = ("_sceplab_kind[%s]=%s"):format(sq(key .. "|"), kind) end
    end
    out[#out + 1] = ("_sceplab_cmds[%s]=%s"):format(sq(key), sq(table.concat(subs, " ")))
    out[#out + 1] = ("_sceplab_opts[%s]=%s"):format(sq(key), sq(table.concat(opts, " ")))
    out[#out + 1] = ("_sceplab_valued[%s]=%s"):format(sq(key), sq(" " .. table.concat(valued, " ") .. " "))
  end
  -- keys: the command path with the program name (bash refuses an empty key)
  emit(p, "sceplab")
  for _, e in ipairs(commands(p)) do emit(e.cmd, "sceplab " .. table.concat(e.path, " ")) end
  -- `sceplab help TOPIC`: the topic is a command
  local names = {}
  for _, c in ipairs(public_commands(p)) do names[#names + 1] = c._name end
  out[#out + 1] = ("_sceplab_choices['sceplab help|']=%s"):format(sq(table.concat(names, " ")))
  out[#out + 1] = [==[
_sceplab() {
    local cur=${COMP_WORDS[COMP_CWORD]} path=sceplab i w prev="" key
    COMPREPLY=()
    # the command path: the words naming (sub-)commands, stepping over options and their values
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $prev == -* && ${_sceplab_valued[$path]} == *" $prev "* && $prev != *=* ]]; then
            prev=""
            continue
        fi
        prev=$w
        if [[ $w != -* ]]; then
            key="$path $w"
            if [[ " ${_sceplab_cmds[$path]} " == *" $w "* ]]; then
                path=$key
                prev=""
            fi
        fi
    done
    prev=${COMP_WORDS[COMP_CWORD-1]}
    # the value of an option
    if [[ $COMP_CWORD -gt 1 && $prev == -* && ${_sceplab_valued[$path]} == *" $prev "* ]]; then
        key="$path|$prev"
        if [[ -n ${_sceplab_choices[$key]} ]]; then
            COMPREPLY=($(compgen -W "${_sceplab_choices[$key]}" -- "$cur"))
        elif [[ ${_sceplab_kind[$key]} == dir ]]; then
            COMPREPLY=($(compgen -d -- "$cur"))
        else
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
        return 0
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${_sceplab_opts[$path]}" -- "$cur"))
    elif [[ -n ${_sceplab_cmds[$path]} ]]; then
        COMPREPLY=($(compgen -W "${_sceplab_cmds[$path]}" -- "$cur"))
    elif [[ -n ${_sceplab_choices[$path|]} ]]; then
        COMPREPLY=($(compgen -W "${_sceplab_choices[$path|]}" -- "$cur"))
    elif [[ ${_sceplab_kind[$path|]} == dir ]]; then
        COMPREPLY=($(compgen -d -- "$cur"))
    elif [[ ${_sceplab_kind[$path|]} == file ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
}
complete -o filenames -o bashdefault -F _sceplab sceplab]==]
  return table.concat(out, "\n") .. "\n"
end

-- zsh: brackets and colons end a description; quote it for _arguments' single-quoted specs.
local function zdesc(s)
  s = summary(s):gsub("[%[%]]", function(ch) return "\\" .. ch end):gsub(":", "\\:")
  return (s:gsub("'", "'\\''"))
end

local function zvalue(o, name)
  if o._choices then return ":" .. name .. ":(" .. table.concat(o._choices, " ") .. ")" end
  local kind = value_kind(name)
  if kind == "dir" then return ":" .. name .. ":_files -/" end
  if kind == "file" then return ":" .. name .. ":_files" end
  return ":" .. name .. ": "
end

--- The zsh completion function (#compdef sceplab): one function per command, _arguments each.
function M.zsh(p)
  local out = {
    "#compdef sceplab",
    "# zsh completion for sceplab. Generated by `sceplab __generate zsh` from the command line",
    "# parser; do not edit.",
  }
  local function fname(path) return "_sceplab" .. (#path > 0 and ("_" .. table.concat(path, "_"):gsub("[^%w_]", "_")) or "") end
  local function emit(c, path)
    local specs = {}
    for _, o in ipairs(public_options(c)) do
      local name = long_name(o)
      local rep = o._maxcount and o._maxcount > 1 and "*" or ""
      local value = o._maxargs > 0 and zvalue(o, name) or ""
      if #o._public_aliases > 1 then
        local excl = "(" .. table.concat(o._public_aliases, " ") .. ")"
        specs[#specs + 1] = ("'%s'%s{%s}'[%s]%s'"):format(rep == "*" and "*" or excl, "",
          table.concat(o._public_aliases, ","), zdesc(o._description), value)
      else
        specs[#specs + 1] = ("'%s%s[%s]%s'"):format(rep, o._public_aliases[1], zdesc(o._description), value)
      end
    end
    local subs = public_commands(c)
    local body = { fname(path) .. "() {" }
    if #subs > 0 then
      body[#body + 1] = "  local curcontext=$curcontext state line"
      body[#body + 1] = "  typeset -A opt_args"
      body[#body + 1] = "  _arguments -C \\"
      for _, s in ipairs(specs) do body[#body + 1] = "    " .. s .. " \\" end
      body[#body + 1] = "    '1: :->command' '*:: :->args'"
      body[#body + 1] = "  case $state in"
      body[#body + 1] = "    command)"
      body[#body + 1] = "      local -a commands"
      body[#body + 1] = "      commands=("
      for _, s in ipairs(subs) do body[#body + 1] = ("        '%s:%s'"):format(s._name, zdesc(s._description)) end
      body[#body + 1] = "      )"
      body[#body + 1] = "      _describe -t commands 'sceplab command' commands ;;"
      body[#body + 1] = "    args)"
      body[#body + 1] = "      case $line[1] in"
      for _, s in ipairs(subs) do
        local sp = { table.unpack(path) }
        sp[#sp + 1] = s._name
        body[#body + 1] = ("        %s) %s ;;"):format(s._name, fname(sp))
      end
      body[#body + 1] = "      esac ;;"
      body[#body + 1] = "  esac"
    else
      local args = {}
      for _, a in ipairs(c._arguments) do
        local many = a._maxargs > 1
        local action = a._choices and ("(" .. table.concat(a._choices, " ") .. ")")
          or (value_kind(a._name) == "dir" and "_files -/") or (value_kind(a._name) == "file" and "_files") or " "
        args[#args + 1] = ("'%s:%s:%s'"):format(many and "*" or "", a._name, action)
      end
      body[#body + 1] = "  _arguments -s \\"
      for _, s in ipairs(specs) do body[#body + 1] = "    " .. s .. " \\" end
      for _, a in ipairs(args) do body[#body + 1] = "    " .. a .. " \\" end
      body[#body] = body[#body]:gsub(" \\$", "")
      if #specs + #args == 0 then body[#body + 1] = "    ''" end
    end
    body[#body + 1] = "}"
    for _, l in ipairs(body) do out[#out + 1] = l end
  end
  emit(p, {})
  for _, e in ipairs(commands(p)) do emit(e.cmd, e.path) end
  out[#out + 1] = '_sceplab "$@"'
  return table.concat(out, "\n") .. "\n"
end

local function write(path, text)
  local sys = require "sceplab.core.sys"
  local out, err = sys.reserve(path, false)
  if not out then return nil, err end
  return out:commit(text)
end

--- `sceplab __generate man DIR | bash FILE | zsh FILE`.
function M.run(p, what, dest)
  local sys = require "sceplab.core.sys"
  if what == "man" then
    if sys.kind(dest) ~= "directory" then
      local ok, err = sys.mkdir(dest)
      if not ok then util.stderr("%s", err) return 3 end
    end
    local names = {}
    for name in pairs(M.man_pages(p)) do names[#names + 1] = name end
    table.sort(names)
    local pages = M.man_pages(p)
    for _, name in ipairs(names) do
      local ok, err = write(dest .. "/" .. name, pages[name])
      if not ok then util.stderr("%s", err) return 3 end
    end
    return 0
  end
  local ok, err = write(dest, what == "bash" and M.bash(p) or M.zsh(p))
  if not ok then util.stderr("%s", err) return 3 end
  return 0
end

return M
