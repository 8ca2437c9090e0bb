-- Device fault: the iOS device did not get the trusted certificate profile for the root NDES's
-- RA certificates chain to (not assigned to its group): profiled refuses the RA's response and no
-- CSR is sent.
return {
  description = "iOS lacks the trusted root profile: 'The Registration Authority's response is invalid'.",
  platform = "ios",
  server = { policy = "intune", faults = { "root-not-trusted" } },
  profile = { subject = "CN=hank,O=Contoso", user = "hank@contoso.com", san = { "upn:hank@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "trusted-root-missing" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 1 },
}
