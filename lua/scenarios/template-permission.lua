-- Fault: The template's permissions refuse NDES's service account: the CA denies (0x80094012).
return {
  description = "The template's permissions refuse NDES's service account: the CA denies (0x80094012).",
  platform = "windows",
  server = { policy = "intune", faults = { "template-permission" } },
  profile = { subject = "CN=fay,O=Contoso", user = "fay@contoso.com", san = { "upn:fay@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ca-request-denied" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 4 },
}
