-- The third-party CA path, a year after setup: the app registration's client secret expired (the
-- Entra admin center's default lifetime). Entra ID refuses serve's token request with
-- AADSTS7000222, so serve cannot ask Intune about any request and refuses each (fail closed):
-- Windows retries three times. serve's API call log names the code.
return {
  description = "serve --policy intune-api with an expired client secret: Entra ID answers AADSTS7000222, every request refused.",
  platform = "windows",
  server = { policy = "intune-api", faults = { "secret-expired" } },
  profile = { subject = "CN=alice,O=Contoso", user = "alice@contoso.com", san = { "upn:alice@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "intune-api-secret-expired", "retries-exhausted" }, not_raises = { "unclassified-error" },
             verdict = "failed", failing_step = 3 },
  references = { "https://learn.microsoft.com/entra/identity-platform/reference-error-codes" },
}
