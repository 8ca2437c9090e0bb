-- Shared helpers of the busted specs: fixtures, temporary files, and running the built binary.
local M = {}

M.fixtures = assert(os.getenv("SCEPLAB_FIXTURES"), "run the specs through ctest (SCEPLAB_FIXTURES unset)")
M.bin = assert(os.getenv("SCEPLAB_BIN"), "SCEPLAB_BIN unset")

function M.fixture(rel)
  return M.fixtures .. "/" .. rel
end

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local d = f:read("a")
  f:close()
  return d
end

function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  return path
end

function M.tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function shquote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.shquote = shquote

--- Runs the sceplab binary; returns exit code, stdout, stderr.
-- The binary runs with leak detection on even when the spec process itself has it off.
function M.sceplab(args, stdin)
  local parts = { "env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=1", shquote(M.bin) }
  for _, a in ipairs(args) do parts[#parts + 1] = shquote(a) end
  local errf, outf = M.tmpname(), M.tmpname()
  local cmd = table.concat(parts, " ") .. " >" .. outf .. " 2>" .. errf
  if stdin then
    local inf = M.write(M.tmpname(), stdin)
    cmd = cmd .. " <" .. inf
  else
    cmd = cmd .. " </dev/null"
  end
  local _, _, code = os.execute(cmd)
  local out, err = M.read(outf), M.read(errf)
  os.remove(outf)
  os.remove(errf)
  return code, out, err
end

--- Lines of a string.
function M.lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

return M
