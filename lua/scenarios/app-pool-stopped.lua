-- Fault: the SCEP application pool in IIS is stopped (after a password change of its identity, or rapid-fail protection): HTTP.sys answers every SCEP request with 503 and the device never reaches NDES.
return {
  description = "The SCEP application pool is stopped: every SCEP request gets 503.",
  platform = "windows",
  server = { policy = "intune", faults = { "app-pool-stopped" } },
  profile = { subject = "CN=frank,O=Contoso", user = "frank@contoso.com", san = { "upn:frank@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "scep-app-pool-503" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 2 },
}
