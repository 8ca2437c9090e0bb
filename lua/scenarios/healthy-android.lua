-- An Android device enrolls through Company Portal, first time: the profile arrives ("Trying to
-- enroll certificate request"), jscep GETs GetCACaps, GetCACert and PKIOperation, the connector
-- verifies the token in three phases, the CA issues, the certificate is granted
-- (CERT_ACCESS_GRANTED) and the connector reports it.
return {
  description = "Android (Company Portal) enrolls through NDES and the Intune connector, first time (healthy).",
  platform = "android",
  server = { policy = "intune" },
  profile = { subject = "CN=android-alice,O=Contoso", user = "alice@contoso.com", san = { "upn:alice@contoso.com" }, key_bits = 2048 },
  steps = { { "deploy" }, { "enroll" } },
  expect = { verdict = "enrollment-succeeded", no_errors = true },
}
