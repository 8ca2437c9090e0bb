-- Fault: an intermediate CA certificate sits in the NDES server's Trusted Root store: IIS refuses the policy module's client certificate when it calls the Certificate Registration Point (403.16, CERT_E_UNTRUSTEDROOT).
return {
  description = "Intermediates in the Trusted Root store: VerifyRequest is refused with 403.16.",
  platform = "windows",
  server = { policy = "intune", faults = { "intermediate-in-root-store" } },
  profile = { subject = "CN=heidi,O=Contoso", user = "heidi@contoso.com", san = { "upn:heidi@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "intermediate-in-root-store" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 3 },
}
