-- NDES with its own passwords (no Intune policy module) gets a request with no challengePassword
-- that is not a renewal signed by a certificate it trusts: event 28.
return {
  description = "A request without a password reaches NDES's own password check: event 28.",
  platform = "windows",
  server = { policy = "static", config = { challenge = "NDES-OWN-PASSWORD" } },
  profile = { subject = "CN=ivy,O=Contoso", user = "ivy@contoso.com", san = { "upn:ivy@contoso.com" } },
  device = { no_challenge = true },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "renewal-password-missing" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 3 },
}
