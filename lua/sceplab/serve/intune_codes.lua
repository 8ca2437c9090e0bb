-- What Intune's SCEP validation service answers (ScepActions/validateRequest's "code", as the
-- CsrValidation libraries of microsoft/Intune-Resource-Access name them), each with the CertRep
-- failInfo sceplab serve refuses with, a sentence and the fix; and Entra ID's AADSTS codes an app
-- meets on the way. Shared by the intune-api policy, `sceplab intune cloud` and the playbooks' docs.
local M = {}

M.API_VERSION = "2018-02-20"          -- ScepRequestValidationFEService
M.PKI_API_VERSION = "5019-05-05"      -- PkiConnectorFEService (revocation)
M.INTUNE_APP_ID = "0000000a-0000-0000-c000-000000000000"
M.VALIDATION_SERVICE = "ScepRequestValidationFEService"
M.PKI_SERVICE = "PkiConnectorFEService"
M.GRAPH_SCOPE = "https://graph.microsoft.com/.default"
M.INTUNE_SCOPE = "https://api.manage.microsoft.com/.default"
M.GRAPH_AUDIENCE = "https://graph.microsoft.com"
M.INTUNE_AUDIENCE = "https://api.manage.microsoft.com/"
-- the application permission (app role) an app needs for validateRequest and the notifications
M.SCEP_ROLE = "scep_challenge_provider"

-- code = {failInfo, what it means, the fix}
M.CODES = {
  Success = { nil, "the request is valid for the challenge", "" },
  Unknown = { "badRequest", "Intune could not validate the request for a reason it did not name",
              "retry; if it persists, open a case with the request's client-request-id" },
  CertificateRequestDecodingFailed = { "badMessageCheck", "Intune could not decode the PKCS#10 request it was sent",
              "the CA must send the device's CSR as base64 DER, unchanged" },
  ChallengePasswordMissing = { "badRequest", "the request carries no challenge password",
              "the device must use the SCEP profile's challenge: re-deploy the profile" },
  ChallengeDeserializationError = { "badRequest", "the challenge is not a challenge Intune issued (it does not deserialize)",
              "the device sent another challenge (a static password?): check the SCEP profile targets it" },
  ChallengeDecryptionError = { "badRequest", "Intune cannot decrypt the challenge",
              "the challenge was issued for another tenant or CA: check the SCEP profile and the app's tenant" },
  ChallengeDecodingError = { "badRequest", "the challenge's content does not decode",
              "re-deploy the SCEP profile so the device gets a fresh challenge" },
  ChallengeInvalidTimestamp = { "badTime", "the challenge's timestamp is not valid",
              "check the clocks of the device and of the CA" },
  ChallengeExpired = { "badTime", "the challenge expired (Intune's challenges are valid 60 minutes)",
              "the device must enroll sooner after it gets the profile; re-sync the device for a new challenge" },
  SubjectNameMissing = { "badRequest", "the request has no subject name though the profile sets one",
              "check the profile's subject name format and the device's attributes it uses" },
  SubjectNameMismatch = { "badRequest", "the request's subject is not the one the profile issued the challenge for",
              "the device altered the subject, or the profile changed: re-deploy it" },
  SubjectAltNameMissing = { "badRequest", "the request has no subject alternative name though the profile sets one",
              "check the profile's SAN attributes exist for the user or device" },
  SubjectAltNameMismatch = { "badRequest", "the request's subject alternative names are not the profile's",
              "re-deploy the profile; check for a second profile with other SANs" },
  KeyUsageMismatch = { "badRequest", "the request's key usage is not the profile's", "match the profile's key usage" },
  KeyLengthMismatch = { "badAlg", "the request's key size is not the profile's", "match the profile's key size" },
  EnhancedKeyUsageMissing = { "badRequest", "the request has no extended key usage though the profile sets one",
              "check the profile's extended key usages" },
  EnhancedKeyUsageMismatch = { "badRequest", "the request's extended key usages are not the profile's",
              "match the profile's extended key usages" },
  AadKeyIdentifierListMissing = { "badRequest", "the request lacks the Entra ID key identifiers the profile needs",
              "the device must be Entra-joined or registered" },
  RegisteredKeyMismatch = { "badRequest", "the request's key is not the key registered for the device",
              "the device must request with its registered key (Windows Hello/TPM): re-register it" },
  SigningCertThumbprintMismatch = { "badMessageCheck", "the challenge was signed by a certificate Intune no longer uses",
              "re-deploy the profile for a challenge signed with the current certificate" },
  ScepProfileNoLongerTargetedToTheClient = { "badRequest", "the SCEP profile is no longer assigned to the device or user",
              "assign the profile again, or remove it from the device" },
  SignatureValidationFailed = { "badMessageCheck", "the challenge's signature does not verify",
              "the challenge was altered or forged: re-deploy the profile" },
  BadCertificateRequestIdInChallenge = { "badRequest", "the challenge names a certificate request Intune does not know",
              "re-deploy the profile" },
  BadDeviceIdInChallenge = { "badRequest", "the challenge names another device", "the challenge was copied between devices" },
  BadUserIdInChallenge = { "badRequest", "the challenge names another user", "the challenge was copied between users" },
}

-- The error codes, in the libraries' order (Success apart).
M.ORDER = { "Unknown", "CertificateRequestDecodingFailed", "ChallengePasswordMissing", "ChallengeDeserializationError",
  "ChallengeDecryptionError", "ChallengeDecodingError", "ChallengeInvalidTimestamp", "ChallengeExpired",
  "SubjectNameMissing", "SubjectNameMismatch", "SubjectAltNameMissing", "SubjectAltNameMismatch", "KeyUsageMismatch",
  "KeyLengthMismatch", "EnhancedKeyUsageMissing", "EnhancedKeyUsageMismatch", "AadKeyIdentifierListMissing",
  "RegisteredKeyMismatch", "SigningCertThumbprintMismatch", "ScepProfileNoLongerTargetedToTheClient",
  "SignatureValidationFailed", "BadCertificateRequestIdInChallenge", "BadDeviceIdInChallenge", "BadUserIdInChallenge" }

-- Entra ID's codes on the token endpoint: AADSTS number = {error, HTTP status, sentence, fix}
M.AADSTS = {
  [7000215] = { "invalid_client", 401, "Invalid client secret provided",
                "the secret is wrong: give the secret's value (not its ID) from the app registration" },
  [7000222] = { "invalid_client", 401, "The provided client secret keys are expired",
                "make a new client secret in the app registration (Certificates & secrets) and give it to sceplab" },
  [700027] = { "invalid_client", 401, "Client assertion failed signature validation",
               "upload the certificate whose key signs the assertion to the app registration" },
  [700016] = { "unauthorized_client", 400, "Application was not found in the directory",
               "check the application (client) ID and the tenant" },
  [90002] = { "invalid_request", 400, "Tenant not found", "check the tenant ID or domain" },
  [70011] = { "invalid_scope", 400, "The provided value for the input parameter 'scope' is not valid",
              "ask for RESOURCE/.default" },
  [7000218] = { "invalid_client", 401, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'",
                "give a client secret or a certificate" },
}

--- The entry of a validation code: failInfo, sentence, fix (Unknown's for a code nobody knows).
function M.of(code)
  local e = M.CODES[code] or M.CODES.Unknown
  return e[1] or "badRequest", e[2], e[3]
end

return M
