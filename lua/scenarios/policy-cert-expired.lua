-- Fault: the certificate the policy module presents to the CRP (NDESCertThumbprint, usually the IIS
-- SSL certificate too) expired: NDESPlugin's Initialize fails with CERT_E_EXPIRED, the SCEP
-- application pool stops and every SCEP request gets 503.
return {
  description = "The NDES policy module's certificate expired: Initialize fails (0x800b0101) and SCEP answers 503.",
  platform = "windows",
  server = { policy = "intune", faults = { "policy-cert-expired" } },
  profile = { subject = "CN=otto,O=Contoso", user = "otto@contoso.com", san = { "upn:otto@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "policy-cert-expired", "scep-app-pool-503" }, not_raises = { "unclassified-error" }, verdict = "failed" },
}
