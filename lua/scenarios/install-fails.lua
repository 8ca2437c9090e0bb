-- Device fault: NDES and the CA issue, the device cannot install the certificate (Windows
-- 0x80090016, NTE_BAD_KEYSET: the key container it made the request with is gone, as after a
-- TPM clear or a profile that changed KeyProtection between the request and the install).
return {
  description = "The certificate is issued but Windows fails to install it (0x80090016).",
  platform = "windows",
  server = { policy = "intune", faults = { "install-fails" } },
  profile = { subject = "CN=gina,O=Contoso", user = "gina@contoso.com", san = { "upn:gina@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "device-install-failed" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 5 },
}
