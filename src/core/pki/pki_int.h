/* pki/: keys, names, certificates and the OpenSSL helpers every layer above shares (the public
 * side is sceplab/pki.h). This is its private header. */
#ifndef SCEPLAB_PKI_INT_H
#define SCEPLAB_PKI_INT_H

#include <stddef.h>

#include <openssl/bio.h>
#include <openssl/x509.h>

#include "base/base_int.h"
#include "sceplab/pki.h"

/* X.509 descriptions shared by the certificate, CSR, SyncML and pkiMessage decoders and the SCEP
 * client (x509.c). A request's challengePassword is shown only with show_secrets. */
sceplab_val *sceplab_x509_describe(X509 *x);
sceplab_val *sceplab_x509_req_describe(X509_REQ *req, int show_secrets);
sceplab_val *sceplab_name_val(const X509_NAME *name);     /* RFC 4514 string */
sceplab_val *sceplab_name_rdns(const X509_NAME *name);    /* [{type, value}] in encoded order */
sceplab_val *sceplab_oid_val(const ASN1_OBJECT *obj);     /* {oid, name} */
char *sceplab_thumbprint(X509 *x, const EVP_MD *md);      /* upper-case hex, malloc'd */
char *sceplab_serial_hex(const ASN1_INTEGER *s);           /* a serial number as upper-case hex, malloc'd */
/* ISO 8601 UTC from an ASN1_TIME; writes "" when it cannot be read. */
void sceplab_asn1_time_iso(const ASN1_TIME *t, char *out, size_t outlen);
/* Read every certificate in buf (PEM, DER, PKCS#7 certs-only); NULL with err on failure.
 * sceplab_read_certs_noted also says (in problem, "" when none) what was wrong with a chain that
 * was still read (a PEM block cut short). */
STACK_OF(X509) *sceplab_read_certs(const unsigned char *buf, size_t n, sceplab_error *err);
STACK_OF(X509) *sceplab_read_certs_noted(const unsigned char *buf, size_t n, char *problem, size_t plen,
                                         sceplab_error *err);
/* Whether buf (its first 4 KiB) holds a PEM block. */
int sceplab_is_pem(const unsigned char *buf, size_t n);
/* Every certificate of sk as PEM, one after the other; malloc'd. */
char *sceplab_certs_pem(STACK_OF(X509) *sk);

/* The Microsoft certificate template name extension (1.3.6.1.4.1.311.20.2): name (UTF-8) as a
 * BMPString, whatever characters it holds; NULL when it is no UTF-8 or no memory. */
X509_EXTENSION *sceplab_template_name_ext(const char *name);

/* keys.c: never prompts (an encrypted key needs its passphrase in u). */
int sceplab_pem_pass_cb(char *buf, int size, int rwflag, void *u);

/* rsa_decode.c: around the parse of what a device sent (d2i of its pkiMessage, CSR), RSA keys are
 * decoded by OpenSSL's built-in method rather than a decoder chain built per key (OpenSSL 3.0).
 * enter returns what leave takes; between them the thread does nothing but parse. Threads that may
 * use OpenSSL beside the serving one (sceplab_http_job) count themselves in and out, and while any
 * runs the parse takes the ordinary path. */
int sceplab_pki_rsa_decode_enter(void);
void sceplab_pki_rsa_decode_leave(int entered);
void sceplab_pki_threads(int delta);
/* An RSAPrivateKey (PKCS#1 DER) as an EVP_PKEY of OpenSSL's built-in RSA method; NULL when it is
 * not exactly one. */
EVP_PKEY *sceplab_pki_rsa_private_builtin(const unsigned char *der, long len);

/* ossl.c: decrypts a CMS EnvelopedData into out; retries single DES in a private legacy context
 * and sets *legacy when that was needed. Returns 0 or an error code. */
int sceplab_envelope_open(const unsigned char *der, size_t n, EVP_PKEY *key, X509 *cert, BIO *out,
                          int *legacy, sceplab_error *err);

/* A random (version 4) GUID, lower-case hex, groups separated by sep ('-', or '_' as Intune's
 * logical names write them), in braces when braces (as .NET's activity IDs print): 0, or -1 (out
 * then "") when no random bytes were to be had. */
int sceplab_guid(char *out, size_t n, char sep, int braces);

#endif
