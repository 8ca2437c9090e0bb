-- The device gets its certificate, but the Intune Connector Service on the NDES server is stopped:
-- the request status files stay in Processing and Intune never learns of the certificate (the
-- profile shows pending or failed in the portal although the device has it).
return {
  description = "The certificate is issued and installed, but the connector service is stopped (CRS stuck in Processing).",
  platform = "windows",
  server = { policy = "intune", faults = { "connector-stopped" } },
  profile = { subject = "CN=dave,O=Contoso", user = "dave@contoso.com", san = { "upn:dave@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "connector-service-stopped" }, not_raises = { "unclassified-error" } },
}
