-- NDES's own one-time passwords: an administrator gets a password from the admin page
-- (/certsrv/mscep_admin/, or `sceplab ca challenge`), valid for 60 minutes and for one request. A
-- renewal needs no password, as NDES accepts it: a RenewalReq signed by the certificate it renews
-- (one this CA issued, valid now, not revoked) asking for that certificate's subject and SANs.
-- Anything else signed by one of our certificates (another identity, a revoked or expired one)
-- needs a password like any enrollment.
return {
  description = "NDES one-time passwords (/certsrv/mscep_admin/ or sceplab ca challenge): each valid 60 minutes, for one request.",
  admin_page = true,
  check = function(req, ctx)
    if req.message_type == "RenewalReq" and req.renewal then return ctx.allow() end
    -- NDES logs event 28 for a request without a password, 29 for one it cannot verify
    if not req.challenge then
      local why = "the request carries no challengePassword"
      if req.renewal_refused then why = why .. " and is no renewal: " .. req.renewal_refused end
      return ctx.deny(why, nil, { event = 28 })
    end
    if not ctx.use_challenge(req.challenge) then
      return ctx.deny("the password is unknown, already used or expired", nil, { event = 29 })
    end
    return ctx.allow()
  end,
}
