-- CLI: sceplab serve (an NDES-faithful SCEP server) and sceplab ca (its embedded CA).
local util = require "sceplab.cli.util"
local core = require "sceplab.core.serve"
local serve = require "sceplab.serve"
local sys = require "sceplab.core.sys"
local codec = require "sceplab.core.codec"
local json = require "sceplab.json"
local visible = codec.visible

local M = {}
local stderr = util.stderr

local function default_dir() return os.getenv("SCEPLAB_STATE") or "sceplab-state" end

-- The store: --db, else SCEPLAB_DB, else the state directory's ca.db (nil).
local function db_of(args)
  local db = args.db or os.getenv("SCEPLAB_DB")
  if db == "" then return nil end
  return db
end

local function dir_option(c)
  c:option("--dir"):description("The CA's state directory (default: $SCEPLAB_STATE, else ./sceplab-state).")
  c:option("--db"):description("The CA's database: a postgresql:// URL shared by any number of instances (default: $SCEPLAB_DB, else ca.db in the state directory). The keys stay in the state directory.")
end

function M.register(p)
  local s = p:command("serve")
    :description("Serve SCEP as NDES with the Intune connector does (the bare URL 403, RA certificates, PKIOperation over GET and POST) from an embedded CA, with a Lua challenge policy. Runs until Ctrl-C.")
  dir_option(s)
  s:option("--bind"):description("Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)."):default("127.0.0.1")
  s:option("--port"):description("Port (default 8080; 0 for any free one, said on stdout)."):default("8080"):convert(tonumber)
  s:option("--policy"):description("Challenge policy: a bundled one (" .. table.concat(serve.bundled(), ", ") ..
    ") or a Lua file (docs/policies.md). Default: static (SCEPLAB_CHALLENGE)."):default("static")
  s:option("--set"):description("A policy setting, key=value (repeatable); the policy reads ctx.config.key."):count("*")
  s:option("--tls-cert"):description("Serve HTTPS with this certificate (PEM, with its chain).")
  s:option("--tls-key"):description("The TLS certificate's private key (PEM; default: in --tls-cert).")
  s:option("--public-url"):description("Where clients and RADIUS servers fetch the CRL, the CA certificate and OCSP: written into every certificate as its CDP and AIA, and answered by serve at PATH/CertEnroll/ and PATH/ocsp (default: the CA's own, from `sceplab ca init --public-url`, else the address serve listens on).")
  s:option("--caps"):description("GetCACaps, comma-separated (default: " .. table.concat(serve.DEFAULT_CAPS, ",") .. ").")
  s:flag("--ca-only"):description("GetCACert answers the CA alone instead of NDES's two RA certificates and the chain.")
  s:flag("--allow-des"):description("Accept requests enveloped with single DES, as micromdm's scepclient sends (the reply uses 3DES).")
  s:flag("--no-logs"):description("Write no IIS log in DIR/logs.")
  s:option("--admin-user"):description("With a policy that has NDES's admin page (ndes-otp): the user /certsrv/mscep_admin/ asks for (HTTP Basic; the password from SCEPLAB_ADMIN_PASSWORD). Required unless --bind is a loopback address.")
  s:flag("--admin-get-compat"):description("NDES compatibility: a GET of the admin page makes a password, as NDES's does (scrapers expect it). Off: a GET shows a form, and posting it (with its token) makes the password, so a link or an image on another web page cannot.")
  s:option("--max-connections"):description("Connections open at once (default: what `ulimit -n` holds after a reserve, at most 1024); more wait in the backlog."):convert(tonumber)
  s:option("--max-per-client"):description("Connections open at once from one client address (default 64; raise it behind a reverse proxy, whose address is every client's)."):convert(tonumber)
  s:option("--header-timeout"):description("Seconds a client has for a request line and headers, from their first byte; a trickle does not extend it (default 20)."):convert(tonumber)
  s:option("--body-timeout"):description("Seconds a client has for a request body, from the end of its headers (default 60)."):convert(tonumber)
  s:option("--idle-timeout"):description("Seconds an idle keep-alive connection stays open between requests, said in the Keep-Alive header (default 120, as IIS)."):convert(tonumber)
  local fault_names = {}
  for _, f in ipairs(core.faults()) do fault_names[#fault_names + 1] = f.name end
  s:option("--fault"):description("Play a failure as the real system shows it (repeatable): " .. table.concat(fault_names, ", ") .. " (docs/cli.md)."):count("*")
  s:option("--ca-latency"):description("A slow CA: each issuance takes this many milliseconds, inside its database transaction."):convert(tonumber)
  s:option("--password-max"):description("NDES's password cache: how many unused one-time passwords may be outstanding (default 5)."):convert(tonumber)
  s:option("--workers"):description("Processes serving the one listening socket, each with its own CA connection (default: the number of cores; 1: this process alone). A worker that dies is started again; SIGHUP reads the policy and settings again (a new generation of workers, the old one drained); SIGTERM drains."):convert(tonumber)
  s:option("--drain-timeout"):description("Seconds SIGTERM gives requests in flight to finish (default 10)."):convert(tonumber)
  s:option("--metrics-port"):description("Open the admin listener on this port (0: any free one, said on stdout): GET /metrics in Prometheus text format, plain HTTP."):convert(tonumber)
  s:option("--metrics-bind"):description("The admin listener's address (default 127.0.0.1).")
  s:flag("-v --verbose"):description("Print each request's IIS log line and each policy decision on stderr.")

  local c = p:command("ca"):description("The embedded CA of sceplab serve: make it, list and decide its requests, revoke, CRLs, one-time passwords.")
  c:command_target("ca_command")
  local i = c:command("init"):description("Make a CA in the state directory: root and issuing tiers and NDES's two RA certificates.")
  dir_option(i)
  i:option("--key"):description("Key of every tier: rsa:2048 (default), rsa:3072, rsa:4096, ec:p256, ec:p384."):default("rsa:2048")
  i:option("--root-cn"):description("The root's common name."):default("sceplab Root CA")
  i:option("--issuing-cn"):description("The issuing CA's common name."):default("sceplab Issuing CA")
  i:option("--ra-subject"):description("The RA certificates' subject, as NDES's (CN=NDES01-MSCEP-RA,O=Contoso)."):default("CN=SCEPLAB-MSCEP-RA")
  i:option("--root-days"):description("The root's lifetime in days."):default("3650"):convert(tonumber)
  i:option("--issuing-days"):description("The issuing CA's lifetime in days."):default("1825"):convert(tonumber)
  i:flag("--one-tier"):description("One CA that is root and issuer at once.")
  i:option("--pkcs11"):description("Make and keep the CA's and RA's keys in a PKCS#11 token, named by an RFC 7512 URI (pkcs11:token=LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so): the keys never leave it, the state directory keeps their URIs (NAME.p11). The user PIN comes from SCEPLAB_PKCS11_PIN.")
  i:option("--public-url"):description("Where clients fetch the CRL, the CA certificate and OCSP (http://pki.contoso.com): every certificate carries its CDP and AIA; sceplab serve answers at each (default: the address serve listens on).")
  local l = c:command("list"):description("List the requests: transaction ID, state (issued, pending, rejected, revoked), subject, serial.")
  dir_option(l)
  l:flag("--json"):description("As JSON.")
  local a = c:command("approve"):description("Issue a pending request (the client gets it at its next CertPoll).")
  dir_option(a)
  a:argument("transaction_id"):description("The request's transaction ID, or #N when several requests carry it (sceplab ca list).")
  a:option("--days"):description("Lifetime in days (default 365: the policy answered PENDING, not how to issue)."):convert(tonumber)
  a:option("--template"):description("The Microsoft template name extension to set (default: none, whatever the policy would set).")
  a:option("--eku"):description("An extended key usage to set instead of the CSR's, OID or name (repeatable)."):count("*")
  local r = c:command("reject"):description("Reject a pending request (the client gets FAILURE badRequest).")
  dir_option(r)
  r:argument("transaction_id"):description("The request's transaction ID, or #N (sceplab ca list).")
  r:option("--why"):description("Why, for the list."):default("rejected by the administrator")
  local v = c:command("revoke"):description("Revoke a certificate by serial: OCSP says revoked at once, and a new CRL listing it is signed (what serve's CDP and GetCRL hand out).")
  dir_option(v)
  v:argument("serial"):description("The serial in hex (sceplab ca list).")
  v:option("--reason"):description("RFC 5280 reason code (0 unspecified, 1 keyCompromise, 4 superseded, ...)."):default("0"):convert(tonumber)
  local cr = c:command("crl"):description("Write a CRL of the issuing CA (PEM) over every revocation.")
  dir_option(cr)
  cr:option("-o --out"):description("Write it to this file instead of standard output.")
  cr:option("--days"):description("Days until nextUpdate."):default("7"):convert(tonumber)
  local ro = c:command("rollover"):description("CA rollover: make the next issuing CA, which GetNextCACert hands out; --activate switches to it.")
  dir_option(ro)
  ro:option("--days"):description("The next CA's lifetime in days."):default("1825"):convert(tonumber)
  ro:flag("--activate"):description("Switch to the rollover CA made before: it issues from now on, NDES's RA pair is re-issued under it, the old pairs are kept as *-previous-SERIAL.pem.")
  local ch = c:command("challenge"):description("Make a one-time password, as the NDES admin page does (policy ndes-otp).")
  dir_option(ch)
  ch:option("--minutes"):description("How long it stays valid."):default("60"):convert(tonumber)

  local it = p:command("intune"):description("Play Intune for the embedded CA: issue CertEnrollToken challenges, verify them as the connector does, wrap them in a SyncML SCEP profile.")
  it:command_target("intune_command")
  local function claim_options(c)
    dir_option(c)
    c:option("--subject"):description("The subject name the profile resolved for the device (CN=alice,O=Contoso).")
    c:option("--device"):description("The Intune device ID (default: a new GUID).")
    c:option("--user"):description("The user (UPN or object ID); none for a device certificate.")
    c:option("--san"):description("A subject alternative name, TYPE:VALUE with TYPE upn, email, dns or uri (repeatable)."):count("*")
    c:option("--key-bits"):description("The profile's key size."):default("2048"):convert(tonumber)
    c:option("--key-usage"):description("The profile's key usage."):default("digitalSignature,keyEncipherment")
    c:option("--eku"):description("An extended key usage, OID or name (repeatable; default clientAuth)."):count("*")
    c:option("--minutes"):description("How long the challenge is valid."):default("60"):convert(tonumber)
    c:option("--issued-at"):description("When Intune issued it (ISO 8601 UTC; default now): an old time makes an expired challenge.")
    c:option("--request-id"):description("The CertificateRequestId (default: a new one in Intune's form).")
  end
  local tk = it:command("token"):description("Issue a CertEnrollToken (base64) for a device, signed with the state's Intune signing certificate; with --client-id, get an OAuth access token from Entra ID (or sceplab intune cloud) instead.")
  claim_options(tk)
  tk:option("-o --out"):description("Write it to this file (0600) instead of standard output.")
  tk:option("--client-id"):description("Get an access token for this app (client credentials; the secret from SCEPLAB_INTUNE_CLIENT_SECRET, or --client-cert) instead of a CertEnrollToken.")
  tk:option("--tenant"):description("With --client-id: the tenant (ID or domain).")
  tk:option("--authority"):description("With --client-id: the token endpoint's base URL (default https://login.microsoftonline.com; sceplab intune cloud's URL in a lab).")
  tk:option("--scope"):description("With --client-id: intune (default, https://api.manage.microsoft.com/.default), graph, or a scope.")
  tk:option("--client-cert"):description("With --client-id: sign a client assertion with this certificate (PEM) instead of a secret.")
  tk:option("--client-key"):description("The --client-cert's private key (PEM; default: in --client-cert).")
  tk:option("--proxy"):description("With --client-id: an HTTP(S) proxy URL.")
  local cl = it:command("cloud"):description("Play Intune's cloud side for a third-party CA: Entra ID's token endpoint, Graph's service discovery, the SCEP validation service and the PKI connector's revocation calls (docs/intune-third-party.md). Runs until Ctrl-C.")
  dir_option(cl)
  cl:option("--bind"):description("Address to listen on."):default("127.0.0.1")
  cl:option("--port"):description("Port (0 for any free one, said on stdout)."):default("8090"):convert(tonumber)
  cl:option("--tenant"):description("The tenant the app is registered in."):default("contoso.onmicrosoft.com")
  cl:option("--client-id"):description("The app registration's application (client) ID."):default("b3bcd8e2-6f4a-4c1e-9d3e-5ab5c0ffee01")
  cl:option("--client-cert"):description("A certificate (PEM) registered for the app: client assertions signed with its key are accepted (repeatable). The client secret comes from SCEPLAB_INTUNE_CLIENT_SECRET."):count("*")
  cl:option("--record"):description("Append each call received (token, discovery, validateRequest, notifications, revocation) to this file as JSON lines.")
  cl:option("--token-lifetime"):description("Seconds an access token is valid (default 3599)."):convert(tonumber)
  cl:option("--tls-cert"):description("Serve HTTPS with this certificate (PEM, with its chain).")
  cl:option("--tls-key"):description("The TLS certificate's private key (PEM; default: in --tls-cert).")
  cl:option("--fault"):description("Play a failure of the cloud (repeatable): token-401, secret-expired, assertion-refused, no-permission, discovery-without-service, service-5xx, service-timeout, service-slow, notification-slow, token-timeout, or code=NAME (validateRequest answers NAME, e.g. code=ChallengeExpired)."):count("*")
  local vf = it:command("verify"):description("Verify a token as the connector does (phase 1 signature and decryption, phase 2 expiry) and print its claims.")
  dir_option(vf)
  vf:argument("token"):description("The token: a file, or the base64 text.")
  vf:flag("--json"):description("As JSON.")
  local pf = it:command("profile"):description("Write the SyncML SCEP profile Intune sends a Windows device (ClientCertificateInstall), around a new token or --token.")
  claim_options(pf)
  pf:option("--token"):description("Wrap this token (a file or the text) instead of issuing one.")
  pf:option("--url"):description("The SCEP server URL(s) the profile names (repeatable; default http://127.0.0.1:8080/certsrv/mscep/mscep.dll)."):count("*")
  pf:option("--scope"):description("User or Device (default: User when the token names a user).")
  pf:option("--template"):description("TemplateName to put in the profile.")
  pf:option("-o --out"):description("Write it to this file instead of standard output.")
end

local function open_ca(args)
  local ca, err, code = core.ca_open(args.dir or default_dir(), db_of(args))
  if not ca then stderr("%s", err) return nil, code == "usage" and 2 or 3 end
  return ca
end

local function pem(der, label)
  local b, lines = codec.b64encode(der), {}
  for i = 1, #b, 64 do lines[#lines + 1] = b:sub(i, i + 63) end
  return ("-----BEGIN %s-----\n%s\n-----END %s-----\n"):format(label, table.concat(lines, "\n"), label)
end

local function write_out(path, text, private)
  if not path then io.stdout:write(text) return 0 end
  local out, err = sys.reserve(path, private and true or false)
  if not out then stderr("%s", err) return 1 end
  local ok, werr = out:commit(text)
  if not ok then stderr("%s", werr) return 1 end
  return 0
end

local function run_ca(args)
  local cmd = args.ca_command
  if cmd == "init" then
    local dir = args.dir or default_dir()
    local ok, err, code = core.ca_init(dir, { key = args.key, root_cn = args.root_cn, issuing_cn = args.issuing_cn,
      ra_subject = args.ra_subject, root_days = math.tointeger(args.root_days), issuing_days = math.tointeger(args.issuing_days),
      one_tier = args.one_tier, db = db_of(args), public_url = args.public_url, pkcs11 = args.pkcs11 })
    if not ok then stderr("%s", err) return code == "usage" and 2 or 1 end
    io.stdout:write(args.pkcs11 and ("CA made in %s: root.pem, ca.pem (issuing), ra-sign.pem and ra-encrypt.pem, keys in the token (NAME.p11 names each)\n"):format(dir)
      or ("CA made in %s: root.pem, ca.pem (issuing), ra-sign.pem and ra-encrypt.pem, keys 0600\n"):format(dir))
    return 0
  end
  local ca, code = open_ca(args)
  if not ca then return code end
  if cmd == "list" then
    local list, err = ca:list()
    if not list then stderr("%s", err) return 1 end
    if args.json then io.stdout:write(json.encode(json.array(list)), "\n") return 0 end
    -- a transaction ID, a subject and a policy's reason are what a device chose: one line each
    for _, r in ipairs(list) do
      io.stdout:write(visible(("%-9s %s  %s%s%s  #%d"):format(r.state, r.transaction_id, r.subject or "-",
        r.serial and ("  serial " .. r.serial) or "", r.why and ("  (" .. r.why .. ")") or "", r.id), true), "\n")
    end
    if #list == 0 then io.stdout:write("no requests yet\n") end
    return 0
  elseif cmd == "approve" then
    local days = args.days and math.tointeger(args.days)
    if args.days and (not days or days < 1 or days > 36500) then stderr("--days must be 1..36500") return 2 end
    local der, err = ca:approve(args.transaction_id, { days = days, template = args.template,
                                                      ekus = #args.eku > 0 and args.eku or nil })
    if not der then stderr("%s", err) return 1 end
    io.stdout:write("issued: the client gets the certificate at its next CertPoll\n")
    return 0
  elseif cmd == "reject" then
    local ok, err = ca:reject(args.transaction_id, args.why)
    if not ok then stderr("%s", err) return 1 end
    io.stdout:write("rejected: the client gets FAILURE badRequest at its next CertPoll\n")
    return 0
  elseif cmd == "revoke" then
    local ok, err = ca:revoke(args.serial, math.tointeger(args.reason) or 0)
    if not ok then stderr("%s", err) return 1 end
    -- the CRL is signed anew now, at the revocation: serve's CDP and GetCRL hand it out as it is
    local crl, cerr = ca:crl(7)
    if not crl then stderr("revoked %s, but the new CRL cannot be made: %s", args.serial:upper(), cerr) return 1 end
    io.stdout:write(("revoked %s; the CRL is signed anew\n"):format(args.serial:upper()))
    return 0
  elseif cmd == "crl" then
    local der, err = ca:crl(math.tointeger(args.days) or 7)
    if not der then stderr("%s", err) return 1 end
    return write_out(args.out, pem(der, "X509 CRL"))
  elseif cmd == "rollover" then
    local ok, err
    if args.activate then ok, err = ca:activate() else ok, err = ca:rollover(math.tointeger(args.days) or 1825) end
    if not ok then stderr("%s", err) return 1 end
    io.stdout:write(args.activate and "activated: the rollover CA issues from now on (restart sceplab serve)\n"
      or "next-ca.pem made: GetNextCACert hands it out (restart sceplab serve), `--activate` switches to it\n")
    return 0
  elseif cmd == "challenge" then
    local pw, err = ca:challenge(math.tointeger(args.minutes) or 60)
    if not pw then stderr("%s", err) return 1 end
    io.stdout:write(pw, "\n")
    return 0
  end
  stderr("ca: give a command (init, list, approve, reject, revoke, crl, rollover, challenge)")
  return 2
end

local function token_arg(v)
  if sys.kind(v) == "file" then
    local text, err = sys.read_file(v, 1 << 20)
    if not text then return nil, err end
    return (text:gsub("%s+", ""))
  end
  return v
end

local function make_token(ca, args)
  if not args.subject then return nil, "--subject is required (the subject name the profile resolved to)", 2 end
  local issued
  if args.issued_at then
    issued = (require "sceplab.time").parse(args.issued_at)
    if not issued then return nil, ("--issued-at '%s': expected an ISO 8601 time"):format(args.issued_at), 2 end
    issued = math.floor(issued)
  end
  for _, sn in ipairs(args.san or {}) do
    local t = sn:match("^(%w+):.")
    if not t or not (require "sceplab.serve.intune").SAN_CODES[t:lower()] then
      return nil, ("--san '%s': expected TYPE:VALUE with TYPE upn, email, dns or uri"):format(sn), 2
    end
  end
  local ekus = args.eku and #args.eku > 0 and args.eku or { "clientAuth" }
  local minutes = math.tointeger(args.minutes)
  if not minutes or minutes < 1 then return nil, "--minutes must be a positive integer", 2 end
  local tok, err = ca:intune_token({ device_id = args.device, user_id = args.user, subject = args.subject, san = args.san,
    key_bits = math.tointeger(args.key_bits), key_usage = args.key_usage, ekus = ekus, minutes = minutes,
    issued_at = issued, request_id = args.request_id })
  if not tok then return nil, err, 1 end
  return tok
end

local function print_claims(c)
  local w = function(k, v) if v then io.stdout:write(("%-20s %s\n"):format(k, visible(v, true))) end end
  w("device", c.device_id)
  w("user", c.user_id)
  w("subject", c.subject)
  local sans = {}
  for _, s in ipairs(c.san or {}) do sans[#sans + 1] = s.type .. ":" .. s.value end
  if #sans > 0 then w("san", table.concat(sans, ", ")) end
  w("key bits", c.key_bits and tostring(c.key_bits))
  w("key usage", c.key_usage and table.concat(c.key_usage, ","))
  w("ekus", c.ekus and table.concat(c.ekus, ","))
  w("request id", c.request_id)
  w("issued at", c.issued_at)
  w("expires at", c.expires_at)
  w("signed by", c.signer_thumbprint)
end

-- sceplab intune token --client-id: an access token by client credentials.
local function access_token(args)
  if not args.tenant then stderr("--client-id needs --tenant") return 2 end
  local scope = args.scope or "intune"
  local codes = require "sceplab.serve.intune_codes"
  scope = scope == "intune" and codes.INTUNE_SCOPE or scope == "graph" and codes.GRAPH_SCOPE or scope
  local ok, client = pcall((require "sceplab.serve.intune_api").client, { tenant = args.tenant, client_id = args.client_id,
    authority = args.authority, client_cert = args.client_cert, client_key = args.client_key, proxy = args.proxy })
  if not ok then stderr("%s", client) return 2 end
  local tok, err, code = client.token(scope)
  client.close()
  if not tok then stderr("%s", err) return (code == "network" or code == "timeout") and 4 or 1 end
  return write_out(args.out, tok .. "\n", true)
end

-- sceplab intune cloud: the stand-in, until a signal.
local function run_cloud(args, ca)
  local faults, code = {}, nil
  local cloud = require "sceplab.serve.cloud"
  local codes = require "sceplab.serve.intune_codes"
  for _, f in ipairs(args.fault or {}) do
    local c = f:match("^code=(%w+)$")
    if c then
      if not codes.CODES[c] or c == "Success" then stderr("--fault code=%s: not a validation error code (%s)", c, table.concat(codes.ORDER, ", ")) return 2 end
      code = c
    elseif cloud.FAULTS[f] then
      faults[f] = true
    else
      stderr("--fault '%s': unknown (sceplab intune cloud --help lists them)", f) return 2
    end
  end
  local certs = {}
  for _, path in ipairs(args.client_cert or {}) do
    local text, err = sys.read_file(path, 1 << 20)
    if not text then stderr("%s", err) return 3 end
    certs[#certs + 1] = text
  end
  local port = math.tointeger(args.port)
  if not port or port < 0 or port > 65535 then stderr("--port must be 0..65535") return 2 end
  if not (args.bind:match("^[%w.%-]+$") or args.bind:match("^[%x:]+$")) or #args.bind > 63 then
    stderr("--bind '%s': expected an address such as 127.0.0.1, 0.0.0.0 or ::", args.bind:sub(1, 80))
    return 2
  end
  if args.tls_key and not args.tls_cert then stderr("--tls-key needs --tls-cert") return 2 end
  local life = args.token_lifetime and math.tointeger(args.token_lifetime)
  if args.token_lifetime and (not life or life < 1) then stderr("--token-lifetime must be a positive integer") return 2 end
  local secret = os.getenv("SCEPLAB_INTUNE_CLIENT_SECRET")
  if (not secret or secret == "") and #certs == 0 then
    stderr("the app needs a credential: SCEPLAB_INTUNE_CLIENT_SECRET in the environment, or --client-cert") return 2
  end
  local ok, err, ecode = cloud.run({ ca = ca, bind = args.bind, port = port, tenant = args.tenant, client_id = args.client_id,
    secret = secret ~= "" and secret or nil, client_certs = certs, faults = faults, code = code, record = args.record,
    token_lifetime = life, tls_cert = args.tls_cert, tls_key = args.tls_key,
    ready = function(base)
      io.stdout:write("listening on ", base, "\n")
      io.stdout:flush()
      io.stderr:write(("sceplab: Intune's cloud for tenant %s, app %s; serve with --policy intune-api --set tenant=%s " ..
        "--set client_id=%s --set authority=%s --set graph=%s; Ctrl-C stops\n"):format(args.tenant, args.client_id,
        args.tenant, args.client_id, base, base))
    end })
  if not ok then stderr("%s", err) return ecode == "network" and 4 or ecode == "usage" and 2 or 1 end
  return 0
end

local function run_intune(args)
  local cmd = args.intune_command
  if cmd == "token" and args.client_id then return access_token(args) end
  local ca, code = open_ca(args)
  if not ca then return code end
  if cmd == "token" then
    local tok, err, ecode = make_token(ca, args)
    if not tok then stderr("%s", err) return ecode end
    return write_out(args.out, tok .. "\n", true)
  elseif cmd == "verify" then
    local tok, rerr = token_arg(args.token)
    if not tok then stderr("%s", rerr) return 3 end
    local c, err, reason, phase, crp, hr = ca:intune_verify(tok)
    if not c then
      if args.json then
        io.stdout:write(json.encode({ valid = false, phase = phase, reason = reason, error = crp, message = err }), "\n")
      else
        io.stdout:write(("phase %d failed: %s (%s, %s 0x%x)\n"):format(phase, err, reason, crp, hr))
      end
      return 1
    end
    if args.json then
      c.valid = true
      io.stdout:write(json.encode(c), "\n")
    else
      io.stdout:write("phase 1 (signature, decryption) and phase 2 (expiry) passed\n")
      print_claims(c)
    end
    return 0
  elseif cmd == "profile" then
    local tok, err, ecode
    if args.token then
      tok, err = token_arg(args.token)
      ecode = 3
    else
      tok, err, ecode = make_token(ca, args)
    end
    if not tok then stderr("%s", err) return ecode end
    local claims, verr = ca:intune_verify(tok)
    if not claims then stderr("the token does not verify against %s: %s", args.dir or default_dir(), verr) return 1 end
    local certs = ca:certificates()
    local root = certs.root:gsub("%-%-%-%-%-[^\n]*%-%-%-%-%-", ""):gsub("%s", "")
    local urls = args.url and #args.url > 0 and args.url or { "http://127.0.0.1:8080/certsrv/mscep/mscep.dll" }
    local doc, perr = (require "sceplab.serve.intune").profile({ token = tok, claims = claims, urls = urls,
      root_der_b64 = root, ca_thumbprint = ca:thumbprint("root"), scope = args.scope, template = args.template })
    if not doc then stderr("%s", perr) return 1 end
    return write_out(args.out, doc, true)
  end
  if cmd == "cloud" then return run_cloud(args, ca) end
  stderr("intune: give a command (token, verify, profile, cloud)")
  return 2
end

-- serve's options from args: the table serve.run takes | nil, message, exit code.
local function serve_opts(args)
  local dir = args.dir or default_dir()
  local db = db_of(args)
  local config = {}
  if os.getenv("SCEPLAB_CHALLENGE") then config.challenge = os.getenv("SCEPLAB_CHALLENGE") end
  for _, kv in ipairs(args.set or {}) do
    local k, v = kv:match("^([%w_]+)=(.*)$")
    if not k then return nil, ("--set '%s': expected key=value"):format(kv), 2 end
    config[k] = v
  end
  local caps
  if args.caps then
    caps = {}
    for c in args.caps:gmatch("[^,%s]+") do caps[#caps + 1] = c end
  end
  if args.tls_key and not args.tls_cert then return nil, "--tls-key needs --tls-cert", 2 end
  local known = {}
  for _, f in ipairs(core.faults()) do known[f.name] = true end
  for _, f in ipairs(args.fault or {}) do
    if not known[f] then return nil, ("--fault '%s': unknown (sceplab serve --help lists them)"):format(f), 2 end
  end
  if args.admin_user and not os.getenv("SCEPLAB_ADMIN_PASSWORD") then
    return nil, "--admin-user needs SCEPLAB_ADMIN_PASSWORD (kept out of the command line)", 2
  end
  local pmax = args.password_max and math.tointeger(args.password_max)
  if args.password_max and (not pmax or pmax < 1) then return nil, "--password-max must be a positive integer", 2 end
  if args.ca_latency and (not math.tointeger(args.ca_latency) or args.ca_latency < 0 or args.ca_latency > 600000) then
    return nil, "--ca-latency must be 0..600000 milliseconds", 2
  end
  local port = math.tointeger(args.port)
  if not port or port < 0 or port > 65535 then return nil, "--port must be 0..65535", 2 end
  for _, b in ipairs({ { "--bind", args.bind }, { "--metrics-bind", args.metrics_bind } }) do
    local v = b[2]
    if v and (not (v:match("^[%w.%-]+$") or v:match("^[%x:]+$")) or #v > 63) then
      return nil, ("%s '%s': expected an address such as 127.0.0.1, 0.0.0.0 or ::"):format(b[1], v:sub(1, 80)), 2
    end
  end
  local mport = args.metrics_port and math.tointeger(args.metrics_port)
  if args.metrics_port and (not mport or mport < 0 or mport > 65535) then return nil, "--metrics-port must be 0..65535", 2 end
  if args.metrics_bind and not args.metrics_port then return nil, "--metrics-bind needs --metrics-port", 2 end
  local workers = args.workers and math.tointeger(args.workers)
  if args.workers and (not workers or workers < 1 or workers > 256) then return nil, "--workers must be 1..256", 2 end
  local drain = args.drain_timeout and math.tointeger(args.drain_timeout)
  if args.drain_timeout and (not drain or drain < 1 or drain > 3600) then return nil, "--drain-timeout must be 1..3600 seconds", 2 end
  local limits = {}
  for _, k in ipairs({ "max_connections", "max_per_client", "header_timeout", "body_timeout", "idle_timeout" }) do
    local v = args[k]
    if v ~= nil then
      local n = math.tointeger(v)
      if not n or n < 1 or n > 1000000 then return nil, ("--%s must be a whole number from 1 to 1000000"):format((k:gsub("_", "-"))), 2 end
      limits[k] = n
    end
  end
  return {
    dir = dir, db = db, workers = workers, drain_seconds = drain, metrics_port = mport, metrics_bind = args.metrics_bind, policy = args.policy, config = config, bind = args.bind, port = port,
    tls_cert = args.tls_cert, tls_key = args.tls_key, caps = caps, ca_only = args.ca_only, allow_des = args.allow_des,
    logs = not args.no_logs, admin_user = args.admin_user, admin_password = os.getenv("SCEPLAB_ADMIN_PASSWORD"),
    faults = args.fault, password_max = pmax, public_url = args.public_url, ca_latency_ms = args.ca_latency and math.tointeger(args.ca_latency) or nil,
    admin_get_compat = args.admin_get_compat, max_connections = limits.max_connections,
    max_per_client = limits.max_per_client, header_timeout = limits.header_timeout, body_timeout = limits.body_timeout,
    idle_timeout = limits.idle_timeout,
    ready = function(url, pol, extra)
      io.stdout:write("listening on ", url, "\n")
      if extra and extra.metrics then io.stdout:write("metrics on ", extra.metrics, "\n") end
      io.stdout:flush()
      io.stderr:write(("sceplab: policy %s (%s), CA %s%s; Ctrl-C stops\n"):format(args.policy, pol.description, dir,
        extra and extra.workers and extra.workers > 1 and (", %d workers"):format(extra.workers) or ""))
      if pol.admin_page then
        local admin = url:gsub("/mscep/mscep%.dll$", "/mscep_admin/")
        io.stderr:write(("sceplab: admin page %s hands out one-time passwords (%s)%s\n"):format(admin,
          args.admin_user and ("to " .. args.admin_user) or "to loopback clients, no credentials",
          args.admin_user and not args.tls_cert and "; its password crosses the network in clear without --tls-cert" or ""))
      end
    end,
    -- each line from the server is one line here, whatever a device put in it
    logged = args.verbose and function(line) io.stderr:write(visible((line:gsub("\n$", "")), true), "\n") end or nil,
    on_decision = args.verbose and function(req, a)
      io.stderr:write(visible(("sceplab: %s %s %s: %s%s"):format(req.message_type, req.transaction_id, req.subject or "-",
        a.decision, a.reason and (" (" .. a.reason .. ")") or ""), true), "\n")
    end or nil,
    say = function(line) io.stderr:write("sceplab: ", line, "\n") end,
  }
end

local function run_serve(args)
  local dir = args.dir or default_dir()
  local opts, oerr, ocode = serve_opts(args)
  if not opts then stderr("%s", oerr) return ocode end
  if sys.kind(dir .. (opts.db and "/root.pem" or "/ca.db")) ~= "file" then
    -- one command gives a working server: a CA is made the first time
    local ok, err, code = core.ca_init(dir, { db = opts.db })
    if not ok then stderr("%s", err) return code == "usage" and 2 or 1 end
    io.stderr:write(("sceplab: made a new CA in %s (root.pem is the trusted root to give clients)\n"):format(dir))
  end
  -- SIGHUP: the command line read again, with the settings files as they are now
  opts.reread = function()
    local again, aerr = util.args_again()
    if not again then return nil, aerr end
    local o, e = serve_opts(again)
    return o, e
  end
  local ok, err, code = serve.run(opts)
  if not ok then
    stderr("%s", err)
    -- an address in use or not on this host is the machine's state, not a mistake in the command
    -- line: exit 4, as for any failure to talk on the network (docs/cli.md); a --bind that names
    -- no address is a usage error (2)
    if code == "network" then return 4 end
    return code == "usage" and 2 or code == "input" and 3 or 1
  end
  return 0
end

function M.run(args)
  if args.command == "ca" then return run_ca(args) end
  if args.command == "intune" then return run_intune(args) end
  return run_serve(args)
end

return M
