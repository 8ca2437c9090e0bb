-- Since KB5014754 (May 2022) Intune adds the strong-mapping tag to the SANs of Windows SCEP
-- certificates: URL=tag:microsoft.com,2022-09-14:sid:<the user's on-premises SID>. The profile asks
-- for it, the token carries it, the device's CSR must match it (phase 3 compares the URI SAN too)
-- and the CA issues it. Healthy.
return {
  description = "A user certificate with the strong-mapping SID tag (URL SAN), as Intune issues them since KB5014754.",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=dana,O=Contoso", user = "dana@contoso.com",
              san = { "upn:dana@contoso.com", "uri:tag:microsoft.com,2022-09-14:sid:S-1-5-21-1004336348-1177238915-682003330-1107" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { verdict = "enrollment-succeeded", no_errors = true },
}
