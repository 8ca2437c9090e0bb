/* Internal helpers shared by the decoders of libsceplab; not installed. */
#ifndef SCEPLAB_INTERNAL_H
#define SCEPLAB_INTERNAL_H

#include <libxml/tree.h>
#include <openssl/x509.h>

#include "sceplab/sceplab.h"
#include "optlib.h"

/* XML: parse with the network off and no entity expansion; element names are matched by local
 * name so documents with and without a default namespace read the same. */
xmlDoc *sceplab_xml_read(const unsigned char *buf, size_t n, const char *what, sceplab_error *err);
int sceplab_xml_is(const xmlNode *node, const char *local);
xmlNode *sceplab_xml_child(const xmlNode *parent, const char *local);
xmlNode *sceplab_xml_path(const xmlNode *node, const char *slash_path);
/* Trimmed text content, malloc'd (never NULL unless out of memory). */
char *sceplab_xml_text(const xmlNode *node);

/* X.509 descriptions shared by the certificate, CSR, SyncML and pkiMessage decoders. */
sceplab_val *sceplab_x509_describe(X509 *x);
sceplab_val *sceplab_x509_req_describe(X509_REQ *req, const sceplab_decode_opts *opts);
sceplab_val *sceplab_name_val(const X509_NAME *name);     /* RFC 4514 string */
sceplab_val *sceplab_name_rdns(const X509_NAME *name);    /* [{type, value}] in encoded order */
sceplab_val *sceplab_oid_val(const ASN1_OBJECT *obj);     /* {oid, name} */
char *sceplab_thumbprint(X509 *x, const EVP_MD *md);      /* upper-case hex, malloc'd */
char *sceplab_serial_hex(const ASN1_INTEGER *s);           /* a serial number as upper-case hex, malloc'd */
/* Read every certificate in buf (PEM, DER, PKCS#7 certs-only); NULL with err on failure. */
STACK_OF(X509) *sceplab_read_certs(const unsigned char *buf, size_t n, sceplab_error *err);

/* A secret rendered for display: the value itself with show_secrets, else a redaction marker. */
sceplab_val *sceplab_secret_val(const char *s, size_t n, const sceplab_decode_opts *opts);

/* ISO 8601 UTC from an ASN1_TIME; writes "" when it cannot be read. */
void sceplab_asn1_time_iso(const ASN1_TIME *t, char *out, size_t outlen);

/* OpenSSL helpers (ossl.c). */
int sceplab_pem_pass_cb(char *buf, int size, int rwflag, void *u);
/* Decrypts a CMS EnvelopedData into out; retries single DES in a private legacy context and sets
 * *legacy when that was needed. Returns 0 or an error code. */
int sceplab_envelope_open(const unsigned char *der, size_t n, EVP_PKEY *key, X509 *cert, BIO *out,
                          int *legacy, sceplab_error *err);

/* A random (version 4) GUID, lower-case hex, groups separated by sep ('-', or '_' as Intune's
 * logical names write them), in braces when braces (as .NET's activity IDs print). */
void sceplab_guid(char *out, size_t n, char sep, int braces);

/* A decoder's last step: the tree, or NULL with "out of memory" when any part failed to allocate. */
sceplab_val *sceplab_done(sceplab_val *v, sceplab_error *err);

/* The root element when it is named name; else NULL with "<what>: root element is <x>, expected <name>". */
xmlNode *sceplab_xml_root(xmlDoc *doc, const char *name, const char *what, sceplab_error *err);

/* Parse a decimal integer field strictly; returns 0 on success. */
int sceplab_parse_i64(const char *s, int64_t *out);

/* http_plain.c: plain HTTP/1.1 without libcurl, for http:// URLs with no proxy and no redirects
 * to follow (http.c decides). A connection kept open between requests of a session. */
typedef struct sceplab_plain_conn sceplab_plain_conn;
int sceplab_plain_eligible(const sceplab_http_opts *o, const char *method, const char *url);
/* 0 with r filled; -1 with r->curl_error and r->curl_code saying what failed, and *declared the
 * Content-Length when one was given (for "cut short after N of M bytes"). */
int sceplab_plain_request(sceplab_plain_conn **conn, const sceplab_http_opts *o, const char *method, const char *url,
                          const unsigned char *body, size_t body_len, const char *content_type, sceplab_http_resp *r,
                          long long *declared);
void sceplab_plain_close(sceplab_plain_conn *c);

#endif
