-- Fault: the reverse proxy that publishes NDES (Azure AD Application Proxy, WAP, a load balancer)
-- gets no valid answer from it: every SCEP request ends in 502 Bad Gateway.
return {
  description = "The proxy in front of NDES answers 502 Bad Gateway.",
  platform = "windows",
  server = { policy = "intune", faults = { "proxy-502" } },
  profile = { subject = "CN=sybil,O=Contoso", user = "sybil@contoso.com", san = { "upn:sybil@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "proxy-502" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 2 },
}
