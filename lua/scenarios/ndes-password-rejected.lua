-- NDES without the Intune policy module (or with it unregistered): NDES checks the challenge as one
-- of its own passwords, and the Intune token is none. NDES logs event 29 and refuses every request.
return {
  description = "NDES checks the Intune challenge as its own password (no Intune policy module): event 29.",
  platform = "windows",
  server = { policy = "static", config = { challenge = "NDES-OWN-PASSWORD" } },
  profile = { subject = "CN=yvonne,O=Contoso", user = "yvonne@contoso.com", san = { "upn:yvonne@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "challenge-rejected" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 3 },
}
