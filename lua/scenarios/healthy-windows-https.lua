-- The healthy enrollment over HTTPS, as NDES is published in the field: IIS binds a certificate
-- for the name the profile's URL uses, issued by the scenario's CA, which the device trusts.
return {
  description = "Windows enrolls over HTTPS through NDES and the Intune connector (healthy).",
  platform = "windows",
  server = { policy = "intune", tls = true },
  profile = { subject = "CN=walter,O=Contoso", user = "walter@contoso.com", san = { "upn:walter@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { verdict = "enrollment-succeeded", no_errors = true },
}
