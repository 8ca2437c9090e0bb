-- IIS_IUSRS lacks "Impersonate a client after authentication": the iPhone's first request
-- (GetCACert with profiled's user agent) gets 500 with win32 status 1346, as the seed's IIS line.
return {
  description = "iOS meets IIS without the impersonation right: 500, win32 1346.",
  platform = "ios",
  server = { policy = "intune", faults = { "iis-impersonation" } },
  profile = { subject = "CN=yuri,O=Contoso", user = "yuri@contoso.com", san = { "upn:yuri@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "iis-impersonation-500" }, not_raises = { "unclassified-error", "ndes-500" }, verdict = "failed",
             failing_step = 2 },
}
