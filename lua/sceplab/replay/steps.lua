-- What each step of a scenario does (docs/scenarios.md), one function per kind: step(run, i, st)
-- plays st (the i-th step) on the run (run.lua: the scenario, the CA, the server, the device, the
-- clock) and returns the line that says what happened, or nil, message when the run must stop.
local core = require "sceplab.core.serve"
local sys = require "sceplab.core.sys"
local intune = require "sceplab.serve.intune"
local clock = require "sceplab.replay.clock"

local M = {}

-- The CA that signs Intune's tokens: the scenario's, or another tenant's (fault other-tenant).
local function token_ca(run)
  if not run.faults["other-tenant"] then return run.ca end
  local other = run.work .. "/other-tenant"
  if sys.kind(other) ~= "directory" then core.ca_init(other) end
  return core.ca_open(other)
end

-- Intune sends the profile with a new challenge (a token issued now, on the virtual clock):
-- whom the token names | nil, message.
local function deploy(run)
  local sc, ca, faults = run.sc, run.ca, run.faults
  local prof, ti = sc.profile, sc.intune or {}
  local tca = token_ca(run)
  local claims_in = { subject = ti.subject or prof.subject, user_id = prof.user, device_id = prof.device,
    san = ti.san or prof.san, key_bits = prof.key_bits or 2048,
    -- the token's KeyUsage is a list of names in one string
    key_usage = type(prof.key_usage) == "table" and table.concat(prof.key_usage, ",") or prof.key_usage,
    ekus = prof.ekus or { "clientAuth" }, issued_at = math.floor(run.clock:now()), minutes = ti.minutes }
  local tok, terr = tca:intune_token(claims_in)
  if not tok then return nil, terr end
  -- the profile is laid out from what the token says (a token from another tenant is still read)
  local claims = { device_id = prof.device or "replay-device", user_id = prof.user, subject = prof.subject,
    san = {}, key_bits = prof.key_bits or 2048, key_usage = type(prof.key_usage) == "table" and prof.key_usage or nil }
  -- the token as its issuer reads it (its request id, its EKUs as OIDs): the tenant that signed
  -- it verifies it, whichever server it goes to
  local cl, verr = tca:intune_verify(tok, claims_in.issued_at)
  if not cl then return nil, verr end
  claims.request_id = cl.request_id
  for _, s in ipairs(prof.san or {}) do
    local t, v = s:match("^(%w+):(.+)$")
    claims.san[#claims.san + 1] = { type = t, value = v }
  end
  claims.ekus = cl.ekus
  local certs = ca:certificates()
  -- ndes-unreachable: the profile names a port nothing listens on (the discard port)
  local purl = faults["ndes-unreachable"] and run.url:gsub(":%d+/", ":9/", 1) or run.url
  local xml, perr = intune.profile({ token = tok, claims = claims, urls = { purl },
    root_der_b64 = certs.root:gsub("%-%-%-%-%-[^\n]*%-%-%-%-%-", ""):gsub("%s", ""),
    ca_thumbprint = prof.ca_thumbprint or ca:thumbprint("root") })
  if not xml then return nil, perr end
  local dok, derr = run.device:deploy(xml)
  if not dok then return nil, derr end
  return claims_in.subject
end

-- The device runs the SCEP exchange with its platform's client: the result (or nil), its error,
-- and the line that says how it went. An enrollment that fails is part of the story, not an
-- error of the run.
local function enroll(run)
  local d = run.sc.device or {}
  local over = {}
  -- root-not-trusted: the device holds no profile for this root; it checks the RA's chain
  -- against what it has (here: a thumbprint of nothing the server sends)
  if run.faults["root-not-trusted"] then over.ca_thumbprint = ("0"):rep(40) end
  if d.no_challenge then over.challenge = false end
  if d.subject then over.subject = d.subject end
  if d.key_bits then over.key = { type = "rsa", bits = d.key_bits } end
  local device = run.device
  local r, e = device:enroll(over)
  return r, e, ("the device enrolls: %s"):format(r and "certificate installed"
    or ("failed %d time%s (%s)"):format(device.attempts or 0, device.attempts == 1 and "" or "s", tostring(e)))
end

function M.advance(run, i, st)
  run.clock:advance(st.minutes)
  return ("%d. the clock advances %s"):format(i, clock.duration(st.minutes))
end

-- a fault or fix step changes the faults in play and restarts the server, as an admin or an
-- outage does
local function set_fault(run, i, st, on, what)
  run.server_faults[st[2]] = on or nil
  local ok, err = run:start()
  if not ok then return nil, err end
  return ("%d. %s: %s"):format(i, what, st[2])
end

function M.fault(run, i, st) return set_fault(run, i, st, true, "the server breaks") end
function M.fix(run, i, st) return set_fault(run, i, st, false, "the admin fixes") end

-- the NDES server is down (powered off, IIS stopped): nothing listens at the URL
function M.offline(run, i)
  run:stop()
  return ("%d. NDES goes offline"):format(i)
end

function M.online(run, i)
  local ok, err = run:start()
  if not ok then return nil, err end
  return ("%d. NDES is back online"):format(i)
end

function M.rotate(run, i)
  run:stop()
  local ok, err = run.ca:rollover()
  if ok then ok, err = run.ca:activate() end
  if not ok then return nil, err end
  ok, err = run:start()
  if not ok then return nil, err end
  return ("%d. the CA rolls over: a new issuing CA and NDES's RA pair re-issued"):format(i)
end

function M.deploy(run, i)
  local who, err = deploy(run)
  if not who then return nil, err end
  return ("%d. Intune deploys the SCEP profile (token for %s)"):format(i, who)
end

function M.enroll(run, i)
  local r, _, line = enroll(run)
  run.result = r
  return ("%d. %s"):format(i, line)
end

-- the renewal threshold (Intune's default: 20% of the lifetime left): the clock runs to it,
-- Intune sends the profile again with a new challenge, the device enrolls a new key
function M.renew(run, i)
  local threshold = run.sc.profile.renewal_threshold or 20
  local window = run.result and clock.renewal_time(run.result.certificate_pem, threshold)
  if not window then return ("%d. renewal: the device has no certificate to renew"):format(i) end
  local wait = math.max(0, math.ceil((window - run.clock:now()) / 60))
  if wait > 0 then run.clock:advance(wait) end
  local who, err = deploy(run)
  if not who then return nil, err end
  local r, _, line = enroll(run)
  run.result = r
  return ("%d. renewal (%d%% of the lifetime left, %s on): Intune sends the profile again (token for %s); %s")
    :format(i, threshold, clock.duration(wait), who, line)
end

return M
