-- NDES serves HTTPS with a certificate for another name than the profile's URL: the iPhone refuses
-- the TLS connection (NSURLErrorDomain -1202, "The certificate for this server is invalid.") and
-- profiled reports a network error (22005).
return {
  description = "iOS refuses NDES's TLS certificate (another name): NSURLErrorDomain -1202.",
  platform = "ios",
  server = { policy = "intune", faults = { "tls-name-mismatch" } },
  profile = { subject = "CN=adam,O=Contoso", user = "adam@contoso.com", san = { "upn:adam@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ndes-tls-failure" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 2 },
}
