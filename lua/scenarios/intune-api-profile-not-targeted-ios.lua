-- The third-party CA path on iOS: the SCEP profile was unassigned after Intune issued the
-- challenge; validateRequest answers ScepProfileNoLongerTargetedToTheClient, serve refuses the
-- request, and profiled reports the CertRep FAILURE (MCSCEPErrorDomain 22013).
return {
  description = "iOS through serve --policy intune-api: Intune answers ScepProfileNoLongerTargetedToTheClient; profiled gives up (22013).",
  platform = "ios",
  server = { policy = "intune-api", faults = { "code=ScepProfileNoLongerTargetedToTheClient" } },
  profile = { subject = "CN=alice,O=Contoso", user = "alice@contoso.com", san = { "upn:alice@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "intune-profile-not-targeted", "ios-scep-error" }, not_raises = { "unclassified-error" },
             verdict = "failed" },
  references = { "https://learn.microsoft.com/intune/intune-service/protect/certificate-authority-add-scep-overview" },
}
