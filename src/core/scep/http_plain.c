/* Plain HTTP/1.1 without libcurl: http:// URLs with no proxy and no redirect to follow, which is
 * an enrollment on an internal network (and every local server). Debian's libcurl brings 32
 * shared libraries whose loading costs a process about 5 ms of CPU, a third of a whole
 * `sceplab enroll`; HTTPS, proxies and redirects still go to libcurl (http.c), which this mirrors:
 * the same response fields, timings, kept-open connections and error texts.
 *
 * Everything the server sends is hostile: the header block is bounded (1 MiB), numbers are
 * parsed with overflow checks, chunk sizes are bounded, and a body past max_body is read and
 * dropped, never stored. */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "scep/scep_int.h"

#define HEADER_MAX (1u << 20)
#define CHUNK_MAX ((unsigned long long)1 << 40)

struct sceplab_plain_conn {
  int fd;
  char key[300]; /* host and port: a request elsewhere gets a connection of its own */
};

typedef struct {
  char host[256];     /* without brackets */
  char port[8];
  char hostport[300]; /* the Host header */
  const char *target; /* path and query, or NULL for "/" */
  size_t target_len;
  int v6;
} plain_url;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* http://host[:port][/path][?query][#fragment], no user info; 0 or -1 (not ours). */
static int parse_url(const char *url, plain_url *u)
{
  const char *p, *a, *e, *colon = NULL;
  size_t hn;
  memset(u, 0, sizeof(*u));
  if(strncasecmp(url, "http://", 7) != 0)
    return -1;
  a = url + 7;
  e = a + strcspn(a, "/?#");
  if(memchr(a, '@', (size_t)(e - a)))
    return -1;
  if(*a == '[') {
    const char *rb = memchr(a, ']', (size_t)(e - a));
    if(!rb)
      return -1;
    hn = (size_t)(rb - a - 1);
    if(hn == 0 || hn >= sizeof(u->host))
      return -1;
    memcpy(u->host, a + 1, hn);
    u->v6 = 1;
    if(rb + 1 < e) {
      if(rb[1] != ':')
        return -1;
      colon = rb + 1;
    }
  } else {
    colon = memchr(a, ':', (size_t)(e - a));
    hn = (size_t)((colon ? colon : e) - a);
    if(hn == 0 || hn >= sizeof(u->host))
      return -1;
    memcpy(u->host, a, hn);
  }
  if(colon) {
    size_t pn = (size_t)(e - colon - 1);
    long port;
    if(pn == 0 || pn > 5)
      return -1;
    for(p = colon + 1; p < e; p++)
      if(*p < '0' || *p > '9')
        return -1;
    port = strtol(colon + 1, NULL, 10);
    if(port < 1 || port > 65535)
      return -1;
    snprintf(u->port, sizeof(u->port), "%ld", port);
  } else
    snprintf(u->port, sizeof(u->port), "80");
  if((size_t)(e - a) >= sizeof(u->hostport))
    return -1;
  memcpy(u->hostport, a, (size_t)(e - a));
  u->target = *e == '#' || !*e ? NULL : e;
  u->target_len = u->target ? strcspn(e, "#") : 0;
  /* what is sent on the request line must be one token: anything else is libcurl's to refuse */
  for(p = u->target; p && p < e + u->target_len; p++)
    if((unsigned char)*p <= 0x20 || *p == 0x7f)
      return -1;
  for(p = u->host; *p; p++)
    if((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
      return -1;
  return 0;
}

int sceplab_plain_eligible(const sceplab_http_opts *o, const char *method, const char *url)
{
  plain_url u;
  if(o && ((o->proxy && *o->proxy) || o->follow_redirects))
    return 0;
  if(strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 && strcmp(method, "HEAD") != 0)
    return 0;
  return parse_url(url, &u) == 0;
}

void sceplab_plain_close(sceplab_plain_conn *c)
{
  if(!c)
    return;
  if(c->fd >= 0)
    close(c->fd);
  free(c);
}

/* Milliseconds left until the deadline (at least 0). */
static int left_ms(double deadline)
{
  double l = (deadline - now_s()) * 1000.0;
  return l <= 0 ? 0 : l > 2e9 ? 2000000000 : (int)l;
}

static int wait_fd(int fd, short events, double deadline)
{
  struct pollfd pfd = {fd, events, 0};
  int rc;
  do
    rc = poll(&pfd, 1, left_ms(deadline));
  while(rc < 0 && errno == EINTR);
  return rc; /* 0: timed out */
}

typedef struct {
  int code;          /* what libcurl would say: 6 resolve, 7 connect, 28 timeout, 18/52/56 transfer */
  char why[256];
} failure;

static int fail(failure *f, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(failure *f, int code, const char *fmt, ...)
{
  va_list ap;
  f->code = code;
  va_start(ap, fmt);
  vsnprintf(f->why, sizeof(f->why), fmt, ap);
  va_end(ap);
  return -1;
}

static int connect_to(const plain_url *u, const sceplab_http_opts *o, double t0, double deadline, double *t_dns,
                      failure *f)
{
  struct addrinfo hints, *res = NULL, *ai;
  double cdeadline = t0 + (double)(o->connect_timeout_ms ? o->connect_timeout_ms : 10000) / 1000.0;
  int fd = -1, rc, last = 0;
  if(cdeadline > deadline)
    cdeadline = deadline;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo(u->host, u->port, &hints, &res);
  *t_dns = now_s() - t0;
  if(rc != 0 || !res)
    return fail(f, 6, "Could not resolve host: %s", u->host);
  for(ai = res; ai; ai = ai->ai_next) {
    int one = 1, err = 0;
    socklen_t el = sizeof(err);
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if(fd < 0) {
      last = errno;
      continue;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if(connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
      break;
    if(errno == EINPROGRESS) {
      rc = wait_fd(fd, POLLOUT, cdeadline);
      if(rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
        break;
      last = rc == 0 ? ETIMEDOUT : err ? err : errno;
    } else
      last = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if(fd < 0) {
    char host[300];
    snprintf(host, sizeof(host), "%s port %s", u->host, u->port);
    return fail(f, last == ETIMEDOUT ? 28 : 7,
                last == ETIMEDOUT ? "Failed to connect to %s after %ld ms: Timeout was reached"
                                  : "Failed to connect to %s after %ld ms: Couldn't connect to server",
                host, (long)((now_s() - t0) * 1000));
  }
  return fd;
}

static int send_all(int fd, const unsigned char *p, size_t n, double deadline, failure *f)
{
  while(n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if(w > 0) {
      p += w;
      n -= (size_t)w;
    } else if(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if(wait_fd(fd, POLLOUT, deadline) == 0)
        return fail(f, 28, "Operation timed out sending the request");
    } else if(w < 0 && errno == EINTR)
      continue;
    else
      return fail(f, 55, "Send failure: %s", strerror(errno));
  }
  return 0;
}

/* The reader: a buffer of bytes received and not yet consumed. */
typedef struct {
  int fd;
  double deadline;
  unsigned char buf[16384];
  size_t have, off;
  size_t total;       /* bytes received in all */
  double first_byte;  /* when the first arrived, 0 before */
  int eof;
} reader;

/* Reads more: 1, 0 at EOF, -1 on error or timeout (f says which). */
static int fill(reader *rd, failure *f)
{
  ssize_t n;
  if(rd->off > 0 && rd->off == rd->have)
    rd->off = rd->have = 0;
  if(rd->have == sizeof(rd->buf)) {
    memmove(rd->buf, rd->buf + rd->off, rd->have - rd->off);
    rd->have -= rd->off;
    rd->off = 0;
  }
  for(;;) {
    n = recv(rd->fd, rd->buf + rd->have, sizeof(rd->buf) - rd->have, 0);
    if(n > 0) {
      if(!rd->first_byte)
        rd->first_byte = now_s();
      rd->have += (size_t)n;
      rd->total += (size_t)n;
      return 1;
    }
    if(n == 0) {
      rd->eof = 1;
      return 0;
    }
    if(errno == EINTR)
      continue;
    if(errno != EAGAIN && errno != EWOULDBLOCK)
      return fail(f, 56, "Recv failure: %s", strerror(errno));
    if(wait_fd(rd->fd, POLLIN, rd->deadline) == 0)
      return fail(f, 28, "Operation timed out");
  }
}

typedef struct { unsigned char *p; size_t n, cap, max; int truncated; } sink;

static int sink_add(sink *s, const unsigned char *data, size_t n)
{
  size_t take = n;
  if(s->n + take > s->max) {
    take = s->max - s->n;
    s->truncated = 1;
  }
  if(s->n + take + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 16384;
    unsigned char *np;
    while(cap < s->n + take + 1)
      cap *= 2;
    np = realloc(s->p, cap);
    if(!np)
      return -1;
    s->p = np;
    s->cap = cap;
  }
  if(take)
    memcpy(s->p + s->n, data, take);
  s->n += take;
  s->p[s->n] = '\0';
  return 0;
}

/* Moves up to want bytes of body into the sink (want -1: to EOF). 0, or -1 with f. */
static int body_bytes(reader *rd, sink *s, long long want, failure *f, long long *got)
{
  while(want != 0) {
    size_t avail = rd->have - rd->off, take;
    if(avail == 0) {
      int rc = fill(rd, f);
      if(rc < 0)
        return -1;
      if(rc == 0) {
        if(want < 0)
          return 0;
        return fail(f, 18, "transfer closed with %lld bytes remaining to read", want);
      }
      continue;
    }
    take = want < 0 || (unsigned long long)want > avail ? avail : (size_t)want;
    if(sink_add(s, rd->buf + rd->off, take) != 0)
      return fail(f, 27, "Out of memory");
    rd->off += take;
    *got += (long long)take;
    if(want > 0)
      want -= (long long)take;
  }
  return 0;
}

/* One line (up to LF) of at most max bytes into line, without CR LF. 0, or -1 with f. */
static int read_line(reader *rd, char *line, size_t max, failure *f)
{
  size_t n = 0;
  for(;;) {
    while(rd->off < rd->have) {
      unsigned char c = rd->buf[rd->off++];
      if(c == '\n') {
        if(n && line[n - 1] == '\r')
          n--;
        line[n] = '\0';
        return 0;
      }
      if(n + 1 >= max)
        return fail(f, 56, "Recv failure: a chunk line of more than %zu bytes", max);
      line[n++] = (char)c;
    }
    {
      int rc = fill(rd, f);
      if(rc < 0)
        return -1;
      if(rc == 0)
        return fail(f, 18, "transfer closed with outstanding read data remaining");
    }
  }
}

static int chunked_body(reader *rd, sink *s, failure *f, long long *got)
{
  char line[512];
  for(;;) {
    unsigned long long size = 0;
    const char *p;
    if(read_line(rd, line, sizeof(line), f) != 0)
      return -1;
    for(p = line; *p && *p != ';' && *p != ' ' && *p != '\t'; p++) {
      int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 :
              *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : -1;
      if(d < 0 || size > CHUNK_MAX)
        return fail(f, 56, "Recv failure: a malformed chunk size");
      size = size * 16 + (unsigned)d;
    }
    if(p == line || size > CHUNK_MAX)
      return fail(f, 56, "Recv failure: a malformed chunk size");
    if(size == 0)
      break;
    if(body_bytes(rd, s, (long long)size, f, got) != 0)
      return -1;
    if(read_line(rd, line, sizeof(line), f) != 0) /* the CRLF after the data, and nothing else */
      return -1;
    if(line[0])
      return fail(f, 56, "Recv failure: a chunk longer than its size");
  }
  for(;;) { /* trailers, up to the empty line */
    if(read_line(rd, line, sizeof(line), f) != 0)
      return -1;
    if(!line[0])
      return 0;
  }
}

/* The value of header name in the block (NULL if absent), malloc'd, trimmed. */
static char *header(const char *block, const char *name)
{
  size_t nl = strlen(name);
  const char *p = strchr(block, '\n');
  while(p && *++p) {
    if(strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1, *e;
      char *out;
      while(*v == ' ' || *v == '\t')
        v++;
      e = v + strcspn(v, "\r\n");
      while(e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
      out = malloc((size_t)(e - v) + 1);
      if(out) {
        memcpy(out, v, (size_t)(e - v));
        out[e - v] = '\0';
      }
      return out;
    }
    p = strchr(p, '\n');
  }
  return NULL;
}

/* Reads a whole header block (through the empty line) into a malloc'd string. */
static char *read_headers(reader *rd, failure *f)
{
  sink h = {NULL, 0, 0, HEADER_MAX, 0};
  for(;;) {
    while(rd->off < rd->have) {
      unsigned char c = rd->buf[rd->off++];
      if(sink_add(&h, &c, 1) != 0 || h.truncated) {
        free(h.p);
        fail(f, 56, "Recv failure: a header block over %u bytes", HEADER_MAX);
        return NULL;
      }
      if(c == '\n' && h.n >= 2 && (h.p[h.n - 2] == '\n' || (h.n >= 4 && memcmp(h.p + h.n - 4, "\r\n\r\n", 4) == 0)))
        return (char *)h.p;
    }
    {
      int rc = fill(rd, f);
      if(rc <= 0) {
        if(rc == 0 && rd->total)
          fail(f, 56, "Recv failure: the connection closed in the headers");
        else if(rc == 0)
          fail(f, 52, "Empty reply from server");
        free(h.p);
        return NULL;
      }
    }
  }
}

/* Sends the request and reads the response on fd. 0; 1 when nothing at all came back (a kept-open
 * connection the server had closed: the caller tries a new one); -1 with f. */
static int exchange(int fd, const plain_url *u, const sceplab_http_opts *o, const char *method,
                    const unsigned char *body, size_t body_len, const char *content_type, double deadline,
                    sceplab_http_resp *r, long long *declared, int *reusable, double *first_byte, failure *f)
{
  char head[1024];
  int hn;
  reader *rd;
  char *hdrs = NULL, *cl, *te, *conn;
  sink b = {NULL, 0, 0, 0, 0};
  long long got = 0;
  int is_post = strcmp(method, "POST") == 0, rc = -1;
  /* the request line's target: the URL's path and query ("/" for none, "/?..." for a bare query) */
  hn = snprintf(head, sizeof(head), "%s %s", method, !u->target || u->target[0] == '?' ? "/" : "");
  if(send_all(fd, (const unsigned char *)head, (size_t)hn, deadline, f) != 0 ||
     (u->target && send_all(fd, (const unsigned char *)u->target, u->target_len, deadline, f) != 0))
    return -1;
  hn = snprintf(head, sizeof(head), " HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n", u->hostport,
                o->user_agent ? o->user_agent : "sceplab/" SCEPLAB_API_VERSION);
  if(is_post)
    hn += snprintf(head + hn, sizeof(head) - (size_t)hn, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                   content_type ? content_type : "application/octet-stream", body_len);
  if((size_t)hn >= sizeof(head))
    return fail(f, 3, "a request header over %zu bytes", sizeof(head));
  /* the caller's own lines (a bearer token is longer than head) go as they are, then the blank line */
  if(send_all(fd, (const unsigned char *)head, (size_t)hn, deadline, f) != 0 ||
     (o->headers && send_all(fd, (const unsigned char *)o->headers, strlen(o->headers), deadline, f) != 0) ||
     send_all(fd, (const unsigned char *)"\r\n", 2, deadline, f) != 0 ||
     (is_post && body_len && send_all(fd, body, body_len, deadline, f) != 0))
    return -1;
  rd = calloc(1, sizeof(*rd));
  if(!rd)
    return fail(f, 27, "Out of memory");
  rd->fd = fd;
  rd->deadline = deadline;
  for(;;) { /* interim 1xx answers come before the real one */
    free(hdrs);
    hdrs = read_headers(rd, f);
    if(!hdrs) {
      rc = rd->total == 0 && f->code == 52 ? 1 : -1;
      goto out;
    }
    if(strlen(hdrs) < 13 || strncmp(hdrs, "HTTP/1.", 7) != 0 || hdrs[8] != ' ' || hdrs[9] < '1' || hdrs[9] > '9' || hdrs[10] < '0' ||
       hdrs[10] > '9' || hdrs[11] < '0' || hdrs[11] > '9' || (hdrs[12] != ' ' && hdrs[12] != '\r' && hdrs[12] != '\n')) {
      fail(f, 8, "Weird server reply");
      goto out;
    }
    r->status = (hdrs[9] - '0') * 100 + (hdrs[10] - '0') * 10 + (hdrs[11] - '0');
    if(r->status >= 200 || r->status < 100)
      break;
  }
  r->headers = hdrs;
  hdrs = NULL;
  r->content_type = header(r->headers, "Content-Type");
  cl = header(r->headers, "Content-Length");
  te = header(r->headers, "Transfer-Encoding");
  conn = header(r->headers, "Connection");
  *reusable = r->headers[7] == '1' ? !(conn && strcasecmp(conn, "close") == 0)
                                   : (conn && strcasecmp(conn, "keep-alive") == 0);
  *declared = -1;
  if(cl) {
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(cl, &end, 10);
    if(!*cl || *end || errno || cl[0] == '-' || v > (1ull << 62)) {
      free(cl);
      free(te);
      free(conn);
      fail(f, 8, "Weird server reply: a malformed Content-Length");
      goto out;
    }
    *declared = (long long)v;
  }
  b.max = o->max_body ? o->max_body : (16u << 20);
  if(strcmp(method, "HEAD") == 0 || r->status == 204 || r->status == 304)
    rc = 0;
  else if(te && strcasestr(te, "chunked")) {
    *declared = -1;
    rc = chunked_body(rd, &b, f, &got);
  } else if(*declared >= 0)
    rc = body_bytes(rd, &b, *declared, f, &got);
  else {
    *reusable = 0; /* the body ends with the connection */
    rc = body_bytes(rd, &b, -1, f, &got);
  }
  if(rc == 0 && rd->off < rd->have)
    *reusable = 0; /* more than the answer arrived: nothing else can be trusted on it */
  free(cl);
  free(te);
  free(conn);
  if(rc != 0 && f->code == 28 && *declared >= 0)
    snprintf(f->why, sizeof(f->why), "Operation timed out after %ld milliseconds with %lld out of %lld bytes received",
             (long)(o->timeout_ms ? o->timeout_ms : 30000), got, *declared);
out:
  /* what arrived, even of a failed transfer: the caller names it, traces keep it */
  r->body = b.p;
  r->body_len = b.n;
  r->truncated = b.truncated;
  *first_byte = rd->first_byte;
  free(hdrs);
  free(rd);
  return rc;
}

int sceplab_plain_request(sceplab_plain_conn **conn, const sceplab_http_opts *o, const char *method, const char *url,
                          const unsigned char *body, size_t body_len, const char *content_type, sceplab_http_resp *r,
                          long long *declared)
{
  plain_url u;
  failure f = {0, ""};
  double t0 = now_s(), deadline = t0 + (double)(o->timeout_ms ? o->timeout_ms : 30000) / 1000.0, first = 0;
  char key[300];
  int attempt, reusable = 0;
  *declared = -1;
  if(parse_url(url, &u) != 0) {
    snprintf(r->curl_error, sizeof(r->curl_error), "URL rejected: Malformed input to a URL function");
    r->curl_code = 3;
    return -1;
  }
  snprintf(key, sizeof(key), "%s|%s", u.host, u.port);
  for(attempt = 0; attempt < 2; attempt++) {
    int fd, rc, reused = 0;
    double t_dns = 0, t_connect = 0;
    /* a kept-open connection to the same place, unless the server closed it meanwhile */
    if(*conn && (*conn)->fd >= 0 && strcmp((*conn)->key, key) == 0 && attempt == 0) {
      struct pollfd pfd = {(*conn)->fd, POLLIN, 0};
      if(poll(&pfd, 1, 0) == 0) {
        fd = (*conn)->fd;
        reused = 1;
      } else {
        close((*conn)->fd);
        (*conn)->fd = -1;
        fd = -1;
      }
    } else
      fd = -1;
    if(!reused) {
      if(*conn && (*conn)->fd >= 0) {
        close((*conn)->fd);
        (*conn)->fd = -1;
      }
      fd = connect_to(&u, o, t0, deadline, &t_dns, &f);
      if(fd < 0)
        break;
      t_connect = now_s() - t0;
    }
    rc = exchange(fd, &u, o, method, body, body_len, content_type, deadline, r, declared, &reusable, &first, &f);
    if(rc == 1 && reused) { /* the kept connection was gone: once more on a new one */
      close(fd);
      (*conn)->fd = -1;
      f.code = 0;
      continue;
    }
    r->t_dns = t_dns;
    r->t_connect = t_connect;
    r->t_tls = 0;
    r->t_first_byte = first ? first - t0 : 0;
    r->t_total = now_s() - t0;
    r->reused = reused;
    if(rc == 0 && reusable && conn) {
      if(!*conn) {
        *conn = calloc(1, sizeof(**conn));
        if(*conn)
          (*conn)->fd = -1;
      }
      if(*conn) {
        (*conn)->fd = fd;
        snprintf((*conn)->key, sizeof((*conn)->key), "%s", key);
        fd = -1;
      }
    } else if(reused && *conn)
      (*conn)->fd = -1;
    if(fd >= 0)
      close(fd);
    if(rc != 0 && !f.code)
      f.code = 52, snprintf(f.why, sizeof(f.why), "Empty reply from server");
    break;
  }
  r->effective_url = strdup(url);
  if(r->headers)
    r->server = header(r->headers, "Server");
  if(f.code) {
    r->t_total = now_s() - t0;
    r->curl_code = f.code;
    snprintf(r->curl_error, sizeof(r->curl_error), "%s", f.why);
    return -1;
  }
  return 0;
}
