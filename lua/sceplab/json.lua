-- JSON output with stable key order (sorted), so reports diff cleanly and tests can compare them.
-- Arrays are tables whose metatable is core.array_mt (what the C decoders return) or plain
-- sequences with at least one element; everything else is an object. Decoding uses lua-cjson.
local core = require "sceplab.core"

local M = {}
M.array_mt = core.array_mt

local ARRAY = rawget(core.array_mt, "__metatable") -- what getmetatable() answers for an array

--- Marks t as a JSON array (so an empty one encodes as []).
function M.array(t)
  t = t or {}
  if getmetatable(t) == ARRAY then return t end
  return setmetatable(t, core.array_mt)
end

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t",
}

local REPLACEMENT = "\u{FFFD}"

--- s as valid UTF-8: each byte that does not belong to a well-formed sequence (a stray byte of a
-- log line, a zip member's name, a sequence cut in the middle) becomes U+FFFD. JSON is UTF-8, and
-- a consumer that meets invalid bytes rejects the whole document.
function M.utf8(s)
  local ok, bad = utf8.len(s) -- strict: no surrogates, nothing past U+10FFFF, no overlong forms
  if ok then return s end
  local out, i = {}, 1
  while bad do
    out[#out + 1] = s:sub(i, bad - 1)
    out[#out + 1] = REPLACEMENT
    i = bad + 1
    if i > #s then break end
    ok, bad = utf8.len(s, i)
  end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

local function quote(s)
  return '"' .. M.utf8(s):gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_array(t)
  if getmetatable(t) == ARRAY then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode(v, indent, depth, out)
  local tv = type(v)
  if tv == "nil" then
    out[#out + 1] = "null"
  elseif tv == "boolean" then
    out[#out + 1] = tostring(v)
  elseif tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = "null"
    elseif math.type(v) == "integer" then
      out[#out + 1] = string.format("%d", v)
    else
      out[#out + 1] = string.format("%.17g", v)
    end
  elseif tv == "string" then
    out[#out + 1] = quote(v)
  elseif tv == "table" then
    if depth > 100 then error("json: nesting deeper than 100 (cycle?)", 0) end
    local nl = indent and ("\n" .. string.rep(indent, depth + 1)) or ""
    local close = indent and ("\n" .. string.rep(indent, depth)) or ""
    local colon = indent and ": " or ":"
    if is_array(v) then
      if #v == 0 then out[#out + 1] = "[]" return end
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = nl
        encode(v[i], indent, depth + 1, out)
      end
      out[#out + 1] = close .. "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" then k = tostring(k) end
        keys[#keys + 1] = k
      end
      if #keys == 0 then out[#out + 1] = "{}" return end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = nl .. quote(k) .. colon
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, indent, depth + 1, out)
      end
      out[#out + 1] = close .. "}"
    end
  elseif tv == "function" then
    out[#out + 1] = quote("(function)")
  else
    error("json: cannot encode a " .. tv, 0)
  end
end

--- Encodes v; pretty-printed with two-space indentation unless compact is true.
function M.encode(v, compact)
  local out = {}
  encode(v, not compact and "  " or nil, 0, out)
  return table.concat(out)
end

--- Decodes JSON text (lua-cjson); returns value or nil, message.
function M.decode(text)
  local ok, cjson = pcall(require, "cjson.safe")
  if not ok then return nil, "lua-cjson is not installed" end
  local v, err = cjson.decode(text)
  if v == nil then return nil, err end
  return v
end

return M
