-- Fault: the connector cannot reach Intune (a proxy, an expired connector certificate): the device has its certificate, the request status files go to Failed.
return {
  description = "The certificate is installed, but the connector's upload to Intune fails (CRS in Failed).",
  platform = "windows",
  server = { policy = "intune", faults = { "upload-failed" } },
  profile = { subject = "CN=peggy,O=Contoso", user = "peggy@contoso.com", san = { "upn:peggy@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "connector-upload-failed" }, not_raises = { "unclassified-error", "connector-service-stopped" } },
}
