/* What the HTTP/1.1 server's connections count against (httpd.c, httpd_conn.c): the clients'
 * addresses and their connections, the listener paused when full, warnings at most one of a kind
 * every ten seconds; and the reason phrases and header lookup every part uses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "ndes/httpd_int.h"
#include "base/optlib.h"

const char *sceplab_httpd_reason(int status)
{
  switch(status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Request Entity Too Large";
  case 414: return "Request-URI Too Long";
  case 417: return "Expectation Failed";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  }
  return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
}

const char *sceplab_httpd_header(const sceplab_httpd_req *rq, const char *name)
{
  size_t i;
  for(i = 0; i < rq->nheaders; i++)
    if(!strcasecmp(rq->headers[2 * i], name))
      return rq->headers[2 * i + 1];
  return NULL;
}

/* A warning of one kind at most every ten seconds, saying how many were left out: an attack
 * must not turn the server's stderr into its own flood. */
void httpd_warn(sceplab_httpd *h, int kind, const char *fmt, ...)
{
  char line[400];
  time_t now = time(NULL);
  va_list ap;
  size_t n;
  if(!h->p.warn)
    return;
  if(h->warned[kind].last && now - h->warned[kind].last < 10) {
    h->warned[kind].suppressed++;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  n = strlen(line);
  if(h->warned[kind].suppressed)
    snprintf(line + n, sizeof(line) - n, " (and %u more like it in the last %lds)", h->warned[kind].suppressed,
             (long)(now - h->warned[kind].last));
  h->warned[kind].last = now;
  h->warned[kind].suppressed = 0;
  h->p.warn(h->p.ud, line);
}

client *httpd_client_get(sceplab_httpd *h, const struct sockaddr *sa)
{
  unsigned char a[16];
  int len = 0;
  unsigned hash = 0, i;
  client *c;
  if(sa->sa_family == AF_INET) {
    memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    len = 4;
  }
  else if(sa->sa_family == AF_INET6) {
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    /* an IPv4 client of a dual-stack socket is the same client as over IPv4 */
    if(IN6_IS_ADDR_V4MAPPED(a6)) {
      memcpy(a, a6->s6_addr + 12, 4);
      len = 4;
    }
    else {
      memcpy(a, a6->s6_addr, 16);
      len = 16;
    }
  }
  for(i = 0; i < (unsigned)len; i++)
    hash = hash * 31 + a[i];
  hash %= CLIENT_BUCKETS;
  for(c = h->clients[hash]; c; c = c->next)
    if(c->len == len && !memcmp(c->addr, a, (size_t)len))
      return c;
  if(!(c = calloc(1, sizeof(*c))))
    return NULL;
  memcpy(c->addr, a, (size_t)len);
  c->len = len;
  c->next = h->clients[hash];
  h->clients[hash] = c;
  return c;
}

/* Forgets a client with no connection left: the table holds open connections' addresses only. */
void httpd_client_put(sceplab_httpd *h, client *cl)
{
  client **pp;
  unsigned hash = 0;
  int i;
  if(!cl || cl->n)
    return;
  for(i = 0; i < cl->len; i++)
    hash = hash * 31 + cl->addr[i];
  for(pp = &h->clients[hash % CLIENT_BUCKETS]; *pp; pp = &(*pp)->next)
    if(*pp == cl) {
      *pp = cl->next;
      free(cl);
      return;
    }
}

void httpd_listener_update(sceplab_httpd *h)
{
  if(!h->listener)
    return; /* draining: it is gone */
  h->full = h->nconns >= h->p.max_connections;
  if(h->full || h->paused || h->waiting_turn)
    evconnlistener_disable(h->listener);
  else
    evconnlistener_enable(h->listener);
}
