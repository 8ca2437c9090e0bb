-- Fault: the Intune Certificate Connector's setup failed (SetupMsi.log: "Installation failed",
-- error status 1603), so NDES runs without the Intune policy module: the bare SCEP URL shows NDES's
-- own page (200, not 403) and NDES checks the device's challenge against its own password cache,
-- where an Intune challenge never is (Application event 29).
return {
  description = "The Intune connector is not installed: NDES refuses the Intune challenge as an unknown password.",
  platform = "windows",
  server = { policy = "intune", faults = { "connector-not-installed" } },
  profile = { subject = "CN=nina,O=Contoso", user = "nina@contoso.com", san = { "upn:nina@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "connector-not-installed" }, not_raises = { "unclassified-error" }, verdict = "failed" },
}
