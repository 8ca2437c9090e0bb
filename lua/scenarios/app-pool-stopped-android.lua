-- The SCEP application pool is stopped while Android devices enroll: jscep's first GET (GetCACert)
-- gets 503 and Company Portal logs "Received '503 Service Unavailable' when sending GetCACert(ca)".
return {
  description = "Android meets a stopped SCEP application pool: 503 on jscep's first GET.",
  platform = "android",
  server = { policy = "intune", faults = { "app-pool-stopped" } },
  profile = { subject = "CN=walt,O=Contoso", user = "walt@contoso.com", san = { "upn:walt@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "scep-app-pool-503" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 2 },
}
