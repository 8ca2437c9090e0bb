-- The device reaches NDES long after Intune issued its profile (a laptop asleep over lunch, a
-- device offline): the challenge is valid 60 minutes, the device enrolls 90 minutes later. The
-- CRP refuses it in phase 2; Windows retries three times and gives up until the 24-hour
-- re-evaluation.
return {
  description = "Windows enrolls 90 minutes after the profile arrived: the challenge expired (phase 2).",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=bob,O=Contoso", user = "bob@contoso.com", san = { "upn:bob@contoso.com" } },
  steps = { { "deploy" }, { "advance", minutes = 90 }, { "enroll" } },
  expect = { raises = { "challenge-expired", "retries-exhausted" }, not_raises = { "unclassified-error" },
             verdict = "failed", failing_step = 3 },
}
