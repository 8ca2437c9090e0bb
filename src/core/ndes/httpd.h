/* The HTTP/1.1 server under `sceplab serve`, on libevent's listener and bufferevents (OpenSSL
 * bufferevents for HTTPS), one event loop on the caller's thread.
 *
 * libevent 2.1's evhttp parses well but gives no hook where a server on a hostile network needs
 * one: no connection count or per-address limit (its accept loop spins on EMFILE), no deadline a
 * trickle cannot reset (its timeout restarts with every byte), and it keeps reading a connection
 * into memory while an answer is pending (pipelining grew a server to gigabytes). So the
 * connections are handled here, and every limit is a parameter. */
#ifndef SCEPLAB_HTTPD_H
#define SCEPLAB_HTTPD_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "sceplab/error.h"

struct event_base;

typedef enum { SCEPLAB_HTTPD_GET = 1, SCEPLAB_HTTPD_POST, SCEPLAB_HTTPD_HEAD, SCEPLAB_HTTPD_OTHER } sceplab_httpd_method;

/* A request read whole (line, headers, body), as the handler sees it. */
typedef struct sceplab_httpd_req {
  sceplab_httpd_method method;
  const char *method_name;      /* as sent */
  const char *target;           /* the request-target as sent (path and query) */
  int minor;                    /* HTTP/1.minor */
  char *const *headers;         /* name, value, name, value, ... (2 * nheaders) */
  size_t nheaders;
  const unsigned char *body;
  size_t body_len;
  const char *peer;             /* the client's address */
} sceplab_httpd_req;

/* The handler's answer. body is malloc'd; the server frees it. */
typedef struct sceplab_httpd_resp {
  int status;
  const char *type;             /* Content-Type, or NULL */
  unsigned char *body;
  size_t len;
  char headers[256];            /* more header lines, each "Name: value\r\n" */
  unsigned delay_ms;            /* send it this much later (without blocking the loop) */
  int close;                    /* close the connection once it is sent */
} sceplab_httpd_resp;

/* The first header named name (case-insensitive), or NULL. */
const char *sceplab_httpd_header(const sceplab_httpd_req *rq, const char *name);

/* The reason phrase of a status. */
const char *sceplab_httpd_reason(int status);

typedef struct sceplab_httpd_params {
  const char *bind;             /* address or name to listen on */
  unsigned port;                /* 0: any free port */
  SSL_CTX *ssl;                 /* HTTPS when set */
  unsigned max_connections;     /* open at once; 0: what RLIMIT_NOFILE allows after a reserve, at most 1024 */
  unsigned max_per_client;      /* open at once from one address; 0: 64 */
  unsigned header_ms;           /* the request line and headers, from the first byte (or the accept) */
  unsigned body_ms;             /* the body, from the end of the headers */
  unsigned idle_ms;             /* an idle keep-alive connection, between requests */
  unsigned write_ms;            /* an answer, from the end of the request */
  size_t max_head;              /* request line and headers, bytes */
  size_t max_body;              /* body, bytes (larger: 413) */
  void (*handler)(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp);
  void (*warn)(void *ud, const char *line); /* rate-limited: at most one line per kind every 10 s */
  void *ud;
} sceplab_httpd_params;

typedef struct sceplab_httpd sceplab_httpd;

/* Listens on p->bind and p->port in base's loop: the server, or NULL with err (SCEPLAB_E_USAGE
 * for an address that cannot be bound or limits the descriptors cannot hold). */
sceplab_httpd *sceplab_httpd_new(struct event_base *base, const sceplab_httpd_params *p, sceplab_error *err);
unsigned sceplab_httpd_port(const sceplab_httpd *h);
/* The address listened on is a loopback one (127.0.0.0/8, ::1). */
int sceplab_httpd_loopback(const sceplab_httpd *h);
/* The connection limit in force (the one computed when 0 was asked). */
unsigned sceplab_httpd_max_connections(const sceplab_httpd *h);
/* Closes every connection and the listener. */
void sceplab_httpd_free(sceplab_httpd *h);

#endif
