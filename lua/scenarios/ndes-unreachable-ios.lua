-- The iPhone's SCEP profile names a URL nothing answers at (an application proxy's external name
-- gone, a firewall): NSURLSession fails to connect (NSURLErrorDomain -1004) and profiled gives up
-- with a network error (MCSCEPErrorDomain 22005). NDES never sees the device.
return {
  description = "iOS cannot connect to the SCEP URL: NSURLErrorDomain -1004 under MCSCEPErrorDomain 22005.",
  platform = "ios",
  server = { policy = "intune", faults = { "ndes-unreachable" } },
  profile = { subject = "CN=zoe,O=Contoso", user = "zoe@contoso.com", san = { "upn:zoe@contoso.com" } },
  steps = { { "deploy" }, { "enroll" } },
  expect = { raises = { "ndes-unreachable" }, not_raises = { "unclassified-error" }, verdict = "failed", failing_step = 2 },
}
