-- Fault: NDES is published as https://127.0.0.1 here (in the field: its external name) but IIS
-- binds a certificate issued for another name (ndes.contoso.com only, no SAN for the published
-- one). The device refuses the TLS connection before any SCEP message: WinHTTP's security error
-- 0x80072f8f in event 32.
return {
  description = "HTTPS with a certificate for another name than the profile's URL: the device refuses TLS.",
  platform = "windows",
  server = { policy = "intune", faults = { "tls-name-mismatch" } },
  profile = { subject = "CN=victor,O=Contoso", user = "victor@contoso.com", san = { "upn:victor@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ndes-tls-failure" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 2 },
}
