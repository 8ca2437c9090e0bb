-- `sceplab probe URL`: the checks an Intune admin runs against a SCEP URL by hand, each a named
-- check with ok, warn, fail (or info), the evidence, and what to do. Causes and fixes follow
-- Microsoft's NDES troubleshooting guidance (../shared/seeds/004_*).
local sceplab = require "sceplab.pure"
local http = require "sceplab.core.http"
local core = require "sceplab.core.scep"
local codec = require "sceplab.core.codec"
local scep = require "sceplab.scep"
local catalog = require "sceplab.catalog"

local M = {}

local function add(report, id, status, summary, evidence, fix)
  local c = { id = id, status = status, summary = summary, evidence = evidence, fix = fix }
  report.checks[#report.checks + 1] = c
  report.summary[status] = (report.summary[status] or 0) + 1
  return c
end

-- What each status on the bare SCEP URL means for NDES with the Intune connector: the catalog the
-- ndes-http playbook reads too, so a live URL and a log line get the same cause and fix. A 500 may
-- also be the impersonation right (IIS logs win32 status 1346, which a client cannot see).
local BARE = {}
for status, c in pairs(catalog.HTTP) do
  local fix = { c.cause }
  for _, f in ipairs(c.fix) do fix[#fix + 1] = f end
  if status == 500 then
    fix[#fix + 1] = catalog.IMPERSONATION.cause
    for _, f in ipairs(catalog.IMPERSONATION.fix) do fix[#fix + 1] = f end
  end
  BARE[status] = { ("HTTP %d: %s"):format(status, c.title:gsub(" %(HTTP %d+%)$", "")), fix, c.id }
end

local function host_of(url)
  local h = url:match("^https?://%[([^%]]+)%]") or url:match("^https?://([^/:?#]+)")
  return h and h:lower()
end

local function name_matches(pattern, host)
  pattern = pattern:lower()
  if pattern == host then return true end
  local suffix = pattern:match("^%*(%..+)$")
  if suffix and host:sub(-#suffix) == suffix then
    local label = host:sub(1, #host - #suffix)
    return label ~= "" and not label:find(".", 1, true)
  end
  return false
end

local function days_left(not_after)
  local y, mo, d, h, mi, s = not_after:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z$")
  if not y then return nil end
  local t = os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h), min = tonumber(mi), sec = tonumber(s) })
  local now = os.time(os.date("!*t"))
  return math.floor((t - now) / 86400)
end

local function ms(t) return t and string.format("%.0f ms", t.total * 1000) or "-" end

local function transport(opts)
  return { proxy = opts.proxy, cacert = opts.cacert, pin = opts.pin, insecure = opts.insecure, timeout = opts.timeout }
end

local function get(url, opts, extra)
  local req = transport(opts)
  req.method, req.url = "GET", url
  for k, v in pairs(extra or {}) do req[k] = v end
  return http.request(req)
end

local function tls_error(err)
  return err and (err:find("SSL") or err:find("certificate") or err:find("TLS")) ~= nil
end

local function check_bare(report, url, opts)
  local resp, err, _, partial = get(url, opts)
  report.timings[#report.timings + 1] = { call = "bare URL", timings = (resp or partial or {}).timings }
  if not resp and tls_error(err) and not opts.insecure then
    -- The TLS problem is the tls check's finding; the remaining checks go on without verification.
    report.tls_error = err
    report.continued_insecure = true
    opts.insecure = true
    resp, err = get(url, opts)
  end
  if not resp then
    add(report, "bare-url", "fail", "no HTTP answer: " .. err, { error = err },
      { "Check DNS and the network path to the server; behind the Entra application proxy, that the connector service runs." })
    -- nothing answered (name not resolved, connection refused or timed out, TLS not spoken): every
    -- other check would only repeat it, and their server-side advice (IIS request filtering, RA
    -- certificates) would mislead
    report.unreachable = err
    return nil
  end
  report.server = resp.server
  if report.ndes == nil then
    report.ndes = (resp.server or ""):match("Microsoft%-IIS") ~= nil or url:lower():find("mscep", 1, true) ~= nil
  end
  local ev = { status = resp.status, server = resp.server, content_type = resp.content_type,
               tls_verified = not report.continued_insecure }
  local st = resp.status
  if st == 403 then
    add(report, "bare-url", "ok", "HTTP 403 Forbidden, as NDES with the Intune connector answers", ev)
  elseif st == 200 and (resp.body:find("Network Device Enrollment Service", 1, true)) then
    add(report, "bare-url", "fail", "the generic NDES page: the Intune Certificate Connector is not installed or not registered", ev, {
      "Check SetupMsi.log of the connector for 'Installation success or error status: 0'.",
      "If the installation failed, remove and reinstall the Microsoft Intune Connector; if it succeeded, run iisreset." })
  elseif st == 200 then
    add(report, "bare-url", report.ndes and "fail" or "info", "HTTP 200 on the bare URL" ..
      (report.ndes and ": NDES with the Intune connector answers 403 here; the connector is not intercepting requests" or " (not NDES: no 403 expected)"),
      ev, report.ndes and { "Check the Intune Certificate Connector installation (SetupMsi.log) and run iisreset." } or nil)
  elseif BARE[st] and (report.ndes or st ~= 500) then
    add(report, "bare-url", "fail", BARE[st][1], ev, BARE[st][2])
  else
    add(report, "bare-url", report.ndes and "warn" or "info", ("HTTP %d on the bare URL%s"):format(st,
      report.ndes and "" or " (not NDES: SCEP servers may refuse a request without an operation)"), ev)
  end
  return resp
end

local function check_tls(report, url, opts, any_resp)
  if not url:match("^https://") then
    add(report, "tls", "info", "plain HTTP: no TLS to check (SCEP messages are encrypted, but the URL and timings are not)")
    return
  end
  local host = host_of(url)
  local chain = any_resp and any_resp.tls_chain
  local verify_err = report.tls_error
  if not chain then
    local r2 = get(url, { insecure = true, proxy = opts.proxy, timeout = opts.timeout })
    chain = r2 and r2.tls_chain
  end
  if not chain then
    add(report, "tls", "fail", "no TLS certificate could be read from the server", { error = verify_err })
    return
  end
  local kind, doc = sceplab.decode(chain)
  if kind ~= "certificates" then
    add(report, "tls", "warn", "the server's TLS certificates could not be decoded")
    return
  end
  local leaf = doc.certificates[1]
  local names = {}
  for _, s in ipairs(leaf.san or {}) do
    if s.type == "dns" or s.type == "ip" then names[#names + 1] = s.value end
  end
  if #names == 0 then
    for _, r in ipairs(leaf.subject_rdns or {}) do if r.type == "CN" then names[#names + 1] = r.value end end
  end
  local covered = false
  for _, n in ipairs(names) do covered = covered or name_matches(n, host) end
  local ev = { subject = leaf.subject, issuer = leaf.issuer, names = names, not_after = leaf.not_after,
               chain_length = doc.count, verify_error = verify_err,
               note = report.continued_insecure and "the other checks ran without TLS verification" or nil }
  local left = days_left(leaf.not_after)
  if not covered then
    add(report, "tls", "fail", ("the TLS certificate does not name %s (it names %s): devices and NDESPlugin fail with error 12175 (CERT_CN_INVALID)")
      :format(host, #names > 0 and table.concat(names, ", ") or "nothing"), ev, {
        "Reissue the SSL certificate with the external name as CN and SANs for both the external and internal names, then bind it in IIS." })
  elseif leaf.expired then
    add(report, "tls", "fail", "the TLS certificate expired on " .. leaf.not_after, ev, { "Renew the SSL certificate and rebind it in IIS." })
  elseif verify_err then
    add(report, "tls", "fail", "TLS verification failed: " .. verify_err, ev,
      { "Make sure the chain (intermediates included) is served and the root is trusted by the devices." })
  elseif left and left < 30 then
    add(report, "tls", "warn", ("the TLS certificate expires in %d day(s)"):format(left), ev, { "Renew the SSL certificate." })
  else
    add(report, "tls", "ok", ("the TLS certificate names %s and is valid until %s"):format(host, leaf.not_after), ev)
  end
end

local function check_caps(report, client)
  local caps, err = client:caps()
  if not caps then
    add(report, "getcacaps", "fail", err, nil, { "GetCACaps must answer 200 with the capability list; see the bare-url check." })
    return nil
  end
  report.timings[#report.timings + 1] = { call = "GetCACaps", timings = caps.timings }
  local ev = { caps = caps.caps }
  if #caps.caps == 0 then
    add(report, "getcacaps", "warn", "GetCACaps answered with no capabilities: clients fall back to GET, DES3 and SHA-1", ev)
  elseif not caps.post then
    add(report, "getcacaps", "warn", "no POSTPKIOperation: every request travels in a long GET URL (see long-url)", ev)
  elseif not caps.aes or not (caps.sha256 or caps.sha512) then
    add(report, "getcacaps", "warn", "no AES or no SHA-2 advertised: enrollments use DES3/SHA-1", ev)
  else
    add(report, "getcacaps", "ok", "advertises " .. table.concat(caps.caps, ", "), ev)
  end
  return caps
end

local function cert_summary(pem)
  local _, doc = sceplab.decode(pem)
  return doc and doc.certificates[1]
end

local function check_cacert(report, client)
  local cas, err = client:ca_certs()
  if not cas then
    add(report, "getcacert", "fail", err)
    return nil
  end
  report.timings[#report.timings + 1] = { call = "GetCACert", timings = cas.timings }
  local list, problems, warns = {}, {}, {}
  local ra_sign, ra_enc = false, false
  for i, pem in ipairs(cas.certificates) do
    local c = cert_summary(pem)
    local role = c.ca and (c.self_signed and "root" or "issuing CA") or "RA"
    local ku = {}
    for _, k in ipairs(c.key_usage or {}) do ku[k] = true end
    if role == "RA" then
      ra_sign = ra_sign or ku.digitalSignature or false
      ra_enc = ra_enc or ku.keyEncipherment or ku.dataEncipherment or false
    end
    local left = days_left(c.not_after)
    if c.expired then problems[#problems + 1] = ("#%d %s (%s) expired on %s"):format(i, c.subject, role, c.not_after)
    elseif left and left < 30 then warns[#warns + 1] = ("#%d %s (%s) expires in %d day(s)"):format(i, c.subject, role, left) end
    list[#list + 1] = { n = i, subject = c.subject, role = role, not_after = c.not_after, key_usage = c.key_usage,
                        sha1 = c.sha1, sha256 = c.sha256 }
  end
  local ev = { certificates = list, reasons = cas.reasons }
  if #problems > 0 then
    add(report, "getcacert", "fail", table.concat(problems, "; "), ev, {
      "Expired MSCEP-RA certificates: reinstall the NDES role or request new CEP Encryption and Exchange Enrollment Agent (Offline request) certificates." })
  elseif client:is_ndes() and not (ra_sign and ra_enc) then
    add(report, "getcacert", "warn", "NDES normally returns two RA certificates: one with digitalSignature (Exchange Enrollment Agent) and one with keyEncipherment (CEP Encryption); "
      .. (ra_sign and "the encryption one is missing" or ra_enc and "the signing one is missing" or "neither was found"), ev)
  elseif #warns > 0 then
    add(report, "getcacert", "warn", table.concat(warns, "; "), ev, { "Renew the certificates before they expire." })
  else
    add(report, "getcacert", "ok", ("%d certificate(s): %s"):format(#list, table.concat((function()
      local t = {} for _, c in ipairs(list) do t[#t + 1] = c.role end return t end)(), ", ")), ev)
  end
  return cas, list
end

local function check_thumbprint(report, want, list, root_pem)
  if not want then
    add(report, "ca-thumbprint", "info", "no CAThumbprint given (--ca-thumbprint or a profile's ca_thumbprint)")
    return
  end
  local w = want:gsub("[^%x]", ""):upper()
  local candidates = {}
  for _, c in ipairs(list) do candidates[#candidates + 1] = c end
  if root_pem then
    local r = cert_summary(root_pem)
    if r then candidates[#candidates + 1] = { subject = r.subject, role = "root (--root)", sha1 = r.sha1, sha256 = r.sha256 } end
  end
  for _, c in ipairs(candidates) do
    if c.sha1 == w or c.sha256 == w then
      local ev = { matched = c.subject, role = c.role }
      if c.role:match("^root") then
        add(report, "ca-thumbprint", "ok", ("%s matches the root %s"):format(w, c.subject), ev)
      elseif c.role == "issuing CA" then
        add(report, "ca-thumbprint", "warn", ("%s matches the issuing CA %s, not the root"):format(w, c.subject), ev, {
          "Windows checks CAThumbprint against the root of NDES's chain. In a multi-tier PKI, Intune expects the trusted certificate profile of the CA NDES is configured with; make sure the device trusts the whole chain (deploy root and intermediate profiles to the same group)." })
      else
        add(report, "ca-thumbprint", "fail", ("%s matches an RA certificate (%s), not a CA"):format(w, c.subject), ev, {
          "Point the trusted certificate profile at the root CA certificate, not at the NDES RA certificate." })
      end
      return
    end
  end
  local top = list[#list]
  local has_root = false
  for _, c in ipairs(candidates) do has_root = has_root or c.role:match("^root") ~= nil end
  if not has_root then
    add(report, "ca-thumbprint", "warn", ("%s matches nothing GetCACert returned, and the root is not among them; give the root with --root to decide"):format(w),
      { top = top and top.subject })
    return
  end
  add(report, "ca-thumbprint", "fail", ("%s matches no certificate of the server's chain: devices fail with \"The hash value is not correct\""):format(w),
    { chain = list }, {
      "Download the root CA certificate again, or export it from the CA, and reconfigure the trusted certificate profile with it.",
      "Redeploy the profile and check the device's DeviceManagement-Enterprise-Diagnostics-Provider log for event 32 again." })
end

local function check_long_url(report, url, opts, caps)
  -- A GET PKIOperation over 30 KB (random bytes: the server may reject it, but not for its length).
  local f = io.open("/dev/urandom", "rb")
  local junk = f and f:read(23040) or string.rep("\0", 23040)
  if f then f:close() end
  local msg = codec.b64encode(junk):gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)
  local full = url .. (url:find("?", 1, true) and "&" or "?") .. "operation=PKIOperation&message=" .. msg
  local resp, err, _, partial = get(full, opts)
  report.timings[#report.timings + 1] = { call = "long GET", timings = (resp or partial or {}).timings }
  local ev = { url_length = #full, status = resp and resp.status, error = err }
  if not resp then
    add(report, "long-url", "fail", ("a %d-byte GET got no answer: %s"):format(#full, err), ev, BARE[414][2])
  elseif resp.status == 414 or (resp.status == 404 and (resp.body or ""):find("404%.1[45]")) then
    -- a failure even when GetCACaps lists POSTPKIOperation: Windows, Android (jscep) and iOS send
    -- PKIOperation as GET all the same (Microsoft's published device logs show it)
    add(report, "long-url", "fail", ("a %d-byte GET is refused with HTTP %d (request filtering): devices send PKIOperation as GET%s")
      :format(#full, resp.status, caps and caps.post and ", whatever GetCACaps says about POST" or ""), ev, BARE[414][2])
  else
    add(report, "long-url", "ok", ("a %d-byte GET PKIOperation gets through (HTTP %d)"):format(#full, resp.status), ev)
  end
end

local function check_times(report)
  local slow, parts = {}, {}
  for _, t in ipairs(report.timings) do
    parts[#parts + 1] = t.call .. " " .. ms(t.timings)
    if t.timings and t.timings.total > 5 then slow[#slow + 1] = t.call end
  end
  if #slow > 0 then
    add(report, "response-times", "warn", "slow: " .. table.concat(slow, ", ") .. " took more than 5 s", { calls = report.timings })
  else
    add(report, "response-times", "ok", table.concat(parts, ", "), { calls = report.timings })
  end
end

--- Runs every check; returns the report {url, ndes, server, checks, summary, timings}.
-- opts: ca_thumbprint, root (PEM), profile, ndes, proxy, cacert, pin, insecure, timeout.
function M.run(url, opts)
  opts = opts or {}
  local report = { url = url, checks = {}, summary = { ok = 0, warn = 0, fail = 0, info = 0 }, timings = {}, ndes = opts.ndes }
  local bare = check_bare(report, url, opts)
  if report.unreachable then
    report.ndes = report.ndes or false
    return report
  end
  check_tls(report, url, opts, bare)
  -- A connection per call, so every call's time includes its connect and TLS handshake.
  local client = scep.client{ url = url, ndes = report.ndes, proxy = opts.proxy, cacert = opts.cacert, pin = opts.pin,
                              insecure = opts.insecure, timeout = opts.timeout, reuse_connections = false }
  local caps = check_caps(report, client)
  local cas, list = nil, nil
  if caps or bare then cas, list = check_cacert(report, client) end
  check_thumbprint(report, opts.ca_thumbprint or (opts.profile and opts.profile.ca_thumbprint), list or {}, opts.root)
  check_long_url(report, url, opts, caps)
  check_times(report)
  report.ndes = report.ndes or false
  return report
end

-- Severity colours (ANSI SGR): what needs fixing stands out on a terminal.
local COLOUR = { ok = "32", warn = "33", fail = "1;31", info = "2" }

--- The report as text; colour adds severity colours (cli.colour decides).
function M.render(report, colour)
  local function paint(status)
    local text = ("%-5s"):format(status)
    if not colour or not COLOUR[status] then return text end
    return "\27[" .. COLOUR[status] .. "m" .. text .. "\27[0m"
  end
  local out = { ("Probe of %s%s%s"):format(report.url, report.ndes and " (NDES)" or "", report.server and (" - server " .. report.server) or "") }
  for _, c in ipairs(report.checks) do
    out[#out + 1] = ("  %s %-15s %s"):format(paint(c.status), c.id, c.summary)
    for i, step in ipairs(c.fix or {}) do
      out[#out + 1] = ("        %s %s"):format(i == 1 and "fix:" or "    ", step)
    end
  end
  local s = report.summary
  if report.unreachable then
    out[#out + 1] = "the server did not answer: the other checks need an answer and were not run"
  end
  out[#out + 1] = ("%d ok, %d warn, %d fail"):format(s.ok, s.warn, s.fail)
  return table.concat(out, "\n")
end

return M
