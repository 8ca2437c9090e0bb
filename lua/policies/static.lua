-- One shared challenge password, as NDES is set up for a single device type or a lab: every
-- request whose challengePassword equals it is issued. The password comes from the environment
-- (SCEPLAB_CHALLENGE) or --set challenge=..., never from the policy file.
return {
  description = "Issue to requests whose challenge equals the configured password (SCEPLAB_CHALLENGE).",
  check = function(req, ctx)
    local want = ctx.config.challenge
    if not want or want == "" then
      return ctx.deny("no challenge is configured: set SCEPLAB_CHALLENGE or --set challenge=...")
    end
    -- NDES logs event 28 for a request without a password, 29 for one it cannot verify
    if not req.challenge then return ctx.deny("the request carries no challengePassword", nil, { event = 28 }) end
    if not ctx.equal(req.challenge, want) then
      return ctx.deny("the challengePassword does not match", nil, { event = 29 })
    end
    return ctx.allow({ days = tonumber(ctx.config.days) and math.tointeger(tonumber(ctx.config.days)) or nil })
  end,
}
