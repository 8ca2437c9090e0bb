-- What a SCEP client command writes: its output files reserved before any request is sent,
-- committed when the server issued, rescued under telling names when they cannot be written (the
-- CA has issued by then), and the result printed as text or JSON.
local util = require "sceplab.cli.util"
local sys = require "sceplab.core.sys"

local M = {}

local EXIT, stderr = util.EXIT, util.stderr
-- Unlike decode's, a crypto failure here is a reply refused by a named check: exit 1.
M.CODE_EXIT = { input = 3, nomem = 3, network = 4, crypto = 1, failed = 1, usage = 2 }
local CODE_EXIT = M.CODE_EXIT

--- "123 ms" for a request's timings.
function M.ms(t) return t and string.format("%.0f ms", t.total * 1000) or "-" end
local ms = M.ms

local function public(result)
  local out = {}
  for k, v in pairs(result) do
    if k ~= "key" then out[k] = v end
  end
  return out
end

--- Prints a result (text, or JSON with --json); written: the files written.
function M.print(args, result, written)
  if util.opts.quiet and not args.json then return end
  if args.json then
    local doc = public(result)
    doc.written = written
    io.stdout:write((require "sceplab.json").encode(doc), "\n")
    return
  end
  local out = {}
  local function f(label, value) if value ~= nil then out[#out + 1] = ("  %-14s %s"):format(label, tostring(value)) end end
  out[#out + 1] = ("%s %s"):format(result.message_type or "Enrollment", result.status or "?")
  if result.fail_info then f("Fail info", result.fail_info .. (result.fail_info_text and (": " .. result.fail_info_text) or "")) end
  f("Hint", result.hint)
  f("Server", ("%s (%s, %s, %s%s)"):format(args.url or "", result.method or "?", result.cipher or "?", result.digest or "?",
    result.ndes and ", NDES mode" or ""))
  f("Transaction", result.transaction_id)
  if result.csr_subject then
    f("Requested", result.csr_subject .. (result.profile_subject and result.profile_subject ~= "" and
      (" (profile: " .. result.profile_subject .. ")") or ""))
  end
  if result.retried_with_post then f("Note", result.retried_with_post) end
  if result.note then f("Note", result.note) end
  if result.polls then f("Polls", result.polls) end
  local c = result.certificate
  if c then
    f("Certificate", c.subject)
    f("Issuer", c.issuer)
    f("Serial", c.serial)
    f("Valid", c.not_before .. " to " .. c.not_after)
    f("SHA-256", c.sha256)
  end
  if result.checks then
    local parts = {}
    for _, ch in ipairs(result.checks) do parts[#parts + 1] = ch.name .. (ch.ok and " ok" or " FAILED") end
    f("Checks", table.concat(parts, ", "))
  end
  local times = {}
  for _, x in ipairs(result.exchanges or {}) do
    times[#times + 1] = ("%s %s %s%s"):format(x.operation, x.method, ms(x.timings), x.reused_connection and " (same connection)" or "")
  end
  f("Requests", table.concat(times, "; "))
  for _, w in ipairs(result.warnings or {}) do f("Warning", w) end
  for _, w in ipairs(written or {}) do f("Wrote", w) end
  io.stdout:write(table.concat(out, "\n"), "\n")
end

-- The output options, in the order they are written: option, private (mode 0600, no symlink).
local OUTPUTS = { { "key_out", true }, { "cert_out" }, { "chain_out" }, { "out" } }

--- Reserves every output file named before any request is sent (sys.reserve): an unwritable
-- --cert-out is found before the CA issues a certificate or NDES spends a one-time challenge.
-- Returns {option = output} | nil, message.
function M.reserve(args)
  local outs = {}
  for _, o in ipairs(OUTPUTS) do
    local path = args[o[1]]
    if path then
      local r, err = sys.reserve(path, o[2])
      if not r then
        for _, x in pairs(outs) do x:abort() end
        return nil, ("--%s: %s"):format(o[1]:gsub("_", "-"), err)
      end
      outs[o[1]] = r
    end
  end
  -- --state is written by the client while polling: checked the same way now, written then
  if args.state then
    local r, err = sys.reserve(args.state, true)
    if not r then
      for _, x in pairs(outs) do x:abort() end
      return nil, "--state: " .. err
    end
    r:abort()
  end
  return outs
end

-- When an output cannot be written after the CA issued, what was issued is saved in the temporary
-- directory under names that say what they are, and the message says where.
local function rescue(result, what)
  local dir = os.getenv("TMPDIR") or "/tmp"
  local base = ("%s/sceplab-rescue-%s"):format(dir, (result.transaction_id or "unknown"):sub(1, 16))
  local saved = {}
  for _, item in ipairs(what) do
    local r = sys.reserve(base .. "-" .. item.name, item.private)
    if r and r:commit(item.data) then saved[#saved + 1] = base .. "-" .. item.name end
  end
  return saved
end

-- Commits the reserved outputs of a successful result (key 0600, certificate, chain, CRL) and
-- aborts them otherwise; returns the list of what was written | nil, message.
local function write_outputs(args, result, outs)
  local written = {}
  if result.status ~= "SUCCESS" then
    for _, o in pairs(outs) do o:abort() end
    return written
  end
  local data = {
    key_out = result.key and result.key:pem(), cert_out = result.certificate_pem, chain_out = result.chain_pem,
    out = result.certificate_pem or result.crl_pem,
  }
  local label = { key_out = "private key, mode 0600", cert_out = "certificate", chain_out = "chain",
                  out = result.crl_pem and "CRL" or "certificate" }
  for _, o in ipairs(OUTPUTS) do
    local name, r = o[1], outs[o[1]]
    if r and data[name] then
      local ok, err = r:commit(data[name])
      if not ok then
        for _, x in pairs(outs) do pcall(x.abort, x) end
        local saved = rescue(result, {
          { name = "key.pem", data = data.key_out, private = true }, { name = "cert.pem", data = data.cert_out or data.out },
          { name = "chain.pem", data = data.chain_out } })
        return nil, ("%s; the server issued it: %s"):format(err, #saved > 0 and ("saved as " .. table.concat(saved, ", "))
          or ("could not save it either; the certificate:\n" .. (data.cert_out or data.out or "")))
      end
      written[#written + 1] = args[name] .. " (" .. label[name] .. ")"
    elseif r then
      r:abort()
    end
  end
  return written
end

--- The end of a command that asked a server for something: its outputs committed (or aborted),
-- the result printed, the exit code.
function M.finish(args, result, err, code, outs)
  if not result then
    for _, o in pairs(outs or {}) do o:abort() end
    stderr("%s", err)
    return CODE_EXIT[code] or EXIT.failed
  end
  local written, werr = write_outputs(args, result, outs or {})
  if not written then
    stderr("%s", werr)
    return EXIT.input
  end
  M.print(args, result, written)
  if result.status == "SUCCESS" then return EXIT.ok end
  if result.status == "PENDING" then stderr("request still PENDING%s", args.state and ("; resume with --resume " .. args.state) or "") end
  return EXIT.failed
end

return M
