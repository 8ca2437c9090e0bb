-- An iOS device enrolls, first time: profiled begins installing the SCEP payload, GETs GetCACaps,
-- GetCACert and PKIOperation (its base64 not percent-encoded, as iOS sends it), the connector
-- verifies the token in three phases, the CA issues and the profile is installed.
return {
  description = "iOS enrolls through NDES and the Intune connector, first time (healthy).",
  platform = "ios",
  server = { policy = "intune" },
  profile = { subject = "CN=ios-alice,O=Contoso", user = "alice@contoso.com", san = { "upn:alice@contoso.com" }, key_bits = 2048 },
  steps = { { "deploy" }, { "enroll" } },
  expect = { verdict = "enrollment-succeeded", no_errors = true },
}
