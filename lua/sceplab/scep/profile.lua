-- Enrollment profiles: one table shape for what Intune sends (SyncML), what Apple profiles carry,
-- and what admins write by hand in lua/profiles/*.lua. The SCEP client consumes this shape.
local sandbox = require "sceplab.sandbox"

local M = {}

-- Field name -> accepted Lua types, and a one-line description (used in errors and docs).
M.FIELDS = {
  name = { "string", "a label for reports" },
  source = { "string", "where the profile came from (syncml, mobileconfig, file)" },
  scope = { "string", "user or device" },
  url = { "string", "the SCEP server URL" },
  urls = { "table", "every server URL, in order" },
  subject = { "string", "subject DN as the profile writes it, e.g. CN=user,O=Contoso" },
  san = { "table", "list of {type = email|dns|uri|upn|ip, value = ...}" },
  key = { "table", "{type = 'rsa', bits = 2048} or {type = 'ec', curve = 'p256'}" },
  key_protection = { "string", "Windows KeyProtection (informational)" },
  eku = { "table", "list of EKU OIDs" },
  key_usage = { "table", "list of key usage names (digitalSignature, keyEncipherment, ...)" },
  hash = { "string", "sha256, sha512 or sha1" },
  challenge = { "string|function", "the challenge password, or a function returning it" },
  ca_thumbprint = { "string", "SHA-1 or SHA-256 thumbprint of the expected CA" },
  retry = { "table", "{count = N, delay = seconds}" },
  template = { "string", "certificate template name or OID" },
  valid_period = { "table", "{units = N, period = 'Days'|'Months'|'Years'}" },
  request_id = { "string", "canonical Intune request identifier" },
  challenge_redacted = { "boolean", "the source had a challenge that was not revealed" },
}

local SAN_TYPES = { email = true, dns = true, uri = true, upn = true, ip = true }

local function type_ok(v, spec)
  for t in spec:gmatch("[^|]+") do
    if type(v) == t then return true end
  end
  return false
end

--- Validates a profile table; returns it, or nil and "where: field 'x' ..." naming the field.
function M.validate(p, where)
  where = where or "profile"
  if type(p) ~= "table" then return nil, ("%s: a profile must be a table"):format(where) end
  for k, v in pairs(p) do
    local spec = M.FIELDS[k]
    if not spec then return nil, ("%s: unknown field '%s'"):format(where, tostring(k)) end
    if not type_ok(v, spec[1]) then
      return nil, ("%s: field '%s' must be a %s (%s), not a %s"):format(where, k, spec[1], spec[2], type(v))
    end
  end
  if not p.url then return nil, ("%s: field 'url' is required"):format(where) end
  if not p.url:match("^https?://") then
    return nil, ("%s: field 'url' must start with http:// or https://"):format(where)
  end
  for i, s in ipairs(p.san or {}) do
    if type(s) ~= "table" or not SAN_TYPES[s.type] or type(s.value) ~= "string" then
      return nil, ("%s: field 'san' entry %d must be {type = email|dns|uri|upn|ip, value = string}"):format(where, i)
    end
  end
  if p.key then
    local t = p.key.type
    if t == "rsa" then
      if not ({ [1024] = true, [2048] = true, [3072] = true, [4096] = true })[p.key.bits] then
        return nil, ("%s: field 'key.bits' must be 1024, 2048, 3072 or 4096"):format(where)
      end
    elseif t == "ec" then
      if not ({ p256 = true, p384 = true })[p.key.curve] then
        return nil, ("%s: field 'key.curve' must be p256 or p384"):format(where)
      end
    else
      return nil, ("%s: field 'key.type' must be rsa or ec"):format(where)
    end
  end
  if p.hash and not ({ sha256 = true, sha512 = true, sha1 = true })[p.hash] then
    return nil, ("%s: field 'hash' must be sha256, sha512 or sha1"):format(where)
  end
  return p
end

--- Loads lua/profiles-style files: the chunk returns the table (or sets `profile = {...}`).
-- A SyncML message (what Intune sends a Windows device) or an Apple configuration profile is
-- read as the device reads it: its first SCEP enrollment, challenge included.
--- The first SCEP enrollment of a SyncML message or an Apple profile (text), challenge included:
-- the profile | nil, "where: ...".
function M.from_document(data, path)
  local kind, doc = (require "sceplab.pure").decode(data, { show_secrets = true })
  if kind ~= "syncml" and kind ~= "mobileconfig" then
    return nil, ("%s: a profile is a Lua file, a SyncML message or an Apple profile, not %s"):format(path,
      kind or ("unreadable input (" .. tostring(doc) .. ")"))
  end
  local list = kind == "syncml" and M.from_syncml(doc) or M.from_mobileconfig(doc)
  if #list == 0 then return nil, ("%s: this %s holds no SCEP enrollment"):format(path, kind) end
  list[1].challenge_redacted = nil
  return M.validate(list[1], path)
end

local function load_document(path)
  local data, err = (require "sceplab.core.sys").read_file(path, (require "sceplab.core.decode").max_input)
  if not data then return nil, err end
  return M.from_document(data, path)
end

function M.load(path)
  local f = io.open(path, "rb")
  local head = f and f:read(64) or ""
  if f then f:close() end
  if head:match("^%s*<") or head:match("^\x30\x80") or head:match("^\x30\x82") or head:match("^bplist") then
    return load_document(path)
  end
  local env, res = sandbox.load(path, "profile")
  if not env then return nil, res end
  local p = res[1]
  if p == nil then p = rawget(env, "profile") end
  if p == nil then return nil, path .. ": the script must return a profile table" end
  return M.validate(p, path)
end

-- Windows HashAlgorithm names families; pick the strongest member we can send.
local function hash_from_families(list)
  local have = {}
  for _, h in ipairs(list or {}) do have[h:upper():gsub("[^%w]", "")] = true end
  if have.SHA2 or have.SHA256 then return "sha256" end
  if have.SHA1 then return "sha1" end
  return nil
end

local SYNCML_SAN = { email = "email", dns = "dns", uri = "uri", upn = "upn", ip = "ip" }

--- Enrollment profiles from a decoded SyncML document (sceplab.decode or sceplab.syncml.parse).
function M.from_syncml(doc)
  local out = {}
  for _, e in ipairs(doc.scep_enrollments or {}) do
    local p = { source = "syncml", name = e.unique_id, scope = e.scope }
    if e.server_urls and e.server_urls[1] then
      p.url = e.server_urls[1]
      p.urls = e.server_urls
    end
    p.subject = e.subject_name
    if e.sans then
      p.san = {}
      for _, s in ipairs(e.sans) do
        if SYNCML_SAN[s.type] then p.san[#p.san + 1] = { type = SYNCML_SAN[s.type], value = s.value } end
      end
    end
    if e.key_length then p.key = { type = "rsa", bits = e.key_length } end
    if e.key_protection then p.key_protection = e.key_protection.name end
    if e.eku then
      p.eku = {}
      for _, x in ipairs(e.eku) do p.eku[#p.eku + 1] = x.oid end
    end
    if e.key_usage and e.key_usage.bits then p.key_usage = e.key_usage.bits end
    p.hash = hash_from_families(e.hash_algorithms)
    p.ca_thumbprint = e.ca_thumbprint
    if e.retry_count or e.retry_delay then
      -- RetryDelay is in minutes in the CSP.
      p.retry = { count = e.retry_count, delay = e.retry_delay and e.retry_delay * 60 or nil }
    end
    p.template = e.template_name
    if e.valid_period or e.valid_period_units then
      p.valid_period = { units = e.valid_period_units, period = e.valid_period }
    end
    if e.request then p.request_id = e.request.canonical end
    if e.challenge then
      if e.challenge.value and not e.challenge.value:match("^%(redacted") then
        p.challenge = e.challenge.value
      else
        p.challenge_redacted = true
      end
    end
    out[#out + 1] = p
  end
  return out
end

-- Apple's Subject is an array of RDNs, each an array of [type, value] pairs.
local function apple_subject(subj)
  if type(subj) ~= "table" then return nil end
  local parts = {}
  for _, rdn in ipairs(subj) do
    for _, pair in ipairs(rdn) do
      if type(pair) == "table" and pair[1] and pair[2] then
        local v = tostring(pair[2]):gsub('([,+"\\<>;=])', "\\%1")
        parts[#parts + 1] = pair[1] .. "=" .. v
      end
    end
  end
  return #parts > 0 and table.concat(parts, ",") or nil
end

--- Enrollment profiles from a decoded Apple configuration profile.
function M.from_mobileconfig(doc)
  local out = {}
  for _, payload in ipairs(doc.scep_payloads or {}) do
    local c = payload.content or {}
    local p = { source = "mobileconfig", name = payload.display_name or payload.identifier, url = c.URL }
    if c.URL then p.urls = { c.URL } end
    p.subject = apple_subject(c.Subject)
    local alt = c.SubjectAltName
    if type(alt) == "table" then
      p.san = {}
      local map = { rfc822Name = "email", dNSName = "dns", uniformResourceIdentifier = "uri", ntPrincipalName = "upn" }
      for k, t in pairs(map) do
        local v = alt[k]
        if type(v) == "string" then v = { v } end
        for _, one in ipairs(type(v) == "table" and v or {}) do p.san[#p.san + 1] = { type = t, value = one } end
      end
      table.sort(p.san, function(a, b) return a.type .. a.value < b.type .. b.value end)
    end
    local ktype = c["Key Type"] or "RSA"
    if ktype == "RSA" then p.key = { type = "rsa", bits = c.Keysize or 2048 } end
    local ku = c["Key Usage"]
    if ku then
      p.key_usage = {}
      if ku & 1 ~= 0 then p.key_usage[#p.key_usage + 1] = "digitalSignature" end
      if ku & 4 ~= 0 then p.key_usage[#p.key_usage + 1] = "keyEncipherment" end
    end
    if c.CAFingerprint then p.ca_thumbprint = c.CAFingerprint end
    if c.Retries or c.RetryDelay then p.retry = { count = c.Retries, delay = c.RetryDelay } end
    if c.Challenge then
      if c.Challenge:match("^%(redacted") then p.challenge_redacted = true else p.challenge = c.Challenge end
    end
    out[#out + 1] = p
  end
  return out
end

--- A value as Lua source (tables with a list part, named fields or both; keys sorted), for the
-- files sceplab writes for people to edit (profiles, scenarios).
local function lua_literal(v, indent)
  indent = indent or 0
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t ~= "table" then return tostring(v) end
  local pad = string.rep("  ", indent + 1)
  local parts, n = {}, #v
  for _, x in ipairs(v) do parts[#parts + 1] = pad .. lua_literal(x, indent + 1) end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = tostring(k) end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local key = k:match("^[%a_][%w_]*$") and k or ("[%q]"):format(k)
    parts[#parts + 1] = pad .. key .. " = " .. lua_literal(v[k], indent + 1)
  end
  if #parts == 0 then return "{}" end
  -- a short list of plain values stays on one line ({ "deploy" }, { "upn:x" })
  if #keys == 0 and n <= 4 then
    local inline = {}
    for _, x in ipairs(v) do
      if type(x) == "table" then inline = nil break end
      inline[#inline + 1] = lua_literal(x, 0)
    end
    if inline then return "{ " .. table.concat(inline, ", ") .. " }" end
  end
  return "{\n" .. table.concat(parts, ",\n") .. ",\n" .. string.rep("  ", indent) .. "}"
end
M.lua_literal = lua_literal

function M.to_lua(p)
  local head = "-- sceplab enrollment profile"
  if p.source then head = head .. " (from " .. p.source .. ")" end
  local body = {}
  for k, v in pairs(p) do
    if k ~= "challenge_redacted" then body[k] = v end
  end
  local note = ""
  if p.challenge_redacted then
    note = "-- The challenge was redacted: add `challenge = \"...\"` (or decode with --show-secrets).\n"
  end
  return head .. "\n" .. note .. "return " .. lua_literal(body, 0) .. "\n"
end

return M
