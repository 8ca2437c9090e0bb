-- Fault: The SSL certificate does not name the host NDESPlugin calls the CRP by: error 12175.
return {
  description = "The SSL certificate does not name the host NDESPlugin calls the CRP by: error 12175.",
  platform = "windows",
  server = { policy = "intune", faults = { "ssl-cn-invalid" } },
  profile = { subject = "CN=ezra,O=Contoso", user = "ezra@contoso.com", san = { "upn:ezra@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ssl-cn-invalid" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 3 },
}
