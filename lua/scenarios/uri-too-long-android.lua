-- Fault: IIS request filtering keeps its default maxQueryString (2048 bytes) on the NDES server.
-- Android sends PKIOperation by GET (jscep), the pkiMessage in the query: about 4 KB for a
-- 2048-bit key, so IIS answers 414. Windows devices, which POST, enroll fine.
return {
  description = "Android GETs PKIOperation into IIS's default query limit: 414 Request-URI Too Long.",
  platform = "android",
  server = { policy = "intune", faults = { "uri-too-long" } },
  profile = { subject = "CN=uma,O=Contoso", user = "uma@contoso.com", san = { "upn:uma@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "uri-too-long-414" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 2 },
}
