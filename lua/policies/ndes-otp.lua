-- NDES's own one-time passwords: an administrator gets a password from the admin page
-- (/certsrv/mscep_admin/, or `sceplab ca challenge`), valid for 60 minutes and for one request. Renewals signed by a
-- certificate this CA issued need no password, as NDES accepts them.
return {
  description = "NDES one-time passwords (/certsrv/mscep_admin/ or sceplab ca challenge): each valid 60 minutes, for one request.",
  admin_page = true,
  check = function(req, ctx)
    if req.message_type == "RenewalReq" and req.renewal then return ctx.allow() end
    -- NDES logs event 28 for a request without a password, 29 for one it cannot verify
    if not req.challenge then return ctx.deny("the request carries no challengePassword", nil, { event = 28 }) end
    if not ctx.use_challenge(req.challenge) then
      return ctx.deny("the password is unknown, already used or expired", nil, { event = 29 })
    end
    return ctx.allow()
  end,
}
