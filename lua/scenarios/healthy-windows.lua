-- A Windows 10/11 device enrolls through NDES with the Intune connector, first time: the profile
-- arrives (event 306), the device sends its CSR with the token as challenge, the connector
-- verifies it in three phases, the CA issues, the device installs (309, 39) and the connector
-- reports the certificate (CRS in Succeed).
return {
  description = "Windows enrolls through NDES and the Intune connector, first time (healthy).",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=alice,O=Contoso", user = "alice@contoso.com", san = { "upn:alice@contoso.com" }, key_bits = 2048 },
  steps = { { "deploy" }, { "enroll" } },
  expect = { verdict = "enrollment-succeeded", no_errors = true },
}
