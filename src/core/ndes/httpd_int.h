/* The HTTP/1.1 server's private header, shared by its files: httpd_limits.c (clients, warnings),
 * httpd_route.c (routing), httpd_conn.c (one connection's state machine) and httpd.c (the
 * listener, the loop), each calling only the ones before it. */
#ifndef SCEPLAB_HTTPD_INT_H
#define SCEPLAB_HTTPD_INT_H

#include <arpa/inet.h>
#include <time.h>

/* every libevent header optlib.h redirects (it needs them all before it) */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "ndes/httpd.h"

enum { ST_HEAD, ST_BODY, ST_DELAY, ST_WRITE, ST_IDLE, ST_LINGER, ST_PARKED, ST_SYNC };
enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };
enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };
enum { W_ACCEPT, W_FULL, W_CLIENT, W_DEADLINE, W_KINDS };

#define MAX_HEADERS 100        /* header lines in one request */
#define CLIENT_BUCKETS 256
#define FD_RESERVE 32          /* descriptors kept for the CA, its logs and the policy */
#define SPREAD_MS 2             /* a worker holding more connections than another waits this long to accept */
#define ACCEPT_PAUSE_MS 500
#define WATCH_MAX 5            /* the clock file, the tick, the wake-ups, the syncs, one spare */
#define PARK_MS 60000          /* a parked request answered 503 if nothing resumed it by then */
#define LINGER_MS 2000         /* reading what follows a refused request, so the refusal is not lost to a reset */

typedef struct client {
  struct client *next;
  unsigned char addr[16];
  int len;                      /* 4 or 16 */
  unsigned n;                   /* its open connections */
} client;

typedef struct conn {
  struct sceplab_httpd *h;
  struct conn *prev, *next;
  client *cl;
  struct bufferevent *bev;
  struct event *timer;
  char peer[INET6_ADDRSTRLEN];
  int state;
  size_t scanned;               /* bytes at the head of the input searched for an end of line */
  size_t head_len;              /* bytes of request line and headers (and trailers) taken */
  int have_line;
  char *method, *target;
  int minor;
  sceplab_httpd_method m;
  char **hdr;                   /* name, value pairs */
  size_t nhdr;
  int body_kind, chunk_state;
  size_t want;                  /* body bytes (of the chunk) still to come */
  struct evbuffer *body;
  int keep_alive, expect_continue, close_after, linger;
  int admin;                    /* accepted on the admin listener */
  int busy;                     /* a request is in flight (counted through busy) */
  sceplab_httpd_resp delayed;   /* an answer waiting for its delay (ST_DELAY) or its commits' sync (ST_SYNC) */
  uint64_t commits;             /* ST_SYNC: the commits it waits for (sceplab_httpd_params.durable) */
  double t0;                    /* ST_SYNC: when its handler began (the log's time taken) */
} conn;

struct sceplab_httpd {
  sceplab_httpd_params p;
  struct event_base *base;
  struct event *watch[WATCH_MAX]; /* descriptors watched for the server (sceplab_httpd_watch) */
  void (*watch_cb[WATCH_MAX])(void *ud, int fd);
  void *watch_ud[WATCH_MAX];
  struct evconnlistener *listener;
  struct evconnlistener *admin;  /* the admin listener (admin_fd), or NULL */
  struct event *resume;         /* ends an accept pause */
  struct event *drain_end;      /* SIGTERM: the drain's deadline */
  struct event *turn;           /* a shared socket: accepting again at the loop's next turn */
  int waiting_turn;
  int draining;
  conn *conns;
  unsigned nconns;
  int full, paused;             /* why the listener is disabled */
  unsigned port;
  int loopback;
  client *clients[CLIENT_BUCKETS];
  struct { time_t last; unsigned suppressed; } warned[W_KINDS];
};


/* httpd_limits.c */
client *httpd_client_get(sceplab_httpd *h, const struct sockaddr *sa);
void httpd_warn(sceplab_httpd *h, int kind, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;
void httpd_client_put(sceplab_httpd *h, client *cl);
void httpd_listener_update(sceplab_httpd *h);

/* httpd_route.c: a whole request, routed (admin: the admin listener's route only) and answered into
 * r (the answered hook told) */
/* Routes rq to its handler, which sets r; logs the answer (params.answered) unless it is parked,
 * dropped or held: *held when the handler committed (the answer waits for the commits' sync, and
 * httpd_logged logs it when it leaves, with the time since the returned start). */
double httpd_handle(sceplab_httpd *h, int admin, sceplab_httpd_req *rq, sceplab_httpd_resp *r, int *held);
void httpd_logged(sceplab_httpd *h, sceplab_httpd_req *rq, const sceplab_httpd_resp *r, double t0);

/* httpd_conn.c */
/* A new connection on fd from cl: read from now on (it closes fd when it cannot be made). */
void httpd_conn_open(sceplab_httpd *h, client *cl, evutil_socket_t fd, const struct sockaddr *sa, int admin);
void httpd_conn_free(conn *c);
/* SIGTERM: idle connections closed, the others closed once answered; the loop ends with the last. */
void httpd_conn_drain(sceplab_httpd *h);
/* A request's first byte (+1) or its end (-1), for the busy hook. */
void httpd_conn_busy(conn *c, int busy);
/* httpd_read.c: the request line and headers (c->state ST_HEAD), then the body (ST_BODY), from in:
 * 1 when whole, 0 when more is to come, -status when it is to be refused with that status. */
int httpd_read_head(conn *c, struct evbuffer *in);
int httpd_read_body(conn *c, struct evbuffer *in);

#endif
