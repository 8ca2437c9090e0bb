-- The Intune side of a SCEP deployment, emulated over sceplab's CA: the SCEP profile Intune sends
-- a Windows device (OMA-DM SyncML, ClientCertificateInstall CSP) around a CertEnrollToken.
-- Tokens are made and verified in C (ca:intune_token, ca:intune_verify); this module lays the
-- profile out as Intune does, from the claims the token was issued for.
local M = {}

-- Microsoft's AlternativeNameType codes, as the CSP's SubjectAlternativeNames takes them.
local SAN_CODES = { upn = 11, email = 2, dns = 3, uri = 7, ip = 8, guid = 10, registered_id = 9 }
-- X.509 key usage bits, as the CSP's KeyUsage integer takes them.
local KU_BITS = { digitalSignature = 0x80, nonRepudiation = 0x40, keyEncipherment = 0x20, dataEncipherment = 0x10,
                  keyAgreement = 0x08 }

M.SAN_CODES, M.KU_BITS = SAN_CODES, KU_BITS

local function esc(s) return (require "sceplab.core.codec").xml(tostring(s)) end

--- The CSP node name of a CertificateRequestId ("ModelName=AC_x/LogicalName_y;Version=1;Hash=z"
-- -> "ModelName_AC_x_LogicalName_y_Hash_z"), as Windows names it in its events.
function M.unique_id(request_id)
  local model, logical, hash = tostring(request_id):match("^ModelName=([^/]+)/([^;]+);.-Hash=(%-?%d+)")
  if not model then return nil, "CertificateRequestId is not in Intune's form: " .. tostring(request_id) end
  return ("ModelName_%s_%s_Hash_%s"):format(model, logical, hash)
end

--- The KeyUsage integer for a list of key usage names; nil, message for an unknown one.
function M.key_usage_bits(names)
  local v = 0
  for _, n in ipairs(names or {}) do
    if not KU_BITS[n] then return nil, "unknown key usage " .. tostring(n) end
    v = v | KU_BITS[n]
  end
  return v
end

--- The CSP's SubjectAlternativeNames value for [{type, value}]: "11+upn;2+email;...".
function M.san_value(list)
  local parts = {}
  for _, s in ipairs(list or {}) do
    local code = SAN_CODES[s.type]
    if not code then return nil, "unknown subject alternative name type " .. tostring(s.type) end
    parts[#parts + 1] = code .. "+" .. s.value
  end
  return table.concat(parts, ";")
end

--- A SyncML message that installs the root and enrolls through SCEP, as Intune sends it.
-- o: {token, claims (from ca:intune_verify), urls = {..}, ca_thumbprint, root_der_b64?, scope
-- ("User" | "Device"), template?, key_protection? (2), retry_count? (3), retry_delay? (1),
-- valid_period? ("Years"), valid_units? (1), hash? ("SHA-2"), container?, prompt?}
function M.profile(o)
  local c = o.claims
  local node, err = M.unique_id(c.request_id)
  if not node then return nil, err end
  local scope = o.scope or (c.user_id and "User" or "Device")
  local base = ("./%s/Vendor/MSFT/ClientCertificateInstall/SCEP/%s/Install/"):format(scope, node)
  local ku, kerr = M.key_usage_bits(c.key_usage or { "digitalSignature", "keyEncipherment" })
  if not ku then return nil, kerr end
  local san, serr = M.san_value(c.san)
  if not san then return nil, serr end
  local out, id = {}, 1
  local function add(s) out[#out + 1] = s end
  local function cmd(kind, uri, fmt, data)
    id = id + 1
    add(("      <%s>\n        <CmdID>%d</CmdID>\n        <Item>\n          <Target>\n            <LocURI>%s</LocURI>\n          </Target>\n")
        :format(kind, id, esc(uri)))
    if fmt then
      add(("          <Meta>\n            <Format xmlns=\"syncml:metinf\">%s</Format>\n          </Meta>\n          <Data>%s</Data>\n")
          :format(fmt, esc(data)))
    end
    add(("        </Item>\n      </%s>\n"):format(kind))
  end
  add("<SyncML xmlns=\"SYNCML:SYNCML1.2\">\n  <SyncHdr>\n    <VerDTD>1.2</VerDTD>\n    <VerProto>DM/1.2</VerProto>\n")
  add(("    <SessionID>1</SessionID>\n    <MsgID>2</MsgID>\n    <Target>\n      <LocURI>%s</LocURI>\n    </Target>\n")
      :format(esc(c.device_id or "")))
  add("    <Source>\n      <LocURI>https://r.manage.microsoft.com/devicegatewayproxy/cimhandler.ashx</LocURI>\n    </Source>\n")
  add("  </SyncHdr>\n  <SyncBody>\n")
  if o.root_der_b64 and o.ca_thumbprint then
    id = id + 1
    add(("    <Add>\n      <CmdID>%d</CmdID>\n      <Item>\n        <Target>\n          <LocURI>./Device/Vendor/MSFT/RootCATrustedCertificates/Root/%s/EncodedCertificate</LocURI>\n        </Target>\n")
        :format(id, esc(o.ca_thumbprint)))
    add(("        <Meta>\n          <Format xmlns=\"syncml:metinf\">b64</Format>\n        </Meta>\n        <Data>%s</Data>\n      </Item>\n    </Add>\n")
        :format(o.root_der_b64))
  end
  add("    <Atomic>\n      <CmdID>100</CmdID>\n")
  cmd("Replace", base .. "ServerURL", "chr", table.concat(o.urls, ";"))
  cmd("Replace", base .. "Challenge", "chr", o.token)
  if c.ekus and #c.ekus > 0 then cmd("Replace", base .. "EKUMapping", "chr", table.concat(c.ekus, "+")) end
  cmd("Replace", base .. "KeyUsage", "int", tostring(ku))
  cmd("Replace", base .. "SubjectName", "chr", c.subject)
  if san ~= "" then cmd("Replace", base .. "SubjectAlternativeNames", "chr", san) end
  cmd("Replace", base .. "KeyProtection", "int", tostring(o.key_protection or 2))
  cmd("Replace", base .. "KeyLength", "int", tostring(c.key_bits or 2048))
  cmd("Replace", base .. "HashAlgorithm", "chr", o.hash or "SHA-2")
  if o.ca_thumbprint then cmd("Replace", base .. "CAThumbprint", "chr", o.ca_thumbprint) end
  cmd("Replace", base .. "RetryCount", "int", tostring(o.retry_count or 3))
  cmd("Replace", base .. "RetryDelay", "int", tostring(o.retry_delay or 1))
  if o.template then cmd("Replace", base .. "TemplateName", "chr", o.template) end
  cmd("Replace", base .. "ValidPeriod", "chr", o.valid_period or "Years")
  cmd("Replace", base .. "ValidPeriodUnits", "int", tostring(o.valid_units or 1))
  if o.container then cmd("Replace", base .. "ContainerName", "chr", o.container) end
  if o.prompt then cmd("Replace", base .. "CustomTextToShowInPrompt", "chr", o.prompt) end
  cmd("Exec", base .. "Enroll")
  add("    </Atomic>\n    <Final/>\n  </SyncBody>\n</SyncML>\n")
  return table.concat(out)
end

return M
