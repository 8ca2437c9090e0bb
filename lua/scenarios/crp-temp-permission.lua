-- Fault: The CRP's application pool cannot write C:\Windows\TEMP: VerifyRequest 500, WAS 5009.
return {
  description = "The CRP's application pool cannot write C:\\Windows\\TEMP: VerifyRequest 500, WAS 5009.",
  platform = "windows",
  server = { policy = "intune", faults = { "crp-temp-permission" } },
  profile = { subject = "CN=dina,O=Contoso", user = "dina@contoso.com", san = { "upn:dina@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "crp-500-temp-permission" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 3 },
}
