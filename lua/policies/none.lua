-- Issue to every well-formed request, challenge or not: a lab for clients, never a real CA.
return {
  description = "Issue to every well-formed request (no challenge checked).",
  check = function(req, ctx)
    return ctx.allow()
  end,
}
