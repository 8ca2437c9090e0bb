/* The HTTP/1.1 server under `sceplab serve`: see httpd.h for why it is not evhttp. This file
 * holds the listener, accepting, the descriptor budget and the loop; httpd_conn.c the connections,
 * httpd_route.c the routes, httpd_limits.c what the connections count against.
 *
 * Each connection is a small state machine: HEAD (request line and headers, under a deadline
 * that starts at the accept or at the first byte of a request and that no trickle of bytes
 * resets), BODY (Content-Length or chunked, under its own deadline), then the handler runs and
 * the answer is written (WRITE, reading stopped: a pipelined request waits in the socket, not in
 * memory), then IDLE until the next request (keep-alive) or the idle deadline. Connections are
 * counted against a limit kept below RLIMIT_NOFILE and per client address; at the limit the
 * listener stops accepting (new connections wait in the kernel's backlog), and an accept() that
 * fails (EMFILE, ENFILE, ENOBUFS) pauses it for half a second instead of spinning. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <sys/queue.h>

#include "ndes/httpd_int.h"
#include "base/optlib.h"

/* ---- accepting ------------------------------------------------------------------------------- */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
  sceplab_httpd *h = arg;
  client *cl = httpd_client_get(h, sa);
  (void)l;
  (void)salen;
  if(!cl) {
    close(fd);
    return;
  }
  if(cl->n >= h->p.max_per_client) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if(!h->p.ssl) {
      /* a word before the door closes, for a plain-HTTP client; best effort, never blocking */
      static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 5\r\n"
                                 "Connection: close\r\n\r\n";
      if(send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        errno = 0;
    }
    close(fd);
    inet_ntop(cl->len == 4 ? AF_INET : AF_INET6, cl->addr, ip, sizeof(ip));
    httpd_warn(h, W_CLIENT, "%s has %u connections open (the limit per client address): refusing more", ip, cl->n);
    httpd_client_put(h, cl);
    return;
  }
  httpd_conn_open(h, cl, fd, sa, 0);
  if(h->nconns >= h->p.max_connections) {
    httpd_warn(h, W_FULL, "%u connections open, the limit: new ones wait until one closes", h->nconns);
    httpd_listener_update(h);
  }
  else if(h->turn && h->listener) {
    /* A socket shared by workers: one connection per turn of the loop, and none for SPREAD_MS
     * while another worker holds fewer. The first worker awake would otherwise take every
     * connection that arrives together (on a busy machine the others get no core in time), and
     * kept-open ones (a load balancer's, a load test's) stay where they landed: 8 of 8 in one of
     * two workers in half the runs of scripts/bench server. A worker that holds more still takes
     * one every SPREAD_MS, so a stopped or stuck one delays connections, never starves them. */
    struct timeval wait = {0, 0};
    if(h->p.spread && h->p.spread(h->p.ud, (int)h->nconns))
      wait.tv_usec = SPREAD_MS * 1000;
    h->waiting_turn = 1;
    httpd_listener_update(h);
    event_add(h->turn, &wait);
  }
}

static void on_turn(evutil_socket_t fd, short what, void *arg)
{
  sceplab_httpd *h = arg;
  (void)fd;
  (void)what;
  h->waiting_turn = 0;
  httpd_listener_update(h);
}

/* The admin listener: its connections count against the limits as any other. */
static void on_accept_admin(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
  sceplab_httpd *h = arg;
  client *cl = httpd_client_get(h, sa);
  (void)l;
  (void)salen;
  if(!cl || cl->n >= h->p.max_per_client) {
    close(fd);
    httpd_client_put(h, cl);
    return;
  }
  httpd_conn_open(h, cl, fd, sa, 1);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
  sceplab_httpd *h = arg;
  (void)fd;
  (void)what;
  h->paused = 0;
  httpd_listener_update(h);
}

/* accept() failed (out of descriptors, or of kernel memory): the pending connection stays in the
 * backlog and would wake the loop at once, forever; so stop listening for a moment. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
  sceplab_httpd *h = arg;
  int e = errno;
  struct timeval tv = {ACCEPT_PAUSE_MS / 1000, (ACCEPT_PAUSE_MS % 1000) * 1000};
  (void)l;
  h->paused = 1;
  httpd_listener_update(h);
  event_add(h->resume, &tv);
  httpd_warn(h, W_ACCEPT, "cannot accept a connection: %s; pausing %.1f s (%u connections open)", strerror(e),
       ACCEPT_PAUSE_MS / 1000.0, h->nconns);
}

/* Descriptors open now (this process's), to keep them out of the connection budget. */
static unsigned open_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  unsigned n = 0;
  if(!d)
    return 16;
  while((e = readdir(d)) != NULL)
    if(e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

/* The connection limit RLIMIT_NOFILE can hold with a reserve for everything else: 0 with *max,
 * or -1 with err. An explicit limit above it raises the soft limit when the hard one allows. */
static int connection_budget(unsigned asked, unsigned *max, sceplab_error *err)
{
  struct rlimit rl;
  unsigned long long reserve = open_fds() + FD_RESERVE, soft;
  if(getrlimit(RLIMIT_NOFILE, &rl) != 0)
    rl.rlim_cur = rl.rlim_max = 1024;
  soft = rl.rlim_cur == RLIM_INFINITY ? 1ULL << 20 : (unsigned long long)rl.rlim_cur;
  if(asked && asked + reserve > soft && (rl.rlim_max == RLIM_INFINITY || asked + reserve <= rl.rlim_max)) {
    rl.rlim_cur = (rlim_t)(asked + reserve);
    if(setrlimit(RLIMIT_NOFILE, &rl) == 0)
      soft = asked + reserve;
  }
  if(asked) {
    if(asked + reserve > soft)
      return sceplab_err_set(err, SCEPLAB_E_USAGE, "%u connections need %llu file descriptors with the %llu kept for "
                             "the CA and its logs; RLIMIT_NOFILE allows %llu (raise `ulimit -n`)", asked, asked + reserve,
                             reserve, soft), -1;
    *max = asked;
    return 0;
  }
  if(soft <= reserve)
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "RLIMIT_NOFILE (%llu) leaves no file descriptor for connections: %llu "
                           "are kept for the CA and its logs (raise `ulimit -n`)", soft, reserve), -1;
  *max = soft - reserve > 1024 ? 1024 : (unsigned)(soft - reserve);
  return 0;
}

int sceplab_httpd_listen(const char *bind_to, unsigned port, unsigned *bound, sceplab_error *err)
{
  struct addrinfo hints, *ai = NULL;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  char pstr[16];
  int fd = -1, one = 1, rc, e = 0;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  snprintf(pstr, sizeof(pstr), "%u", port);
  if((rc = getaddrinfo(bind_to, pstr, &hints, &ai)) != 0)
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "cannot listen on %s port %u: %s", bind_to, port,
                           gai_strerror(rc)), -1;
  fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if(fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
     bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 511) != 0)
    e = errno;
  freeaddrinfo(ai);
  if(e) {
    if(fd >= 0)
      close(fd);
    return sceplab_err_set(err, SCEPLAB_E_NETWORK, "cannot listen on %s port %u: %s", bind_to, port, strerror(e)), -1;
  }
  if(bound)
    *bound = getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ? port
           : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

/* The port and whether the address is a loopback one, of a listening socket. */
static void sock_addr(int fd, unsigned *port, int *loopback)
{
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  if(getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
    return;
  if(ss.ss_family == AF_INET6) {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    *loopback = IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
  }
  else {
    *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *loopback = (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
  }
}

static int bind_listener(sceplab_httpd *h, sceplab_error *err)
{
  int fd = h->p.listen_fd > 0 ? h->p.listen_fd : sceplab_httpd_listen(h->p.bind, h->p.port, NULL, err), afd = -1, lb = 0;
  unsigned aport = 0;
  if(fd < 0)
    return -1;
  sock_addr(fd, &h->port, &h->loopback);
  /* backlog 0: the socket listens already */
  h->listener = evconnlistener_new(h->base, on_accept, h, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
  if(!h->listener) {
    close(fd);
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "cannot listen: out of memory"), -1;
  }
  evconnlistener_set_error_cb(h->listener, on_accept_error);
  if(h->p.admin_fd > 0) {
    afd = h->p.admin_fd;
    sock_addr(afd, &aport, &lb);
    if(!(h->admin = evconnlistener_new(h->base, on_accept_admin, h, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, afd))) {
      close(afd);
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "cannot listen: out of memory"), -1;
    }
  }
  return 0;
}

/* ---- the server ------------------------------------------------------------------------------ */

static void on_drained(evutil_socket_t fd, short what, void *arg)
{
  sceplab_httpd *h = arg;
  (void)fd;
  (void)what;
  if(h->nconns)
    httpd_warn(h, W_DEADLINE, "%u connections still open at the end of the drain: closed", h->nconns);
  event_base_loopbreak(h->base);
}

/* SIGINT stops at once; SIGTERM drains: no connection accepted any more (another process on the
 * same socket takes them), the requests in flight answered, within drain_ms. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
  sceplab_httpd *h = arg;
  struct timeval tv;
  (void)what;
  if(sig == SIGHUP) {
    if(h->p.hup)
      h->p.hup(h->p.ud);
    return;
  }
  if(sig != SIGTERM || h->draining) {
    event_base_loopbreak(h->base);
    return;
  }
  if(h->listener)
    evconnlistener_free(h->listener);
  if(h->admin)
    evconnlistener_free(h->admin);
  h->listener = h->admin = NULL;
  if(h->turn && h->p.spread)
    h->p.spread(h->p.ud, -1);
  event_del(h->resume);
  tv.tv_sec = (time_t)(h->p.drain_ms / 1000);
  tv.tv_usec = (suseconds_t)(h->p.drain_ms % 1000) * 1000;
  if(!(h->drain_end = evtimer_new(h->base, on_drained, h)) || event_add(h->drain_end, &tv) != 0) {
    event_base_loopbreak(h->base);
    return;
  }
  httpd_conn_drain(h);
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
  sceplab_httpd *h = arg;
  int i;
  (void)what;
  for(i = 0; i < WATCH_MAX; i++)
    if(h->watch[i] && event_get_fd(h->watch[i]) == fd)
      h->watch_cb[i](h->watch_ud[i], (int)fd);
}

int sceplab_httpd_watch(sceplab_httpd *h, int fd, void (*cb)(void *ud, int fd), void *ud, sceplab_error *err)
{
  int i;
  for(i = 0; i < WATCH_MAX && h->watch[i]; i++)
    ;
  if(i == WATCH_MAX || !(h->watch[i] = event_new(h->base, fd, EV_READ | EV_PERSIST, on_watch, h)))
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "cannot watch descriptor %d", fd), -1;
  h->watch_cb[i] = cb;
  h->watch_ud[i] = ud;
  /* before the connections: what it says (the clock moved) holds for the requests read with it */
  event_priority_set(h->watch[i], 0);
  if(event_add(h->watch[i], NULL) != 0)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "cannot watch descriptor %d", fd), -1;
  return 0;
}

int sceplab_httpd_run(sceplab_httpd *h, sceplab_error *err)
{
  struct event *sigint = event_new(h->base, SIGINT, EV_SIGNAL | EV_PERSIST, on_signal, h);
  struct event *sigterm = event_new(h->base, SIGTERM, EV_SIGNAL | EV_PERSIST, on_signal, h);
  struct event *sighup = h->p.hup ? event_new(h->base, SIGHUP, EV_SIGNAL | EV_PERSIST, on_signal, h) : NULL;
  int rc = -1;
  if(!sigint || !sigterm || event_add(sigint, NULL) != 0 || event_add(sigterm, NULL) != 0 ||
     (h->p.hup && (!sighup || event_add(sighup, NULL) != 0)))
    sceplab_err_set(err, SCEPLAB_E_FAILED, "cannot watch SIGINT, SIGTERM and SIGHUP");
  else {
    if(h->turn && h->p.spread)
      h->p.spread(h->p.ud, (int)h->nconns); /* counted among the workers that accept, idle or not */
    event_base_dispatch(h->base);
    rc = 0;
  }
  if(sigint)
    event_free(sigint);
  if(sigterm)
    event_free(sigterm);
  if(sighup)
    event_free(sighup);
  return rc;
}

sceplab_httpd *sceplab_httpd_new(const sceplab_httpd_params *p, sceplab_error *err)
{
  sceplab_httpd *h;
  if(sceplab_optlib_need(SCEPLAB_LIB_EVENT, err) != 0 || (p->ssl && sceplab_optlib_need(SCEPLAB_LIB_EVENT_SSL, err) != 0))
    return NULL;
  if(!(h = calloc(1, sizeof(*h))))
    return (void)sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  h->p = *p;
  /* two priorities: watched descriptors (0) before connections (1) */
  if(!(h->base = event_base_new()) || event_base_priority_init(h->base, 2) != 0) {
    if(h->base)
      event_base_free(h->base);
    free(h);
    return (void)sceplab_err_set(err, SCEPLAB_E_NOMEM, "cannot start the event loop"), NULL;
  }
  if(!h->p.bind)
    h->p.bind = "127.0.0.1";
  if(!h->p.max_per_client)
    h->p.max_per_client = 64;
  if(!h->p.header_ms)
    h->p.header_ms = 20000;
  if(!h->p.body_ms)
    h->p.body_ms = 60000;
  if(!h->p.idle_ms)
    h->p.idle_ms = 120000;
  if(!h->p.write_ms)
    h->p.write_ms = 60000;
  if(!h->p.drain_ms)
    h->p.drain_ms = 10000;
  if(!h->p.max_head)
    h->p.max_head = 98304;
  if(!h->p.max_body)
    h->p.max_body = 65536;
  if(connection_budget(p->max_connections, &h->p.max_connections, err) != 0 ||
     !(h->resume = evtimer_new(h->base, on_resume, h)) ||
     (p->listen_fd > 0 && !(h->turn = evtimer_new(h->base, on_turn, h))) || bind_listener(h, err) != 0) {
    if(h->listener)
      evconnlistener_free(h->listener);
    if(h->resume)
      event_free(h->resume);
    if(h->turn)
      event_free(h->turn);
    event_base_free(h->base);
    if(!err->msg[0])
      sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    free(h);
    return NULL;
  }
  return h;
}

unsigned sceplab_httpd_port(const sceplab_httpd *h) { return h->port; }
int sceplab_httpd_loopback(const sceplab_httpd *h) { return h->loopback; }
unsigned sceplab_httpd_max_connections(const sceplab_httpd *h) { return h->p.max_connections; }

void sceplab_httpd_free(sceplab_httpd *h)
{
  int i;
  if(!h)
    return;
  if(h->listener)
    evconnlistener_free(h->listener);
  if(h->admin)
    evconnlistener_free(h->admin);
  h->listener = h->admin = NULL;
  h->draining = 0; /* the connections closed now end no loop */
  while(h->conns)
    httpd_conn_free(h->conns);
  if(h->resume)
    event_free(h->resume);
  if(h->drain_end)
    event_free(h->drain_end);
  if(h->turn)
    event_free(h->turn);
  for(i = 0; i < WATCH_MAX; i++)
    if(h->watch[i])
      event_free(h->watch[i]);
  event_base_free(h->base);
  free(h);
}
