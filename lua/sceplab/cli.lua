-- The sceplab command line. src/cli/main.c boots the engine and calls main(args, host).
-- Exit codes (docs/cli.md): 0 success, 1 the operation reports a failure, 2 usage,
-- 3 unreadable or invalid input, 4 network or transport failure, 70 internal error.
local argparse = require "argparse"
local sceplab = require "sceplab"

local M = {}

M.EXIT = { ok = 0, failed = 1, usage = 2, input = 3, network = 4 }
local CODE_EXIT = { input = 3, nomem = 3, crypto = 3, network = 4, failed = 1, usage = 2 }

local visible = (require "sceplab.core.codec").visible

--- One line on stderr, prefixed "sceplab: " (the command modules use it too). What it names (a
-- file, a line of a log) is shown with control characters escaped, on one line.
local function stderr(fmt, ...)
  io.stderr:write("sceplab: ", (visible(fmt:format(...)):gsub("\n", " ")), "\n")
end
M.stderr = stderr

local MAX_INPUT = (require "sceplab.core.decode").max_input

--- Reads a file, or standard input for "-", of at most `limit` bytes (default: what the decoders
-- accept, 64 MiB); returns bytes | nil, message. The limit holds while reading, so a 3 GB file, a
-- pipe or /dev/zero costs at most the limit in memory before the refusal.
function M.read_input(path, limit)
  return (require "sceplab.core.sys").read_file(path, limit or MAX_INPUT)
end

-- Which module registers each command. A run registers only the group of the command it names,
-- so `sceplab enroll` does not load and build the diagnose and timeline parsers; help, errors
-- and a missing command get the full parser.
local GROUPS = {
  builtin = { "help", "decode", "run" },
  ["sceplab.cli_scep"] = { "enroll", "renew", "getcert", "getcrl", "getca", "caps", "probe" },
  ["sceplab.cli_logs"] = { "timeline" },
  ["sceplab.cli_diagnose"] = { "diagnose", "playbooks" },
  ["sceplab.cli_serve"] = { "serve", "ca", "intune" },
  ["sceplab.cli_replay"] = { "replay" },
  ["sceplab.cli_bench"] = { "bench" },
}
local GROUP_ORDER = { "builtin", "sceplab.cli_scep", "sceplab.cli_logs", "sceplab.cli_diagnose", "sceplab.cli_serve",
                      "sceplab.cli_replay", "sceplab.cli_bench" }
local GROUP_OF = {}
for group, names in pairs(GROUPS) do
  for _, name in ipairs(names) do GROUP_OF[name] = group end
end

-- What to build for argv: the group (and the command) the first word names when no help is asked
-- for at the top; nil means everything.
local function wanted(argv)
  for _, a in ipairs(argv) do
    if a:sub(1, 1) ~= "-" then
      if a == "help" or not GROUP_OF[a] then return nil end
      return GROUP_OF[a], a
    end
    if a == "-h" or a == "--help" then return nil end
  end
  return argv[1] == "--version" and "builtin" or nil
end

local function build_parser(only, command)
  local p = argparse("sceplab")
    :description("Decode, enroll, probe and diagnose SCEP certificate enrollment through Microsoft Intune and NDES.")
    :epilog("Run 'sceplab help COMMAND' for a command's options. Exit codes: 0 ok, 1 failure reported, 2 usage, 3 bad input, 4 network.")
    :add_help(true)
  p:flag("--version"):description("Print the version and exit.")
  p:command_target("command")
  p:require_command(false)

  local function want(group) return only == nil or only == group end
  if want("builtin") then
  local help = p:command("help"):description("Show help for sceplab or one command.")
  help:argument("topic"):args("?"):description("The command to explain.")

  local d = p:command("decode")
    :description("Decode SyncML, CertEnrollToken, certificates, CSRs, pkiMessages, CRS files, Apple profiles or Intune request ids. The kind is detected from the content.")
  d:argument("input"):description("File to decode, or - for standard input.")
  d:flag("--json"):description("Print one JSON document (schema in docs/cli.md).")
  d:flag("--show-secrets"):description("Show challenges and challengePassword values instead of redacting them.")
  d:option("--key"):description("Recipient private key (PEM or DER) to open a pkiMessage envelope.")
  d:option("--key-pass"):description("Passphrase of an encrypted --key.")
  d:option("--as"):description("Force the kind: " .. table.concat(sceplab.kinds, ", ") .. ".")
  d:flag("--as-profile"):description("Print the SCEP enrollments found (SyncML or Apple profile) as sceplab Lua profiles.")

  end
  for _, group in ipairs(GROUP_ORDER) do
    if group ~= "builtin" and want(group) then require(group).register(p, only and command) end
  end

  if want("builtin") then
  local r = p:command("run"):description("Run a Lua script with the sceplab API (sandboxed: no os.execute, io.popen, package.loadlib).")
  r:argument("script"):description("The Lua script.")
  r:argument("args"):args("*"):description("Arguments, available to the script as arg[1..n] and as ...")
  end
  return p
end

local function cmd_help(p, args)
  if not args.topic then
    io.stdout:write(p:get_help(), "\n")
    return 0
  end
  for _, c in ipairs(p._commands) do
    if c._name == args.topic then
      io.stdout:write(c:get_help(), "\n")
      return 0
    end
  end
  io.stderr:write(p:get_usage(), "\n")
  stderr("unknown command '%s'", args.topic)
  return M.EXIT.usage
end

local function cmd_decode(args)
  local data, err = M.read_input(args.input)
  if not data then
    stderr("%s", err)
    return M.EXIT.input
  end
  local opts = { show_secrets = args.show_secrets }
  if args.key then
    local key, kerr = M.read_input(args.key)
    if not key then
      stderr("--key: %s", kerr)
      return M.EXIT.input
    end
    opts.key, opts.key_pass = key, args.key_pass
  end
  local as = args.as
  if as then
    local known = false
    for _, k in ipairs(sceplab.kinds) do known = known or k == as end
    if not known then
      stderr("--as: unknown kind '%s' (one of %s)", as, table.concat(sceplab.kinds, ", "))
      return M.EXIT.usage
    end
  end
  local kind, doc, code = sceplab.decode(data, opts, as)
  if not kind then
    local where = args.input == "-" and "standard input" or args.input
    stderr("%s: %s", where, doc)
    return CODE_EXIT[code] or M.EXIT.input
  end
  if args.as_profile then
    local profiles
    if kind == "syncml" then profiles = sceplab.profile.from_syncml(doc)
    elseif kind == "mobileconfig" then profiles = sceplab.profile.from_mobileconfig(doc)
    else
      stderr("%s: --as-profile needs SyncML or an Apple profile, this is %s", args.input, kind)
      return M.EXIT.input
    end
    if #profiles == 0 then
      stderr("%s: no SCEP enrollment in this %s", args.input, kind)
      return M.EXIT.input
    end
    for i, prof in ipairs(profiles) do
      if i > 1 then io.stdout:write("\n") end
      io.stdout:write(sceplab.profile.to_lua(prof))
    end
    return M.EXIT.ok
  end
  if args.json then
    io.stdout:write(sceplab.json.encode(doc), "\n")
  else
    io.stdout:write((require "sceplab.render").render(doc), "\n")
  end
  -- Asked to open an envelope and could not: the summary is printed, the exit code says so.
  if doc.decrypted and doc.decrypted.error then
    stderr("%s: %s", args.input, doc.decrypted.error)
    return M.EXIT.input
  end
  return M.EXIT.ok
end

local function cmd_run(args)
  local code, err = sceplab.sandbox.run(args.script, args.args)
  if err then stderr("%s", err) end
  return code
end

--- Entry point: args is the argv table without the program name; host describes the engine.
function M.main(argv, host)
  M.host = host or {}
  local only, command = wanted(argv)
  local p = build_parser(only, command)
  local ok, args = p:pparse(argv)
  if not ok and only then
    -- Report usage errors against the full parser, exactly as before the shortcut.
    p = build_parser(nil)
    ok, args = p:pparse(argv)
  end
  if not ok then
    io.stderr:write(p:get_usage(), "\n")
    stderr("%s", args)
    return M.EXIT.usage
  end
  if args.version then
    io.stdout:write("sceplab ", M.host.version or sceplab.version, "\n")
    return 0
  end
  if not args.command then
    io.stderr:write(p:get_usage(), "\n")
    stderr("no command given (try 'sceplab help')")
    return M.EXIT.usage
  end
  if args.command == "help" then return cmd_help(p, args) end
  if args.command == "decode" then return cmd_decode(args) end
  if args.command == "run" then return cmd_run(args) end
  if args.command == "timeline" then return (require "sceplab.cli_logs").run(args) end
  if args.command == "diagnose" or args.command == "playbooks" then return (require "sceplab.cli_diagnose").run(args) end
  if args.command == "serve" or args.command == "ca" or args.command == "intune" then return (require "sceplab.cli_serve").run(args) end
  if args.command == "replay" then return (require "sceplab.cli_replay").run(args) end
  if args.command == "bench" then return (require "sceplab.cli_bench").run(args) end
  local scep_handler = (require "sceplab.cli_scep").handlers[args.command]
  if scep_handler then return scep_handler(args) end
  stderr("command '%s' is not implemented", args.command)
  return M.EXIT.usage
end

return M
