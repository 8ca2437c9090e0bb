-- A day in a ticket's life: the connector has lost its signing certificate, Windows tries three
-- times and gives up; the admin restarts the connector service (fixed); 24 hours later Windows
-- re-evaluates the policy, Intune sends a fresh challenge, and the enrollment succeeds. The
-- bundle holds both days, on one clock.
return {
  description = "Fails three times (signing certificate missing), fixed, succeeds at the 24-hour re-evaluation.",
  platform = "windows",
  server = { policy = "intune", faults = { "signing-cert-missing" } },
  profile = { subject = "CN=quentin,O=Contoso", user = "quentin@contoso.com", san = { "upn:quentin@contoso.com" } },
  steps = { { "deploy" }, { "enroll" }, { "fix", "signing-cert-missing" }, { "advance", minutes = 1440 },
            { "deploy" }, { "enroll" } },
  expect = { raises = { "signing-cert-missing", "retries-exhausted", "enrollment-succeeded" }, not_raises = { "unclassified-error" } },
}
