/* libFuzzer target for serve's HTTP/1.1 layer (src/core/ndes/httpd*.c), the parser every device
 * and every attacker on the network reaches first. The real server runs on a thread of its own,
 * on loopback, with short deadlines; each input is written to a new connection as a client would
 * write it, the write side is closed, and the answer is read until the server closes. A server
 * that crashes, leaks, or keeps a connection open past its deadlines fails the run. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ndes/httpd.h"

static unsigned port;

/* Reads what a handler reads: the query's and a form body's parameters. */
static void handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp)
{
  char *op = rq->query ? sceplab_httpd_param(rq->query, strlen(rq->query), "operation") : NULL;
  char *msg = rq->body_len ? sceplab_httpd_param((const char *)rq->body, rq->body_len, "message") : NULL;
  size_t n = (op ? strlen(op) : 0) + (msg ? strlen(msg) : 0) + 64;
  (void)ud;
  (void)sceplab_httpd_header(rq, "Content-Type");
  resp->status = rq->path ? 200 : 404;
  resp->type = "text/plain";
  if((resp->body = malloc(n)) != NULL)
    resp->len = (size_t)snprintf((char *)resp->body, n, "%s|%s|%zu", op ? op : "", msg ? msg : "", rq->body_len);
  free(op);
  free(msg);
}

static void *serve(void *arg)
{
  sceplab_error err;
  sceplab_httpd *h = arg;
  sceplab_err_clear(&err);
  sceplab_httpd_run(h, &err);
  return NULL;
}

static void start(void)
{
  static const char *const paths[] = {"/certsrv/mscep/mscep.dll", "/certsrv/mscep_admin/", NULL};
  sceplab_httpd_params p;
  sceplab_error err;
  sceplab_httpd *h;
  pthread_t t;
  memset(&p, 0, sizeof(p));
  p.bind = "127.0.0.1";
  p.header_ms = 1000;
  p.body_ms = 1000;
  p.idle_ms = 1000;
  p.write_ms = 1000;
  p.max_body = 16384;
  p.max_head = 8192;
  p.routes[0].paths = paths;
  p.routes[0].handler = handler;
  p.nroutes = 1;
  p.fallback = handler;
  sceplab_err_clear(&err);
  if(!(h = sceplab_httpd_new(&p, &err))) {
    fprintf(stderr, "fuzz_httpd: %s\n", err.msg);
    abort();
  }
  port = sceplab_httpd_port(h);
  if(pthread_create(&t, NULL, serve, h) != 0)
    abort();
  pthread_detach(t);
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* libFuzzer's timer (SIGALRM, for -timeout) can interrupt a blocking connect(); the connection
 * then goes on in the background, so wait for it instead of calling connect() again (which fails
 * with EALREADY). True once it is established. */
static int connect_interrupted(int fd)
{
  struct pollfd pf = {fd, POLLOUT, 0};
  int soerr = 0;
  socklen_t len = sizeof(soerr);
  if(errno != EINTR)
    return 0;
  while(poll(&pf, 1, 1000) < 0)
    if(errno != EINTR)
      return 0;
  if(!(pf.revents & POLLOUT) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
    return 0;
  errno = soerr;
  return soerr == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct sockaddr_in a;
  size_t sent = 0;
  char buf[65536];
  double deadline;
  int fd;
  if(!port)
    start();
  if((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
    abort();
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  {
    /* Closed with a reset: tens of thousands of runs would otherwise use up the ephemeral ports
     * in TIME_WAIT and fail on the fuzzer's side, not the server's. */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  if(connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && !connect_interrupted(fd)) {
    fprintf(stderr, "fuzz_httpd: connect: %s\n", strerror(errno));
    abort();
  }
  /* Three seconds: a header, body, idle and write deadline of one second each, and a margin. */
  deadline = now_s() + 3.0;
  while(now_s() < deadline) {
    struct pollfd pf = {fd, POLLIN | (sent < size ? POLLOUT : 0), 0};
    if(poll(&pf, 1, 50) < 0 && errno != EINTR)
      abort();
    if((pf.revents & POLLOUT) && sent < size) {
      ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if(w > 0)
        sent += (size_t)w;
      else if(w < 0 && errno != EAGAIN && errno != EINTR)
        sent = size; /* the server closed: it refused the request */
      if(sent == size)
        shutdown(fd, SHUT_WR);
    }
    else if(size == 0 && sent == 0) {
      shutdown(fd, SHUT_WR);
      sent = 1;
    }
    if(pf.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if(r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        close(fd);
        return 0;
      }
    }
  }
  fprintf(stderr, "fuzz_httpd: the server kept a connection open past its deadlines\n");
  abort();
}
