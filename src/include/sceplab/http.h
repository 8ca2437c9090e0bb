/* sceplab: HTTP(S) transport for SCEP (libcurl), with the timings and TLS details a diagnosis needs. */
#ifndef SCEPLAB_HTTP_H
#define SCEPLAB_HTTP_H

#include <stddef.h>

#include "sceplab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sceplab_http_opts {
  const char *proxy;          /* proxy URL, or NULL for none (environment proxies are not used) */
  const char *cacert;         /* CA bundle file for TLS, or NULL for the system store */
  const char *pin_sha256;     /* hex SHA-256 of the server certificate: trusted instead of the CA store */
  int insecure;               /* skip TLS verification entirely (explicit only) */
  long timeout_ms;            /* whole request; 0 means 30 s */
  long connect_timeout_ms;    /* 0 means 10 s */
  int follow_redirects;
  size_t max_body;            /* larger bodies are cut and flagged; 0 means 16 MiB */
  const char *user_agent;
  const char *headers;        /* more request header lines, each "Name: value\r\n", or NULL (an API's
                               * Authorization and api-version) */
} sceplab_http_opts;

typedef struct sceplab_http_resp {
  long status;                /* 0 when no HTTP answer came back */
  char *headers;              /* raw header block of the final response */
  unsigned char *body;
  size_t body_len;
  int truncated;              /* body cut at max_body */
  char *content_type;
  char *server;               /* Server header */
  char *tls_chain_pem;        /* the server's certificate chain as presented, HTTPS only */
  double t_dns, t_connect, t_tls, t_first_byte, t_total; /* seconds */
  long redirects;
  char *effective_url;
  int curl_code;              /* 0 when the transfer completed */
  int reused;                 /* sent on a connection an earlier request of the session opened */
  char curl_error[256];
} sceplab_http_resp;

/* A session keeps its connections open between requests, as devices do: an enrollment's
 * GetCACaps, GetCACert and PKIOperation then share one TCP connection and one TLS handshake.
 * A request whose proxy or TLS options (CA bundle, pin, insecure) differ from the session's
 * previous request starts over on new connections, so trust decided under one set of options
 * never carries over to another. On a reused connection there is no handshake, so tls_chain_pem
 * is NULL and the connect and TLS timings are 0. One session per thread. */
typedef struct sceplab_http_session sceplab_http_session;

sceplab_http_session *sceplab_http_session_new(void);
void sceplab_http_session_free(sceplab_http_session *s);

/* Performs one request. Returns 0 when an HTTP response was received (whatever its status), or
 * SCEPLAB_E_NETWORK with err naming the failure (DNS, connect, TLS, timeout). resp is filled in
 * either case and must be released with sceplab_http_resp_free. */
int sceplab_http_request(const sceplab_http_opts *o, const char *method, const char *url,
                         const unsigned char *body, size_t body_len, const char *content_type,
                         sceplab_http_resp *resp, sceplab_error *err);
/* The same, on the session's connections (a new handle and connection when s is NULL). */
int sceplab_http_request_in(sceplab_http_session *s, const sceplab_http_opts *o, const char *method,
                            const char *url, const unsigned char *body, size_t body_len, const char *content_type,
                            sceplab_http_resp *resp, sceplab_error *err);
void sceplab_http_resp_free(sceplab_http_resp *resp);

/* The same request on a thread of its own, for a caller whose loop must go on (serve asking
 * Intune's API): started after delay_ms (a retry's backoff; no url: only the delay), it writes 1
 * (8 bytes, as to an eventfd) to notify_fd (-1: none) when it ends. done says whether it ended;
 * result then hands over its response (as sceplab_http_request's); free waits for it to end. */
typedef struct sceplab_http_job sceplab_http_job;
sceplab_http_job *sceplab_http_job_start(const sceplab_http_opts *o, const char *method, const char *url,
                                         const unsigned char *body, size_t body_len, const char *content_type,
                                         unsigned delay_ms, int notify_fd, sceplab_error *err);
int sceplab_http_job_done(const sceplab_http_job *j);
int sceplab_http_job_result(sceplab_http_job *j, sceplab_http_resp *resp, sceplab_error *err);
void sceplab_http_job_free(sceplab_http_job *j);

#ifdef __cplusplus
}
#endif
#endif
