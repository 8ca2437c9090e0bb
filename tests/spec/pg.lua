-- A PostgreSQL 15 server of a spec's own: initdb and pg_ctl from Debian's postgresql-15, run as
-- the unprivileged user nobody (the specs run as root, which PostgreSQL refuses to be), in a
-- temporary directory with a space in its name (quoting is proven on every run), listening on a
-- unix socket in that directory only: never the system's cluster, never a TCP port.
local h = require "helper"

local M = {}
M.BIN = "/usr/lib/postgresql/15/bin"

local q = h.shquote

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
  must(("runuser -u nobody -- %s/pg_ctl -D %s -l %s -o %s -w -t 30 start"):format(M.BIN, q(self.dir .. "/data"),
    q(self.dir .. "/server.log"), q("-k '" .. self.dir .. "' -c listen_addresses='' -c max_connections=200")),
    "pg_ctl start")
end

function Pg:stop()
  must(("runuser -u nobody -- %s/pg_ctl -D %s -m fast -w -t 30 stop"):format(M.BIN, q(self.dir .. "/data")), "pg_ctl stop")
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
    h.sh_out(("runuser -u nobody -- %s/pg_ctl -D %s -m immediate -w stop"):format(M.BIN, q(self.dir .. "/data")))
    os.execute("rm -rf " .. q(self.dir))
    self.dir = nil
  end
end

--- A new server, started, with database "sceplab"; :destroy() stops it and removes its files.
function M.new()
  -- /tmp, not TMPDIR: nobody must be able to reach the directory
  local dir = must("mktemp -d " .. q("/tmp/sceplab pg.XXXXXX")):gsub("%s+$", "")
  must(("chown nobody:nogroup %s && chmod 0700 %s"):format(q(dir), q(dir)))
  local self = setmetatable({ dir = dir }, Pg)
  must(("runuser -u nobody -- %s/initdb -D %s -U sceplab -A trust -E UTF8 --no-sync"):format(M.BIN, q(dir .. "/data")),
    "initdb")
  self:start()
  self:createdb("sceplab")
  return self
end

return M
