-- What success looks like at each step, as the real system writes it. These records are counted in
-- C, never sent to Lua one by one (a busy NDES writes millions), and are positive evidence for the
-- steps they name: an attempt with no error is "enrollment-succeeded" when the device shows the
-- install, "server-succeeded" when NDES and the connector show steps 3, 4 or 6. Installing a root
-- or intermediate certificate is not success: only the enrolled certificate counts.
return {
  description = "Records that show an enrollment step succeeding.",
  success = {
    -- step 1: the device took the SCEP profile (the CSP executing it, Company Portal queueing the
    -- request, profiled starting the profile)
    { id = "windows-profile-received", step = 1, label = "Windows took the SCEP profile (event 306)",
      match = { event_ids = { 306 }, components = { "DeviceManagement-Enterprise" } } },
    { id = "android-profile-received", step = 1, label = "Company Portal queued the SCEP request",
      match = { components = { "CertificateEnrollmentManager" }, contains = { "Trying to enroll certificate request" } } },
    { id = "ios-profile-received", step = 1, label = "iOS began installing the SCEP profile",
      match = { contains_all = { "Beginning installation of profile", ".SCEP." } } },
    { id = "pkioperation-answered", step = 2, label = "NDES answered the device's PKIOperation",
      match = { sources = { "iis" }, operations = { "PKIOperation" }, statuses = { 200 } } },
    { id = "challenge-verified", step = 3, label = "the policy module verified the challenge",
      match = { contains = { "Verify challenge returns true" } } },
    { id = "verifyrequest-accepted", step = 3, label = "the Certificate Registration Point accepted VerifyRequest",
      match = { sources = { "iis" }, operations = { "VerifyRequest" }, statuses = { 200, 201 } } },
    { id = "certificate-issued", steps = { 4, 6 }, label = "the connector filed the request as succeeded (CRS in Succeed)",
      match = { sources = { "crs" }, components = { "Succeed" } } },
    { id = "connector-reported", steps = { 4, 6 }, label = "the connector reported the issued certificate (Notify)",
      match = { sources = { "iis" }, operations = { "Notify" }, statuses = { 200, 204 } } },
    { id = "windows-installed", step = 5, label = "Windows installed the certificate",
      match = { contains = { "Certificate installed successfully" } } },
    { id = "windows-installed-event", step = 5, label = "Windows installed the certificate (event 39)",
      match = { event_ids = { 39 }, components = { "DeviceManagement-Enterprise" } } },
    { id = "android-installed", step = 5, label = "Android installed the SCEP certificate",
      match = { components = { "ScepCert" }, contains = { "CERT_INSTALL_SUCCESS", "CERT_ACCESS_GRANTED" } } },
    { id = "ios-installed", step = 5, label = "iOS installed the SCEP profile",
      match = { contains_all = { ".SCEP.", " installed" } } },
  },
}
