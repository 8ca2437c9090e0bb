-- No fault line: time does it. NDES's RA certificates (Exchange Enrollment Agent (Offline request)
-- and CEP Encryption) are valid for two years; two years and a day after the server was set up,
-- NDES cannot use them (Application event 2, CERT_E_EXPIRED) and mscep.dll answers 500 to every
-- request, GetCACaps included.
return {
  description = "Two years on, NDES's RA certificates expire: every SCEP request gets 500.",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=quinn,O=Contoso", user = "quinn@contoso.com", san = { "upn:quinn@contoso.com" } },
  steps = { { "deploy" }, { "enroll" }, { "advance", days = 731 }, { "deploy" }, { "enroll" } },
  expect = { raises = { "ra-cert-expired", "ndes-500" }, not_raises = { "unclassified-error", "policy-cert-expired" }, verdict = "failed",
             failing_step = 2 },
}
