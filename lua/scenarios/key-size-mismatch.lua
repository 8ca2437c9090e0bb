-- The profile asks for a 2048-bit key; the device's key storage makes a 1024-bit one (an old KSP,
-- or a key reused from another profile). The CRP refuses it in phase 3 on the key length.
return {
  description = "The device's key is 1024 bits where the profile asked for 2048 (phase 3, KeyLengthMismatch).",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=carol,O=Contoso", user = "carol@contoso.com", san = { "upn:carol@contoso.com" }, key_bits = 2048 },
  device = { key_bits = 1024 },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "csr-key-mismatch" }, not_raises = { "subject-mismatch", "unclassified-error" },
             verdict = "failed", failing_step = 3 },
}
