-- `replay --from`: a scenario skeleton from a diagnosed bundle (a customer's logs): the platform
-- its device evidence shows, the faults and recipes its findings stand for, its findings as the
-- expect, and what cannot be reproduced, said and kept in the expect.
local scenario = require "sceplab.replay.scenario"

local M = {}

-- NDES's RA certificates last two years: time makes them expire.
local function ra_expiry(sc)
  if sc.ra_expiry then return end
  sc.ra_expiry = true
  for _, st in ipairs({ { "advance", days = 731 }, { "deploy" }, { "enroll" } }) do sc.steps[#sc.steps + 1] = st end
end

--- How each finding a diagnosis can raise is played back when no fault (scenario.FAULTS) stands for it:
-- a recipe that changes the scenario's data (play), with the bundled scenario that shows it, or,
-- for a finding that is the echo or the consequence of another one (alone = false), only beside
-- that one. M.NOT_REPLAYABLE says why the others cannot be. A finding in none of these (a team's
-- own playbook's) cannot be reproduced either: --from says so and keeps it in the expect.
M.RECIPES = {
  ["challenge-expired"] = { scenario = "challenge-expired", doc = "an advance of 90 minutes before the enrollment",
    play = function(sc) table.insert(sc.steps, 2, { "advance", minutes = 90 }) end },
  ["subject-mismatch"] = { scenario = "subject-escaped-comma", doc = "the two subjects the CRP's line names (profile.subject, intune.subject)",
    play = function(sc, text, notes)
      local csr, chal = text:match("Subject Name in CSR (.-) and challenge (.-) do not match")
      if csr then
        sc.profile.subject, sc.intune = csr, { subject = chal }
      else
        sc.intune = { subject = "CN=someone else,O=Contoso" }
        notes[#notes + 1] = "subject-mismatch: the evidence names no subjects; set profile.subject and intune.subject"
      end
    end },
  ["csr-key-mismatch"] = { scenario = "key-size-mismatch", doc = "the two key sizes the CRP's line names (profile.key_bits, device.key_bits)",
    play = function(sc, text)
      local got, want = text:match("Key length in CSR (%d+) and challenge (%d+)")
      sc.profile.key_bits, sc.device = tonumber(want) or 2048, { key_bits = tonumber(got) or 1024 }
    end },
  ["ca-thumbprint-mismatch"] = { scenario = "ca-thumbprint-mismatch", doc = "the profile's CAThumbprint the device checked (no CA of the replay's)",
    play = function(sc, text)
      local t = text:match("CA cert thumbprint '(%x+)'")
      sc.profile.ca_thumbprint = t and #t == 40 and t:upper() or ("0C93E3B330AC0F3770CCED39CE5EDCBD23919305")
      sc.platform = "windows" -- Windows checks the thumbprint and logs event 32
    end },
  ["challenge-reused"] = { scenario = "challenge-reused", doc = "a second enrollment with the same profile and a new key",
    play = function(sc) sc.steps[#sc.steps + 1] = { "enroll" } end },
  ["challenge-rejected"] = { scenario = "ndes-password-rejected", doc = "NDES checking the Intune challenge as its own password (server.policy = \"static\")",
    play = function(sc)
      sc.server.policy, sc.server.config = "static", { challenge = "NDES-OWN-PASSWORD" }
    end },
  ["renewal-password-missing"] = { scenario = "renewal-password-missing", doc = "a request without a password (device.no_challenge) at NDES's own password check",
    play = function(sc)
      sc.server.policy, sc.server.config = "static", { challenge = "NDES-OWN-PASSWORD" }
      sc.device = sc.device or {}
      sc.device.no_challenge = true
    end },
  ["ra-cert-expired"] = { scenario = "ra-cert-expired", doc = "an advance of 731 days: NDES's RA certificates last two years",
    play = ra_expiry },
  ["ndes-500"] = { scenario = "ra-cert-expired", doc = "NDES's RA certificates expiring (a locked NDES service account looks the same to the device)",
    play = function(sc, _, notes, rep)
      local cause = false
      for _, g in ipairs(rep.findings) do cause = cause or g.id == "ra-cert-expired" end
      if not cause then
        notes[#notes + 1] = "ndes-500: played as NDES's RA certificates expiring; a locked NDES service account looks the same to the device"
      end
      ra_expiry(sc)
    end },
  ["retries-exhausted"] = { scenario = "challenge-expired", alone = false,
    doc = "the failure behind it, which Windows tries three times",
    why = "the failure behind the retries is not in the bundle" },
  ["ios-scep-error"] = { scenario = "subject-mismatch-ios", alone = false,
    doc = "iOS's echo of the server's failure (platform ios)",
    why = "only the device's side is in the bundle; add the server fault behind it" },
}

M.NOT_REPLAYABLE = {
  ["unclassified-error"] = "no playbook names what failed, so nothing says what to play: write a playbook for it (docs/playbooks.md), then a fault",
  ["radius-revocation-offline"] = "a RADIUS server's log says revocation could not be checked, not which publication failed: play its causes with the faults cdp-unreachable, crl-expired or ocsp-silent",
}
-- Intune's API for a third-party CA (serve --policy intune-api): the cloud stand-in's faults play
-- its findings (scenario.FAULTS), but the replay's serve signs in with a client secret, so a
-- refused certificate assertion is not played
M.NOT_REPLAYABLE["intune-api-assertion-refused"] = "the replay's serve signs in to the cloud stand-in with a client " ..
  "secret, not a certificate: play it with sceplab intune cloud --fault assertion-refused and serve --policy intune-api " ..
  "--set client_cert=... (docs/intune-third-party.md)"

-- The faults, by the finding each stands for (the first by name when several do).
local function faults_by_finding()
  local names = {}
  for name in pairs(scenario.FAULTS) do names[#names + 1] = name end
  table.sort(names)
  local out = {}
  for _, name in ipairs(names) do
    local f = scenario.FAULTS[name].finding
    if f and not out[f] then out[f] = name end
  end
  return out
end

--- How --from plays a finding: "fault", NAME | "recipe", recipe | "info" | nil, why not.
function M.replayable(id)
  local fault = faults_by_finding()[id]
  if fault then return "fault", fault end
  if M.RECIPES[id] then return "recipe", M.RECIPES[id] end
  if id == "enrollment-succeeded" or id == "server-succeeded" then return "info" end
  if M.NOT_REPLAYABLE[id] then return nil, M.NOT_REPLAYABLE[id] end
  return nil, "no fault or recipe reproduces it yet"
end

-- The platform the bundle's strongest device evidence shows: the device's own logs, then the
-- requests IIS saw by their user agent; Windows when nothing says.
local function platform_of(rep)
  local best, best_own, best_req
  for _, p in ipairs({ "windows", "android", "ios" }) do
    local d = (rep.devices or {})[p]
    if d then
      local own, req = d.own or 0, d.requests or 0
      if own + req > 0 and (not best or own > best_own or (own == best_own and req > best_req)) then
        best, best_own, best_req = p, own, req
      end
    end
  end
  -- an older report without devices: the inputs' formats
  if not best then
    for _, i in ipairs(rep.inputs or {}) do
      if i.format == "android" or i.format == "ios" then best = i.format end
    end
  end
  return best
end

local function evidence_text(f)
  local out = {}
  for _, e in ipairs(f.evidence or {}) do out[#out + 1] = e.text or "" end
  return table.concat(out, "\n")
end

--- A scenario skeleton from a diagnosis report: the platform its strongest device evidence
-- shows, the faults and recipes its findings stand for, and its findings as the expect. Returns
-- the scenario table, notes (what to check), and the findings it cannot reproduce
-- ({id, why}): those stay in expect.raises, so `replay --check` fails until something plays them,
-- and the bundle is never rewritten as healthy.
function M.from_report(rep, name)
  local sc = { description = "Reproduction of " .. (name or "a diagnosed bundle"), platform = "windows",
               server = { policy = "intune", faults = {} }, profile = { subject = "CN=device,O=Contoso" },
               steps = { { "deploy" }, { "enroll" } }, expect = { raises = {} } }
  local notes, missing = {}, {}
  local platform = platform_of(rep)
  if platform then sc.platform = platform
  else notes[#notes + 1] = "no device log in the bundle: the skeleton plays a Windows device" end
  local seen, played = {}, 0
  local later = {}
  for _, f in ipairs(rep.findings) do
    if not seen[f.id] and f.severity ~= "info" then
      seen[f.id] = true
      local how, what = M.replayable(f.id)
      if how == "fault" then
        table.insert(sc.server.faults, what)
        played = played + 1
      elseif how == "recipe" and what.alone == false then
        later[#later + 1] = { f = f, recipe = what }
      elseif how == "recipe" then
        what.play(sc, evidence_text(f), notes, rep)
        played = played + 1
      else
        missing[#missing + 1] = { id = f.id, why = what }
      end
      table.insert(sc.expect.raises, f.id)
    end
  end
  -- an echo or a consequence is played by what it echoes, or not at all
  for _, l in ipairs(later) do
    if played == 0 then
      missing[#missing + 1] = { id = l.f.id, why = l.recipe.why }
    elseif l.f.id == "ios-scep-error" then
      sc.platform = "ios"
    end
  end
  for _, v in ipairs(rep.verdicts or {}) do
    if v.status == "failed" and (not sc.expect.failing_step or v.failing_step < sc.expect.failing_step) then
      sc.expect.verdict, sc.expect.failing_step = "failed", v.failing_step
    end
  end
  -- a bundle of the NDES server's logs alone: the skeleton collects those alone
  local server_only = false
  for _, v in ipairs(rep.verdicts or {}) do
    if v.status == "server-succeeded" then server_only = true end
    if v.status == "enrollment-succeeded" then server_only = false break end
  end
  if #sc.expect.raises == 0 then
    -- nothing failed in the bundle: a healthy enrollment, as the bundle shows it
    sc.expect = { verdict = server_only and "server-succeeded" or "enrollment-succeeded", no_errors = true }
    if server_only then sc.collect = { "ndes" } end
  end
  -- serve's Intune API call log, or a fault of Intune's API: the third-party CA path (intune-api,
  -- against the cloud stand-in the replay starts)
  for _, i in ipairs(rep.inputs or {}) do
    if i.format == "intune-api" then sc.server.policy = "intune-api" end
  end
  for _, f in ipairs(sc.server.faults) do
    if scenario.FAULTS[f].cloud then sc.server.policy = "intune-api" end
  end
  if #sc.server.faults == 0 then sc.server.faults = nil
  elseif sc.expect.failing_step then
    -- a fault plays as the real system shows it, which may stop a request earlier than the
    -- customer's logs did (an expired policy certificate: 503 after a restart, a failed
    -- VerifyRequest before one): the verdict is kept, not the step
    sc.expect.failing_step = nil
  end
  sc.ra_expiry = nil
  return sc, notes, missing
end

--- The scenario as a Lua file people edit.
function M.to_lua(sc, notes, source, missing)
  local head = { "-- sceplab scenario written by `sceplab replay --from " .. (source or "BUNDLE") .. "`." }
  head[#head + 1] = "-- Check it, change what the ticket says differently, then: sceplab replay FILE --check"
  for _, m in ipairs(missing or {}) do
    head[#head + 1] = ("-- CANNOT REPRODUCE %s: %s. It stays in expect.raises: replay --check fails until something plays it.")
      :format(m.id, m.why)
  end
  for _, n in ipairs(notes or {}) do head[#head + 1] = "-- NOTE " .. n end
  return table.concat(head, "\n") .. "\nreturn " .. (require "sceplab.scep.profile").lua_literal(sc, 0) .. "\n"
end

return M
