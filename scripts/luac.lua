-- Precompiles one Lua source for the engine's chunk cache (build step, run by lua5.4):
--   lua5.4 scripts/luac.lua SOURCE CHUNKNAME OUTPUT
-- CHUNKNAME is "@" and the path the engine will find the source at: the engine uses the compiled
-- chunk only when that name matches and the chunk is not older than the source.
local src, chunkname, out = ...
assert(src and chunkname and out, "usage: lua5.4 scripts/luac.lua SOURCE CHUNKNAME OUTPUT")
local f = assert(io.open(src, "rb"))
local text = f:read("a")
f:close()
local fn = assert(load(text, chunkname, "t"))
local o = assert(io.open(out .. ".tmp", "wb"))
assert(o:write(string.dump(fn)))
assert(o:close())
assert(os.rename(out .. ".tmp", out))
