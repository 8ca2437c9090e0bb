-- Fault: the CRL distribution point of the policy module's certificate is blocked (a firewall, an
-- internal-only URL): CAPI2 logs the chain with CERT_TRUST_IS_OFFLINE_REVOCATION and the policy
-- check failing with 0x80092013, Initialize fails, WAS disables the SCEP pool (5002) and every SCEP
-- request gets 503. One of the 503 causes Microsoft's guidance finds with CAPI2 logging enabled.
return {
  description = "The CRL of the connector's certificate is unreachable: CAPI2 0x80092013, the SCEP pool stops (503).",
  platform = "windows",
  server = { policy = "intune", faults = { "crl-unreachable" } },
  profile = { subject = "CN=cleo,O=Contoso", user = "cleo@contoso.com", san = { "upn:cleo@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "connector-crl-unreachable", "scep-app-pool-503" },
             not_raises = { "unclassified-error", "ca-unreachable", "policy-cert-expired" }, verdict = "failed", failing_step = 2 },
}
