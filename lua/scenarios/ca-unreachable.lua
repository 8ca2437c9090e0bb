-- Fault: the issuing CA is down or its RPC port is blocked from the NDES server: the challenge passes, NDES cannot submit the request.
return {
  description = "The CA does not answer NDES (0x800706ba, NDES event 31).",
  platform = "windows",
  server = { policy = "intune", faults = { "ca-unreachable" } },
  profile = { subject = "CN=olivia,O=Contoso", user = "olivia@contoso.com", san = { "upn:olivia@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ca-unreachable" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 4 },
}
