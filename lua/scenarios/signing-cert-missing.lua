-- Fault: the connector has not received the certificate the Certificate Registration Point verifies challenges with (a connector that lost its registration): every challenge is refused.
return {
  description = "The CRP cannot retrieve its signing certificate: Verify challenge returns false.",
  platform = "windows",
  server = { policy = "intune", faults = { "signing-cert-missing" } },
  profile = { subject = "CN=judy,O=Contoso", user = "judy@contoso.com", san = { "upn:judy@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "signing-cert-missing" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 3 },
}
