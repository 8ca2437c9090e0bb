-- serve under attack: what a device chooses (transaction ID, subject, SANs, template name, user
-- agent, URL path and query) reaches every log `sceplab serve` writes and every terminal sceplab
-- prints to. Each output escapes it for its own format: no forged NDESPlugin.log record, XML that
-- xmllint and sceplab's readers accept, IIS lines with their fifteen fields, and terminal output
-- that is valid UTF-8 with no control sequence in it.
local h = require "helper"
local cjson = require "cjson"
local sceplab = require "sceplab"
local scep = require "sceplab.core.scep"
local http = require "sceplab.core.http"
local pkey = require "sceplab.core.pkey"

-- Aimed at every output at once: a terminal's clear-screen and set-title sequences, BEL, a byte
-- that is no UTF-8, U+FFFF (no XML character), C1's CSI (U+009B), a right-to-left override,
-- XML's markup and both quotes.
local NASTY = "\27[2J\27]0;owned\7\255\239\191\191\194\155\226\128\174</Data>\"'&"

-- A transaction ID that, written raw into NDESPlugin.log, closes its record with a time in 2020
-- and starts a forged "Verify challenge returns true" on the next line (125 bytes: the server
-- reads up to 129).
local FORGED_TXID = "\27[2J\255\239\191\191</Data>\"'" ..
  ']LOG]!><time="1:00:00.000+0" date="01-01-2020" component="NDESPlugin">' ..
  "\r\n<![LOG[Verify challenge returns true"

-- A subject with line breaks and everything a DN can carry (not bytes that are no UTF-8: OpenSSL
-- refuses those in a UTF8String), SANs with what an IA5String and a UPN can, a template name
-- with ESC and C1's CSI (U+009B, written as UTF-8: the template name is UTF-8 text, encoded as
-- UTF-16 in its BMPString, as the CA writes it; a byte that is no UTF-8 is refused by the client).
local SUBJECT = "CN=dev\27[2J\239\191\191\194\155\226\128\174\\</Data\\>\\\"'&\r\nOU=x"
local SANS = { { type = "dns", value = "d\27[2J\255\r\n.example" }, { type = "upn", value = "u\255\27]0;x\7@example" } }
local TEMPLATE = "T\27\194\155x"
-- A user agent as hostile as HTTP lets through: bytes 0x80-0xFF (no UTF-8, U+FFFF, CSI, RLO) and
-- markup. Control characters in a header are refused (400) before anything is logged.
local UA = "ua \255\239\191\191\194\155\226\128\174</Data>\"'&"
-- decoded by the server: ESC, CR LF, a byte that is no UTF-8, U+FFFF, CSI, RLO, markup
local EVIL_PATH = "%1B%5B2J%0D%0A%FF%EF%BF%BF%C2%9B%E2%80%AE%3C/Data%3E%20x"
local EVIL_QUERY = "operation=GetCACaps&x=%1B%5B2J+y%0A"

local function sh_out(cmd)
  local p = io.popen(h.CLEAN .. cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

-- `sceplab serve -v` on a free port; {url, dir, pid, log}.
local function start(dir, args, env)
  assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
  local s = h.serve(dir, args, env)
  s.logs = dir .. "/logs"
  return s
end

local function stop(s) if s then h.kill(s.pid) end end

-- A PKCSReq built here, as no client would: the transaction ID, subject, SANs, template name and
-- user agent are the caller's. Returns the reply's status (or nil and why), the CSR and the message.
local function hostile_enroll(s, o)
  local c = sceplab.scep.client { url = s.url }
  local cas = assert(c:ca_certs())
  local key = assert(pkey.generate("rsa:2048"))
  local csr = assert(scep.csr(key, { subject = o.subject or "CN=bob", san = o.san, template = o.template,
                                     challenge = o.challenge }))
  local signer = assert(scep.selfsigned(key, "CN=bob"))
  local nonce = scep.nonce()
  local msg = scep.build { type = scep.PKCSREQ, content = csr, recipient = cas.recipient, cipher = "aes128",
                           digest = "sha256", signer_cert = signer, signer_key = key, transaction_id = o.txid,
                           nonce = nonce }
  local resp = assert(http.request { method = "POST", url = s.url .. "?operation=PKIOperation", body = msg,
                                     content_type = "application/x-pki-message", user_agent = o.ua or UA })
  assert.are.equal(200, resp.status, resp.body)
  local reply, err = scep.verify_reply(resp.body, { transaction_id = o.txid, nonce = nonce,
    signers = { cas.signer, cas.ca }, key = key, cert = signer, request_key = key })
  return reply and reply.status, err, csr, msg
end

-- What IIS sees of a request for a path and query that are no SCEP URL.
local function hostile_get(s)
  local base = s.url:match("^(https?://[^/]+)")
  local resp = assert(http.request { url = base .. "/certsrv/mscep/" .. EVIL_PATH .. "?" .. EVIL_QUERY, user_agent = UA })
  assert.are.equal(404, resp.status)
end

-- Text fit for a terminal: valid UTF-8, no C0 control but tab and newline, no DEL, no C1 control,
-- no bidirectional override or isolate.
local function assert_terminal_safe(what, text)
  assert.is_truthy(utf8.len(text), what .. " is not valid UTF-8")
  local c0 = text:find("[%z\1-\8\11-\31\127]")
  assert.is_nil(c0, ("%s holds control byte %s: %q"):format(what, c0 and ("0x%02X"):format(text:byte(c0)) or "",
    text:sub((c0 or 1) - 20, (c0 or 1) + 20)))
  assert.is_nil(text:find("\194[\128-\159]"), what .. " holds a C1 control")
  assert.is_nil(text:find("\226\128[\170-\174]"), what .. " holds a bidirectional override")
  assert.is_nil(text:find("\226\129[\166-\169]"), what .. " holds a bidirectional isolate")
end

local function ls(pattern)
  local p = io.popen("ls -1d " .. pattern .. " 2>/dev/null")
  local out = {}
  for l in p:read("a"):gmatch("[^\n]+") do out[#out + 1] = l end
  p:close()
  return out
end

-- xmllint on a file of records with no root element (one event a line), inside one.
local function xmllint_fragments(path)
  local wrapped = h.write(h.tmpname() .. ".xml", "<records>" .. h.read(path) .. "</records>")
  return sh_out("xmllint --noout " .. h.shquote(wrapped))
end

-- Every XML file serve wrote under logs: xmllint accepts each; the count.
local function assert_xml_wellformed(logs)
  local n = 0
  for _, f in ipairs(ls(h.shquote(logs) .. "/CertificateRequestStatus/*/*.CRS")) do
    assert.are.equal("", sh_out("xmllint --noout " .. h.shquote(f)), f)
    n = n + 1
  end
  for _, pat in ipairs({ "/CertificateRegistrationPoint_*.svclog", "/NDES-*.xml" }) do
    for _, f in ipairs(ls(h.shquote(logs) .. pat)) do
      assert.are.equal("", xmllint_fragments(f), f)
      n = n + 1
    end
  end
  return n
end

-- sceplab's own reading of the log folder: its records (JSONL), and what it said on stderr.
local function timeline(logs)
  local code, out, err = h.sceplab({ "timeline", "--format", "jsonl", logs })
  assert.are.equal(0, code, err)
  local recs = {}
  for l in out:gmatch("[^\n]+") do recs[#recs + 1] = cjson.decode(l) end
  return recs, err
end

local function count_lines(text)
  local n = 0
  for _ in text:gmatch("[^\n]*\n") do n = n + 1 end
  return n
end

-- The IIS log: every line of data has the fifteen fields of its #Fields directive and is valid
-- UTF-8 with no control byte; sceplab reads a record from each.
local function assert_iis(logs, recs)
  local files = ls(h.shquote(logs) .. "/u_ex*.log")
  assert.are.equal(1, #files)
  local text, lines = h.read(files[1]), 0
  assert_terminal_safe("the IIS log", text)
  for l in text:gmatch("[^\n]+") do
    if l:sub(1, 1) ~= "#" then
      lines = lines + 1
      local fields = 0
      for _ in l:gmatch("[^ ]+") do fields = fields + 1 end
      assert.are.equal(15, fields, l)
      assert.is_nil(l:find("  ", 1, true), l) -- no empty field
    end
  end
  local iis = 0
  for _, r in ipairs(recs) do if r.source == "iis" then iis = iis + 1 end end
  assert.are.equal(lines, iis)
  return text
end

-- Every line `serve -v` printed is one of its own: no line a request started.
local function assert_serve_log(s)
  local text = h.read(s.log)
  assert_terminal_safe("serve -v", text)
  for l in text:gmatch("[^\n]+") do
    assert.is_truthy(l:match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d ") or l:match("^sceplab: ") or l:match("^listening on "),
      "serve -v printed a line of a request's making: " .. l)
  end
  return text
end

describe("sceplab serve --policy intune, a device writing its own records", function()
  local s, allowed, denied, csr, msg, ctl_status
  setup(function()
    s = start(h.tmpname(), { "--policy", "intune" })
    local function token(subject)
      local code, out, err = h.sceplab({ "intune", "token", "--dir", s.dir, "--subject", subject })
      assert.are.equal(0, code, err)
      return (out:gsub("%s", ""))
    end
    -- issued: its transaction ID goes to NDESPlugin.log and to the CRS file
    allowed = { hostile_enroll(s, { txid = FORGED_TXID, challenge = token("CN=bob") }) }
    -- refused in phase 3: the CRP's .svclog says what subject and SANs the CSR asked for
    denied = { hostile_enroll(s, { txid = NASTY .. "3", subject = SUBJECT, san = SANS, template = TEMPLATE,
                                   challenge = token("CN=bob") }) }
    csr, msg = denied[3], allowed[4]
    hostile_get(s)
    ctl_status = assert(http.request { url = s.url .. "?operation=GetCACaps", user_agent = "ua " .. NASTY }).status
    stop(s)
  end)
  teardown(function() stop(s) end)

  it("issues and refuses as it would any device", function()
    assert.are.equal("SUCCESS", allowed[1], allowed[2])
    assert.are.equal("FAILURE", denied[1], denied[2])
  end)

  it("writes NDESPlugin.log that sceplab timeline reads with one record a line and no forged record", function()
    local recs, err = timeline(s.logs)
    local plugin = h.read(s.logs .. "/NDESPlugin.log")
    local cm, trues, falses = {}, 0, 0
    for _, r in ipairs(recs) do
      if r.source == "cmtrace" then
        cm[#cm + 1] = r
        if r.message == "Verify challenge returns true" then trues = trues + 1 end
        if r.message == "Verify challenge returns false" then falses = falses + 1 end
        assert.is_nil(r.message:find("]LOG]!>", 1, true), r.message)
        assert.are_not.equal("2020", r.time:sub(1, 4), r.message) -- no record dated by the device
      end
    end
    assert.are.equal(count_lines(plugin), #cm)
    assert.are.same({ 1, 1 }, { trues, falses })
    assert.is_nil(err:find("skipped"), err)
    -- the transaction ID is there, on its line, its bytes made harmless
    local line = plugin:match("Certificate request status written for transaction ([^\n]*)")
    assert.is_truthy(line)
    assert.matches("</Data>\"']LOG]!\239\191\189<time=", line, 1, true)
    assert.is_truthy(utf8.len(plugin))
    assert.is_nil(plugin:find("[%z\1-\9\11-\31\127]"))
  end)

  it("writes CRS files and a .svclog that xmllint and sceplab read, the hostile text kept", function()
    assert.is_true(assert_xml_wellformed(s.logs) >= 2)
    local crs = ls(h.shquote(s.logs) .. "/CertificateRequestStatus/Succeed/*.CRS")
    assert.are.equal(1, #crs)
    local code, out = h.sceplab({ "decode", crs[1] })
    assert.are.equal(0, code, out)
    assert_terminal_safe("decode of the CRS file", out)
    assert.matches("TransactionID%s+[^\n]*</Data>\"'%]LOG%]!", out)
    local svc = h.read(ls(h.shquote(s.logs) .. "/CertificateRegistrationPoint_*.svclog")[1])
    assert.matches("Phase 3 validation failed: Subject Name in CSR", svc, 1, true)
    -- the subject as RFC 4514 writes it (ESC and the line break as \1B, \0D\0A), then escaped for XML:
    -- U+FFFF and CSI are no XML, the markup is text
    assert.matches("Subject Name in CSR CN=dev\\1B[2J\239\191\189\239\191\189\226\128\174" ..
      "\\&lt;/Data\\&gt;\\&quot;&apos;&amp;\\0D\\0AOU=x and", svc, 1, true)
    local recs = timeline(s.logs)
    local seen = 0
    for _, r in ipairs(recs) do
      if r.source == "svclog" and r.message:find("Subject Name in CSR", 1, true) then seen = seen + 1 end
      if r.source == "crs" then seen = seen + 1 end
    end
    assert.are.equal(2, seen)
  end)

  it("refuses a header holding control characters (400) before any log reads it", function()
    assert.are.equal(400, ctl_status)
  end)

  it("writes the IIS log with the fields of each line intact", function()
    local recs = timeline(s.logs)
    local text = assert_iis(s.logs, recs)
    -- the user agent, its space '+' as IIS writes it, what is no UTF-8, U+FFFF, C1 and RLO encoded
    assert.matches(" ua+%FF%EF%BF%BF%C2%9B%E2%80%AE", text, 1, true)
    assert.matches("/certsrv/mscep/%1B[2J%0D%0A%FF", text, 1, true)
  end)

  it("prints on a terminal what `serve -v`, timeline and decode show of it, escaped", function()
    local log = assert_serve_log(s)
    assert.matches("\\x1B[2J", log, 1, true)
    local _, out = h.sceplab({ "timeline", s.logs })
    assert_terminal_safe("timeline", out)
    local csrf, msgf = h.write(h.tmpname() .. ".der", csr), h.write(h.tmpname() .. ".der", msg)
    local c1, o1 = h.sceplab({ "decode", csrf })
    assert.are.equal(0, c1, o1)
    assert_terminal_safe("decode of the CSR", o1)
    assert.matches("Certificate request: CN=dev", o1, 1, true)
    assert.matches("Template%s+T\\x1B\\u009Bx", o1)
    local c2, o2 = h.sceplab({ "decode", msgf })
    assert.are.equal(0, c2, o2)
    assert_terminal_safe("decode of the pkiMessage", o2)
    assert.matches("Transaction%s+\\x1B%[2J\\xFF", o2)
    -- one line for the transaction ID, however many line breaks it carries
    assert.matches("Transaction[^\n]*<!%[LOG%[Verify challenge returns true\n", o2)
  end)
end)

describe("sceplab serve with a policy that copies what the device chose into the connector's logs", function()
  it("writes each field escaped: CRS user, device and request IDs, the phases in the .svclog", function()
    local pol = h.write(h.tmpname() .. ".lua", [[
local function sans(req)
  local t = {}
  for _, s in ipairs(req.san or {}) do t[#t + 1] = s.type .. ":" .. s.value end
  return table.concat(t, ", ")
end
return {
  description = "a team's policy that logs what the device asked for",
  connector = true,
  check = function(req, ctx)
    local rdn = req.subject_rdns and req.subject_rdns[1] and req.subject_rdns[1].value or ""
    return ctx.allow({ profile = { san = { "dns", "upn" } }, device_id = rdn, user_id = req.user_agent, request_id = req.transaction_id,
      phases = { { phase = 1, ok = true, message = req.transaction_id }, { phase = 2, ok = true, message = req.user_agent },
                 { phase = 3, ok = true, message = rdn .. " " .. sans(req) .. " " .. tostring(req.template_name) } } })
  end,
}]])
    local s = start(h.tmpname(), { "--policy", pol })
    local st, err = hostile_enroll(s, { txid = NASTY .. "e", subject = SUBJECT, san = SANS, template = TEMPLATE })
    stop(s)
    assert.are.equal("SUCCESS", st, err)
    assert.are.equal(2, assert_xml_wellformed(s.logs)) -- the CRS file and the .svclog
    local recs, terr = timeline(s.logs)
    assert.is_nil(terr:find("skipped"), terr)
    local phases, crs = 0, 0
    for _, r in ipairs(recs) do
      if r.source == "svclog" then phases = phases + 1 end
      if r.source == "crs" then crs = crs + 1 end
    end
    assert.are.same({ 3, 1 }, { phases, crs })
    local file = ls(h.shquote(s.logs) .. "/CertificateRequestStatus/Succeed/*.CRS")[1]
    local text = h.read(file)
    -- the raw user agent: the byte that is no UTF-8 replaced, U+FFFF and C1's CSI too, markup escaped
    assert.matches("<UserID>ua \239\191\189\239\191\189\239\191\189", text, 1, true)
    assert.matches("&lt;/Data&gt;&quot;&apos;&amp;</UserID>", text, 1, true)
    assert.matches("<DeviceID>dev\239\191\189[2J", text, 1, true)
    assert_serve_log(s)
    assert_iis(s.logs, recs)
  end)
end)

describe("sceplab serve, static challenge, and sceplab ca list", function()
  it("lists hostile requests one a line, escaped, and writes event XML that xmllint reads", function()
    local s = start(h.tmpname(), {}, { SCEPLAB_CHALLENGE = "right" })
    local r1 = { hostile_enroll(s, { txid = NASTY .. "1", subject = SUBJECT, san = SANS, challenge = "wrong" }) }
    local r2 = { hostile_enroll(s, { txid = FORGED_TXID, subject = SUBJECT, challenge = "right" }) }
    hostile_get(s)
    stop(s)
    assert.are.same({ "FAILURE", "SUCCESS" }, { r1[1], r2[1] })
    assert.are.equal(1, assert_xml_wellformed(s.logs)) -- NDES's event 29
    local recs = timeline(s.logs)
    assert_iis(s.logs, recs)
    assert_serve_log(s)
    local code, out, err = h.sceplab({ "ca", "list", "--dir", s.dir })
    assert.are.equal(0, code, err)
    assert_terminal_safe("ca list", out)
    assert.are.equal(2, count_lines(out))
    assert.matches("rejected  \\x1B%[2J\\x1B%]0;owned\\x07\\xFF\239\191\191\\u009B\\u202E</Data>\"'&1  ", out)
    assert.matches("issued    \\x1B%[2J\\xFF\239\191\191</Data>\"'%]LOG%]!><time=", out)
    assert.matches("\\x0D\\x0A<!%[LOG%[Verify challenge returns true  ", out)
    local c2, js = h.sceplab({ "ca", "list", "--dir", s.dir, "--json" })
    assert.are.equal(0, c2)
    assert.is_nil(js:find("[%z\1-\9\11-\31\127]"), "raw control byte in ca list --json")
    assert.are.equal(2, #cjson.decode(js))
  end)
end)

describe("sceplab intune token and verify, claims with control characters", function()
  it("makes a token whose challenge parses, and shows its claims on their lines, escaped", function()
    local dir = h.tmpname()
    assert.are.equal(0, (h.sceplab({ "ca", "init", "--dir", dir })))
    local code, tok, err = h.sceplab({ "intune", "token", "--dir", dir, "--subject", "CN=bob", "--user", "u" .. NASTY,
                                       "--request-id", "r\r\n\27]LOG]!>\226\128\174" })
    assert.are.equal(0, code, err)
    local c2, out = h.sceplab({ "intune", "verify", "--dir", dir, (tok:gsub("%s", "")) })
    assert.are.equal(0, c2, out)
    assert_terminal_safe("intune verify", out)
    -- what XML cannot carry was replaced in the token; the line break is shown, not taken
    assert.matches("\nuser%s+u\239\191\189%[2J\239\191\189%]0;owned\239\191\189", out)
    assert.matches("\nrequest id%s+r\\x0D\\x0A\239\191\189%]LOG%]!>\\u202E\n", out)
  end)
end)

describe("sceplab.codec, the escaping Lua writers use", function()
  local codec = require "sceplab.core.codec"
  it("makes XML text of anything (the replayed devices' events, the SyncML profile)", function()
    assert.are.equal("&lt;/Data&gt;&quot;&apos;&amp;&#13;&#10;\239\191\189\239\191\189\239\191\189é",
      codec.xml("</Data>\"'&\r\n\27\255\239\191\191é"))
    assert.are.equal("", codec.xml(""))
    local long = ("<\255"):rep(5000)
    assert.are.equal(("&lt;\239\191\189"):rep(5000), codec.xml(long))
  end)
  it("shows a field on one line, or text with its lines", function()
    assert.are.equal("a\\x0D\\x0Ab\\x09\\x1B[2J\\u202E\\xFF", codec.visible("a\r\nb\t\27[2J\226\128\174\255", true))
    assert.are.equal("a\\x0D\nb\t\\x1B[2J", codec.visible("a\r\nb\t\27[2J"))
    local plain = "CN=bob, O=Contoso"
    assert.are.equal(plain, codec.visible(plain, true))
  end)
end)
