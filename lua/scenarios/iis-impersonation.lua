-- Fault: the NDES server's IIS_IUSRS group lost 'Impersonate a client after authentication' (a GPO): mscep.dll fails every request with 500 and win32 status 1346.
return {
  description = "IIS_IUSRS lacks the impersonation right: SCEP answers 500, win32 1346.",
  platform = "windows",
  server = { policy = "intune", faults = { "iis-impersonation" } },
  profile = { subject = "CN=grace,O=Contoso", user = "grace@contoso.com", san = { "upn:grace@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "iis-impersonation-500" }, not_raises = { "unclassified-error", "ndes-500" }, verdict = "failed", failing_step = 2 },
}
