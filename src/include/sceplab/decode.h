/* sceplab: decoders for what Intune and SCEP send.
 *
 * Every decoder takes bytes, returns a document tree (value.h) or NULL with err set. Expected
 * failures (malformed input) give SCEPLAB_E_INPUT with a one-line reason that names the field or
 * offset. Secrets (challenges, challengePassword) are redacted unless opts->show_secrets. */
#ifndef SCEPLAB_DECODE_H
#define SCEPLAB_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "sceplab/error.h"
#include "sceplab/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sceplab_kind {
  SCEPLAB_KIND_UNKNOWN = 0,
  SCEPLAB_KIND_SYNCML,        /* OMA-DM SyncML 1.2 */
  SCEPLAB_KIND_TOKEN,         /* Intune CertEnrollToken */
  SCEPLAB_KIND_INTUNE_ID,     /* Intune request identifier */
  SCEPLAB_KIND_CERTIFICATES,  /* X.509 certificates: PEM, DER, PKCS#7 certs-only */
  SCEPLAB_KIND_CSR,           /* PKCS#10 request */
  SCEPLAB_KIND_PKIMESSAGE,    /* SCEP pkiMessage */
  SCEPLAB_KIND_CRS,           /* Intune connector CertRequestStatus */
  SCEPLAB_KIND_MOBILECONFIG   /* Apple configuration profile (plain or signed) */
} sceplab_kind;

const char *sceplab_kind_name(sceplab_kind k);
sceplab_kind sceplab_kind_from_name(const char *name);

typedef struct sceplab_decode_opts {
  const unsigned char *key;   /* recipient private key (PEM or DER) to open pkiMessage envelopes */
  size_t keylen;
  const char *key_pass;       /* passphrase for an encrypted PEM key, or NULL */
  int show_secrets;           /* print challenges and challengePassword in clear */
} sceplab_decode_opts;

/* Content detection. Transport layers (UTF-16, URL encoding, a `message=` parameter, base64, PEM
 * armour) are peeled off and recorded in layers; data is what the kind's decoder receives. */
typedef struct sceplab_detected {
  sceplab_kind kind;
  unsigned char *data;
  size_t len;
  char layers[160];  /* comma-separated, outermost first, e.g. "url-encoded,base64,der" */
  char why[256];     /* one sentence: what in the content decided the kind */
} sceplab_detected;

int sceplab_detect(const unsigned char *buf, size_t n, sceplab_detected *out, sceplab_error *err);
void sceplab_detected_free(sceplab_detected *d);

/* Detect, then decode. The result object starts with "kind", "layers" and "detected_by". */
sceplab_val *sceplab_decode(const unsigned char *buf, size_t n, const sceplab_decode_opts *opts,
                            sceplab_error *err);

/* Decode as a given kind (after the same layer peeling as sceplab_decode). */
sceplab_val *sceplab_decode_as(sceplab_kind kind, const unsigned char *buf, size_t n,
                               const sceplab_decode_opts *opts, sceplab_error *err);

/* Per-kind decoders on already-unwrapped data. */
sceplab_val *sceplab_syncml_parse(const unsigned char *buf, size_t n, const sceplab_decode_opts *opts,
                                  sceplab_error *err);
sceplab_val *sceplab_token_parse(const unsigned char *buf, size_t n, const sceplab_decode_opts *opts,
                                 sceplab_error *err);
sceplab_val *sceplab_certs_parse(const unsigned char *buf, size_t n, sceplab_error *err);
sceplab_val *sceplab_csr_parse(const unsigned char *buf, size_t n, const sceplab_decode_opts *opts,
                               sceplab_error *err);
/* The same document for a request already parsed (the server hands it to a policy without
 * decoding it again: each decode of a public key costs OpenSSL 3.0 a decoder run). */
sceplab_val *sceplab_csr_describe(X509_REQ *req, const sceplab_decode_opts *opts);
sceplab_val *sceplab_pkimsg_parse(const unsigned char *buf, size_t n, const sceplab_decode_opts *opts,
                                  sceplab_error *err);
sceplab_val *sceplab_crs_parse(const unsigned char *buf, size_t n, sceplab_error *err);
sceplab_val *sceplab_mobileconfig_parse(const unsigned char *buf, size_t n,
                                        const sceplab_decode_opts *opts, sceplab_error *err);
/* Structural description of any CMS / PKCS#7 blob (content type, recipients, signers, sizes). */
sceplab_val *sceplab_cms_describe(const unsigned char *der, size_t n, sceplab_error *err);

/* Intune request identifiers.
 * Windows UniqueID:      ModelName_AC_<guid>_LogicalName_<id>_Hash_<n>
 * CertificateRequestId:  ModelName=AC_<guid>/LogicalName_<id>;Version=<n>;Hash=<n>
 * Android / iOS:         the same with '/' written %2F, sometimes truncated with "..." in logs.
 * All parse into one structure whose canonical string is the same for every platform. */
typedef struct sceplab_intune_id {
  char account[64];     /* the AC_ guid, lower case (may be a truncated prefix) */
  char logical[128];    /* the LogicalName suffix, e.g. 3b597a2d_27d2_45ff_bca6_57d2db6f17fb */
  long version;         /* -1 when absent */
  int64_t hash;
  int truncated;        /* the log elided part of the account or logical name */
  char form[24];        /* "windows-uniqueid", "request-id", "url-encoded" */
  char canonical[256];  /* AC_<account>/LogicalName_<logical>;Hash=<hash> */
  size_t start, end;    /* where it was found in the scanned text */
} sceplab_intune_id;

/* Find the first Intune identifier in text. Returns 1 when found, 0 otherwise. */
int sceplab_intune_id_scan(const char *s, size_t n, sceplab_intune_id *out);
sceplab_val *sceplab_intune_id_to_val(const sceplab_intune_id *id);
sceplab_val *sceplab_intune_id_parse(const char *s, size_t n, sceplab_error *err);

/* Longest input any decoder accepts, so a runaway file is refused rather than read to exhaustion. */
#define SCEPLAB_DECODE_MAX_INPUT (64u * 1024u * 1024u)

#ifdef __cplusplus
}
#endif
#endif
