-- An iPhone's SCEP profile asks for one subject and the challenge names another (the profile's
-- subject variable resolved differently): the CRP refuses it in phase 3 and profiled reports the
-- failed installation.
return {
  description = "iOS sends a CSR whose subject the challenge does not name: subject mismatch (phase 3).",
  platform = "ios",
  server = { policy = "intune" },
  profile = { subject = "CN=xena,O=Contoso", user = "xena@contoso.com", san = { "upn:xena@contoso.com" } },
  intune = { subject = "CN=xena.old,O=Contoso" },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "subject-mismatch", "ios-scep-error" }, not_raises = { "unclassified-error" }, verdict = "failed",
             failing_step = 3 },
}
