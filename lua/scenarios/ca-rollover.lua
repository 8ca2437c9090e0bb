-- The issuing CA is renewed between two enrollments: NDES gets new RA certificates under the new
-- CA. Devices trust the root (the profile's CAThumbprint), fetch GetCACert each time and keep
-- enrolling.
return {
  description = "The issuing CA rolls over between two enrollments; devices keep enrolling (healthy).",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=rita,O=Contoso", user = "rita@contoso.com", san = { "upn:rita@contoso.com" } },
  steps = { { "deploy" }, { "enroll" }, { "rotate" }, { "advance", minutes = 60 }, { "deploy" }, { "enroll" } },
  expect = { verdict = "enrollment-succeeded", no_errors = true },
}
