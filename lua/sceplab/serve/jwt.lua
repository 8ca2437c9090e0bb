-- JSON Web Tokens as Entra ID uses them (RFC 7519, RS256): the client assertion an app signs with
-- its certificate's key, and the access tokens `sceplab intune cloud` issues. Signatures are made
-- and checked in C (sceplab.core.pkey); this is the encoding around them.
local codec = require "sceplab.core.codec"
local pkey = require "sceplab.core.pkey"
local json = require "sceplab.json"

local M = {}

--- base64url without padding (RFC 7515 2).
function M.b64url(s)
  return (codec.b64encode(s):gsub("[+/=]", { ["+"] = "-", ["/"] = "_", ["="] = "" }))
end

function M.b64url_decode(s)
  if type(s) ~= "string" or s:find("[^%w%-_]") then return nil end
  local b = s:gsub("[-_]", { ["-"] = "+", ["_"] = "/" })
  b = b .. ("="):rep((4 - #b % 4) % 4)
  return codec.b64decode(b)
end

--- A signed token: header and claims (tables), key (sceplab.core.pkey, RSA).
function M.sign(header, claims, key)
  header.alg = "RS256"
  header.typ = header.typ or "JWT"
  local input = M.b64url(json.encode(header, true)) .. "." .. M.b64url(json.encode(claims, true))
  return input .. "." .. M.b64url(key:sign(input, "sha256"))
end

--- A token's parts, unchecked: header, claims, signing input, signature | nil, why.
function M.parse(token)
  if type(token) ~= "string" then return nil, "no token" end
  local h, c, s = token:match("^([%w%-_]+)%.([%w%-_]+)%.([%w%-_]*)$")
  if not h then return nil, "not a JSON Web Token (three base64url parts)" end
  local hj, cj, sig = M.b64url_decode(h), M.b64url_decode(c), M.b64url_decode(s)
  local header = hj and json.decode(hj)
  local claims = cj and json.decode(cj)
  if type(header) ~= "table" or type(claims) ~= "table" or not sig then return nil, "the token does not decode" end
  return header, claims, h .. "." .. c, sig
end

--- Whether a parsed token's RS256 signature verifies with pem (a certificate or public key).
function M.verify(header, input, sig, pem)
  if header.alg ~= "RS256" then return false end
  return pkey.verify(pem, input, sig, "sha256") == true
end

--- The x5t of a certificate (its SHA-1 thumbprint, base64url), from its hex thumbprint.
function M.x5t(sha1_hex) return M.b64url(codec.hexdecode(sha1_hex)) end

--- A new random UUID (version 4), as client-request-id and trace IDs are.
function M.uuid()
  local b = {}
  for i = 1, 16 do b[i] = math.random(0, 255) end
  b[7] = (b[7] & 0x0f) | 0x40
  b[9] = (b[9] & 0x3f) | 0x80
  local h = ("%02x"):rep(16):format(table.unpack(b))
  return ("%s-%s-%s-%s-%s"):format(h:sub(1, 8), h:sub(9, 12), h:sub(13, 16), h:sub(17, 20), h:sub(21, 32))
end

return M
