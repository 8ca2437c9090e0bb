-- The sceplab command line: the parser and the dispatch. src/cli/main.c boots the engine and calls
-- main(args, host). Exit codes (docs/cli.md): 0 success, 1 the operation reports a failure, 2
-- usage, 3 unreadable or invalid input, 4 network or transport failure, 70 internal error.
-- The folder: one file per command family (scep.lua with outputs.lua, logs.lua, diagnose.lua,
-- serve.lua, replay.lua, bench.lua, run.lua, config.lua), gendoc.lua (man pages, completions) and
-- util.lua (what they share with this file: exit codes, settings, messages, checks).
-- Modules are required where they are used: `sceplab --version` and a usage error load no more
-- than this file and util.lua, and each command no more than its own (docs/performance.md).
-- sceplab.core registers the C modules (sceplab.core.sys, ...) in package.preload: cheap, no I/O.
require "sceplab.core"
local util = require "sceplab.cli.util"

local M = {}
local EXIT, stderr = util.EXIT, util.stderr
local find_option, find_command, each_command = util.find_option, util.find_command, util.each_command

local CODE_EXIT = { input = 3, nomem = 3, crypto = 3, network = 4, failed = 1, usage = 2 }

-- Which module registers each command. A run registers only the group of the command it names,
-- so `sceplab enroll` does not load and build the diagnose and timeline parsers; help, errors
-- and a missing command get the full parser.
local GROUPS = {
  builtin = { "help", "decode", "run", "config", "__generate" },
  ["sceplab.cli.scep"] = { "enroll", "renew", "getcert", "getcrl", "getca", "caps", "probe" },
  ["sceplab.cli.logs"] = { "timeline" },
  ["sceplab.cli.diagnose"] = { "diagnose", "playbooks" },
  ["sceplab.cli.serve"] = { "serve", "ca", "intune" },
  ["sceplab.cli.replay"] = { "replay" },
  ["sceplab.cli.bench"] = { "bench" },
}
local GROUP_ORDER = { "builtin", "sceplab.cli.scep", "sceplab.cli.logs", "sceplab.cli.diagnose", "sceplab.cli.serve",
                      "sceplab.cli.replay", "sceplab.cli.bench" }
local GROUP_OF = {}
for group, names in pairs(GROUPS) do
  for _, name in ipairs(names) do GROUP_OF[name] = group end
end

-- What to build for argv: the group (and the command) the first word names when no help is asked
-- for at the top; nil means everything.
-- `help X` gets X's group. Global options that take a value are stepped over.
local GLOBAL_VALUED = { ["--config"] = true, ["--color"] = true }
local function wanted(argv)
  local i = 1
  while argv[i] do
    local a = argv[i]
    if GLOBAL_VALUED[a] then
      i = i + 1
    elseif a:sub(1, 1) ~= "-" then
      if a == "help" then
        local topic = argv[i + 1]
        if topic and GROUP_OF[topic] then return GROUP_OF[topic], topic end
        return nil
      end
      if not GROUP_OF[a] then return nil end
      return GROUP_OF[a], a
    elseif a == "-h" or a == "--help" then
      return nil
    end
    i = i + 1
  end
  return nil
end

-- The options every command takes. On the top-level parser they get targets of their own: argparse
-- resets a target when the command's own option of that name comes into play.
local function global_options(cmd, top)
  local prefix = top and "global_" or ""
  local c = cmd:option("--config"):argname("FILE"):target(prefix .. "config")
    :description("Read settings from FILE instead of " .. "/etc/sceplab/sceplab.conf and ~/.config/sceplab/sceplab.conf (sceplab config show).")
  local q = cmd:flag("-q --quiet"):target(prefix .. "quiet")
    :description("Print results and errors only: no progress, notes or summaries.")
  local k = cmd:option("--color"):argname("WHEN"):target(prefix .. "color"):choices({ "auto", "always", "never" })
    :description("Colour text output: auto (a terminal, NO_COLOR unset), always or never.")
  return c, q, k
end

-- One output grammar: a command with --json also takes --format text|json, one with --format also
-- takes --json (for timeline, whose records are JSON lines, --json is --format jsonl).
local function output_options(cmd)
  local json, fmt = find_option(cmd, "--json"), find_option(cmd, "--format")
  if json and not fmt then
    cmd:option("--format"):choices({ "text", "json" }):description("Output: text (default) or json (the same as --json).")
  elseif fmt and not json then
    cmd:flag("--json"):description(cmd._name == "timeline" and "The same as --format jsonl." or "The same as --format json.")
  end
end

local function build_parser(only, command)
  local argparse = require "argparse"
  local p = argparse("sceplab")
    :description("Decode, enroll, probe and diagnose SCEP certificate enrollment through Microsoft Intune and NDES.")
    :epilog("Run 'sceplab help COMMAND' for a command's options. Exit codes: 0 ok, 1 failure reported, 2 usage, 3 bad input, 4 network.")
    :add_help(true)
  p:flag("--version"):description("Print the version, the commit and the libraries' versions, and exit (with --quiet: the first line).")
  global_options(p, true)
  p:command_target("command")
  p:require_command(false)

  local function want(group) return only == nil or only == group end
  if want("builtin") then
  local help = p:command("help"):description("Show help for sceplab or one command.")
  help:argument("topic"):args("*"):description("The command to explain (a sub-command too: help ca list).")

  local d = p:command("decode")
    :description("Decode SyncML, CertEnrollToken, certificates, CSRs, pkiMessages, CRS files, Apple profiles or Intune request ids. The kind is detected from the content.")
  d:argument("input"):description("File to decode, or - for standard input.")
  d:flag("--json"):description("Print one JSON document (schema in docs/cli.md).")
  d:flag("--show-secrets"):description("Show challenges and challengePassword values instead of redacting them.")
  d:option("--key"):description("Recipient private key (PEM or DER) to open a pkiMessage envelope.")
  d:option("--key-pass"):description("Passphrase of an encrypted --key.")
  d:option("--as"):description("Force the kind: " .. table.concat((require "sceplab").kinds, ", ") .. ".")
  d:flag("--as-profile"):description("Print the SCEP enrollments found (SyncML or Apple profile) as sceplab Lua profiles.")

  end
  for _, group in ipairs(GROUP_ORDER) do
    if group ~= "builtin" and want(group) then require(group).register(p, only and command) end
  end

  if want("builtin") then
  local r = p:command("run"):description("Run a Lua script with the sceplab API (sandboxed: no os.execute, io.popen, package.loadlib).")
  r:argument("script"):description("The Lua script.")
  r:argument("args"):args("*"):description("Arguments, available to the script as arg[1..n] and as ...")

  local cf = p:command("config"):description("Show the configuration: the files read (/etc/sceplab/sceplab.conf, ~/.config/sceplab/sceplab.conf or --config) and each setting's value and origin (flag > environment > file > default).")
  cf:command_target("config_command")
  local show = cf:command("show"):description("Show the settings in the files, or every setting of one command and where its value comes from.")
  show:argument("for_command"):args("*"):argname("COMMAND"):description("A command (serve, ca list, diagnose, ...): every setting it takes.")
  show:option("--format"):choices({ "text", "json" }):description("Output: text (default) or json.")

  -- Internal: the man pages and shell completions, generated from this parser at build time.
  local g = p:command("__generate"):hidden(true)
  g:argument("what"):choices({ "man", "bash", "zsh" })
  g:argument("out"):description("A directory (man) or a file (bash, zsh).")
  end
  each_command(p, function(c)
    if #c._commands == 0 then
      output_options(c)
      global_options(c, false)
    end
  end)
  return p
end
M.build_parser = build_parser

local function cmd_help(p, args)
  if #args.topic == 0 then
    io.stdout:write(p:get_help(), "\n")
    return 0
  end
  local c, unknown = find_command(p, args.topic)
  if c then
    io.stdout:write(c:get_help(), "\n")
    return 0
  end
  io.stderr:write(p:get_usage(), "\n")
  stderr("unknown command '%s' (sceplab help lists them)", table.concat(args.topic, " "):sub(1, 200))
  return EXIT.usage
end

local function cmd_decode(args)
  local sceplab = require "sceplab"
  local data, err = util.read_input(args.input)
  if not data then
    stderr("%s", err)
    return EXIT.input
  end
  local opts = { show_secrets = args.show_secrets }
  if args.key then
    local key, kerr = util.read_input(args.key)
    if not key then
      stderr("--key: %s", kerr)
      return EXIT.input
    end
    if key == "" then
      stderr("--key %s: empty file (expected a private key, PEM or DER)", args.key)
      return EXIT.input
    end
    opts.key, opts.key_pass = key, args.key_pass
  end
  local as = args.as
  if as then
    local known = false
    for _, k in ipairs(sceplab.kinds) do known = known or k == as end
    if not known then
      stderr("--as: unknown kind '%s' (one of %s)", as, table.concat(sceplab.kinds, ", "))
      return EXIT.usage
    end
  end
  local kind, doc, code = sceplab.decode(data, opts, as)
  if not kind then
    local where = args.input == "-" and "standard input" or args.input
    stderr("%s: %s", where, doc)
    return CODE_EXIT[code] or EXIT.input
  end
  if args.as_profile then
    local profiles
    if kind == "syncml" then profiles = sceplab.profile.from_syncml(doc)
    elseif kind == "mobileconfig" then profiles = sceplab.profile.from_mobileconfig(doc)
    else
      stderr("%s: --as-profile needs SyncML or an Apple profile, this is %s", args.input, kind)
      return EXIT.input
    end
    if #profiles == 0 then
      stderr("%s: no SCEP enrollment in this %s", args.input, kind)
      return EXIT.input
    end
    for i, prof in ipairs(profiles) do
      if i > 1 then io.stdout:write("\n") end
      io.stdout:write(sceplab.profile.to_lua(prof))
    end
    return EXIT.ok
  end
  if args.json then
    io.stdout:write(sceplab.json.encode(doc), "\n")
  else
    io.stdout:write((require "sceplab.report.decoded").render(doc), "\n")
  end
  -- Asked to open an envelope and could not: the summary is printed, the exit code says so.
  if doc.decrypted and doc.decrypted.error then
    stderr("%s: %s", args.input, doc.decrypted.error)
    return EXIT.input
  end
  return EXIT.ok
end

--- `sceplab --version`: the version and commit, then the libraries it runs with as they report
-- themselves (those opened on first use are opened for it). --quiet: the first line only.
local function cmd_version(quiet)
  local host = util.host
  io.stdout:write(("sceplab %s (commit %s)\n"):format(host.version or "?", host.commit or "unknown"))
  if quiet then return 0 end
  local v = (require "sceplab.core").versions()
  local rows = { { "OpenSSL", "openssl" }, { "libcurl", "libcurl" }, { "libxml2", "libxml2" }, { "Lua", "lua" },
                 { "SQLite", "sqlite" }, { "libevent", "libevent" }, { "libarchive", "libarchive" }, { "libevtx", "libevtx" } }
  for _, r in ipairs(rows) do
    local value = v[r[2]] or ("not available: " .. tostring(v.unavailable[r[2]]))
    if r[1] == "Lua" then value = value:gsub("^Lua ", "") end
    io.stdout:write(("  %-10s %s\n"):format(r[1], value))
  end
  return 0
end

-- argv is `[global options] --version [global options]`: answered without building a parser.
local function version_only(argv)
  local seen, quiet, i = false, false, 1
  while argv[i] do
    local a = argv[i]
    if a == "--version" then seen = true
    elseif a == "-q" or a == "--quiet" then quiet = true
    elseif GLOBAL_VALUED[a] then i = i + 1
    elseif not (a:match("^%-%-config=") or a:match("^%-%-color=")) then return nil end
    i = i + 1
  end
  return seen, quiet
end

-- Parses argv with parser p: args | nil, message, the (sub-)command parser that refused it.
local function parse(p, argv)
  if not p._parse then -- an argparse without the internal entry: the top-level usage then
    local ok, res = p:pparse(argv)
    if ok then return res end
    return nil, res, p
  end
  local where, msg
  local ok, res = pcall(p._parse, p, argv, function(parser, err)
    where, msg = parser, err
    error(err, 0)
  end)
  if ok then return res end
  if not msg then error(res, 0) end
  return nil, msg, where
end

--- The command parser and path ({"ca", "list"}) args chose under p.
local function chosen(p, args)
  local c, path = p, {}
  while #c._commands > 0 do
    local name = args[c._command_target or ""]
    local nxt
    for _, sub in ipairs(c._commands) do
      if sub._name == name or (not c._command_target and args[sub._target or sub._name] == true) then nxt = sub end
    end
    if not nxt then break end
    c = nxt
    path[#path + 1] = c._name
  end
  return c, path
end
M.chosen = chosen

-- The settings files applied to the command; the global options resolved. true | nil, message.
local function settle(args, argv, cmd, path)
  local config = require "sceplab.cli.config"
  local explicit = args.config or args.global_config
  local conf, err = config.load(explicit)
  if not conf then return nil, err end
  M.conf = conf
  if #path > 0 then
    local ok, aerr = config.apply(conf, path, cmd, args, argv)
    if not ok then return nil, aerr end
  end
  util.opts = { quiet = args.quiet or args.global_quiet or false, color = args.color or args.global_color or "auto",
             config = explicit }
  -- --json and --format: one output choice
  local fmt = find_option(cmd, "--format")
  if args.json and fmt then
    local want = cmd._name == "timeline" and "jsonl" or "json"
    if config.given(argv, fmt) and args.format ~= want then
      return nil, ("--json and --format %s ask for two outputs: give one"):format(tostring(args.format)), EXIT.usage
    end
    args.format = want
  end
  if find_option(cmd, "--json") and fmt then args.json = args.format == "json" end
  return true
end

-- "--since -2h", "--assume-offset -07:00": argparse takes a word starting with "-" for an option,
-- but no option starts with a digit, so such a word after a long option is that option's value.
local function join_negative_values(argv)
  local out, i = {}, 1
  while argv[i] do
    local a, nxt = argv[i], argv[i + 1]
    if a == "--" then
      for j = i, #argv do out[#out + 1] = argv[j] end
      break
    end
    if nxt and a:match("^%-%-[%w][%w%-]*$") and nxt:match("^%-%d") then
      out[#out + 1] = a .. "=" .. nxt
      i = i + 2
    else
      out[#out + 1] = a
      i = i + 1
    end
  end
  return out
end

--- Whether the full parser takes argv as a command line, without running it: args | nil, message.
-- (What the docs' command lines are checked with, so a renamed option fails a test, not a reader.)
function M.parse_only(argv)
  local args, msg = parse(build_parser(nil), join_negative_values(argv))
  return args, msg
end

--- The command line main ran, parsed again with the settings files as they are now (serve's
-- SIGHUP): args | nil, message.
function M.args_again()
  local p = build_parser(nil)
  local args, msg = parse(p, M.argv)
  if not args then return nil, msg end
  local cmd, path = chosen(p, args)
  local ok, err = settle(args, M.argv, cmd, path)
  if not ok then return nil, err end
  return args
end

--- Entry point: args is the argv table without the program name; host describes the engine.
function M.main(argv, host)
  util.host = host or {}
  argv = join_negative_values(argv)
  M.argv = argv
  util.args_again = M.args_again -- for serve's SIGHUP, without a require of this module
  local version, quiet = version_only(argv)
  if version then return cmd_version(quiet) end
  local only, command = wanted(argv)
  local p = build_parser(only, command)
  local args, msg, where = parse(p, argv)
  if not args and only then
    -- usage errors are reported against the full parser, exactly as without the shortcut
    p = build_parser(nil)
    args, msg, where = parse(p, argv)
  end
  if not args then
    io.stderr:write((where or p):get_usage(), "\n")
    local names, c = {}, where
    while c and c ~= p and c._parent do
      table.insert(names, 1, c._name)
      c = c._parent
    end
    stderr("%s (sceplab help%s)", msg, #names > 0 and (" " .. table.concat(names, " ")) or "")
    return EXIT.usage
  end
  -- the build's step: the parser alone, whatever settings files the machine has
  if args.command == "__generate" then return (require "sceplab.cli.gendoc").run(only and build_parser(nil) or p, args.what, args.out) end
  local cmd, path = chosen(p, args)
  local ok, err, code = settle(args, argv, cmd, path)
  if not ok then
    stderr("%s", err)
    return code or EXIT.input
  end
  if args.version then return cmd_version(util.opts.quiet) end
  if not args.command then
    io.stderr:write(p:get_usage(), "\n")
    stderr("no command given (try 'sceplab help')")
    return EXIT.usage
  end
  if args.command == "help" then return cmd_help(p, args) end
  if args.command == "decode" then return cmd_decode(args) end
  if args.command == "run" then return (require "sceplab.cli.run").run(args) end
  if args.command == "config" then return (require "sceplab.cli.config").show(only and build_parser(nil) or p, args, M.conf) end
  if args.command == "timeline" then return (require "sceplab.cli.logs").run(args) end
  if args.command == "diagnose" or args.command == "playbooks" then return (require "sceplab.cli.diagnose").run(args) end
  if args.command == "serve" or args.command == "ca" or args.command == "intune" then return (require "sceplab.cli.serve").run(args) end
  if args.command == "replay" then return (require "sceplab.cli.replay").run(args) end
  if args.command == "bench" then return (require "sceplab.cli.bench").run(args) end
  local scep_handler = (require "sceplab.cli.scep").handlers[args.command]
  if scep_handler then return scep_handler(args) end
  stderr("command '%s' is not implemented", args.command)
  return EXIT.usage
end

return M
