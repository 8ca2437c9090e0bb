/* The HTTP/1.1 server under `sceplab serve`, on libevent's listener and bufferevents (OpenSSL
 * bufferevents for HTTPS), one event loop on the caller's thread.
 *
 * libevent 2.1's evhttp parses well but gives no hook where a server on a hostile network needs
 * one: no connection count or per-address limit (its accept loop spins on EMFILE), no deadline a
 * trickle cannot reset (its timeout restarts with every byte), and it keeps reading a connection
 * into memory while an answer is pending (pipelining grew a server to gigabytes). So the
 * connections are handled here, and every limit is a parameter.
 *
 * libevent is used here and nowhere else: the rest of the server sees requests already routed
 * by path (a route table), their path decoded, and parameters read with sceplab_httpd_param. */
#ifndef SCEPLAB_HTTPD_H
#define SCEPLAB_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "sceplab/error.h"

typedef enum { SCEPLAB_HTTPD_GET = 1, SCEPLAB_HTTPD_POST, SCEPLAB_HTTPD_HEAD, SCEPLAB_HTTPD_OTHER } sceplab_httpd_method;

/* A request read whole (line, headers, body), as the handler sees it. */
typedef struct sceplab_httpd_req {
  sceplab_httpd_method method;
  const char *method_name;      /* as sent */
  const char *target;           /* the request-target as sent (path and query) */
  const char *raw_path;         /* its path as sent, or NULL when the target does not parse */
  const char *path;             /* the same percent-decoded, or NULL (undecodable, or a %00 in it) */
  const char *query;            /* its query as sent, or NULL */
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
  int park;                     /* no answer yet: the request is kept, unread input waits, and the
                                 * handler is called again with it at sceplab_httpd_resume (what
                                 * it waits for, an API call, completes on another thread) */
  int close;                    /* close the connection once it is sent */
  int drop;                     /* close it with no answer at all (after delay_ms when set): a
                                 * server that is down, or one that accepts and never answers */
  int substatus;                /* for the server's log (IIS's sc-substatus, sc-win32-status) */
  unsigned win32;
} sceplab_httpd_resp;

typedef void (*sceplab_httpd_handler)(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp);

/* A route: the (decoded) paths it answers, compared without case (a path ending in '*' answers
 * every path it starts, e.g. OCSP's GET /ocsp/BASE64), and the methods it takes
 * (a bit 1 << method each; 0: all); a request no route takes goes to the fallback. */
typedef struct sceplab_httpd_route {
  const char *const *paths;     /* NULL-terminated */
  unsigned methods;
  sceplab_httpd_handler handler;
  void *ud;
} sceplab_httpd_route;
#define SCEPLAB_HTTPD_ROUTES_MAX 8

/* The first header named name (case-insensitive), or NULL. */
const char *sceplab_httpd_header(const sceplab_httpd_req *rq, const char *name);

/* The reason phrase of a status. */
const char *sceplab_httpd_reason(int status);

/* The value of parameter name in a query string or a form body (application/x-www-form-urlencoded),
 * percent-decoded: malloc'd, or NULL when it is not there. */
char *sceplab_httpd_param(const char *query, size_t len, const char *name);

typedef struct sceplab_httpd_params {
  const char *bind;             /* address or name to listen on */
  unsigned port;                /* 0: any free port */
  int listen_fd;                /* > 0: a listening socket made already (sceplab_httpd_listen; a supervisor's,
                                 * shared by its workers) instead of bind and port */
  int admin_fd;                 /* > 0: a second listening socket, plain HTTP, whose requests go to
                                 * admin_route alone (/metrics) */
  sceplab_httpd_route admin_route;
  unsigned drain_ms;            /* SIGTERM: how long requests in flight may take to finish (0: 10 s) */
  SSL_CTX *ssl;                 /* HTTPS when set */
  unsigned max_connections;     /* open at once; 0: what RLIMIT_NOFILE allows after a reserve, at most 1024 */
  unsigned max_per_client;      /* open at once from one address; 0: 64 */
  unsigned header_ms;           /* the request line and headers, from the first byte (or the accept) */
  unsigned body_ms;             /* the body, from the end of the headers */
  unsigned idle_ms;             /* an idle keep-alive connection, between requests */
  unsigned write_ms;            /* an answer, from the end of the request */
  size_t max_head;              /* request line and headers, bytes */
  size_t max_body;              /* body, bytes (larger: 413) */
  sceplab_httpd_route routes[SCEPLAB_HTTPD_ROUTES_MAX];
  size_t nroutes;
  sceplab_httpd_handler fallback; /* what no route takes */
  /* each request answered, once its answer is set (before any delay), with the milliseconds it took */
  void (*answered)(void *ud, const sceplab_httpd_req *rq, const sceplab_httpd_resp *resp, long taken_ms);
  void (*warn)(void *ud, const char *line); /* rate-limited: at most one line per kind every 10 s */
  void (*busy)(void *ud, int delta); /* a request's first byte came (+1), its answer went out or it ended (-1) */
  void (*hup)(void *ud);        /* SIGHUP, on the loop; NULL: SIGHUP is not watched */
  /* a socket shared by workers: this one's open connections changed to n (-1: it stopped accepting);
   * nonzero when another worker holds fewer, and should take the next connection */
  int (*spread)(void *ud, int n);
  /* an answer that follows a commit waits until the commit is on disk (a store syncing behind the
   * loop): commits() counts the commits made so far; durable(n) is 1 once the first n are on disk,
   * 0 not yet, -1 when their sync failed (the answer becomes a 500); sceplab_httpd_durable is
   * called when more became durable. NULL: an answer goes out as soon as it is set. */
  uint64_t (*commits)(void *ud);
  int (*durable)(void *ud, uint64_t n);
  /* work the server has in flight besides its connections (nonzero: some); a drain ends when the
   * connections and it are done (sceplab_httpd_check_drained after it may have ended). NULL: none */
  int (*pending)(void *ud);
  void *ud;
} sceplab_httpd_params;

typedef struct sceplab_httpd sceplab_httpd;

/* Listens on p->bind and p->port with an event loop of its own: the server, or NULL with err
 * (SCEPLAB_E_USAGE for an address that cannot be bound or limits the descriptors cannot hold). */
sceplab_httpd *sceplab_httpd_new(const sceplab_httpd_params *p, sceplab_error *err);
/* A listening socket on bind and port (non-blocking, close-on-exec): the descriptor with *bound
 * its port, or -1 with err (SCEPLAB_E_USAGE for a name that does not resolve, SCEPLAB_E_NETWORK
 * for an address that cannot be bound). */
int sceplab_httpd_listen(const char *bind, unsigned port, unsigned *bound, sceplab_error *err);
/* Serves on the caller's thread until SIGINT (at once) or SIGTERM (drained: no new connection is
 * accepted, idle ones are closed, requests in flight are answered, within drain_ms): 0, or -1 with err. */
int sceplab_httpd_run(sceplab_httpd *h, sceplab_error *err);
/* Hands every parked request to its handler again (each may park once more). */
void sceplab_httpd_resume(sceplab_httpd *h);
/* A drain whose connections are all done ends once params.pending says nothing is in flight. */
void sceplab_httpd_check_drained(sceplab_httpd *h);
/* Sends the answers whose commits became durable (params.durable). */
void sceplab_httpd_durable(sceplab_httpd *h);
/* Calls cb when fd becomes readable, before the requests that became readable with it. */
int sceplab_httpd_watch(sceplab_httpd *h, int fd, void (*cb)(void *ud, int fd), void *ud, sceplab_error *err);
unsigned sceplab_httpd_port(const sceplab_httpd *h);
/* The address listened on is a loopback one (127.0.0.0/8, ::1). */
int sceplab_httpd_loopback(const sceplab_httpd *h);
/* The connection limit in force (the one computed when 0 was asked). */
unsigned sceplab_httpd_max_connections(const sceplab_httpd *h);
/* Closes every connection and the listener. */
void sceplab_httpd_free(sceplab_httpd *h);

#endif
