-- Fault: The CertificateRegistrationSvc application is missing: VerifyRequest answers 404.
return {
  description = "The CertificateRegistrationSvc application is missing: VerifyRequest answers 404.",
  platform = "windows",
  server = { policy = "intune", faults = { "crp-not-found" } },
  profile = { subject = "CN=carl,O=Contoso", user = "carl@contoso.com", san = { "upn:carl@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "crp-not-found-404" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 3 },
}
