-- A customer's own SCEP profile (the SyncML the device got, from its MDM diagnostics report): its
-- subject, SANs, key size, key usage, EKUs and RetryCount drive the replay; the replay's CA and
-- Intune make their own CAThumbprint and challenge. NDES is down when the device first enrolls
-- (nothing listens: WinHTTP 0x80072efd, three tries), comes back, and the next day's re-evaluation
-- enrolls.
return {
  description = "A customer's SyncML profile; NDES offline at the first try, back the next day.",
  platform = "windows",
  server = { policy = "intune" },
  profile = { file = "profiles/contoso-wifi-syncml.xml" },
  steps = { { "deploy" }, { "offline" }, { "enroll" }, { "online" }, { "advance", days = 1 }, { "deploy" }, { "enroll" } },
  expect = { raises = { "ndes-unreachable", "retries-exhausted" }, not_raises = { "unclassified-error" } },
}
