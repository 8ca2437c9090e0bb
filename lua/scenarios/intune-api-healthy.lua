-- No NDES: sceplab serve is a third-party SCEP CA that asks Intune about each request (Microsoft
-- Learn: "Use APIs to add third-party CAs for SCEP to Intune"). Intune's cloud is played by
-- `sceplab intune cloud`: serve gets a token for Graph, discovers the validation service, gets a
-- token for Intune, validateRequest answers Success, the CA issues, successNotification tells
-- Intune. The bundle holds serve's API call log (NDES/intune-api.log) beside its IIS-style log.
return {
  description = "Windows enrolls through serve --policy intune-api: Intune's validation API (played by sceplab intune cloud) says Success (healthy).",
  platform = "windows",
  server = { policy = "intune-api" },
  profile = { subject = "CN=alice,O=Contoso", user = "alice@contoso.com", san = { "upn:alice@contoso.com" }, key_bits = 2048 },
  steps = { { "deploy" }, { "enroll" } },
  expect = { verdict = "enrollment-succeeded", no_errors = true },
  references = { "https://learn.microsoft.com/intune/intune-service/protect/certificate-authority-add-scep-overview" },
}
