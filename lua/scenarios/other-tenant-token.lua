-- The challenge was signed by a certificate this connector does not know: the device got its
-- profile from another tenant (a re-enrolled device, a connector registered to a test tenant).
-- The CRP refuses it in phase 1.
return {
  description = "A challenge signed by another tenant's certificate (phase 1 fails).",
  platform = "windows",
  server = { policy = "intune", faults = { "other-tenant" } },
  profile = { subject = "CN=erin,O=Contoso", user = "erin@contoso.com", san = { "upn:erin@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "challenge-invalid" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 3 },
}
