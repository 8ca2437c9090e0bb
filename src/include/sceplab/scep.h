/* sceplab: the SCEP protocol (RFC 8894): CSRs, pkiMessages and the strict verification of replies
 * on the client side, requests and CertReps on the server side. Keys, names, certificates and
 * SCEP's numbers are in pki.h (included); transport is in http.h. */
#ifndef SCEPLAB_SCEP_H
#define SCEPLAB_SCEP_H

#include <stddef.h>

#include <openssl/types.h>
#include <openssl/x509.h>

#include "sceplab/error.h"
#include "sceplab/pki.h"
#include "sceplab/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SCEPLAB_NONCE_LEN 16

typedef struct sceplab_san {
  const char *type;   /* email, dns, uri, upn, ip */
  const char *value;
} sceplab_san;

typedef struct sceplab_csr_params {
  const char *subject;
  const sceplab_san *sans;
  size_t nsans;
  const char *const *ekus;     /* OIDs or OpenSSL short names */
  size_t nekus;
  const char *const *key_usage; /* names: digitalSignature, keyEncipherment, ... */
  size_t nkey_usage;
  const char *challenge;        /* challengePassword, or NULL */
  const char *template_name;    /* Microsoft certificate template name extension, or NULL */
  const char *digest;           /* sha256 (default), sha512, sha1 */
} sceplab_csr_params;

/* DER of a signed PKCS#10 request; malloc'd. */
unsigned char *sceplab_csr_build(const sceplab_csr_params *p, EVP_PKEY *key, size_t *len, sceplab_error *err);

/* A short-lived self-signed certificate for signing a PKCSReq (RFC 8894 2.3). */
X509 *sceplab_selfsigned(EVP_PKEY *key, const X509_NAME *subject, const char *digest, sceplab_error *err);

/* RFC 8894 transactionID: hex SHA-256 of the DER SubjectPublicKeyInfo; malloc'd. */
char *sceplab_transaction_id(EVP_PKEY *key);

typedef struct sceplab_pkimsg_params {
  int message_type;
  const unsigned char *content;     /* DER to envelope (CSR, IssuerAndSubject, IssuerAndSerial) */
  size_t content_len;
  X509 *recipient;                   /* the RA or CA certificate to encrypt to */
  const char *cipher;                /* aes128, aes256, des3 */
  int oaep;                          /* RSA-OAEP key transport instead of PKCS#1 v1.5 */
  const char *digest;                /* sha256, sha512, sha1 */
  X509 *signer_cert;
  EVP_PKEY *signer_key;
  const char *transaction_id;
  const unsigned char *sender_nonce; /* SCEPLAB_NONCE_LEN bytes */
  /* For CertRep (the server side): */
  int pki_status;                    /* 0 SUCCESS, 2 FAILURE, 3 PENDING; -1 to omit */
  int fail_info;                     /* 0..4 with FAILURE; -1 to omit */
  const unsigned char *recipient_nonce; /* SCEPLAB_NONCE_LEN bytes, or NULL */
  int no_content;                    /* no envelope at all (FAILURE and PENDING replies) */
} sceplab_pkimsg_params;

/* DER of the pkiMessage; malloc'd. */
unsigned char *sceplab_pkimsg_build(const sceplab_pkimsg_params *p, size_t *len, sceplab_error *err);

typedef struct sceplab_reply_expect {
  const char *transaction_id;        /* must be equal */
  const unsigned char *sender_nonce; /* our senderNonce: the reply's recipientNonce must be equal */
  STACK_OF(X509) *signers;           /* certificates allowed to sign the reply (RA signer, CA) */
  EVP_PKEY *key;                     /* opens the envelope */
  X509 *cert;                        /* our certificate the server encrypted to */
  EVP_PKEY *request_key;             /* the issued certificate must carry this public key, or NULL */
} sceplab_reply_expect;

/* Verifies a CertRep strictly. Returns {status, fail_info?, fail_info_text?, transaction_id,
 * checks: [{name, ok, detail}], certificate_pem?, chain_pem?, crl_pem?, certificates?}; NULL with
 * err (SCEPLAB_E_CRYPTO, message "reply refused: <check>: ...") when a check fails. */
sceplab_val *sceplab_reply_verify(const unsigned char *der, size_t n, const sceplab_reply_expect *x,
                                  sceplab_error *err);

/* Parses a GetCACaps body: {caps: [...as sent], aes, des3, sha256, sha512, sha1, post, renewal,
 * getnextca, scep_standard, update}; SCEPStandard implies AES, POSTPKIOperation and SHA-256. */
sceplab_val *sceplab_caps_parse(const char *text, size_t n);

/* Chooses the CA, the recipient and the signer certificates from a GetCACert answer (one DER
 * certificate or a degenerate PKCS#7). ndes: ignore RA key usages (NDES split RA certificates are
 * still preferred by usage but a mismatch is not fatal). Returns {ca, recipient, signer,
 * certificates, reasons} with certificates as PEM. */
sceplab_val *sceplab_ca_select(const unsigned char *buf, size_t n, int ndes, sceplab_error *err);

/* The first certificate of buf (PEM, DER or PKCS#7), as sceplab_cert_load, for a certificate the
 * client encrypts to or verifies with (the CA's, an RA's, its own signer's): an RSA key is decoded
 * by OpenSSL's built-in method (faster than OpenSSL 3.0's decoders), unless another thread may be
 * using OpenSSL. */
X509 *sceplab_scep_cert_load(const unsigned char *buf, size_t n, sceplab_error *err);

/* DER of IssuerAndSubject (CertPoll) and IssuerAndSerialNumber (GetCert, GetCRL). */
unsigned char *sceplab_issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject, size_t *len);
unsigned char *sceplab_issuer_and_serial(const X509_NAME *issuer, const ASN1_INTEGER *serial, size_t *len);

/* GetNextCACert's answer (RFC 8894 4.7.1): a SignedData by one of signers (the current CA or its
 * RA) over a certificates-only PKCS#7. Returns {certificates = [PEM...], signer}, or NULL with err
 * (SCEPLAB_E_CRYPTO when no given signer signed it, SCEPLAB_E_INPUT when malformed). */
sceplab_val *sceplab_next_ca_verify(const unsigned char *buf, size_t n, STACK_OF(X509) *signers, sceplab_error *err);

/* ---- The server side (sceplab serve) ---- */

/* A PKIOperation request opened with the RA's key. fail_info >= 0 when it cannot be served: the
 * reply is then a CertRep FAILURE with that failInfo, and why says what was wrong. */
typedef struct sceplab_scep_request {
  int message_type;
  char transaction_id[130];
  unsigned char sender_nonce[SCEPLAB_NONCE_LEN + 1];
  int has_nonce;
  X509 *signer;                 /* the requester's certificate (self-signed, or the one renewed) */
  int signature_ok;
  char cipher[16];              /* the envelope's content cipher: aes128, aes192, aes256, des3, des */
  char digest[16];              /* the signature's digest: sha1, sha256, sha512 */
  int oaep;                     /* RSA-OAEP key transport (Windows) */
  unsigned char *content;       /* the envelope opened: the CSR, IssuerAndSubject or IssuerAndSerial */
  size_t content_len;
  char *challenge;              /* the CSR's challengePassword, or NULL */
  X509_REQ *csr;                /* PKCSReq, RenewalReq: the request, parsed and its signature verified */
  ASN1_INTEGER *serial;         /* GetCert, GetCRL: the serial asked for */
  int fail_info;
  char why[300];
} sceplab_scep_request;

/* 0 with rq filled (perhaps with fail_info set), or -1 with err when it is no pkiMessage a CertRep
 * could answer (not CMS, no signer certificate, no transactionID or messageType). Single DES is
 * refused (badAlg) unless flags has SCEPLAB_SCEP_ALLOW_DES (micromdm's scepclient sends nothing else). */
#define SCEPLAB_SCEP_ALLOW_DES 1u
int sceplab_scep_request_open(const unsigned char *der, size_t n, EVP_PKEY *ra_key, X509 *ra_cert, unsigned flags,
                              sceplab_scep_request *rq, sceplab_error *err);
void sceplab_scep_request_free(sceplab_scep_request *rq);
/* The CertRep for rq: pki_status 0/2/3, fail_info with FAILURE, content (a certificates-only
 * PKCS#7) enveloped to the requester with the request's cipher, key transport and digest. */
unsigned char *sceplab_scep_reply(const sceplab_scep_request *rq, int pki_status, int fail_info,
                                  const unsigned char *content, size_t content_len, X509 *ra_cert, EVP_PKEY *ra_key,
                                  size_t *len, sceplab_error *err);
/* A certificates-only PKCS#7 of certs (and a CRL, DER, or NULL); malloc'd DER. */
unsigned char *sceplab_degenerate(X509 *const *certs, size_t ncerts, const unsigned char *crl_der, size_t crl_len,
                                  size_t *len, sceplab_error *err);

#ifdef __cplusplus
}
#endif
#endif
