-- Every new request waits for an administrator (`sceplab ca approve ID` or `reject ID`); the
-- client polls with CertPoll meanwhile, as with a CA whose template requires manager approval.
return {
  description = "Every request pending until `sceplab ca approve` or `sceplab ca reject`.",
  check = function(req, ctx)
    return ctx.pending("waiting for an administrator")
  end,
}
