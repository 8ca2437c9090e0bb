/* sceplab: the Intune side of SCEP, emulated with the embedded CA's keys (ca.h gives them:
 * sceplab_ca_intune_keys). Intune hands each
 * device a CertEnrollToken as its challenge: base64 of
 *   <CertEnrollToken><Data><CertEnrollChallenge>B64</CertEnrollChallenge>
 *   <SignerThumbprint>SHA1</SignerThumbprint></Data><Signature>HEX</Signature>
 *   <DeviceID>..</DeviceID><UserID>..</UserID><CertificateRequestId>..</CertificateRequestId>
 *   <Timestamp>..</Timestamp></CertEnrollToken>
 * CertEnrollChallenge is a CMS EnvelopedData to the NDES server's encryption (CEP Encryption)
 * certificate holding what the certificate may be issued for; Signature is a detached CMS
 * SignedData over the <Data> element, made with the registered signing certificate.
 * The connector verifies it in three phases: 1 signature and decryption, 2 expiry, 3 the CSR
 * against the claims (done by the Lua policy, lua/policies/intune.lua). */
#ifndef SCEPLAB_INTUNE_H
#define SCEPLAB_INTUNE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "sceplab/error.h"
#include "sceplab/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sceplab_intune_claims {
  const char *device_id;        /* Intune device ID (a GUID) */
  const char *user_id;          /* the user (UPN or object ID), or NULL for a device certificate */
  const char *subject;          /* the subject the profile resolved to, RFC 4514 ("CN=alice,O=Contoso") */
  const char *const *san;       /* "upn:alice@contoso.com", "email:...", "dns:...", "uri:..." */
  size_t nsan;
  int key_bits;                 /* the profile's key size (0: any) */
  const char *key_usage;        /* "digitalSignature,keyEncipherment" or NULL (any) */
  const char *const *ekus;      /* the profile's EKUs (OIDs or short names), or NULL (any) */
  size_t nekus;
  const char *request_id;       /* CertificateRequestId; NULL: a new one in Intune's form */
  int64_t issued_at;            /* Unix seconds; 0: now */
  int minutes;                  /* how long the challenge is valid; 0: 60 */
} sceplab_intune_claims;

/* The keys a token involves: the Intune service's challenge-signing pair (registered with the
 * connector) and NDES's encryption (CEP Encryption) pair the challenge is encrypted to. source
 * names where they come from, for messages (the CA's state directory). */
typedef struct sceplab_intune_keys {
  X509 *sign_cert;              /* NULL: none registered */
  EVP_PKEY *sign_key;           /* needed to make tokens only */
  X509 *enc_cert;
  EVP_PKEY *enc_key;            /* needed to verify tokens only */
  const char *source;
} sceplab_intune_keys;

/* A token for claims, signed with the signing pair and encrypted to the encryption certificate:
 * base64 text, malloc'd. */
char *sceplab_intune_token(const sceplab_intune_keys *k, const sceplab_intune_claims *c, sceplab_error *err);

/* Why a token failed phases 1-2: the phase and the validation service's reason code. */
typedef struct sceplab_intune_failure {
  int phase;                    /* 1 signature/decryption, 2 expiry */
  char code[48];                /* SignatureVerificationFailed, ChallengeDecryptionFailed, ChallengeMalformed, ChallengeExpired */
  const char *error;            /* the CRP's error name: CRPSCEPDeserialize_Failed (0x410) or CRPSCEPChallenge_Expired (0x411) */
  unsigned hresult;
} sceplab_intune_failure;

/* Phases 1 and 2 of a token (base64, or the XML) at time now (Unix seconds; 0: now). The
 * claims as a document {device_id, user_id, subject, san = [{type, value}], key_bits,
 * key_usage = [..], ekus = [..], request_id, issued_at, expires_at, signer_thumbprint}; or
 * NULL with *f and err saying why. */
sceplab_val *sceplab_intune_verify(const sceplab_intune_keys *k, const char *token, size_t n, int64_t now,
                                   sceplab_intune_failure *f, sceplab_error *err);

#ifdef __cplusplus
}
#endif
#endif
