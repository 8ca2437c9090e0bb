/* One connection of the HTTP/1.1 server (httpd.h, httpd.c): the request line and headers, the
 * body (Content-Length or chunked), the answer, keep-alive, each under its own deadline. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "ndes/httpd_int.h"
#include "base/optlib.h"

static void conn_input(conn *c);

static void arm(conn *c, unsigned ms)
{
  struct timeval tv;
  tv.tv_sec = (time_t)(ms / 1000);
  tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
  event_add(c->timer, &tv);
}

static void http_date(char *out, size_t n)
{
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Queues the answer and stops reading until it is written (on_write goes on from there). */
static void respond(conn *c, sceplab_httpd_resp *r)
{
  struct evbuffer *out = bufferevent_get_output(c->bev);
  char head[1024], date[64];
  int n;
  if(r->close || !c->keep_alive || c->h->draining)
    c->close_after = 1;
  http_date(date, sizeof(date));
  n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s%sContent-Length: %zu\r\n", r->status,
               sceplab_httpd_reason(r->status), date, r->type ? "Content-Type: " : "", r->type ? r->type : "",
               r->type ? "\r\n" : "", r->len);
  if(n > 0 && (size_t)n < sizeof(head)) {
    if(c->close_after)
      n += snprintf(head + n, sizeof(head) - (size_t)n, "Connection: close\r\n");
    else
      /* said, as IIS's own idle time: a client that waits less before reusing the connection
       * (micromdm's scepclient re-POSTs 30 s after a PENDING) finds it open */
      n += snprintf(head + n, sizeof(head) - (size_t)n, "%sKeep-Alive: timeout=%u\r\n",
                    c->minor == 0 ? "Connection: keep-alive\r\n" : "", c->h->p.idle_ms / 1000);
  }
  if(n > 0 && (size_t)n < sizeof(head))
    evbuffer_add(out, head, (size_t)n);
  evbuffer_add(out, r->headers, strlen(r->headers));
  evbuffer_add(out, "\r\n", 2);
  if(r->body && c->m != SCEPLAB_HTTPD_HEAD)
    evbuffer_add(out, r->body, r->len);
  free(r->body);
  r->body = NULL;
  c->state = ST_WRITE;
  bufferevent_disable(c->bev, EV_READ);
  bufferevent_enable(c->bev, EV_WRITE);
  arm(c, c->h->p.write_ms);
}

/* The server's own answer (no handler's): its status and reason as plain text, the connection
 * closed after it. */
static void plain_answer(sceplab_httpd_resp *r, int status)
{
  char text[96];
  memset(r, 0, sizeof(*r));
  snprintf(text, sizeof(text), "%d %s\r\n", status, sceplab_httpd_reason(status));
  r->status = status;
  r->type = "text/plain";
  r->body = (unsigned char *)strdup(text);
  r->len = r->body ? strlen(text) : 0;
  r->close = 1;
}

/* A request refused before the handler: the answer, then the connection is closed (what follows
 * in the stream cannot be trusted to start a request). */
static void refuse(conn *c, int status)
{
  sceplab_httpd_resp r;
  plain_answer(&r, status);
  c->linger = 1;
  respond(c, &r);
}

static void request_reset(conn *c)
{
  size_t i;
  for(i = 0; i < 2 * c->nhdr; i++)
    free(c->hdr[i]);
  free(c->hdr);
  free(c->method);
  free(c->target);
  c->hdr = NULL;
  c->nhdr = 0;
  c->method = c->target = NULL;
  c->have_line = 0;
  c->head_len = c->scanned = 0;
  c->body_kind = BODY_NONE;
  c->want = 0;
  c->expect_continue = 0;
  if(c->body)
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
}

/* An answer set: sent now, or after its delay. */
static void answer(conn *c, sceplab_httpd_resp *r)
{
  if(r->delay_ms) {
    c->delayed = *r;
    c->state = ST_DELAY;
    arm(c, r->delay_ms);
    return;
  }
  respond(c, r);
}

/* The request as the handler sees it, from what the connection holds. */
static void request_of(conn *c, sceplab_httpd_req *rq)
{
  size_t n = evbuffer_get_length(c->body);
  memset(rq, 0, sizeof(*rq));
  rq->method = c->m;
  rq->method_name = c->method;
  rq->target = c->target;
  rq->minor = c->minor;
  rq->headers = c->hdr;
  rq->nheaders = c->nhdr;
  rq->body = n ? evbuffer_pullup(c->body, (ev_ssize_t)n) : NULL;
  rq->body_len = n;
  rq->peer = c->peer;
}

/* A held answer leaves: logged as it is sent (the time taken includes the wait), and the request
 * kept for the log let go. */
static void logged(conn *c, const sceplab_httpd_resp *r)
{
  sceplab_httpd_req rq;
  request_of(c, &rq);
  httpd_logged(c->h, &rq, r, c->t0);
  request_reset(c);
}

/* An answer waiting for its commits' sync goes once they are durable (or their sync failed). */
static void answer_if_durable(conn *c)
{
  sceplab_httpd_resp r;
  int d = c->h->p.durable(c->h->p.ud, c->commits);
  if(d == 0)
    return;
  r = c->delayed;
  memset(&c->delayed, 0, sizeof(c->delayed));
  event_del(c->timer);
  if(d < 0) {
    /* committed, not known to be on disk: never answered as if it were */
    httpd_warn(c->h, W_DEADLINE, "answered 500 to a request from %s: its commit could not be synced to disk", c->peer);
    free(r.body);
    plain_answer(&r, 500);
  }
  logged(c, &r);
  answer(c, &r);
}

/* The request is whole: the handler answers it, now, after its delay, or once what it committed is
 * on disk. */
static void dispatch(conn *c)
{
  sceplab_httpd_req rq;
  sceplab_httpd_resp r;
  double t0;
  int held = 0;
  memset(&r, 0, sizeof(r));
  event_del(c->timer);
  bufferevent_disable(c->bev, EV_READ); /* the next request waits until this one is answered */
  request_of(c, &rq);
  r.status = 500;
  t0 = httpd_handle(c->h, c->admin, &rq, &r, &held);
  if(r.park) {
    /* the request stays (method, target, headers, body) for the handler's next call */
    free(r.body);
    c->state = ST_PARKED;
    arm(c, PARK_MS);
    return;
  }
  if(held) {
    /* it committed: the answer waits for the sync, the request for the log */
    c->delayed = r;
    c->commits = c->h->p.commits(c->h->p.ud);
    c->t0 = t0;
    c->state = ST_SYNC;
    arm(c, c->h->p.write_ms);
    answer_if_durable(c); /* a sync that failed already writes no wake-up again */
    return;
  }
  request_reset(c);
  if(r.drop && !r.delay_ms) {
    free(r.body);
    httpd_conn_free(c);
    return;
  }
  answer(c, &r);
}

void sceplab_httpd_durable(sceplab_httpd *h)
{
  conn *c = h->conns, *next;
  for(; c; c = next) {
    next = c->next; /* answering never frees c */
    if(c->state == ST_SYNC)
      answer_if_durable(c);
  }
}

void sceplab_httpd_resume(sceplab_httpd *h)
{
  conn *c = h->conns, *next;
  for(; c; c = next) {
    next = c->next; /* dispatch never frees c */
    if(c->state == ST_PARKED)
      dispatch(c);
  }
}

static void conn_input(conn *c)
{
  struct evbuffer *in = bufferevent_get_input(c->bev);
  if(!c->busy && evbuffer_get_length(in))
    httpd_conn_busy(c, 1);
  if(c->state == ST_IDLE) {
    if(!evbuffer_get_length(in))
      return;
    /* the first byte of a request: the header deadline starts now, and is not moved again */
    c->state = ST_HEAD;
    c->m = 0; /* not known yet: a refusal before the request line has its body sent */
    arm(c, c->h->p.header_ms);
  }
  if(c->state == ST_HEAD) {
    int rc = httpd_read_head(c, in);
    if(rc <= 0) {
      if(rc < 0)
        refuse(c, -rc);
      return;
    }
    if(c->body_kind != BODY_NONE) {
      c->state = ST_BODY;
      c->chunk_state = CH_SIZE;
      arm(c, c->h->p.body_ms);
      if(c->expect_continue && !evbuffer_get_length(in)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        evbuffer_add(bufferevent_get_output(c->bev), cont, sizeof(cont) - 1);
      }
    }
  }
  if(c->state == ST_BODY) {
    int rc = httpd_read_body(c, in);
    if(rc <= 0) {
      if(rc < 0)
        refuse(c, -rc);
      return;
    }
  }
  if(c->state == ST_HEAD || c->state == ST_BODY)
    dispatch(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
  conn *c = arg;
  if(c->state == ST_LINGER)
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
  else
    conn_input(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
  conn *c = arg;
  (void)bev;
  if(c->state != ST_WRITE)
    return; /* a 100 Continue went out */
  if(c->close_after && c->linger) {
    /* closing now, with the client's unread bytes in the socket, would reset the connection and
     * could destroy the refusal before the client reads it: half-close, and drain for a while */
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    c->state = ST_LINGER;
    httpd_conn_busy(c, 0);
    if(!c->h->p.ssl && fd >= 0)
      shutdown(fd, SHUT_WR);
    bufferevent_enable(c->bev, EV_READ);
    arm(c, LINGER_MS);
    return;
  }
  httpd_conn_busy(c, 0);
  if(c->close_after) {
    httpd_conn_free(c);
    return;
  }
  c->state = ST_IDLE;
  arm(c, c->h->p.idle_ms);
  bufferevent_enable(c->bev, EV_READ);
  /* a request the client pipelined may be read already: it gets no read event of its own */
  conn_input(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
  conn *c = arg;
  (void)bev;
  if(!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
    return;
  if((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
     (c->state == ST_WRITE || c->state == ST_DELAY || c->state == ST_PARKED || c->state == ST_SYNC)) {
    c->close_after = 1; /* the client is done sending: its answer still goes out */
    return;
  }
  httpd_conn_free(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
  conn *c = arg;
  static const char *const names[] = {"header", "body", "", "answer"};
  (void)fd;
  (void)what;
  if(c->state == ST_DELAY) {
    sceplab_httpd_resp r = c->delayed;
    memset(&c->delayed, 0, sizeof(c->delayed));
    if(r.drop) {
      free(r.body);
      httpd_conn_free(c);
      return;
    }
    respond(c, &r);
    return;
  }
  if(c->state == ST_PARKED || c->state == ST_SYNC) {
    /* nothing resumed it: what it waited for never came */
    sceplab_httpd_resp r;
    if(c->state == ST_SYNC)
      httpd_warn(c->h, W_DEADLINE, "answered 503 to a request from %s: its commit was not on disk after %u s", c->peer,
                 c->h->p.write_ms / 1000);
    else
      httpd_warn(c->h, W_DEADLINE, "answered 503 to a request from %s parked for %u s", c->peer, PARK_MS / 1000);
    free(c->delayed.body);
    memset(&c->delayed, 0, sizeof(c->delayed));
    plain_answer(&r, 503);
    if(c->state == ST_SYNC)
      logged(c, &r);
    request_reset(c);
    respond(c, &r);
    return;
  }
  if(c->state != ST_IDLE && c->state != ST_LINGER && !c->h->draining)
    httpd_warn(c->h, W_DEADLINE, "closed a connection from %s at the %s deadline (%u s)", c->peer, names[c->state],
         (c->state == ST_HEAD ? c->h->p.header_ms : c->state == ST_BODY ? c->h->p.body_ms : c->h->p.write_ms) / 1000);
  httpd_conn_free(c);
}

void httpd_conn_busy(conn *c, int busy)
{
  if(c->busy == busy)
    return;
  c->busy = busy;
  if(c->h->p.busy)
    c->h->p.busy(c->h->p.ud, busy ? 1 : -1);
}

void httpd_conn_free(conn *c)
{
  sceplab_httpd *h = c->h;
  httpd_conn_busy(c, 0);
  if(c->prev)
    c->prev->next = c->next;
  else
    h->conns = c->next;
  if(c->next)
    c->next->prev = c->prev;
  if(c->cl) {
    c->cl->n--;
    httpd_client_put(h, c->cl);
  }
  if(c->bev)
    bufferevent_free(c->bev);
  if(c->timer)
    event_free(c->timer);
  request_reset(c);
  if(c->body)
    evbuffer_free(c->body);
  free(c->delayed.body);
  free(c);
  h->nconns--;
  if(h->listener) {
    if(h->turn && h->p.spread)
      h->p.spread(h->p.ud, (int)h->nconns);
    httpd_listener_update(h);
  }
  sceplab_httpd_check_drained(h); /* the last request of a drain is answered */
}

void sceplab_httpd_check_drained(sceplab_httpd *h)
{
  if(h->draining && !h->nconns && !(h->p.pending && h->p.pending(h->p.ud)))
    event_base_loopbreak(h->base);
}

/* A connection accepted a moment ago whose request has not been read yet may carry one already on
 * its way: it gets this long, not the whole header deadline, to show it. */
#define DRAIN_FRESH_MS 1000

void httpd_conn_drain(sceplab_httpd *h)
{
  conn *c = h->conns, *next;
  h->draining = 1;
  for(; c; c = next) {
    next = c->next;
    if(c->state == ST_IDLE && !evbuffer_get_length(bufferevent_get_input(c->bev)))
      httpd_conn_free(c);
    else if(c->state == ST_HEAD && !c->busy)
      arm(c, DRAIN_FRESH_MS);
  }
  sceplab_httpd_check_drained(h);
}

void httpd_conn_open(sceplab_httpd *h, client *cl, evutil_socket_t fd, const struct sockaddr *sa, int admin)
{
  conn *c = calloc(1, sizeof(*c));
  if(!c) {
    close(fd);
    httpd_client_put(h, cl);
    return;
  }
  c->h = h;
  c->cl = cl;
  c->admin = admin;
  cl->n++;
  c->next = h->conns;
  if(h->conns)
    h->conns->prev = c;
  h->conns = c;
  h->nconns++;
  if(sa->sa_family == AF_INET6 && cl->len == 16)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->peer, sizeof(c->peer));
  else
    inet_ntop(AF_INET, cl->addr, c->peer, sizeof(c->peer));
  if(h->p.ssl && !admin) {
    SSL *ssl = SSL_new(h->p.ssl);
    c->bev = ssl ? bufferevent_openssl_socket_new(h->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if(ssl && !c->bev)
      SSL_free(ssl);
    if(c->bev)
      /* a client that just closes (no close_notify) ends the connection as an EOF would */
      bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
  }
  else
    c->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
  c->timer = evtimer_new(h->base, on_timer, c);
  c->body = evbuffer_new();
  if(!c->bev || !c->timer || !c->body) {
    if(!c->bev)
      close(fd);
    httpd_conn_free(c);
    return;
  }
  /* what is buffered from a connection stays bounded whatever it sends */
  bufferevent_setwatermark(c->bev, EV_READ, 0, h->p.max_head + 16384);
  bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
  bufferevent_enable(c->bev, EV_READ);
  /* a new connection is a request on its way: the header deadline runs from now */
  c->state = ST_HEAD;
  arm(c, h->p.header_ms);
}
