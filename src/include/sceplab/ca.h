/* sceplab: the embedded CA behind `sceplab serve`. A state directory holds the keys and
 * certificates as PEM files (keys 0600) and ca.db, an SQLite database (WAL) of requests, issued
 * certificates, revocations and one-time challenges. Every change is one SQLite transaction: a
 * certificate is handed out only after the transaction that records it committed, so a crash
 * (kill -9) loses nothing committed and leaves no half-issued certificate. */
#ifndef SCEPLAB_CA_H
#define SCEPLAB_CA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "sceplab/error.h"
#include "sceplab/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sceplab_ca_params {
  const char *key;          /* key spec for every tier ("rsa:2048", "ec:p256"; sceplab_key_generate) */
  const char *root_cn;      /* default "sceplab Root CA" */
  const char *issuing_cn;   /* default "sceplab Issuing CA" */
  const char *ra_subject;   /* the NDES RA certificates' subject, default "CN=SCEPLAB-MSCEP-RA" */
  int root_days;            /* default 3650 */
  int issuing_days;         /* default 1825 */
  int two_tier;             /* 1 (default when 0 is not asked for): root and issuing; 0: one CA */
} sceplab_ca_params;

typedef struct sceplab_ca sceplab_ca;

/* The certificates and keys of a state directory. */
/* INTUNE_SIGN plays the Intune service's challenge-signing certificate (the one registered with
 * the connector; sceplab intune token signs with it). It is self-signed and optional: a state
 * directory made before it existed opens without it, and tokens then cannot be made. */
typedef enum {
  SCEPLAB_CA_ROOT, SCEPLAB_CA_ISSUING, SCEPLAB_CA_RA_SIGN, SCEPLAB_CA_RA_ENCRYPT, SCEPLAB_CA_INTUNE_SIGN, SCEPLAB_CA_TIERS
} sceplab_ca_tier;

/* Makes a new state directory (created 0700; refused when it holds a CA already). */
int sceplab_ca_init(const char *dir, const sceplab_ca_params *p, sceplab_error *err);
sceplab_ca *sceplab_ca_open(const char *dir, sceplab_error *err);
void sceplab_ca_close(sceplab_ca *ca);
const char *sceplab_ca_dir(const sceplab_ca *ca);
X509 *sceplab_ca_cert(const sceplab_ca *ca, sceplab_ca_tier t);   /* owned by ca */
EVP_PKEY *sceplab_ca_key(const sceplab_ca *ca, sceplab_ca_tier t); /* owned by ca */
/* A tier's SHA-1 thumbprint, upper-case hex as Windows shows it (malloc'd), or NULL. */
char *sceplab_ca_thumbprint(const sceplab_ca *ca, sceplab_ca_tier t);

/* CA rollover, for GetNextCACert. rollover makes the next issuing CA ahead of the switch
 * (next-ca.pem/.key: a new key like the current one, certified by the root for days; refused for
 * a one-tier CA and when one is made already); next is it, or NULL. activate switches: the
 * current issuing pair and NDES's RA pair are kept as NAME-previous-SERIAL.pem/.key, the next CA
 * becomes ca.pem, and a new RA pair is issued under it. */
int sceplab_ca_rollover(sceplab_ca *ca, int days, sceplab_error *err);
X509 *sceplab_ca_next(const sceplab_ca *ca);
int sceplab_ca_rollover_activate(sceplab_ca *ca, sceplab_error *err);

/* What a request is at, by its transactionID: none, pending, issued, rejected. */
typedef enum { SCEPLAB_REQ_NONE, SCEPLAB_REQ_PENDING, SCEPLAB_REQ_ISSUED, SCEPLAB_REQ_REJECTED } sceplab_req_state;

typedef struct sceplab_issue_params {
  int days;                      /* lifetime; default 365 */
  const char *const *ekus;       /* EKUs to set instead of the CSR's (OIDs or short names), or NULL */
  size_t nekus;
  const char *template_name;     /* Microsoft template name extension, or NULL */
  int latency_ms;                /* a slow CA: wait this long inside the issuing transaction */
  int64_t now;                   /* the time to issue at (Unix seconds): a replay's virtual clock; 0 = now */
} sceplab_issue_params;

/* Issues a certificate for a PKCS#10 request (its subject, public key and requested SANs, key
 * usage and EKUs) and records it under transaction_id in one transaction; returns its DER
 * (malloc'd). The same transaction_id asked again gets the certificate already issued. */
unsigned char *sceplab_ca_issue(sceplab_ca *ca, const unsigned char *csr, size_t csrlen, const char *transaction_id,
                                const sceplab_issue_params *ip, size_t *len, sceplab_error *err);
/* The same for a request already parsed and verified (req), returning the certificate: the server
 * parses a request once. csr is its DER, kept for the record. */
X509 *sceplab_ca_issue_req(sceplab_ca *ca, X509_REQ *req, const unsigned char *csr, size_t csrlen,
                           const char *transaction_id, const sceplab_issue_params *ip, sceplab_error *err);
/* Records a request left pending (or rejected, with why) for transaction_id. */
int sceplab_ca_hold(sceplab_ca *ca, const unsigned char *csr, size_t csrlen, const char *transaction_id,
                    sceplab_req_state state, const char *why, sceplab_error *err);
/* The state of transaction_id; *cert (malloc'd DER) when issued, *why when rejected (malloc'd). */
sceplab_req_state sceplab_ca_request(sceplab_ca *ca, const char *transaction_id, unsigned char **cert, size_t *len,
                                     char **why, sceplab_error *err);
/* The stored CSR of a pending request (malloc'd DER), for issuing it on approval. */
unsigned char *sceplab_ca_request_csr(sceplab_ca *ca, const char *transaction_id, size_t *len, sceplab_error *err);
/* An issued certificate by serial (hex, any case) and issuer; malloc'd DER or NULL (not ours). */
unsigned char *sceplab_ca_find(sceplab_ca *ca, const ASN1_INTEGER *serial, size_t *len);

/* Requests and certificates, as documents: [{transaction_id, state, subject, serial?, ...}]. */
sceplab_val *sceplab_ca_list(sceplab_ca *ca, sceplab_error *err);
/* Revokes a certificate by serial (hex); reason an RFC 5280 CRLReason code. */
int sceplab_ca_revoke(sceplab_ca *ca, const char *serial_hex, int reason, sceplab_error *err);
/* A new CRL of the issuing CA over every revocation, valid for days, with the next CRL number;
 * it becomes the current one. DER, malloc'd. */
unsigned char *sceplab_ca_crl(sceplab_ca *ca, int days, size_t *len, sceplab_error *err);
/* The current CRL (GetCRL's answer): the one made last, signed anew (as sceplab_ca_crl, for days)
 * only when a certificate was revoked since, the issuing CA changed, or half its validity is
 * over. Serving it costs no signature and no write. DER, malloc'd. */
unsigned char *sceplab_ca_crl_current(sceplab_ca *ca, int days, size_t *len, sceplab_error *err);

/* A TLS server certificate for names (DNS names or IP addresses; the first is the CN) issued by
 * the issuing CA for days (0: 30), with a new RSA-2048 key: both PEM, malloc'd, for serve's
 * --tls-cert; a name the clients do not use reproduces a TLS name mismatch. */
/* The certificate NDES's Intune policy module presents to the CRP (NDESCertThumbprint): Client and
 * Server Authentication for host, valid from not_before (Unix seconds) for days (default 730).
 * Kept in memory by the emulator: an expired one plays an expired policy certificate. */
X509 *sceplab_ca_policy_cert(sceplab_ca *ca, const char *host, int64_t not_before, int days, sceplab_error *err);
int sceplab_ca_tls_server(sceplab_ca *ca, const char *const *names, size_t n, int days, char **cert_pem,
                          char **key_pem, sceplab_error *err);

/* One-time challenges (NDES's admin page): a new random one valid for minutes, and its use
 * (1 valid and now used, 0 unknown, used or expired). ca.db keeps their SHA-256 digests only. */
char *sceplab_ca_challenge_new(sceplab_ca *ca, int minutes, sceplab_error *err);
int sceplab_ca_challenge_use(sceplab_ca *ca, const char *challenge, sceplab_error *err);
/* How many one-time challenges are unused and unexpired (NDES's password cache), or -1. */
int sceplab_ca_challenge_outstanding(sceplab_ca *ca, sceplab_error *err);

#ifdef __cplusplus
}
#endif
#endif
