/* scep/: the SCEP client, the server's message handling and the HTTP transports (the public side
 * is sceplab/scep.h and sceplab/http.h). This is its private header. */
#ifndef SCEPLAB_SCEP_INT_H
#define SCEPLAB_SCEP_INT_H

#include "base/base_int.h"
#include "pki/pki_int.h"
#include "sceplab/http.h"
#include "sceplab/scep.h"
#include "sceplab/version.h"

/* SCEP's signed attributes (RFC 8894 3.2.1) and Microsoft's extensions. */
#define OID_SCEP_MESSAGETYPE "2.16.840.1.113733.1.9.2"
#define OID_SCEP_PKISTATUS "2.16.840.1.113733.1.9.3"
#define OID_SCEP_FAILINFO "2.16.840.1.113733.1.9.4"
#define OID_SCEP_SENDERNONCE "2.16.840.1.113733.1.9.5"
#define OID_SCEP_RECIPIENTNONCE "2.16.840.1.113733.1.9.6"
#define OID_SCEP_TRANSID "2.16.840.1.113733.1.9.7"
#define OID_FAILINFOTEXT "1.3.6.1.5.5.7.24.1"
#define OID_MS_UPN "1.3.6.1.4.1.311.20.2.3"
#define OID_MS_TEMPLATE_NAME "1.3.6.1.4.1.311.20.2"

/* csr.c: sha256 (the default, name NULL), sha512, sha1 (also as "SHA-256" ...); NULL otherwise. */
const EVP_MD *sceplab_digest_by_name(const char *name);

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
