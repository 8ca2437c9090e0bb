-- A PostgreSQL 15 server of a spec's own: initdb and pg_ctl from Debian's postgresql-15, run as
-- the unprivileged user nobody when the specs run as root (which PostgreSQL refuses to be), in a
-- temporary directory with a space in its name (quoting is proven on every run), listening on a
-- unix socket in that directory only: never the system's cluster, never a TCP port. fsync is off
-- (a spec's machine does not crash; a commit still waits for its WAL write, and restarts are clean).
local h = require "helper"

local M = {}
M.BIN = "/usr/lib/postgresql/15/bin"

local q = h.shquote
-- as root, the server's programs run as nobody; as anyone else, as that user
local AS = h.sh_out("id -u"):match("^0%s") and "runuser -u nobody -- " or ""

local function must(cmd, what)
  local out, ok = h.sh_out(cmd)
  assert(ok, (what or cmd) .. " failed: " .. out)
  return out
end

-- the URL's host parameter: the socket directory, percent-encoded
local function enc(s)
  return (s:gsub("[^%w/%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local Pg = {}
Pg.__index = Pg

--- A postgresql:// URL of database db (default "sceplab") on this server.
function Pg:url(db)
  return ("postgresql://sceplab@/%s?host=%s"):format(db or "sceplab", enc(self.dir))
end

function Pg:start()
  must((AS .. "%s/pg_ctl -D %s -l %s -o %s -w -t 30 start"):format(M.BIN, q(self.dir .. "/data"),
    q(self.dir .. "/server.log"), q("-k '" .. self.dir .. "' -c listen_addresses='' -c max_connections=200 -c fsync=off")),
    "pg_ctl start")
end

function Pg:stop()
  must((AS .. "%s/pg_ctl -D %s -m fast -w -t 30 stop"):format(M.BIN, q(self.dir .. "/data")), "pg_ctl stop")
end

function Pg:restart()
  self:stop()
  self:start()
end

--- Runs SQL (psql -At) in database db; returns its output.
function Pg:psql(db, sql)
  return must(("psql -X -At -v ON_ERROR_STOP=1 -h %s -U sceplab -d %s -c %s"):format(q(self.dir), q(db), q(sql)), "psql")
end

function Pg:createdb(db)
  must(("%s/createdb -h %s -U sceplab %s"):format(M.BIN, q(self.dir), q(db)), "createdb")
  return self:url(db)
end

function Pg:destroy()
  if self.dir then
    h.sh_out((AS .. "%s/pg_ctl -D %s -m immediate -w stop"):format(M.BIN, q(self.dir .. "/data")))
    os.execute("rm -rf " .. q(self.dir))
    self.dir = nil
  end
end

--- A new server, started, with database "sceplab"; :destroy() stops it and removes its files.
function M.new()
  -- /tmp, not TMPDIR: nobody must be able to reach the directory
  local dir = must("mktemp -d " .. q("/tmp/sceplab pg.XXXXXX")):gsub("%s+$", "")
  if AS ~= "" then must(("chown nobody:nogroup %s"):format(q(dir))) end
  must("chmod 0700 " .. q(dir))
  local self = setmetatable({ dir = dir }, Pg)
  must((AS .. "%s/initdb -D %s -U sceplab -A trust -E UTF8 --no-sync"):format(M.BIN, q(dir .. "/data")),
    "initdb")
  self:start()
  self:createdb("sceplab")
  return self
end

return M
