-- Readable text summaries of decoded documents, one function per kind.
local visible = (require "sceplab.core.codec").visible

local M = {}

-- Each line of a summary is one line on the terminal, whatever the document holds: a subject or
-- a transaction ID carries what its sender chose (escape sequences, line breaks, bytes that are
-- not UTF-8), shown as escapes.
local function line(out, fmt, ...)
  out[#out + 1] = visible(select("#", ...) > 0 and fmt:format(...) or fmt, true)
end

-- "  Label          value" with a fixed label column; nothing for nil values.
local function field(out, indent, label, value, width)
  if value == nil or value == "" then return end
  line(out, "%s%-" .. (width or 16) .. "s %s", indent, label, tostring(value))
end

local function join(list, sep, fn)
  local parts = {}
  for i, v in ipairs(list or {}) do parts[i] = fn and fn(v) or tostring(v) end
  return #parts > 0 and table.concat(parts, sep or ", ") or nil
end

local function oid_name(x)
  if x.name and x.name ~= x.oid then return ("%s (%s)"):format(x.oid, x.name) end
  return x.oid
end

local function key_text(k)
  if not k then return nil end
  local s = k.type .. " " .. tostring(k.bits)
  if k.curve then s = s .. " " .. k.curve end
  return s
end

local function warnings(out, doc, indent)
  for _, w in ipairs(doc.warnings or {}) do line(out, "%swarning: %s", indent or "", w) end
end

local function cms_text(c)
  if not c then return nil end
  local s = c.type and c.type.name or "CMS"
  if c.recipients then
    s = s .. (", %d recipient(s)"):format(#c.recipients)
    local r = c.recipients[1]
    if r then s = s .. (" [%s serial %s, %s]"):format(r.issuer or "?", r.serial or "?", r.key_encryption_algorithm and r.key_encryption_algorithm.name or "?") end
    if c.content_encryption_algorithm then s = s .. ", " .. c.content_encryption_algorithm.name end
    if c.encrypted_content_length then s = s .. (", %d encrypted bytes"):format(c.encrypted_content_length) end
  elseif c.signers then
    s = s .. (", %d signer(s), %d certificate(s)"):format(#c.signers, #(c.certificates or {}))
    local si = c.signers[1]
    if si then s = s .. (" [%s, %s]"):format(si.issuer or "?", si.digest_algorithm and si.digest_algorithm.name or "?") end
    if c.detached then s = s .. ", detached" end
  end
  return s
end

function M.certificate(out, c, indent, n)
  indent = indent or "  "
  line(out, "%sCertificate%s: %s", indent:sub(3), n and (" " .. n) or "", c.subject)
  field(out, indent, "Issuer", c.issuer)
  field(out, indent, "Serial", c.serial)
  field(out, indent, "Valid", ("%s to %s%s"):format(c.not_before, c.not_after,
    c.expired and "  (EXPIRED)" or c.not_yet_valid and "  (NOT YET VALID)" or ""))
  field(out, indent, "Key", key_text(c.key))
  field(out, indent, "Role", c.role .. (c.ca and ", CA" or ""))
  field(out, indent, "Key usage", join(c.key_usage))
  field(out, indent, "EKU", join(c.eku, ", ", oid_name))
  field(out, indent, "SAN", join(c.san, ", ", function(s) return s.type .. ":" .. (s.value or s.oid or "") end))
  field(out, indent, "Template", c.template_name or c.template_oid)
  field(out, indent, "SHA-1", c.sha1)
  field(out, indent, "SHA-256", c.sha256)
  if c.issued_by then
    field(out, indent, "Issued by", ("#%d%s"):format(c.issued_by + 1, c.issuer_signature_valid and "" or " (SIGNATURE DOES NOT VERIFY)"))
  end
end

function M.certificates(doc, out)
  line(out, "%d certificate(s)", doc.count)
  warnings(out, doc, "  ")
  for i, c in ipairs(doc.certificates) do
    M.certificate(out, c, "    ", "#" .. i)
  end
end

function M.csr(doc, out)
  line(out, "Certificate request: %s", doc.subject ~= "" and doc.subject or "(empty subject)")
  field(out, "  ", "Key", key_text(doc.key))
  field(out, "  ", "Signature", (doc.signature_algorithm or "?") .. (doc.signature_valid and ", valid" or ", DOES NOT VERIFY"))
  field(out, "  ", "SAN", join(doc.san, ", ", function(s) return s.type .. ":" .. (s.value or s.oid or "") end))
  field(out, "  ", "EKU", join(doc.eku, ", ", oid_name))
  field(out, "  ", "Key usage", join(doc.key_usage))
  field(out, "  ", "Template", doc.template_name or doc.template_oid)
  local cp = doc.challenge_password
  field(out, "  ", "Challenge", cp.present and ("present, %d characters: %s"):format(cp.length, cp.value) or "absent")
  field(out, "  ", "Extensions", join(doc.extensions, ", ", function(e) return e.name .. (e.critical and " (critical)" or "") end))
  for _, a in ipairs(doc.attributes or {}) do
    if a.value then field(out, "  ", "Attribute", a.name .. " = " .. a.value) end
  end
end

function M.token(doc, out, indent)
  if not indent then line(out, "Intune CertEnrollToken (%s bytes of XML)", tostring(doc.xml_length)) end
  indent = indent or "  "
  field(out, indent, "Device ID", doc.device_id)
  field(out, indent, "User ID", doc.user_id)
  field(out, indent, "Request id", doc.certificate_request_id)
  if doc.request then field(out, indent, "  canonical", doc.request.canonical) end
  field(out, indent, "Timestamp", doc.timestamp)
  field(out, indent, "Signer thumb", doc.signer_thumbprint)
  if doc.signature then
    field(out, indent, "Signature", ("%s, %s bytes%s"):format(doc.signature.encoding or "?", tostring(doc.signature.length or "?"),
      doc.signature.cms and (", " .. cms_text(doc.signature.cms)) or doc.signature.structure and (", " .. doc.signature.structure) or ""))
  end
  if doc.challenge then
    field(out, indent, "Challenge blob", ("%s bytes%s"):format(tostring(doc.challenge.length or "?"),
      doc.challenge.cms and (", " .. cms_text(doc.challenge.cms)) or ""))
  end
  field(out, indent, "Well-formed", doc.well_formed and "yes" or "no (read tolerantly)")
  warnings(out, doc, indent)
end

function M.intune_id(doc, out)
  line(out, "Intune request identifier (%s)", doc.form)
  field(out, "  ", "Account", "AC_" .. doc.account)
  field(out, "  ", "Logical name", doc.logical_name)
  field(out, "  ", "Version", doc.version)
  field(out, "  ", "Hash", doc.hash)
  if doc.truncated then field(out, "  ", "Truncated", "yes (elided in the log)") end
  field(out, "  ", "Canonical", doc.canonical)
end

local function enrollment(out, e, n)
  line(out, "")
  line(out, "SCEP enrollment {%d} (%s scope) %s", n, e.scope, e.unique_id)
  local I = "  "
  if e.request then field(out, I, "Request id", e.request.canonical) end
  field(out, I, "Server URLs", join(e.server_urls, "; "))
  field(out, I, "Subject", e.subject_name)
  field(out, I, "SANs", join(e.sans, ", ", function(s) return ("%s(%s) %s"):format(s.type, tostring(s.code or "?"), s.value) end))
  field(out, I, "EKU", join(e.eku, ", ", oid_name))
  if e.key_usage then
    field(out, I, "Key usage", ("%s = %s"):format(tostring(e.key_usage.value or e.key_usage.text), join(e.key_usage.bits) or "none"))
  end
  field(out, I, "Key length", e.key_length)
  if e.key_protection then
    field(out, I, "Key protection", ("%s (%s)"):format(tostring(e.key_protection.value or e.key_protection.text), e.key_protection.name or "?"))
  end
  field(out, I, "Hash", join(e.hash_algorithms, " + "))
  if e.ca_thumbprint then
    local chk = e.ca_thumbprint_check or {}
    local verdict = ({
      ["matches-root"] = "matches root " .. tostring(chk.subject) .. " (" .. tostring(chk.store) .. " store)",
      ["matches-intermediate"] = "matches intermediate " .. tostring(chk.subject) .. " (" .. tostring(chk.store) .. " store)",
      ["no-match"] = "MATCHES NO DELIVERED TRUSTED CERTIFICATE",
      ["no-trusted-certificates-in-message"] = "no trusted certificate in this message to compare with",
    })[chk.status] or chk.status
    field(out, I, "CA thumbprint", e.ca_thumbprint .. (verdict and ("  -> " .. verdict) or ""))
  end
  if e.retry_count or e.retry_delay then
    field(out, I, "Retry", ("%s time(s), %s minute(s) apart"):format(tostring(e.retry_count or 3), tostring(e.retry_delay or 5)))
  end
  field(out, I, "Template", e.template_name)
  if e.valid_period or e.valid_period_units then
    field(out, I, "Valid period", ("%s %s"):format(tostring(e.valid_period_units or "?"), e.valid_period or "Days"))
  end
  field(out, I, "Container", e.container_name)
  field(out, I, "Prompt text", e.custom_text)
  field(out, I, "AAD key ids", join(e.aad_key_identifiers, "; "))
  field(out, I, "Enroll", e.enroll_executed and "executed" or "not executed in this message")
  if e.deleted then field(out, I, "Deleted", "yes") end
  for _, k in ipairs({ "CertThumbprint", "Status", "ErrorCode", "RespondentServerUrl" }) do field(out, I, k, e[k]) end
  if e.challenge then
    if e.challenge.kind == "intune-token" then
      field(out, I, "Challenge", ("Intune CertEnrollToken, %d characters: %s"):format(e.challenge.length, e.challenge.value))
      M.token(e.challenge.token, out, "    ")
    else
      field(out, I, "Challenge", ("static, %d characters: %s"):format(e.challenge.length, e.challenge.value))
    end
  end
  if e.missing_nodes and #e.missing_nodes > 0 then field(out, I, "Not set here", join(e.missing_nodes)) end
  warnings(out, e, I)
end

function M.syncml(doc, out)
  local h = doc.header or {}
  line(out, "SyncML message%s: %d command(s)%s", h.ver_dtd and (" " .. h.ver_dtd) or "", doc.command_count,
    doc.namespace and (", namespace " .. doc.namespace) or ", no namespace")
  field(out, "  ", "Session", h.session_id)
  field(out, "  ", "Message", h.msg_id)
  field(out, "  ", "Target", h.target)
  field(out, "  ", "Source", h.source)
  -- The SCEP UniqueID repeats in every LocURI; print it once and abbreviate it in the list.
  -- The id is the LocURI segment after ClientCertificateInstall/SCEP/: looked up, not searched
  -- for, so 32,000 enrollments render in linear time.
  local ids, by_id = {}, {}
  for i, e in ipairs(doc.scep_enrollments or {}) do
    ids[#ids + 1] = { e.unique_id, "{" .. i .. "}" }
    by_id[e.unique_id] = by_id[e.unique_id] or ids[#ids][2]
  end
  local function short(uri)
    local a, b = uri:find("ClientCertificateInstall/SCEP/", 1, true)
    if not a then return uri end
    local id = uri:match("^[^/]+", b + 1)
    local tag = id and by_id[id]
    if not tag then return uri end
    return uri:sub(1, b) .. tag .. uri:sub(b + #id + 1)
  end
  line(out, "")
  line(out, "Commands")
  for _, pair in ipairs(ids) do line(out, "  %s = %s", pair[2], pair[1]) end
  for _, c in ipairs(doc.commands) do
    local indent = c.parent and "    " or "  "
    local head = ("%s%-8s %-4s"):format(indent, c.command, c.cmd_id or "")
    if c.command == "Status" then
      line(out, "%s status %s for %s %s%s", head, tostring(c.status), tostring(c.cmd), tostring(c.cmd_ref),
        c.target_ref and (" " .. c.target_ref) or "")
    elseif c.items and #c.items > 0 then
      for i, it in ipairs(c.items) do
        local data = it.data and (" = " .. (#it.data > 72 and (it.data:sub(1, 69) .. "...") or it.data)) or ""
        line(out, "%s %s%s", i == 1 and head or (" "):rep(#head), short(it.target or it.source or ""), data)
      end
    else
      line(out, "%s", head)
    end
  end
  for i, e in ipairs(doc.scep_enrollments or {}) do enrollment(out, e, i) end
  if doc.trusted_certificates and #doc.trusted_certificates > 0 then
    line(out, "")
    line(out, "Trusted certificates delivered")
    for _, t in ipairs(doc.trusted_certificates) do
      local c = t.certificate
      if c then
        line(out, "  %s store (%s): %s", t.store, t.scope, c.subject)
        field(out, "    ", "SHA-1", c.sha1 .. (t.thumbprint_matches_uri and "" or ("  (URI says " .. t.uri_thumbprint .. ")")))
        field(out, "    ", "Role", c.role)
        field(out, "    ", "Valid", ("%s to %s%s"):format(c.not_before, c.not_after, c.expired and " (EXPIRED)" or ""))
      else
        line(out, "  %s store: %s (unreadable)", t.store, t.uri_thumbprint)
      end
      warnings(out, t, "    ")
    end
  end
  if doc.warnings then line(out, "") end
  warnings(out, doc)
end

function M.pkimessage(doc, out)
  line(out, "SCEP pkiMessage: %s (%d)%s", doc.message_type, doc.message_type_code,
    doc.pki_status and (", " .. doc.pki_status) or "")
  field(out, "  ", "Fail info", doc.fail_info)
  field(out, "  ", "Fail text", doc.fail_info_text)
  field(out, "  ", "Transaction", doc.transaction_id)
  field(out, "  ", "Sender nonce", doc.sender_nonce)
  field(out, "  ", "Recip. nonce", doc.recipient_nonce)
  if doc.signer then
    field(out, "  ", "Signer", ("%s serial %s, %s"):format(doc.signer.issuer or "?", doc.signer.serial or "?",
      doc.signer.digest_algorithm and doc.signer.digest_algorithm.name or "?"))
  end
  field(out, "  ", "Signature", doc.signature_valid and "valid" or ("INVALID: " .. tostring(doc.signature_error)))
  for i, c in ipairs(doc.certificates or {}) do field(out, "  ", i == 1 and "Certificates" or "", c.subject) end
  field(out, "  ", "Envelope", doc.envelope and cms_text(doc.envelope) or "none")
  local d = doc.decrypted
  if d then
    if d.error then
      field(out, "  ", "Decrypted", "no: " .. d.error)
    else
      field(out, "  ", "Decrypted", ("%d bytes"):format(d.length))
      if d.csr then
        local sub = {}
        M.csr(d.csr, sub)
        for _, l in ipairs(sub) do line(out, "    " .. l) end
      end
      if d.issued then
        local sub = {}
        M.certificates(d.issued, sub)
        for _, l in ipairs(sub) do line(out, "    " .. l) end
      end
      field(out, "    ", "Issuer", d.issuer)
      field(out, "    ", "Subject", d.subject)
      field(out, "    ", "Serial", d.serial)
      warnings(out, d, "    ")
    end
  end
  warnings(out, doc)
end

function M.crs(doc, out)
  line(out, "Certificate request status (CRS)")
  local f = doc.fields
  local keys = {}
  for k in pairs(f) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do field(out, "  ", k, f[k], 20) end
  if doc.request then field(out, "  ", "=> request", doc.request.canonical, 20) end
  if doc.hresult then field(out, "  ", "=> HResult", doc.hresult .. (doc.failed and " (failure)" or " (success)"), 20) end
  warnings(out, doc)
end

function M.mobileconfig(doc, out)
  line(out, "Apple configuration profile%s: %s", doc.signed and " (signed)" or "", tostring(doc.display_name or doc.identifier))
  if doc.signed then
    field(out, "  ", "Signature", doc.signature_valid and "valid" or "DOES NOT VERIFY")
    if doc.signature then field(out, "  ", "Signed by", cms_text(doc.signature)) end
  end
  for _, p in ipairs(doc.scep_payloads or {}) do
    local c = p.content or {}
    line(out, "")
    line(out, "SCEP payload %s", tostring(p.display_name or p.identifier))
    field(out, "  ", "URL", c.URL)
    field(out, "  ", "Name", c.Name)
    if type(c.Subject) == "table" then
      local parts = {}
      for _, rdn in ipairs(c.Subject) do
        for _, pair in ipairs(rdn) do parts[#parts + 1] = tostring(pair[1]) .. "=" .. tostring(pair[2]) end
      end
      field(out, "  ", "Subject", table.concat(parts, ", "))
    end
    field(out, "  ", "Challenge", c.Challenge)
    field(out, "  ", "Key", ("%s %s"):format(c["Key Type"] or "RSA", tostring(c.Keysize or 1024)))
    local ku = c["Key Usage"]
    if ku then
      field(out, "  ", "Key usage", ("%d =%s%s"):format(ku, ku & 1 ~= 0 and " signing" or "", ku & 4 ~= 0 and " encryption" or ""))
    end
    field(out, "  ", "CA fingerprint", c.CAFingerprint)
    field(out, "  ", "Retries", c.Retries)
    field(out, "  ", "Retry delay", c.RetryDelay)
    if type(c.SubjectAltName) == "table" then
      local parts = {}
      for k, v in pairs(c.SubjectAltName) do
        parts[#parts + 1] = k .. "=" .. (type(v) == "table" and table.concat(v, ",") or tostring(v))
      end
      table.sort(parts)
      field(out, "  ", "SubjectAltName", table.concat(parts, "; "))
    end
  end
  if doc.warnings then line(out, "") end
  warnings(out, doc)
end

M["intune-id"] = M.intune_id

--- The summary of a decoded document as text (without a trailing newline).
function M.render(doc)
  local out = {}
  local fn = M[doc.kind]
  if not fn then error("render: no renderer for kind " .. tostring(doc.kind)) end
  fn(doc, out)
  if doc.layers and doc.layers ~= "" then
    out[#out + 1] = ""
    out[#out + 1] = ("(read as %s: %s)"):format(doc.layers, doc.detected_by or "")
  end
  return table.concat(out, "\n")
end

return M
