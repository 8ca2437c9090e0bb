/* sceplab: keys, names and certificates, and SCEP's numbers (RFC 8894 3.2.1) with their names:
 * what the decoders, the SCEP client and server and the CA share. */
#ifndef SCEPLAB_PKI_H
#define SCEPLAB_PKI_H

#include <stddef.h>

#include <openssl/types.h>
#include <openssl/x509.h>

#include "sceplab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  SCEPLAB_MSG_CERTREP = 3,
  SCEPLAB_MSG_RENEWALREQ = 17,
  SCEPLAB_MSG_PKCSREQ = 19,
  SCEPLAB_MSG_CERTPOLL = 20,
  SCEPLAB_MSG_GETCERT = 21,
  SCEPLAB_MSG_GETCRL = 22
};
enum { SCEPLAB_STATUS_SUCCESS = 0, SCEPLAB_STATUS_FAILURE = 2, SCEPLAB_STATUS_PENDING = 3 };
enum {
  SCEPLAB_FAIL_BADALG = 0, SCEPLAB_FAIL_BADMESSAGECHECK = 1, SCEPLAB_FAIL_BADREQUEST = 2, SCEPLAB_FAIL_BADTIME = 3,
  SCEPLAB_FAIL_BADCERTID = 4
};

/* The names of SCEP's numbers, in one table (scepnames.c): messageType ("PKCSReq"), pkiStatus
 * ("PENDING"), failInfo ("badCertId"). name: NULL when unknown; code: -1 when unknown; name_at
 * walks a table (NULL past its end). */
typedef enum { SCEPLAB_NAMES_MESSAGE_TYPE, SCEPLAB_NAMES_PKI_STATUS, SCEPLAB_NAMES_FAIL_INFO } sceplab_scep_names;
const char *sceplab_scep_name(sceplab_scep_names kind, int code);
int sceplab_scep_code(sceplab_scep_names kind, const char *name);
const char *sceplab_scep_name_at(sceplab_scep_names kind, size_t i, int *code);

/* Keys: "rsa:1024", "rsa:2048", "rsa:3072", "rsa:4096", "ec:p256", "ec:p384". */
EVP_PKEY *sceplab_key_generate(const char *spec, sceplab_error *err);
/* PKCS#8 or traditional PEM, or DER; never prompts (an encrypted key needs pass). */
EVP_PKEY *sceplab_key_load(const unsigned char *buf, size_t n, const char *pass, sceplab_error *err);
/* The same, but an unencrypted RSA key (PKCS#1, or PKCS#8 rsaEncryption) is read by OpenSSL's
 * built-in RSA method rather than a decoder (OpenSSL 3.0: an encoder and a decoder chain each
 * time a provider key's public key is written, X509_PUBKEY_set); it signs and decrypts in the
 * default provider, which OpenSSL exports it to on first use. For the keys of the SCEP client
 * (enroll --key, renew, a saved state); a CA's keys keep sceplab_key_load. */
EVP_PKEY *sceplab_key_load_builtin(const unsigned char *buf, size_t n, const char *pass, sceplab_error *err);
/* PKCS#8 PEM of the private key, or the public key when public_only; malloc'd. */
char *sceplab_key_pem(EVP_PKEY *key, int public_only, size_t *len);

/* Distinguished names as profiles write them ("CN=a,O=b"): RFC 4514 escapes (\, \+ \XX), quoted
 * values ("a, b"), '+' for multi-valued RDNs; encoded in the order written, as Windows does. */
X509_NAME *sceplab_dn_parse(const char *dn, sceplab_error *err);

/* Certificates from PEM/DER text (first one), and back to PEM. */
X509 *sceplab_cert_load(const unsigned char *buf, size_t n, sceplab_error *err);
/* 1 when the certificate (PEM or DER, the first of several) carries key's public key, 0 when it
 * carries another, -1 with err when it cannot be read. */
int sceplab_key_matches_cert(EVP_PKEY *key, const unsigned char *cert, size_t n, sceplab_error *err);
char *sceplab_cert_pem(X509 *x);

/* Signatures over bytes (a JSON Web Token's RS256: md "sha256" with an RSA key): the signature,
 * malloc'd, or NULL with err; and its check with a certificate or public key (PEM or DER): 1
 * good, 0 bad, -1 with err when the key cannot be read. */
unsigned char *sceplab_key_sign(EVP_PKEY *key, const char *md, const unsigned char *data, size_t n, size_t *siglen,
                                sceplab_error *err);
int sceplab_sig_verify(const unsigned char *pub, size_t pub_len, const char *md, const unsigned char *data,
                       size_t n, const unsigned char *sig, size_t siglen, sceplab_error *err);

#ifdef __cplusplus
}
#endif
#endif
