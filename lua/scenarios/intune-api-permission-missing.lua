-- The third-party CA path with an app registration that lacks Intune's "SCEP challenge provider"
-- application permission (or its admin consent): tokens and discovery work, validateRequest
-- answers 403, serve refuses the request (fail closed).
return {
  description = "serve --policy intune-api with an app lacking the Intune SCEP validation permission: validateRequest 403.",
  platform = "windows",
  server = { policy = "intune-api", faults = { "no-permission" } },
  profile = { subject = "CN=alice,O=Contoso", user = "alice@contoso.com", san = { "upn:alice@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "intune-api-permission-missing", "retries-exhausted" }, not_raises = { "unclassified-error" },
             verdict = "failed", failing_step = 3 },
  references = { "https://learn.microsoft.com/intune/intune-service/protect/certificate-authority-add-scep-overview" },
}
