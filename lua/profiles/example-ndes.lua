-- An enrollment profile: what `sceplab enroll --profile` and `sceplab probe --profile` read.
-- Plain data; every field is documented in docs/lua-api.md (sceplab.profile). Flags on the command
-- line override the fields here. `sceplab decode --as-profile intune-syncml.xml` writes one of these
-- from what Intune sent a device.
return {
  name = "Wi-Fi user certificate (example)",
  url = "https://ndes.contoso.com/certsrv/mscep/mscep.dll",
  subject = "CN=jdoe,OU=Users,O=Contoso",
  san = {
    { type = "upn", value = "jdoe@contoso.com" },
    { type = "email", value = "jdoe@contoso.com" },
  },
  key = { type = "rsa", bits = 2048 },
  eku = { "1.3.6.1.5.5.7.3.2" },                    -- client authentication
  key_usage = { "digitalSignature", "keyEncipherment" },
  hash = "sha256",
  -- A static challenge, or a function that fetches a fresh one, e.g. from a test harness:
  --   challenge = function(profile) return os.getenv("SCEPLAB_CHALLENGE") end,
  ca_thumbprint = "0C93E3B330AC0F3770CCED39CE5EDCBD23919305",
  retry = { count = 3, delay = 60 },                -- seconds between CertPoll requests while PENDING
}
