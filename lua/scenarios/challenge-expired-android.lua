-- The Android device was off for the afternoon: Company Portal enrolls 90 minutes after the profile
-- arrived, the CRP refuses the expired challenge (phase 2) and jscep logs the CertRep FAILURE.
return {
  description = "Android enrolls 90 minutes after the profile arrived: the challenge expired (phase 2).",
  platform = "android",
  server = { policy = "intune" },
  profile = { subject = "CN=vera,O=Contoso", user = "vera@contoso.com", san = { "upn:vera@contoso.com" } },
  steps = { { "deploy" }, { "advance", minutes = 90 }, { "enroll" } },
  expect = { raises = { "challenge-expired" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 3 },
}
