-- No fault line: time does it. The policy module's certificate (NDESCertThumbprint, here a year
-- long) expires while IIS keeps running: the device enrolled fine on day one; a year and a day
-- later IIS refuses the policy module's client certificate on VerifyRequest (403.17, CERT_E_EXPIRED)
-- and CAPI2 logs the chain with CERT_TRUST_IS_NOT_TIME_VALID. After an iisreset Initialize would
-- fail instead (the policy-cert-expired fault: 503).
return {
  description = "A year on, the policy module's certificate expires under a running IIS: VerifyRequest 403.17.",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=beth,O=Contoso", user = "beth@contoso.com", san = { "upn:beth@contoso.com" } },
  steps = { { "deploy" }, { "enroll" }, { "advance", days = 366 }, { "deploy" }, { "enroll" } },
  expect = { raises = { "policy-cert-expired", "retries-exhausted" },
             not_raises = { "unclassified-error", "intermediate-in-root-store", "policy-cert-client-auth", "ra-cert-expired" },
             verdict = "failed", failing_step = 3 },
}
