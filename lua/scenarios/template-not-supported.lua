-- Fault: the template NDES requests is not published on the issuing CA: the challenge passes, the CA refuses the request.
return {
  description = "The CA does not issue NDES's template (0x80094800).",
  platform = "windows",
  server = { policy = "intune", faults = { "template-not-supported" } },
  profile = { subject = "CN=mallory,O=Contoso", user = "mallory@contoso.com", san = { "upn:mallory@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ca-template-unsupported" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 4 },
}
