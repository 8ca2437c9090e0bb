-- The classic phase 3 failure: the profile's subject name format puts a display name with a comma
-- in the CN. Windows escapes it in the CSR (CN=Doe\, John), the challenge was issued for the
-- unescaped text, and the CRP finds the subjects different.
return {
  description = "A comma in the CN: the CSR's escaped subject and the challenge's differ (phase 3).",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=Doe\\, John,O=Contoso", user = "john.doe@contoso.com", san = { "upn:john.doe@contoso.com" } },
  intune = { subject = "CN=Doe, John,O=Contoso" },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "subject-mismatch" }, not_raises = { "csr-key-mismatch", "unclassified-error" },
             verdict = "failed", failing_step = 3 },
}
