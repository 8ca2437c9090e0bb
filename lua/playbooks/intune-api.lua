-- Step 3 when sceplab serve (or another third-party CA) validates with Intune's API instead of an
-- NDES connector: serve's own log of each call (format intune-api: endpoint, HTTP status, the
-- service's or Entra ID's code) says which call failed and why. The app's credential refused at
-- the token endpoint (AADSTS7000215 wrong secret, AADSTS7000222 expired secret, AADSTS700027 a
-- certificate assertion refused), the app without the permission to validate SCEP challenges
-- (validateRequest 403), a tenant whose service discovery lists no validation service, the service
-- out of reach, and each code validateRequest answers, with its fix.
local CODES = {
  -- code = {finding, fix}
  ChallengeExpired = { "intune-challenge-expired", "Sync the device so Intune issues a fresh challenge; it must reach the CA within 60 minutes." },
  ChallengeInvalidTimestamp = { "intune-challenge-expired", "Check the clocks of the device and of the CA." },
  ChallengePasswordMissing = { "intune-challenge-invalid", "The device must use the SCEP profile's challenge: re-deploy the profile." },
  ChallengeDeserializationError = { "intune-challenge-invalid", "The device sent a challenge Intune did not issue: check that the SCEP profile targets it and that no static password is configured." },
  ChallengeDecryptionError = { "intune-challenge-invalid", "The challenge was issued for another tenant or CA: check the SCEP profile and the app registration's tenant." },
  ChallengeDecodingError = { "intune-challenge-invalid", "Re-deploy the SCEP profile so the device gets a fresh challenge." },
  SignatureValidationFailed = { "intune-challenge-invalid", "The challenge was altered or forged: re-deploy the profile; if no managed device sent it, treat it as leaked." },
  SigningCertThumbprintMismatch = { "intune-challenge-invalid", "Re-deploy the profile for a challenge signed with Intune's current certificate." },
  CertificateRequestDecodingFailed = { "intune-challenge-invalid", "The CA must send the device's CSR unchanged (base64 DER of the PKCS#10)." },
  BadCertificateRequestIdInChallenge = { "intune-challenge-invalid", "Re-deploy the profile." },
  BadDeviceIdInChallenge = { "intune-challenge-invalid", "The challenge was copied between devices: re-deploy the profile and find where it was copied." },
  BadUserIdInChallenge = { "intune-challenge-invalid", "The challenge was copied between users: re-deploy the profile." },
  SubjectNameMissing = { "intune-csr-mismatch", "Check the profile's subject name format and that the user or device has the attributes it uses." },
  SubjectNameMismatch = { "intune-csr-mismatch", "The device altered the subject, or the profile changed: simplify the subject name format and re-deploy it." },
  SubjectAltNameMissing = { "intune-csr-mismatch", "Check that the profile's SAN attributes exist for the user or device." },
  SubjectAltNameMismatch = { "intune-csr-mismatch", "Re-deploy the profile; look for a second profile with other SANs." },
  KeyUsageMismatch = { "intune-csr-mismatch", "Match the profile's key usage to what the device requests." },
  KeyLengthMismatch = { "intune-csr-mismatch", "Set the profile's key size to one the device's key storage supports (2048 for TPM)." },
  EnhancedKeyUsageMissing = { "intune-csr-mismatch", "Check the profile's extended key usages." },
  EnhancedKeyUsageMismatch = { "intune-csr-mismatch", "Match the profile's extended key usages." },
  AadKeyIdentifierListMissing = { "intune-csr-mismatch", "The device must be Entra joined or registered." },
  RegisteredKeyMismatch = { "intune-csr-mismatch", "The device must request with its registered key: re-register it." },
  ScepProfileNoLongerTargetedToTheClient = { "intune-profile-not-targeted", "Assign the SCEP profile to the user or device again, or remove it from the device." },
  Unknown = { "intune-validation-unknown", "Retry; if it persists, open a case with Microsoft with the client-request-id." },
}

local FIX_SECRET = "In the Entra admin center, App registrations, the app, Certificates & secrets: make a new client secret and give its Value (not its Secret ID) to sceplab serve in SCEPLAB_INTUNE_CLIENT_SECRET; restart serve."

-- the record's code: the field after the HTTP status ("validateRequest 200 SubjectNameMismatch (...")
local function code_of(r)
  return (r.message or ""):match("^%S+ %d+ (%S+)")
end

local function is_endpoint(r, name) return (r.message or ""):sub(1, #name + 1) == name .. " " end

return {
  description = "Intune's SCEP validation API (a third-party CA such as sceplab serve --policy intune-api) refused the CA or the request.",
  references = { "https://learn.microsoft.com/intune/intune-service/protect/certificate-authority-add-scep-overview",
                 "https://learn.microsoft.com/entra/identity-platform/reference-error-codes" },
  step = 3,
  severity = "error",
  findings = {
    ["intune-api-secret-invalid"] = { title = "Entra ID refused the app's client secret (AADSTS7000215)",
      cause = "The token endpoint answered invalid_client AADSTS7000215: the secret the CA sends is not one of the app's (a typo, the secret's ID instead of its value, or a secret of another app).",
      fix = { FIX_SECRET } },
    ["intune-api-secret-expired"] = { title = "The app's client secret expired (AADSTS7000222)",
      cause = "The token endpoint answered invalid_client AADSTS7000222: the app registration's client secret expired, so the CA gets no token and can validate no request.",
      fix = { FIX_SECRET, "Note the new secret's expiry and renew it before then, or use a certificate credential." } },
    ["intune-api-assertion-refused"] = { title = "Entra ID refused the app's certificate assertion (AADSTS700027)",
      cause = "The token endpoint answered invalid_client AADSTS700027: the client assertion's signature does not verify with a certificate of the app (the certificate was not uploaded, was removed or expired, or the key is another certificate's).",
      fix = { "Upload the certificate whose key sceplab serve signs with (--set client_cert) to the app registration, Certificates & secrets, Certificates.",
              "Check that client_key is that certificate's key and that the certificate is still valid." } },
    ["intune-api-permission-missing"] = { title = "The app lacks the Intune permission for SCEP challenge validation",
      cause = "validateRequest answered 403: the app's Intune token carries no scep_challenge_provider role, so Intune refuses to validate.",
      fix = { "In the app registration, API permissions: add Intune, Application permission scep_challenge_provider (SCEP challenge validation), and grant admin consent.",
              "Restart sceplab serve (or wait for the token to expire) so it gets a token with the role." } },
    ["intune-api-service-missing"] = { title = "Graph's service discovery lists no SCEP validation service",
      cause = "Microsoft Graph's discovery of Intune's endpoints (servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints) has no ScepRequestValidationFEService: the tenant has no Intune subscription, or the app reads another tenant.",
      fix = { "Check the tenant ID the CA uses, and that the tenant is licensed for Intune.",
              "Check the app's Microsoft Graph permission (Application.Read.All) used for discovery." } },
    ["intune-api-unreachable"] = { title = "Intune's API did not answer the CA",
      cause = "The calls to Entra ID, Graph or Intune's services failed: no connection, a timeout, or 5xx answers after every retry; the CA refused the requests (it fails closed).",
      fix = { "From the CA host, check the way out to login.microsoftonline.com, graph.microsoft.com and *.manage.microsoft.com (proxy settings: --set proxy, proxy_user, SCEPLAB_INTUNE_PROXY_PASSWORD).",
              "If Intune's services are degraded (Service health in the admin center), retry the enrollment later." } },
    ["intune-challenge-expired"] = { title = "Intune found the challenge expired",
      cause = "validateRequest answered ChallengeExpired or ChallengeInvalidTimestamp: the device reached the CA long after Intune issued its challenge, or a clock is wrong.",
      fix = { "Sync the device so Intune issues a fresh challenge.", "Check the clocks of the device and of the CA." } },
    ["intune-challenge-invalid"] = { title = "Intune could not verify the challenge",
      cause = "validateRequest answered that the challenge (or the request carrying it) is not one Intune issued for this device: missing, undecodable, not decryptable, its signature wrong, or naming another device, user or request.",
      fix = { "Re-deploy the SCEP profile so the device gets a fresh challenge.", "If the request came from no managed device, treat the challenge as leaked." } },
    ["intune-csr-mismatch"] = { title = "The request differs from what the SCEP profile asked for",
      cause = "validateRequest compared the CSR with the profile's challenge and found the subject, a SAN, the key or its usages different.",
      fix = { "Compare the profile's subject and SAN formats, key size, key usage and extended key usages with the CSR (sceplab decode).", "Re-deploy the profile and sync the device." } },
    ["intune-profile-not-targeted"] = { title = "The SCEP profile no longer targets the device",
      cause = "validateRequest answered ScepProfileNoLongerTargetedToTheClient: the profile was unassigned from the user or device after the challenge was issued.",
      fix = { "Assign the SCEP profile again, or remove the stale profile from the device." } },
    ["intune-validation-unknown"] = { title = "Intune refused the request without a reason",
      cause = "validateRequest answered Unknown.",
      fix = { "Retry the enrollment; if it persists, open a case with Microsoft giving the client-request-id from the CA's log." } },
  },
  -- it judges kinds of records: of a flood of one kind (every request refused) a sample is enough
  sample = true,
  match = { sources = { "intune-api" }, min_level = "error" },
  check = function(records, ctx)
    local groups, order = {}, {}
    local function add(id, r, detail)
      if not groups[id] then
        groups[id] = { id = id, evidence = {}, detail = detail }
        order[#order + 1] = id
      end
      local g = groups[id]
      g.evidence[#g.evidence + 1] = r
    end
    for _, r in ipairs(records) do
      local code = code_of(r)
      if code == "AADSTS7000215" then add("intune-api-secret-invalid", r)
      elseif code == "AADSTS7000222" then add("intune-api-secret-expired", r)
      elseif code == "AADSTS700027" then add("intune-api-assertion-refused", r)
      elseif code == "ServiceNotFound" then add("intune-api-service-missing", r)
      elseif is_endpoint(r, "validateRequest") and r.http_status == 403 then add("intune-api-permission-missing", r)
      elseif r.http_status == 0 or (r.http_status and r.http_status >= 500) then add("intune-api-unreachable", r)
      elseif is_endpoint(r, "validateRequest") and CODES[code] then
        local e = CODES[code]
        add(e[1], r, ("Intune answered %s. %s"):format(code, e[2]))
      end
    end
    local out = {}
    for _, id in ipairs(order) do out[#out + 1] = groups[id] end
    return out
  end,
}
