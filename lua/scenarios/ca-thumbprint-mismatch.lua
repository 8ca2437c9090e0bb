-- The SCEP profile's trusted certificate profile names a root that is not the one NDES's chain ends
-- in (an old root, an intermediate's thumbprint): Windows compares CAThumbprint with what
-- GetCACert returns and stops before it sends a CSR.
return {
  description = "The profile's CAThumbprint names no CA NDES returns: Windows stops before the CSR.",
  platform = "windows",
  server = { policy = "intune" },
  profile = { subject = "CN=xavier,O=Contoso", user = "xavier@contoso.com", san = { "upn:xavier@contoso.com" },
              ca_thumbprint = "0C93E3B330AC0F3770CCED39CE5EDCBD23919305" },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ca-thumbprint-mismatch" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 1 },
}
