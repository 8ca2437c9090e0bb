-- Fault: The profile's SCEP URL leads nowhere: the device cannot connect.
return {
  description = "The profile's SCEP URL leads nowhere: the device cannot connect.",
  platform = "windows",
  server = { policy = "intune", faults = { "ndes-unreachable" } },
  profile = { subject = "CN=ben,O=Contoso", user = "ben@contoso.com", san = { "upn:ben@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ndes-unreachable" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 2 },
}
