/* libFuzzer target for sceplab's plain-HTTP client (src/core/scep/http_plain.c), which reads what
 * any server on the path answers: status line, headers, Content-Length and chunked bodies. A
 * thread of this process listens on loopback and answers each connection with the input's bytes,
 * then closes; the client's request must end with a response or a network error, never a crash,
 * leak or hang. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sceplab/sceplab.h"

static int lfd = -1;
static unsigned short port;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static const uint8_t *answer;
static size_t answer_len;
static int pending;

/* Accepts a connection, reads the request head (up to its blank line or a second), writes the
 * current answer, closes. */
static void *serve(void *arg)
{
  (void)arg;
  for(;;) {
    char buf[8192];
    size_t got = 0, off = 0;
    int c = accept(lfd, NULL, NULL);
    const uint8_t *a;
    size_t n;
    if(c < 0)
      continue;
    pthread_mutex_lock(&mu);
    while(!pending)
      pthread_cond_wait(&cv, &mu);
    a = answer;
    n = answer_len;
    pthread_mutex_unlock(&mu);
    for(;;) {
      struct pollfd pf = {c, POLLIN, 0};
      ssize_t r;
      if(poll(&pf, 1, 1000) <= 0 || (r = recv(c, buf + got, sizeof(buf) - 1 - got, 0)) <= 0)
        break;
      got += (size_t)r;
      buf[got] = 0;
      if(strstr(buf, "\r\n\r\n") || got >= sizeof(buf) - 1)
        break;
    }
    while(off < n) {
      ssize_t w = send(c, a + off, n - off, MSG_NOSIGNAL);
      if(w <= 0)
        break;
      off += (size_t)w;
    }
    close(c);
    pthread_mutex_lock(&mu);
    pending = 0;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
  }
  return NULL;
}

static void start(void)
{
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  pthread_t t;
  int one = 1;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
     bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 16) != 0 ||
     getsockname(lfd, (struct sockaddr *)&a, &al) != 0)
    abort();
  port = ntohs(a.sin_port);
  if(pthread_create(&t, NULL, serve, NULL) != 0)
    abort();
  pthread_detach(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char url[96];
  sceplab_http_opts o;
  sceplab_http_resp r;
  sceplab_error err;
  if(lfd < 0)
    start();
  pthread_mutex_lock(&mu);
  answer = data;
  answer_len = size;
  pending = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  memset(&o, 0, sizeof(o));
  o.timeout_ms = 2000;
  o.connect_timeout_ms = 1000;
  o.max_body = 4096; /* bodies past it are cut and flagged, a path of its own */
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/certsrv/mscep/mscep.dll?operation=GetCACaps", port);
  sceplab_err_clear(&err);
  memset(&r, 0, sizeof(r));
  sceplab_http_request(&o, "GET", url, NULL, 0, NULL, &r, &err);
  if(r.status && (r.status < 100 || r.status > 999))
    abort(); /* a status is three digits */
  if(r.body_len > o.max_body)
    abort();
  sceplab_http_resp_free(&r);
  /* the server thread is done with this input before the next one replaces it */
  pthread_mutex_lock(&mu);
  while(pending)
    pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  return 0;
}
