-- A ticket that comes with the NDES server's logs only (IIS, NDESPlugin.log, the CRP's svclog, the
-- CRS files): the enrollment went through on the server's side, and the diagnosis says so
-- (server-succeeded) without claiming the device installed anything.
return {
  description = "A healthy enrollment, collected from the NDES server alone: server-succeeded.",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=erin,O=Contoso", user = "erin@contoso.com", san = { "upn:erin@contoso.com" } },
  collect = { "ndes" },
  steps = { { "deploy" }, { "enroll" } },
  expect = { verdict = "server-succeeded", no_errors = true },
}
