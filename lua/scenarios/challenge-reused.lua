-- A device enrolls, then enrolls again with the same profile and a new key (a device restored
-- from a backup, or a reset that kept its MDM profile): the challenge gave a certificate already.
-- sceplab serve's connector refuses it in phase 2, in sceplab's own words (ChallengeAlreadyUsed:
-- no Microsoft source gives the connector's wording for a reused challenge).
return {
  description = "Windows enrolls twice with one challenge and two keys: the second is refused (one certificate per challenge).",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=bob,O=Contoso", user = "bob@contoso.com", san = { "upn:bob@contoso.com" } },
  steps = { { "deploy" }, { "enroll" }, { "enroll" } },
  expect = { raises = { "challenge-reused" }, not_raises = { "unclassified-error", "challenge-expired" },
             verdict = "failed", failing_step = 3 },
}
