/* ca/: the embedded CA (the public side is sceplab/ca.h). Its private header: the CA object and
 * what its files share.
 *   ca.c         open, init, close, the tiers, rollover
 *   keys.c       where the CA's keys and certificates are kept: the key keeper's seam, every key
 *                made, loaded, saved and retired there; a key in a PEM file (NAME.key) or in a
 *   keys_pkcs11.c  PKCS#11 token (NAME.p11 holds its URI), through OpenSSL's pkcs11 engine
 *   certs.c      the certificates the CA makes for itself and for serve (RA, TLS, policy module)
 *   profile.c    what a request may ask for, and the certificate issued for it
 *   identity.c   a request's identity and a one-time password's digest (what the store keeps)
 *   request.c    requests: issue, hold, approve, reject, poll, list
 *   crl.c        revocation and the CRL
 *   challenge.c  one-time challenges (NDES's admin page)
 *   publish.c    where revocation is published: the public URL, the CDP, AIA and OCSP URLs in
 *                each certificate, the CRL's name under /CertEnroll/, a CRL past its nextUpdate
 *   ocsp.c       the OCSP responder (RFC 6960): its delegated certificate and its answers
 *   store.h      the storage seam; store.c picks a backend; store_count.c counts failures and reconnections; store_sqlite.c and store_pg.c hold all SQL */
#ifndef SCEPLAB_CA_INT_H
#define SCEPLAB_CA_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/base_int.h"
#include "pki/pki_int.h"
#include "sceplab/ca.h"

struct sceplab_store;

struct sceplab_ca {
  char *dir;
  char *db;                     /* the store's URL (--db), or NULL for dir's ca.db */
  struct sceplab_store *store;
  X509 *cert[SCEPLAB_CA_TIERS];
  EVP_PKEY *key[SCEPLAB_CA_TIERS];
  X509 *next;                   /* the rollover issuing CA (next-ca.pem), or NULL */
  EVP_PKEY *next_key;
  char *keeper;                 /* the PKCS#11 token that makes new keys (its URI, no PIN), or NULL: files */
  char *public_url;             /* where clients fetch the CRL, the CA certificate, OCSP (publish.c) */
  X509 *ocsp;                   /* the delegated OCSP responder pair (ocsp.c), made when first needed */
  EVP_PKEY *ocsp_key;
};

/* The file name of each tier's pair in the state directory ("root", "ca", ...). */
extern const char *const ca_tier_file[SCEPLAB_CA_TIERS];

/* keys.c */
char *ca_path(const char *dir, const char *name, const char *ext); /* dir/name.ext, malloc'd */
/* Takes from path's mode whatever keep does not allow (an owned file or directory; a missing one
 * is fine): the state directory and the database hold keys and unused passwords. */
int ca_narrow_mode(const char *path, mode_t keep, sceplab_error *err);
EVP_PKEY *ca_key_new(const char *spec, sceplab_error *err); /* in memory: for keys handed out (TLS) */
/* A key the keeper keeps, for the pair name: made in the token keeper names (a PKCS#11 URI), or
 * in memory for a file when keeper is NULL. */
EVP_PKEY *ca_key_make(const char *keeper, const char *name, const char *spec, sceplab_error *err);
/* The token that makes the CA's keys, kept in the state directory (pkcs11-token, without PIN):
 * save (nothing when keeper is NULL) and load (NULL when there is none; err when unreadable). */
int ca_keeper_save(const char *dir, const char *keeper, sceplab_error *err);
char *ca_keeper_load(const char *dir, sceplab_error *err);
/* keys_pkcs11.c: a key pair made in the token of token_uri (labelled "sceplab NAME", a random
 * id), *obj_uri its URI (malloc'd, no PIN); a key loaded by its URI; a token URI checked (its
 * token, module and PIN: pin-value or SCEPLAB_PKCS11_PIN). */
EVP_PKEY *ca_p11_generate(const char *token_uri, const char *name, const char *spec, char **obj_uri, sceplab_error *err);
EVP_PKEY *ca_p11_load(const char *uri, sceplab_error *err);
int ca_p11_check(const char *token_uri, sceplab_error *err);
/* The key spec of an existing key ("rsa:2048", "ec:p256"), so a new one is made like it. */
void ca_key_spec(EVP_PKEY *k, char *out, size_t n);
/* name's pair: saved as new files (never over existing ones); loaded (1, or 0 when either file
 * is missing, err then saying so; -1 when one is unreadable or damaged); moved aside as
 * name-previous-SERIAL (certificates it issued stay verifiable); renamed to another name. */
int ca_pair_save(const char *dir, const char *name, X509 *x, EVP_PKEY *k, sceplab_error *err);
int ca_pair_load(const char *dir, const char *name, X509 **x, EVP_PKEY **k, sceplab_error *err);
int ca_pair_retire(const char *dir, const char *name, X509 *x, sceplab_error *err);
int ca_pair_rename(const char *dir, const char *from, const char *to, sceplab_error *err);
/* Whether name's key file exists. */
int ca_pair_exists(const char *dir, const char *name);

/* certs.c */
/* The time the CA works at: ip's (a replay's), else the clock's. */
int64_t ca_now(const sceplab_issue_params *ip);
/* A fresh random serial (16 bytes, positive): 0, or -1 when no random bytes were to be had. */
int ca_random_serial(ASN1_INTEGER *serial);
/* An extension in OpenSSL's configuration syntax, with issuer for the key identifiers. */
int ca_add_ext(X509 *x, X509 *issuer, int nid, const char *value);
/* A certificate for key under subject, signed by issuer (NULL: self-signed with key), with SANs
 * when sans is given, valid from `from` (0: five minutes ago) for days. */
X509 *ca_make_cert(const X509_NAME *subject, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int days,
                   const char *basic, const char *usage, const char *eku, const char *template_name,
                   const GENERAL_NAMES *sans, time_t from);
/* A name as the decoder shows it (RFC 4514 escaping, encoded order); malloc'd. */
char *ca_name_text(const X509_NAME *n);

/* profile.c: the certificate for a request as the profile shapes it; NULL with *refused (the
 * CA's error code) when the profile refuses it (err says why), or with err alone. */
X509 *ca_cert_for(sceplab_ca *ca, X509_REQ *req, const sceplab_issue_params *ip, unsigned *refused,
                  sceplab_error *err);

/* publish.c: the public URL kept in the state directory (read at open: 0, or -1 with err) and
 * saved at init; the CDP and AIA (caIssuers, OCSP) extensions added to x when there is one. */
int ca_public_url_load(sceplab_ca *ca, sceplab_error *err);
int ca_public_url_save(const char *dir, const char *url, sceplab_error *err);
int ca_add_revinfo(const sceplab_ca *ca, X509 *x);
/* The issuing CA's certificate (made at init) names the root's CRL and certificate when there is
 * a public URL, and is signed again by the root. */
int ca_add_root_revinfo(const sceplab_ca *ca, X509 *issuing);
/* ocsp.c: frees the responder pair (at close). */
void ca_ocsp_free(sceplab_ca *ca);

/* identity.c */
#define CA_CHALLENGE_PREFIX "sha256:"
#define CA_CHALLENGE_DIGEST_LEN 72
/* "sha256:" and the hex SHA-256 of a one-time password, as the store keeps it. */
void ca_challenge_digest(const char *pw, char out[CA_CHALLENGE_DIGEST_LEN]);
/* The SHA-256 (hex) of a public key, and of a CSR's CertificationRequestInfo. */
int ca_key_id(EVP_PKEY *k, char out[65]);
int ca_csr_id(const unsigned char *der, size_t n, char out[65]);
/* Both for a CSR given as DER (its key's and its own): 0, or -1 when it does not parse. */
int ca_csr_ids(const unsigned char *der, size_t n, char key[65], char csr[65]);

#endif
