-- Fault: The SCEP application is missing from IIS: every SCEP request gets 404.
return {
  description = "The SCEP application is missing from IIS: every SCEP request gets 404.",
  platform = "windows",
  server = { policy = "intune", faults = { "scep-not-found" } },
  profile = { subject = "CN=zach,O=Contoso", user = "zach@contoso.com", san = { "upn:zach@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ndes-not-found-404" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 2 },
}
