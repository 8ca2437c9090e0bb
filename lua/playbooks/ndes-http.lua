-- Step 2, device to NDES: the HTTP status the SCEP URL answers with, from IIS's log or the device's
-- own report (event 32 "(504)", Android "Received '503 ..."), and what stops the SCEP application
-- pool (503): a w3wp.exe crash (Application Error 1000) or WAS disabling the pool (5002, 5059,
-- 5117). The statuses' causes and fixes are the probe's too (sceplab.catalog).
local catalog = require "sceplab.catalog"

local imp = catalog.IMPERSONATION
local findings, ORDER = { [imp.id] = { title = imp.title, cause = imp.cause, fix = imp.fix } }, { imp.id }
for _, s in ipairs(catalog.statuses()) do
  local c = catalog.HTTP[s]
  findings[c.id] = { title = c.title, cause = c.cause, fix = c.fix }
  ORDER[#ORDER + 1] = c.id
end

local function status_of(r, ctx)
  if r.http_status and catalog.HTTP[r.http_status] then return r.http_status end
  local m = r.message or ""
  local s = tonumber(m:match("%((%d%d%d)%)%.?%)?") or m:match("Received '(%d%d%d) "))
  if s and catalog.HTTP[s] then return s end
  if ctx.code(r, 0x80190194) then return 404 end -- BG_E_HTTP_ERROR_404
  return nil
end

-- What stops the SCEP pool: IIS's worker crashing, or WAS disabling or stopping the pool
local WAS = { [5002] = true, [5059] = true, [5117] = true }
local function pool_down(r, ctx)
  if r.event_id == 1000 and ctx.text(r, "w3wp.exe") then return true end
  return WAS[r.event_id] and ((r.component or ""):find("WAS", 1, true) ~= nil or ctx.text(r, "application pool"))
end

return {
  description = "Requests from the device to the SCEP URL fail with an HTTP status other than 200, or IIS stops serving it.",
  references = { "https://learn.microsoft.com/troubleshoot/mem/intune/certificates/troubleshoot-scep-certificate-device-to-ndes" },
  step = 2,
  severity = "error",
  findings = findings,
  -- it judges kinds of records: of a flood of one kind (a failing NDES's 500s) the first 20 and the
  -- last, the rest counted
  sample = true,
  match = { statuses = catalog.statuses(), event_ids = { 1000, 5002, 5059, 5117 },
            contains = { "Certificate enroll failed", "Received '5", "Received '4", "0x80190194" } },
  check = function(records, ctx)
    local by = {}
    local function add(id, r) by[id] = by[id] or {} table.insert(by[id], r) end
    for _, r in ipairs(records) do
      local s = status_of(r, ctx)
      -- IIS lines count only on the SCEP URL; a CRP call answering 500 is another playbook's, and
      -- Intune's API answering a third-party CA (intune-api) is intune-api.lua's
      if r.source == "intune-api" then -- luacheck: ignore 542 (nothing to do)
      elseif s and (r.source ~= "iis" or ctx.is_scep_url(r)) then
        add(s == 500 and r.win32_status == 1346 and imp.id or catalog.HTTP[s].id, r)
      elseif pool_down(r, ctx) then
        add(catalog.HTTP[503].id, r)
      end
    end
    -- a device's "(500)" is the same failure IIS logged as 500 with win32 1346, when it did
    local plain = catalog.HTTP[500].id
    if by[imp.id] and by[plain] then
      local keep = {}
      for _, r in ipairs(by[plain]) do
        if r.source == "iis" then keep[#keep + 1] = r else table.insert(by[imp.id], r) end
      end
      by[plain] = #keep > 0 and keep or nil
    end
    local out = {}
    for _, id in ipairs(ORDER) do
      if by[id] then out[#out + 1] = { id = id, evidence = by[id] } end
    end
    return out
  end,
}
