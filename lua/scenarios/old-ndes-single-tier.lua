-- A lab PKI: one CA (the root issues), and an NDES that advertises what Windows Server 2008 R2's
-- did (Renewal, SHA-1, DES3: no POST, no AES, no SHA-2). Windows follows GetCACaps: a GET
-- PKIOperation, 3DES and SHA-1, and still enrolls (healthy).
return {
  description = "A single-tier CA behind an NDES without POST, AES or SHA-2: Windows enrolls with GET, 3DES, SHA-1.",
  platform = "windows",
  server = { policy = "intune", tiers = 1, caps = { "Renewal", "SHA-1", "DES3" } },
  profile = { subject = "CN=carl,O=Contoso", user = "carl@contoso.com", san = { "upn:carl@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { verdict = "enrollment-succeeded", no_errors = true },
}
