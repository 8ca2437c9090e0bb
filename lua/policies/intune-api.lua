-- Intune's validation API for a third-party CA (Microsoft Learn: "Use APIs to add third-party CAs
-- for SCEP to Intune"): the challenge in each request is checked by Intune itself.
--   check:   ScepActions/validateRequest with the request's CSR; anything but Success refuses it,
--            fail closed (no token, no service, a timeout, a 5xx refuse too), with the code in the
--            reason (`sceplab ca list`, -v, the API call log) and its failInfo in the CertRep; a
--            refusal Intune answered is reported back (failureNotification)
--   outcome: the CA issued (successNotification: thumbprint, serial, expiry, issuer) or refused
--            (failureNotification with the CA's HRESULT)
--   tick:    Intune's revocation requests (retired or wiped devices) revoked in the CA, the CRL
--            made again, the results uploaded
-- Settings (--set): tenant, client_id (required), days; the secret from
-- SCEPLAB_INTUNE_CLIENT_SECRET or client_cert/client_key; docs/intune-third-party.md lists the rest.
return {
  description = "Intune's SCEP validation API (a third-party CA): Intune validates each request's challenge, and hears of each outcome.",
  references = { "https://learn.microsoft.com/intune/intune-service/protect/certificate-authority-add-scep-overview" },
  intune_api = true,
  check = function(req, ctx)
    local api = ctx.intune_api
    local code, desc, crid = api.validate(req)
    -- Intune's answer is on its way: the server asks again when it came, and serves others meanwhile
    if not code and crid == "pending" then return ctx.defer() end
    if not code then
      -- no answer is no validation: refuse (desc says why: the token, discovery, a timeout, ...)
      return ctx.deny(("%s: Intune's validation did not answer: %s"):format(crid or "Unavailable", desc))
    end
    if code == "Success" then
      -- Intune checked the names against the profile: the certificate carries the SAN types asked for
      local san, seen = {}, {}
      for _, s in ipairs(req.san or {}) do
        if not seen[s.type] then seen[s.type] = true san[#san + 1] = s.type end
      end
      return ctx.allow({ days = tonumber(ctx.config.days) and math.tointeger(tonumber(ctx.config.days)) or nil,
                         profile = #san > 0 and { san = san } or nil })
    end
    local fail_info, sentence, fix = api.explain(code)
    local why = ("%s: %s%s (client-request-id %s); fix: %s"):format(code, sentence,
      desc ~= "" and (" [" .. desc .. "]") or "", crid, fix)
    api.notify_failure(req, nil, code .. ": " .. (desc ~= "" and desc or sentence))
    return ctx.deny(why, fail_info)
  end,
  outcome = function(req, result, ctx)
    if result.certificate then
      ctx.intune_api.notify_success(req, result.certificate)
    else
      ctx.intune_api.notify_failure(req, result.refusal ~= 0 and result.refusal or nil, result.reason or "the CA refused the request")
    end
  end,
  tick = function(ctx)
    ctx.intune_api.process_revocations()
  end,
}
