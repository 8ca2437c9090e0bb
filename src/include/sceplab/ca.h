/* sceplab: the embedded CA behind `sceplab serve`. A state directory holds the keys and
 * certificates as PEM files (keys 0600) and the CA's store: ca.db, an SQLite database (WAL) of
 * requests, issued certificates, revocations and one-time challenges, with a schema version its
 * migrations keep. Every change is one transaction of the store: a certificate is handed out only
 * after the transaction that records it committed, so a crash (kill -9) loses nothing committed
 * and leaves no half-issued certificate. A store that cannot answer is an error, never "none". */
#ifndef SCEPLAB_CA_H
#define SCEPLAB_CA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "sceplab/error.h"
#include "sceplab/intune.h"
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
  const char *db;           /* the store: NULL for ca.db in the state directory, or a postgresql:// URL
                             * (its schema is made or brought up to date; the keys stay in dir) */
  const char *public_url;   /* where clients fetch the CRL, CA certificate and OCSP (http://host[:port]),
                             * kept in the state directory (public-url); NULL: serve's address */
  const char *pkcs11;       /* a PKCS#11 token (RFC 7512 URI) that makes and keeps the CA's and RA's
                             * keys, or NULL: key files in the state directory */
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
/* The same with the store db names (NULL: ca.db in dir; a postgresql:// URL: a database any
 * number of instances share, with the same keys in each one's dir). */
sceplab_ca *sceplab_ca_open_db(const char *dir, const char *db, sceplab_error *err);
/* The db it was opened with, or NULL. */
const char *sceplab_ca_db(const sceplab_ca *ca);
/* Whether the last failure of the CA's store was its database being out of reach (a server
 * database down or restarting): serve answers 503 then; the next call tries to reconnect. */
int sceplab_ca_unavailable(const sceplab_ca *ca);
/* For metrics: the calls its database failed since open, and the connections made again (a
 * server database that went away and came back). */
void sceplab_ca_db_stats(const sceplab_ca *ca, uint64_t *errors, uint64_t *reconnects);
void sceplab_ca_close(sceplab_ca *ca);
const char *sceplab_ca_dir(const sceplab_ca *ca);
X509 *sceplab_ca_cert(const sceplab_ca *ca, sceplab_ca_tier t);   /* owned by ca */
EVP_PKEY *sceplab_ca_key(const sceplab_ca *ca, sceplab_ca_tier t); /* owned by ca */
/* The pairs an Intune token involves (INTUNE_SIGN, RA_ENCRYPT), for sceplab_intune_token and
 * sceplab_intune_verify; owned by ca. */
void sceplab_ca_intune_keys(const sceplab_ca *ca, sceplab_intune_keys *k);
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

/* What a request is at: none, pending, issued, rejected; ERROR: the store could not say (err). */
typedef enum {
  SCEPLAB_REQ_ERROR = -1, SCEPLAB_REQ_NONE, SCEPLAB_REQ_PENDING, SCEPLAB_REQ_ISSUED, SCEPLAB_REQ_REJECTED
} sceplab_req_state;

/* What makes a request the one stored, beyond its transactionID. Every common client derives the
 * ID from its public key, so one key's renewal, a new subject or a corrected challenge carry the ID
 * of its first request: only a resend (RFC 8894 4.3) repeats all of this and gets the stored
 * answer; anything else is a new request. Digests are SHA-256, in hex. */
typedef struct sceplab_req_id {
  const char *transaction_id;
  const char *message_type;     /* "PKCSReq", "RenewalReq" */
  char key[65];                 /* the CSR's public key (SubjectPublicKeyInfo) */
  char csr[65];                 /* the CSR's signed content: the same request signed again is the same */
  char signer[65];              /* the public key that signed the message: the reply is enveloped to it */
} sceplab_req_id;

/* Fills id for req (parsed; csr its DER) under transaction_id and message_type (kept by
 * reference), signed by signer's key: 0, or -1 with err. */
int sceplab_req_id_make(sceplab_req_id *id, const char *transaction_id, const char *message_type, X509_REQ *req,
                        const unsigned char *csr, size_t csrlen, EVP_PKEY *signer, sceplab_error *err);

/* The certificate profile: what a request may ask for, as a CA template allows. basicConstraints
 * is CA:FALSE whatever it says; a request asking for CA:TRUE, keyCertSign or cRLSign, for a CA's
 * subject, for a SAN type outside san or for a wildcard name (unless wildcard) is refused; key
 * usages and EKUs outside the profile are dropped. A certificate always carries an EKU: those asked
 * that the profile allows, else the profile's first (clientAuth by default). */
enum {
  SCEPLAB_SAN_EMAIL = 1u << 0, SCEPLAB_SAN_DNS = 1u << 1, SCEPLAB_SAN_URI = 1u << 2, SCEPLAB_SAN_IP = 1u << 3,
  SCEPLAB_SAN_UPN = 1u << 4, SCEPLAB_SAN_DIRNAME = 1u << 5, SCEPLAB_SAN_RID = 1u << 6, SCEPLAB_SAN_OTHERNAME = 1u << 7
};
typedef struct sceplab_cert_profile {
  unsigned key_usage;           /* allowed key usages: bit n is KeyUsage bit n (0 digitalSignature .. 8 decipherOnly) */
  char eku[16][64];             /* EKUs a request may ask for (OIDs or names such as clientAuth) */
  size_t neku;
  unsigned san;                 /* SAN types allowed (SCEPLAB_SAN_*) */
  int wildcard;                 /* a '*' in a DNS name or the common name */
} sceplab_cert_profile;

/* The defaults: digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment, keyAgreement;
 * clientAuth, serverAuth, emailProtection, ipsecIKE; dns, email, ip, uri; no wildcard. */
void sceplab_cert_profile_default(sceplab_cert_profile *p);
/* Names: "digitalSignature".. and "dns", "upn".. (as the decoder writes them); -1 when unknown. */
int sceplab_key_usage_bit(const char *name);
unsigned sceplab_san_type(const char *name);

typedef struct sceplab_issue_params {
  int days;                      /* lifetime; default 365 */
  const char *const *ekus;       /* EKUs to set instead of the CSR's (OIDs or short names), or NULL */
  size_t nekus;
  const char *template_name;     /* Microsoft template name extension, or NULL */
  const sceplab_cert_profile *profile; /* what the request may ask for; NULL: the defaults */
  const char *once;              /* a challenge good for one certificate (an Intune token's request
                                  * ID): recorded with it; another request with it is refused */
  int64_t now;                   /* the time to issue at (Unix seconds): a replay's virtual clock; 0 = now */
} sceplab_issue_params;

/* Issues a certificate for a request already parsed and verified (req; csr is its DER, kept for
 * the record) and records it under id, in one transaction; a resend of a request issued already
 * gets the same certificate. When the CA refuses (the profile, a challenge used already) it
 * returns NULL with err's class SCEPLAB_E_INPUT, err saying why, and *refused (when given) the
 * CA's error code as ADCS reports it (0x80094001 a subject or name it does not issue, 0x80094802
 * an extension it does not issue, 0x80094003 a challenge used already). */
X509 *sceplab_ca_issue_req(sceplab_ca *ca, X509_REQ *req, const unsigned char *csr, size_t csrlen,
                           const sceplab_req_id *id, const sceplab_issue_params *ip, unsigned *refused,
                           sceplab_error *err);
/* Records a request left pending (or rejected, with why) under id: a new request, or its resend's
 * record updated. A new one supersedes pending requests of the same transaction ID and key. */
int sceplab_ca_hold(sceplab_ca *ca, const unsigned char *csr, size_t csrlen, const sceplab_req_id *id,
                    sceplab_req_state state, const char *why, sceplab_error *err);
/* The state of the request id names (NONE when it is no resend of one, ERROR with err when the
 * store cannot say); *cert (malloc'd DER) when issued, *why when rejected (malloc'd). */
sceplab_req_state sceplab_ca_request(sceplab_ca *ca, const sceplab_req_id *id, unsigned char **cert, size_t *len,
                                     char **why, sceplab_error *err);
/* CertPoll: the latest request of transaction_id that signer's key made (its CSR's key or the key
 * that signed it); *cert (malloc'd DER) when issued. Another key's request is not its to poll.
 * ERROR with err when the store cannot say. */
sceplab_req_state sceplab_ca_poll(sceplab_ca *ca, const char *transaction_id, EVP_PKEY *signer, unsigned char **cert,
                                  size_t *len, sceplab_error *err);
/* An administrator's decision on a pending request, named by its transaction ID (when only one
 * request under it is pending) or by "#N", its number in the list: approve issues it (DER,
 * malloc'd, with the defaults of the profile), reject refuses it with why. */
unsigned char *sceplab_ca_approve(sceplab_ca *ca, const char *which, const sceplab_issue_params *ip, size_t *len,
                                  sceplab_error *err);
int sceplab_ca_reject(sceplab_ca *ca, const char *which, const char *why, sceplab_error *err);
/* An issued certificate by serial: 1 with *der (malloc'd DER), 0 when it is none of ours, -1 with
 * err when the store cannot say. */
int sceplab_ca_find(sceplab_ca *ca, const ASN1_INTEGER *serial, unsigned char **der, size_t *len, sceplab_error *err);
/* Whether x is a certificate this CA issued (its very DER is in the store): 1, with *revoked set;
 * 0 when not; -1 with err. */
int sceplab_ca_issued(sceplab_ca *ca, X509 *x, int *revoked, sceplab_error *err);
/* Whether a one-time challenge (sceplab_issue_params.once) gave a certificate already: 1 with
 * *serial (malloc'd hex) when given, 0 when not, -1 with err. */
int sceplab_ca_once_used(sceplab_ca *ca, const char *once, char **serial, sceplab_error *err);

/* A test knob (serve --ca-latency): each write transaction of the store waits ms milliseconds
 * between its writes and its commit, the window a crash test kills the server in. */
void sceplab_ca_set_commit_delay(sceplab_ca *ca, unsigned ms);

/* Commits made durable behind a server's loop (SQLite's ca.db; a server database makes a commit
 * durable before COMMIT returns, and answers 0): from now on a write transaction returns once
 * it is written, a thread of the store syncs it and writes to notify_fd (an eventfd) after each
 * sync. An answer that follows a commit waits until sceplab_ca_durable(ca, n) is 1 for the
 * sceplab_ca_commits(ca) read after it: 0 means not yet, -1 that a sync failed (none after it is
 * taken as durable either). 1 when on, 0 when the store needs none, -1 with err.
 * sceplab_ca_sync_inline syncs what is left and goes back to syncing in COMMIT. */
int sceplab_ca_sync_behind(sceplab_ca *ca, int notify_fd, sceplab_error *err);
void sceplab_ca_sync_inline(sceplab_ca *ca);
uint64_t sceplab_ca_commits(const sceplab_ca *ca);
int sceplab_ca_durable(sceplab_ca *ca, uint64_t n);

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

/* Where revocation is published (as ADCS publishes to CertEnroll): every certificate issued
 * carries a CRL Distribution Point PUBLIC/CertEnroll/NAME.crl, an AIA caIssuers
 * PUBLIC/CertEnroll/NAME.crt and an AIA OCSP PUBLIC/ocsp, PUBLIC being the public URL (an
 * http:// or https:// URL, its trailing '/' dropped) and NAME the issuing CA's common name
 * with characters outside letters, digits, space, '.', '-' and '_' made '_'. Without a public URL
 * certificates carry none. set: 0, or -1 with err (a URL that is not one); NULL clears it. */
int sceplab_ca_set_public_url(sceplab_ca *ca, const char *url, sceplab_error *err);
const char *sceplab_ca_public_url(const sceplab_ca *ca); /* or NULL */
/* NAME above (malloc'd), and a published URL: "crl", "crt" or "ocsp", or the root's "root-crl" and
 * "root-crt" (NAME the root's common name) (malloc'd; NULL without a public URL); path_only gives
 * its path alone (what a server routes). With a public URL at init, the issuing CA's certificate
 * names the root's CRL and certificate: a RADIUS server checks the whole chain. */
char *sceplab_ca_publish_name(const sceplab_ca *ca);
char *sceplab_ca_publish_url(const sceplab_ca *ca, const char *what, int path_only);
/* A CRL like the current one but past its nextUpdate (thisUpdate 8 days ago, nextUpdate a day
 * ago), signed by the issuing CA and never kept: what a client meets when publication stopped. */
unsigned char *sceplab_ca_crl_expired(sceplab_ca *ca, size_t *len, sceplab_error *err);
/* The root's CRL: empty (the root revokes nothing sceplab makes), valid for days (0: 180), its
 * number its time; signed by the root each call (a server keeps it). DER, malloc'd. */
unsigned char *sceplab_ca_root_crl(sceplab_ca *ca, int days, size_t *len, sceplab_error *err);
/* The OCSP responder (RFC 6960): the answer (a DER OCSPResponse, malloc'd) to a DER OCSPRequest,
 * signed by the responder certificate the issuing CA issues for it (id-kp-OCSPSigning,
 * id-pkix-ocsp-nocheck, 14 days; made anew when 2 days are left or the issuing CA changed),
 * with the request's nonce; each certificate good, revoked (time, reason) or unknown (not this
 * CA's). A request that does not parse, or asks about more than 64 certificates, gets
 * malformedRequest; NULL with err only when no answer
 * can be made (the store cannot say: the caller answers internalError). */
unsigned char *sceplab_ca_ocsp(sceplab_ca *ca, const unsigned char *req, size_t n, size_t *len, sceplab_error *err);
/* The responder's certificate (owned by ca), made when needed: NULL with err when it cannot be. */
X509 *sceplab_ca_ocsp_cert(sceplab_ca *ca, sceplab_error *err);

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
