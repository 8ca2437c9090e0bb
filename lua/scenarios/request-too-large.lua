-- Fault: Request filtering's content length is set too low: Windows' POST gets 413.
return {
  description = "Request filtering's content length is set too low: Windows' POST gets 413.",
  platform = "windows",
  server = { policy = "intune", faults = { "request-too-large" } },
  profile = { subject = "CN=amy,O=Contoso", user = "amy@contoso.com", san = { "upn:amy@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "request-too-large-413" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 2 },
}
