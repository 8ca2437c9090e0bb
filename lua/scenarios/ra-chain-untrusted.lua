-- Fault: the CA was renewed with a new key and its old root removed from NDES's Trusted Root store,
-- but NDES's RA certificates were issued under the old one: NDES cannot use them (Application
-- event 2, CERT_E_UNTRUSTEDROOT) and mscep.dll fails every request with 500.
return {
  description = "NDES's RA certificates chain to a root no longer trusted after a CA renewal: event 2, every request 500.",
  platform = "windows",
  server = { policy = "intune", faults = { "ra-chain-untrusted" } },
  profile = { subject = "CN=paul,O=Contoso", user = "paul@contoso.com", san = { "upn:paul@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ra-chain-untrusted", "ndes-500" }, not_raises = { "unclassified-error" }, verdict = "failed",
             failing_step = 2 },
}
