-- Fault: the certificate template asks for a larger key than the profile makes: the challenge passes, the CA refuses the key.
return {
  description = "The template's minimum key size is above the device's (0x80094811).",
  platform = "windows",
  server = { policy = "intune", faults = { "ca-key-too-small" } },
  profile = { subject = "CN=niaj,O=Contoso", user = "niaj@contoso.com", san = { "upn:niaj@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ca-key-too-small" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 4 },
}
