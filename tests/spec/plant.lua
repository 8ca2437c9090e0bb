-- Plants numeric codes inside the random identifiers of a log bundle: hex ids (transaction ids,
-- thumbprints, CRS names in text), GUIDs and base64 (SCEP messages in IIS queries), so that a
-- diagnosis matching codes as substrings meets them every time instead of once in many runs.
-- A healthy bundle planted so must still diagnose healthy: a code inside an id is no code.
local M = {}

--- The codes the playbooks look for: every status, event id and HRESULT their match declares,
-- every number among their contains, and every numeric literal of their sources (the codes
-- ctx.code and tables such as device.lua's DNS list name). Returns a sorted list of digit strings
-- as logs could spell them: decimal and, for hex literals, the hex digits too (HRESULTs also as
-- unsigned decimal).
function M.catalog_codes(playbook_dir, playbooks)
  local set = {}
  local function add(s) if #s >= 3 then set[s] = true end end
  local function add_number(v)
    if v < 0 then v = -v end
    add(tostring(v))
    if v > 0xFFFF then add(("%X"):format(v)) end
  end
  for _, pb in ipairs(playbooks) do
    local m = pb.match or {}
    for _, k in ipairs({ "statuses", "event_ids", "hresults" }) do
      for _, v in ipairs(m[k] or {}) do add_number(v) end
    end
    for _, c in ipairs(m.contains or {}) do
      if c:match("^%-?%d+$") then add(c:gsub("^%-", "")) end
      if c:match("^0[xX]%x+$") then add(c:sub(3):upper()) end
    end
  end
  local parts = {}
  for _, name in ipairs((require "sceplab.core.sys").listdir(playbook_dir) or {}) do
    if name:match("%.lua$") then
      local f = assert(io.open(playbook_dir .. "/" .. name, "rb"))
      parts[#parts + 1] = f:read("a")
      f:close()
    end
  end
  local src = table.concat(parts, "\n")
  src = src:gsub("%-%-[^\n]*", "") -- comments name codes too, but the code is what matters
  for hex in src:gmatch("0[xX](%x+)") do
    add(hex:upper())
    local v = tonumber(hex, 16)
    if v and v > 0xFFFF then add(tostring(v)) end
  end
  for dec in src:gmatch("[^%w_.]%-?(%d%d%d+)[^%w_.]") do add(dec) end
  for q in src:gmatch('"(%-?%d%d%d+)"') do add((q:gsub("^%-", ""))) end
  local out = {}
  for s in pairs(set) do out[#out + 1] = s end
  table.sort(out)
  return out
end

--- A planter: plant(text) -> text with codes inside its identifiers; planted, the set of codes it
-- planted whole; where(), the cursor after the last code. It fills the inside of each identifier
-- with codes, each between two letters of the identifier's own alphabet, keeping its length, case
-- and first and last characters; the same identifier gets the same planting wherever it appears (a
-- transaction id in NDESPlugin.log and in a CRS file). One cursor runs through the codes across
-- identifiers from start (default 1): the next variant starts where this one ended, so variants
-- together put every code inside an identifier even in a bundle with few of them.
function M.planter(codes, start)
  local memo, planted = {}, {}
  local cursor = start or 1
  local guids = cursor -- the 4-digit codes, in GUIDs' groups
  local function letter(letters) return letters:sub((cursor - 1) % #letters + 1, (cursor - 1) % #letters + 1) end
  local function fill(len, letters)
    local out, n = {}, 0
    while n < len do
      local code = codes[(cursor - 1) % #codes + 1]
      -- a code goes in whole, with a letter after it; a code that does not fit waits for the next
      -- identifier and the rest is letters
      if n + 1 + #code >= len then
        out[#out + 1] = letter(letters):rep(len - n)
        break
      end
      out[#out + 1] = letter(letters) .. code
      n = n + 1 + #code
      cursor = cursor + 1
      planted[code] = true
    end
    return table.concat(out)
  end
  local function plant_id(id, letters)
    local key = id:lower()
    local got = memo[key]
    if not got then
      got = id:sub(1, 1) .. fill(#id - 2, letters) .. id:sub(-1)
      memo[key] = got
    end
    -- the occurrence's case: an upper-case thumbprint stays upper case
    if id:upper() == id then return got:upper() end
    if id:lower() == id then return got:lower() end
    return got
  end
  return function(text)
    -- base64 runs (a SCEP message in an IIS query): 40 characters or more, not only hex
    text = text:gsub("[%w+/]+", function(run)
      if #run < 40 then return nil end
      local _, digits = run:gsub("%d", "")
      local _, upper = run:gsub("%u", "")
      local _, lower = run:gsub("%l", "")
      -- mixed as random base64 is (a URL path or a word is not)
      if digits * 20 >= #run and upper * 8 >= #run and lower * 8 >= #run then
        return plant_id(run, "QwErTyUiOpZxKv")
      end
    end)
    -- hex ids of 16 digits or more with a letter in them (not a decimal such as IIS's win32 status)
    text = text:gsub("%x+", function(run)
      if #run >= 16 and #run < 40 * 4 and run:find("%a") and not run:find("[g-zG-Z]") then
        return plant_id(run, "ABCDEF")
      end
    end)
    -- GUIDs: a code in each 4-digit group, joined by dashes
    text = text:gsub("(%x%x%x%x%x%x%x%x)%-(%x%x%x%x)%-(%x%x%x%x)%-(%x%x%x%x)%-(%x%x%x%x%x%x%x%x%x%x%x%x)",
      function(a, b, c, d, e)
        local key = ("guid:%s-%s-%s-%s-%s"):format(a, b, c, d, e):lower()
        if memo[key] then return memo[key] end
        local four = {}
        for _, code in ipairs(codes) do if #code == 4 and code:match("^%d+$") then four[#four + 1] = code end end
        if #four == 0 then return nil end
        local function pick()
          local code = four[guids % #four + 1]
          guids = guids + 1
          planted[code] = true
          return code
        end
        memo[key] = a .. "-" .. pick() .. "-" .. pick() .. "-" .. pick() .. "-" .. e
        return memo[key]
      end)
    return text
  end, planted, function() return cursor end
end

--- Plants every regular file under dir in place (text files only: a file with a NUL byte is left).
-- Returns how many identifiers were planted.
function M.plant_dir(dir, plant)
  local p = io.popen("find '" .. dir:gsub("'", "'\\''") .. "' -type f")
  local n = 0
  for path in p:lines() do
    local f = assert(io.open(path, "rb"))
    local data = f:read("a")
    f:close()
    if not data:find("\0", 1, true) then
      local out = plant(data)
      if out ~= data then
        n = n + 1
        f = assert(io.open(path, "wb"))
        f:write(out)
        f:close()
      end
    end
  end
  p:close()
  return n
end

return M
