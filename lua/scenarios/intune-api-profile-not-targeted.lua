-- The third-party CA path: the SCEP profile was unassigned from the user after Intune issued the
-- device's challenge. validateRequest answers ScepProfileNoLongerTargetedToTheClient; serve refuses
-- the request (badRequest) and tells Intune (failureNotification).
return {
  description = "serve --policy intune-api: Intune answers ScepProfileNoLongerTargetedToTheClient (the profile was unassigned).",
  platform = "windows",
  server = { policy = "intune-api", faults = { "code=ScepProfileNoLongerTargetedToTheClient" } },
  profile = { subject = "CN=alice,O=Contoso", user = "alice@contoso.com", san = { "upn:alice@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "intune-profile-not-targeted", "retries-exhausted" }, not_raises = { "unclassified-error" },
             verdict = "failed", failing_step = 3 },
  references = { "https://learn.microsoft.com/intune/intune-service/protect/certificate-authority-add-scep-overview" },
}
