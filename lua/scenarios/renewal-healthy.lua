-- A year-long certificate reaches Intune's renewal threshold (20% of its lifetime left, about 292
-- days on): Intune sends the profile again with a new challenge and the device enrolls a new key.
-- The virtual clock runs the whole year: the certificates, the tokens and every log carry its dates.
return {
  description = "A Windows device renews its certificate at the renewal threshold (healthy).",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=rosa,O=Contoso", user = "rosa@contoso.com", san = { "upn:rosa@contoso.com" },
              renewal_threshold = 20 },
  steps = { { "deploy" }, { "enroll" }, { "renew" } },
  expect = { verdict = "enrollment-succeeded", no_errors = true },
}
