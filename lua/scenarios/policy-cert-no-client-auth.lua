-- Fault: the certificate the Intune policy module presents to the Certificate Registration Point has no Client Authentication EKU: VerifyRequest is refused with 403.
return {
  description = "The policy module's certificate lacks Client Authentication: VerifyRequest 403.",
  platform = "windows",
  server = { policy = "intune", faults = { "policy-cert-no-client-auth" } },
  profile = { subject = "CN=ivan,O=Contoso", user = "ivan@contoso.com", san = { "upn:ivan@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "policy-cert-client-auth" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 3 },
}
