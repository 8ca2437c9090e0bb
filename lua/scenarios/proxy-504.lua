-- Fault: the Application Proxy connector in front of NDES times out waiting for it (a slow or
-- unreachable NDES behind it): 504 Gateway Timeout.
return {
  description = "The Application Proxy in front of NDES times out: 504 Gateway Timeout.",
  platform = "windows",
  server = { policy = "intune", faults = { "proxy-504" } },
  profile = { subject = "CN=trent,O=Contoso", user = "trent@contoso.com", san = { "upn:trent@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "app-proxy-504" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 2 },
}
