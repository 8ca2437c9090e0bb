-- CLI commands of the SCEP client: enroll, renew, getcert, getcrl, getca, caps, probe (what they
-- write and print: outputs.lua).
local sceplab = require "sceplab"
local util = require "sceplab.cli.util"
local outputs = require "sceplab.cli.outputs"
local sys = require "sceplab.core.sys"

local M = {}

local EXIT = util.EXIT
local CODE_EXIT = outputs.CODE_EXIT

local stderr = util.stderr

-- How to reach and trust the server: every command that talks to one, the probe included.
local function connection_options(cmd)
  cmd:option("--cacert"):description("CA bundle to verify the HTTPS server with.")
  cmd:option("--pin"):description("Trust the HTTPS server certificate with this SHA-256 instead of a CA bundle.")
  cmd:flag("--insecure"):description("Do not verify the HTTPS server at all.")
  cmd:option("--proxy"):description("HTTP proxy URL.")
  cmd:option("--timeout"):description("Seconds allowed for each request (default 30)."):convert(tonumber)
  cmd:flag("--json"):description("Print the result as JSON.")
end

-- Options every SCEP client command shares.
local function transport_options(cmd)
  cmd:flag("--ndes"):description("Force NDES compatibility (automatic when the server says Microsoft-IIS).")
  cmd:flag("--no-ndes"):description("Never use NDES compatibility.")
  cmd:option("--ca-fingerprint"):description("SHA-256 or SHA-1 of a certificate GetCACert must return; a mismatch stops before anything is sent.")
  cmd:option("--ca-ident"):description("The GetCACert/GetCACaps message (CA identifier).")
  connection_options(cmd)
  cmd:flag("--follow-redirects"):description("Follow HTTP redirects (off by default: a redirect is reported).")
  cmd:option("--trace"):description("Write every request, response and decoded CMS layer to this directory.")
end

local function protocol_options(cmd)
  cmd:option("--method"):description("auto, get or post."):choices({ "auto", "get", "post" }):default("auto")
  cmd:option("--cipher"):description("auto, aes128, aes256 or des3."):choices({ "auto", "aes128", "aes256", "des3" }):default("auto")
  cmd:option("--digest"):description("auto, sha256, sha512 or sha1."):choices({ "auto", "sha256", "sha512", "sha1" }):default("auto")
  cmd:flag("--oaep"):description("RSA-OAEP key transport instead of PKCS#1 v1.5.")
end

local function request_options(cmd)
  cmd:option("--profile"):description("An enrollment profile (lua/profiles/*.lua); flags override its fields.")
  cmd:option("--challenge"):description("The challenge password (or set SCEPLAB_CHALLENGE, which stays out of ps).")
  cmd:option("--subject"):description("Subject DN as the profile writes it, e.g. CN=device,O=Contoso.")
  cmd:option("--san"):description("Subject alternative name TYPE:VALUE (email, dns, uri, upn, ip); repeatable."):count("*")
  cmd:option("--eku"):description("Extended key usage OID or name; repeatable."):count("*")
  cmd:option("--key-usage"):description("Key usage name (digitalSignature, keyEncipherment, ...); repeatable."):count("*")
  cmd:option("--template"):description("Microsoft certificate template name extension.")
  cmd:option("--key-type"):description("rsa:2048, rsa:4096 or ec:p256 (also rsa:1024, rsa:3072, ec:p384)."):default(nil)
  cmd:option("--poll-interval"):description("Seconds between CertPoll requests while PENDING (default 5)."):convert(tonumber)
  cmd:option("--poll-max"):description("Give up polling after this many seconds (default 300)."):convert(tonumber)
  cmd:option("--state"):description("Save the poll state here while PENDING (holds the private key; mode 0600).")
  cmd:option("--ca-thumbprint"):description("CAThumbprint (SHA-1 or SHA-256) checked as devices do: it must name a CA of GetCACert's answer or --root (default: the profile's ca_thumbprint).")
  cmd:option("--root"):description("The root CA certificate CAThumbprint names, when GetCACert does not return it.")
end

--- Adds the SCEP commands to parser p; only (a command name) builds just that one.
function M.register(p, only)
  local function want(name) return only == nil or only == name end
  if want("enroll") then
  local e = p:command("enroll"):description("Enroll for a certificate over SCEP (RFC 8894).")
  e:option("--url"):description("The SCEP server URL (or the profile's url).")
  request_options(e)
  protocol_options(e)
  transport_options(e)
  e:option("--key"):description("Use this private key instead of generating one.")
  e:option("--key-pass"):description("Passphrase of --key.")
  e:option("--key-out"):description("Write the private key here (PEM, mode 0600).")
  e:option("--cert-out"):description("Write the issued certificate here (PEM).")
  e:option("--chain-out"):description("Write every certificate of the reply here (PEM).")
  e:option("--resume"):description("Continue a PENDING enrollment from a --state file.")
  e:flag("--allow-empty-subject"):description("Send a request with an empty subject (the certificate then names its holder in SANs only).")
  e:flag("--force"):description("Overwrite an existing --key-out file.")
  end

  if want("renew") then
  local r = p:command("renew"):description("Renew a certificate: RenewalReq signed with the current certificate (PKCSReq when Renewal is not advertised).")
  r:option("--url"):description("The SCEP server URL (or the profile's url).")
  r:option("--cert"):description("The current certificate (PEM or DER)."):args(1)
  r:option("--key"):description("The current private key."):args(1)
  r:option("--key-pass"):description("Passphrase of --key.")
  r:flag("--reuse-key"):description("Keep the current key instead of generating a new one.")
  request_options(r)
  protocol_options(r)
  transport_options(r)
  r:option("--key-out"):description("Write the new private key here (PEM, mode 0600).")
  r:option("--cert-out"):description("Write the new certificate here (PEM).")
  r:flag("--force"):description("Overwrite an existing --key-out file.")
  end

  -- GetCert and GetCRL are signed with the requester's own certificate and key.
  local function signed_request(name, description, out)
    local cmd = p:command(name):description(description)
    cmd:option("--url"):description("The SCEP server URL."):args(1)
    cmd:option("--cert"):description("Your certificate (signs the request)."):args(1)
    cmd:option("--key"):description("Your private key."):args(1)
    cmd:option("--key-pass"):description("Passphrase of --key.")
    cmd:option("--out"):description(out)
    protocol_options(cmd)
    transport_options(cmd)
    return cmd
  end
  if want("getcert") then
    signed_request("getcert", "GetCert: a certificate by serial number, from the CA's issuer name.",
      "Write the certificate here (PEM)."):option("--serial"):description("Serial number (hex)."):args(1)
  end
  if want("getcrl") then
    signed_request("getcrl", "GetCRL: the CRL that covers your certificate.", "Write the CRL here (PEM).")
  end

  if want("getca") then
  local ca = p:command("getca"):description("GetCACert: the CA and RA certificates, and which one sceplab would encrypt to and trust.")
  ca:argument("url"):description("The SCEP server URL.")
  ca:option("--out"):description("Write the certificates here (PEM).")
  ca:flag("--next"):description("GetNextCACert instead (the rollover certificate).")
  transport_options(ca)
  end

  if want("probe") then
  local pr = p:command("probe"):description("Check a SCEP URL the way Intune admins do by hand: 403 on the bare URL, TLS names, GetCACaps, GetCACert and RA certificates, CAThumbprint, long URLs, response times.")
  pr:argument("url"):description("The SCEP server URL (as in the SCEP profile).")
  pr:option("--profile"):description("An enrollment profile; its ca_thumbprint is checked.")
  pr:option("--ca-thumbprint"):description("SHA-1 or SHA-256 thumbprint the profile's trusted certificate has.")
  pr:option("--root"):description("The root CA certificate, when GetCACert does not return it.")
  pr:flag("--ndes"):description("Judge as NDES with the Intune connector (automatic for Microsoft-IIS or mscep URLs).")
  connection_options(pr)
  end

  if want("caps") then
  local cp = p:command("caps"):description("GetCACaps: what the server says it supports.")
  cp:argument("url"):description("The SCEP server URL.")
  transport_options(cp)
  end
end

local function read(path, what)
  local data, err = util.read_input(path)
  if not data then return nil, ("%s: %s"):format(what, err) end
  return data
end

-- The values every command that talks to a server takes, checked before anything is sent: hex
-- thumbprints, times, the trace directory, the CA bundle. true | nil, message, exit code.
local function check_common(args)
  for _, o in ipairs({ { "ca_fingerprint", { 40, 64 }, "40 (SHA-1) or 64 (SHA-256)" },
                       { "ca_thumbprint", { 40, 64 }, "40 (SHA-1) or 64 (SHA-256)" },
                       { "pin", { 64 }, "64 (SHA-256)" } }) do
    if args[o[1]] then
      local v, err = util.check_hex(args[o[1]], "--" .. o[1]:gsub("_", "-"), o[2], o[3])
      if not v then return nil, err, EXIT.usage end
      args[o[1]] = v
    end
  end
  for _, o in ipairs({ { "timeout", 0 }, { "poll_interval", -1 }, { "poll_max", -1 } }) do
    local v = args[o[1]]
    if v ~= nil and not (v > o[2] and v < 1e7) then
      return nil, ("--%s %s: expected %s seconds"):format(o[1]:gsub("_", "-"), tostring(v),
        o[2] == 0 and "a positive number of" or "a number of"), EXIT.usage
    end
  end
  if args.proxy then
    -- curl's form without a scheme (proxy.contoso.com:8080) is an HTTP proxy
    local ok, err = util.check_url(args.proxy:find("://", 1, true) and args.proxy or ("http://" .. args.proxy), "--proxy")
    if not ok then return nil, (err:gsub("'http://", "'", 1)), EXIT.usage end
  end
  if args.cacert and sys.kind(args.cacert) ~= "file" then
    return nil, ("--cacert %s: %s"):format(args.cacert, sys.kind(args.cacert) and "not a file (a PEM bundle of CA certificates)"
      or "no such file"), EXIT.input
  end
  if args.trace then
    local kind = sys.kind(args.trace)
    if kind and kind ~= "directory" then return nil, ("--trace %s: not a directory"):format(args.trace), EXIT.input end
    if not kind then
      local ok, err = sys.mkdir(args.trace)
      if not ok then return nil, "--trace: " .. err, EXIT.input end
    end
  end
  return true
end

-- The URL a command talks to: --url or the positional URL. url | nil, message, exit code.
local function check_target(url, what)
  if not url then return nil, ("%s is required"):format(what), EXIT.usage end
  local ok, err = util.check_url(url, what)
  if not ok then return nil, err, EXIT.usage end
  return url
end

local function client_for(args, url)
  local ndes
  if args.ndes then ndes = true elseif args.no_ndes then ndes = false end
  local log
  if not args.json and util.progress() then log = function(s) io.stderr:write("  ", s, "\n") end end
  return sceplab.scep.client{
    url = url, ndes = ndes, method = args.method, cipher = args.cipher, digest = args.digest, oaep = args.oaep,
    ca_fingerprint = args.ca_fingerprint, ca_thumbprint = args.ca_thumbprint, root = args.root_pem,
    ca_ident = args.ca_ident, cacert = args.cacert, pin = args.pin,
    insecure = args.insecure, proxy = args.proxy, timeout = args.timeout, trace = args.trace, log = log,
    follow = args.follow_redirects,
  }
end

local function parse_san(s)
  local t, v = s:match("^(%w+):(.+)$")
  if not t then return nil, ("--san '%s': expected TYPE:VALUE"):format(s) end
  t = t:lower()
  if t == "email" or t == "rfc822" then t = "email" end
  return { type = t, value = v }
end

-- The profile for a request: --profile, then the flags on top, validated.
local function build_profile(args)
  local p = {}
  if args.profile then
    local prof, err = sceplab.profile.load(args.profile)
    if not prof then return nil, err end
    p = prof
  end
  p.url = args.url or p.url
  p.subject = args.subject or p.subject
  p.challenge = args.challenge or os.getenv("SCEPLAB_CHALLENGE") or p.challenge
  p.template = args.template or p.template
  if #args.san > 0 then
    p.san = {}
    for _, s in ipairs(args.san) do
      local san, err = parse_san(s)
      if not san then return nil, err end
      p.san[#p.san + 1] = san
    end
  end
  if #args.eku > 0 then p.eku = args.eku end
  if #args.key_usage > 0 then p.key_usage = args.key_usage end
  if args.key_type then
    local t, n = args.key_type:match("^(%a+):(%w+)$")
    if t == "rsa" then p.key = { type = "rsa", bits = tonumber(n) }
    elseif t == "ec" then p.key = { type = "ec", curve = n }
    else return nil, ("--key-type '%s': expected rsa:2048, rsa:4096 or ec:p256"):format(args.key_type) end
  end
  if p.retry and p.retry.delay and not args.poll_interval then args.poll_interval = p.retry.delay end
  -- the device checks the profile's CAThumbprint before it sends anything: so does the client
  args.ca_thumbprint = args.ca_thumbprint or p.ca_thumbprint
  if args.root then
    local pem, rerr = read(args.root, "--root")
    if not pem then return nil, rerr end
    args.root_pem = pem
  end
  p.challenge_redacted = nil
  local ok, err = sceplab.profile.validate(p, args.profile or "request")
  if not ok then return nil, err end
  return p
end

local ms = outputs.ms

local function load_key(path, pass)
  local data, err = read(path, "--key")
  if not data then return nil, err end
  local k, kerr = sceplab.scep.pkey.load(data, pass)
  if not k then return nil, "--key " .. path .. ": " .. kerr end
  return k
end

-- An existing private key is not overwritten unless asked: it may be the only copy of the key of a
-- certificate in use. --key naming the same file is no overwrite (the same key is written back).
local function check_key_out(args)
  if args.key_out and not args.force and sys.kind(args.key_out) and args.key_out ~= args.key then
    return nil, ("--key-out %s: exists (a private key is not overwritten: choose another file, or --force)"):format(args.key_out)
  end
  return true
end

local function cmd_enroll(args)
  local ok, verr, vcode = check_common(args)
  if not ok then stderr("%s", verr) return vcode end
  if args.url then
    ok, verr, vcode = check_target(args.url, "--url")
    if not ok then stderr("%s", verr) return vcode end
  end
  ok, verr = check_key_out(args)
  if not ok then stderr("%s", verr) return EXIT.usage end
  if args.resume then
    local state, err = sceplab.scep.load_state(args.resume)
    if not state then stderr("%s", err) return EXIT.input end
    args.url = args.url or state.url
    local outs, oerr = outputs.reserve(args)
    if not outs then stderr("%s", oerr) return EXIT.input end
    local c = client_for(args, state.url)
    local result, perr, code = c:poll(state, { poll_interval = args.poll_interval, poll_max = args.poll_max })
    return outputs.finish(args, result, perr, code, outs)
  end
  if not args.key_out or not args.cert_out then
    stderr("enroll needs --key-out FILE and --cert-out FILE")
    return EXIT.usage
  end
  local profile, err = build_profile(args)
  if not profile then stderr("%s", err) return EXIT.input end
  local url, uerr, ucode = check_target(profile.url, args.profile and "--url (or the profile's url)" or "--url")
  if not url then stderr("%s", uerr) return ucode end
  args.url = profile.url
  if not profile.subject or profile.subject:match("^%s*$") then
    if not args.allow_empty_subject then
      stderr("no subject (--subject CN=NAME,O=ORG, or the profile's): the certificate would name nobody; --allow-empty-subject sends it so")
      return EXIT.usage
    end
    profile.subject = ""
  end
  local key
  if args.key then
    key, err = load_key(args.key, args.key_pass)
    if not key then stderr("%s", err) return EXIT.input end
  end
  local outs, oerr = outputs.reserve(args)
  if not outs then stderr("%s", oerr) return EXIT.input end
  -- said once everything else is known to be right, just before the request goes out
  if not profile.challenge or profile.challenge == "" then
    util.note("warning: no challenge (--challenge, SCEPLAB_CHALLENGE or the profile's): NDES and most SCEP servers answer FAILURE badRequest")
  end
  local c = client_for(args, profile.url)
  local result, eerr, code = c:enroll(profile, { key = key, poll_interval = args.poll_interval, poll_max = args.poll_max,
                                                state_file = args.state })
  return outputs.finish(args, result, eerr, code, outs)
end

local function cmd_renew(args)
  if not args.key_out or not args.cert_out then
    stderr("renew needs --key-out FILE and --cert-out FILE")
    return EXIT.usage
  end
  local ok, verr, vcode = check_common(args)
  if not ok then stderr("%s", verr) return vcode end
  ok, verr = check_key_out(args)
  if not ok then stderr("%s", verr) return EXIT.usage end
  local cert, err = read(args.cert, "--cert")
  if not cert then stderr("%s", err) return EXIT.input end
  local old, kerr = load_key(args.key, args.key_pass)
  if not old then stderr("%s", kerr) return EXIT.input end
  -- a renewal is signed with the current certificate's key: another key is refused by any CA
  -- (NDES says HTTP 400), so it is found here, before anything is sent
  local same, merr = old:matches(cert)
  if same == nil then stderr("--cert %s: %s", args.cert, merr) return EXIT.input end
  if not same then
    stderr("--key %s is not the key of --cert %s (their public keys differ): give the certificate's own key", args.key, args.cert)
    return EXIT.input
  end
  local profile = {}
  if args.profile or args.url then
    local perr
    profile, perr = build_profile(args)
    if not profile then stderr("%s", perr) return EXIT.input end
  end
  local url = args.url or profile.url
  if not url then stderr("renew needs --url or a --profile with url") return EXIT.usage end
  local uok, uerr, ucode = check_target(url, "--url")
  if not uok then stderr("%s", uerr) return ucode end
  args.url = url
  local outs, oerr = outputs.reserve(args)
  if not outs then stderr("%s", oerr) return EXIT.input end
  local c = client_for(args, url)
  local result, rerr, code = c:renew(cert, old, profile, { reuse_key = args.reuse_key,
    poll_interval = args.poll_interval, poll_max = args.poll_max, state_file = args.state })
  if result and result.same_certificate then
    -- the server answered with the certificate being renewed: nothing to write, nothing renewed
    for _, o in pairs(outs) do o:abort() end
    stderr("%s %s answered with the certificate being renewed (serial %s): the server took the request for a resend "
      .. "of the transaction that issued it (transaction ID %s, derived from the key); nothing was renewed. "
      .. "Renew with a new key (without --reuse-key), or ask the server's administrator.",
      result.message_type or "RenewalReq", result.status, result.certificate and result.certificate.serial or "?",
      result.transaction_id or "?")
    return EXIT.failed
  end
  return outputs.finish(args, result, rerr, code, outs)
end

local function cmd_simple(args, fn)
  local ok, verr, vcode = check_common(args)
  if not ok then stderr("%s", verr) return vcode end
  ok, verr, vcode = check_target(args.url, "--url")
  if not ok then stderr("%s", verr) return vcode end
  if args.serial then
    local serial, serr = util.check_hex(args.serial, "--serial")
    if not serial then stderr("%s", serr) return EXIT.usage end
    if #serial > 40 then stderr("--serial: %d hex digits; a serial number has at most 40 (20 bytes)", #serial) return EXIT.usage end
    args.serial = serial
  end
  local cert, err = read(args.cert, "--cert")
  if not cert then stderr("%s", err) return EXIT.input end
  local key, kerr = load_key(args.key, args.key_pass)
  if not key then stderr("%s", kerr) return EXIT.input end
  -- the request names the certificate's issuer and serial and is signed with it: it must be one,
  -- and this key's
  local same, merr = key:matches(cert)
  if same == nil then stderr("--cert %s: %s", args.cert, merr) return EXIT.input end
  if not same then
    stderr("--key %s is not the key of --cert %s (their public keys differ): give the certificate's own key", args.key, args.cert)
    return EXIT.input
  end
  local outs, oerr = outputs.reserve(args)
  if not outs then stderr("%s", oerr) return EXIT.input end
  local c = client_for(args, args.url)
  local result, rerr, code = fn(c, cert, key)
  if result then result.message_type = fn == nil and "" or (args.serial and "GetCert" or "GetCRL") end
  return outputs.finish(args, result, rerr, code, outs)
end

local function cmd_getca(args)
  local ok, verr, vcode = check_common(args)
  if ok then ok, verr, vcode = check_target(args.url, "URL") end
  if not ok then stderr("%s", verr) return vcode end
  local out, oerr
  if args.out then
    out, oerr = sys.reserve(args.out)
    if not out then stderr("--out: %s", oerr) return EXIT.input end
  end
  local c = client_for(args, args.url)
  local r, err, code
  if args.next then r, err, code = c:next_ca() else r, err, code = c:ca_certs() end
  if not r then
    if out then out:abort() end
    stderr("%s", err)
    return CODE_EXIT[code] or 1
  end
  if out then
    local ok, werr = out:commit(table.concat(r.certificates))
    if not ok then stderr("--out: %s", werr) return EXIT.input end
  end
  if args.json then
    local doc = args.next and { certificates = r.certificates, signer = r.signer, content_type = r.content_type } or r
    io.stdout:write(sceplab.json.encode(doc), "\n")
    return 0
  end
  local _, doc = sceplab.decode(table.concat(r.certificates))
  local lines = {}
  if args.next then
    lines[1] = ("GetNextCACert: %d certificate(s), signed by %s"):format(#r.certificates, r.signer or "?")
  end
  require("sceplab.report.decoded").certificates(doc, lines)
  if args.next then
    io.stdout:write(table.concat(lines, "\n"), "\n")
    return 0
  end
  local cas = r
  local roles = {}
  for i, pem in ipairs(cas.certificates) do
    local role = {}
    if pem == cas.ca then role[#role + 1] = "CA" end
    if pem == cas.recipient then role[#role + 1] = "recipient (encrypt to)" end
    if pem == cas.signer then role[#role + 1] = "signer (replies)" end
    roles[i] = table.concat(role, ", ")
  end
  lines[#lines + 1] = ""
  for i, role in ipairs(roles) do lines[#lines + 1] = ("#%d: %s"):format(i, role ~= "" and role or "not used") end
  for _, reason in ipairs(cas.reasons) do lines[#lines + 1] = "  " .. reason end
  if cas.fingerprint_match then lines[#lines + 1] = ("--ca-fingerprint matches #%d"):format(cas.fingerprint_match) end
  io.stdout:write(table.concat(lines, "\n"), "\n")
  return 0
end

local function cmd_caps(args)
  local ok, verr, vcode = check_common(args)
  if ok then ok, verr, vcode = check_target(args.url, "URL") end
  if not ok then stderr("%s", verr) return vcode end
  local c = client_for(args, args.url)
  local caps, err, code = c:caps()
  if not caps then stderr("%s", err) return CODE_EXIT[code] or 1 end
  if args.json then
    io.stdout:write(sceplab.json.encode(caps), "\n")
    return 0
  end
  local implied = {}
  for _, k in ipairs({ "aes", "des3", "sha256", "sha512", "sha1", "post", "renewal", "getnextca", "update" }) do
    if caps[k] then implied[#implied + 1] = k end
  end
  io.stdout:write(("GetCACaps from %s (HTTP %d, %s)\n  advertised  %s\n  usable      %s%s\n"):format(args.url, caps.status,
    ms(caps.timings), table.concat(caps.caps, " "), table.concat(implied, " "),
    caps.scep_standard and "\n  (SCEPStandard implies AES, POSTPKIOperation and SHA-256)" or ""))
  return 0
end

local function cmd_probe(args)
  local ok, verr, vcode = check_common(args)
  if ok then ok, verr, vcode = check_target(args.url, "URL") end
  if not ok then stderr("%s", verr) return vcode end
  local opts = { ca_thumbprint = args.ca_thumbprint, ndes = args.ndes or nil, cacert = args.cacert, pin = args.pin,
                 insecure = args.insecure, proxy = args.proxy, timeout = args.timeout }
  if args.profile then
    local prof, err = sceplab.profile.load(args.profile)
    if not prof then stderr("%s", err) return EXIT.input end
    opts.profile = prof
  end
  if args.root then
    local pem, err = read(args.root, "--root")
    if not pem then stderr("%s", err) return EXIT.input end
    opts.root = pem
  end
  local probe = require "sceplab.scep.probe"
  local report = probe.run(args.url, opts)
  if args.json then
    io.stdout:write(sceplab.json.encode(report), "\n")
  else
    io.stdout:write(probe.render(report, util.colour(1)), "\n")
  end
  -- no HTTP answer at all: a network failure, not a finding about the server
  if report.unreachable then
    stderr("%s: no HTTP answer: %s", args.url, report.unreachable)
    return EXIT.network
  end
  return report.summary.fail > 0 and EXIT.failed or EXIT.ok
end

M.handlers = {
  probe = cmd_probe,
  enroll = cmd_enroll,
  renew = cmd_renew,
  getcert = function(args) return cmd_simple(args, function(c, cert, key) return c:getcert(args.serial, cert, key) end) end,
  getcrl = function(args) return cmd_simple(args, function(c, cert, key) return c:getcrl(cert, key) end) end,
  getca = cmd_getca,
  caps = cmd_caps,
}

return M
