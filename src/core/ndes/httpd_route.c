/* Routing a whole request by its path (httpd.h's route table), and its parameters: what libevent's
 * URI helpers give, to the rest of the server. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include "ndes/httpd_int.h"
#include "base/optlib.h"

char *sceplab_httpd_param(const char *query, size_t len, const char *name)
{
  struct evkeyvalq args;
  char *copy = malloc(len + 1), *out = NULL;
  const char *v;
  if(!copy)
    return NULL;
  memcpy(copy, query, len);
  copy[len] = '\0';
  TAILQ_INIT(&args);
  if(evhttp_parse_query_str(copy, &args) == 0 && (v = evhttp_find_header(&args, name)) != NULL)
    out = strdup(v);
  evhttp_clear_headers(&args);
  free(copy);
  return out;
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int route_takes(const sceplab_httpd_route *r, const sceplab_httpd_req *rq)
{
  const char *const *p;
  if(!rq->path || (r->methods && !(r->methods & (1u << rq->method))))
    return 0;
  for(p = r->paths; p && *p; p++) {
    size_t n = strlen(*p);
    if(n && (*p)[n - 1] == '*' ? !strncasecmp(*p, rq->path, n - 1) : !strcasecmp(*p, rq->path))
      return 1;
  }
  return 0;
}

void httpd_handle(sceplab_httpd *h, int admin, sceplab_httpd_req *rq, sceplab_httpd_resp *r)
{
  double t0 = now_ms();
  struct evhttp_uri *u = evhttp_uri_parse(rq->target);
  const char *path = u ? evhttp_uri_get_path(u) : NULL;
  size_t dlen = 0, i;
  char *dpath = path ? evhttp_uridecode(path, 0, &dlen) : NULL;
  sceplab_httpd_handler handler = h->p.fallback;
  void *ud = h->p.ud;
  if(dpath && strlen(dpath) != dlen) {
    /* a %00 in the path: a comparison would stop at it and take /certsrv/mscep/mscep.dll%00.txt
     * for the SCEP URL */
    free(dpath);
    dpath = NULL;
  }
  rq->raw_path = path;
  rq->path = dpath;
  rq->query = u ? evhttp_uri_get_query(u) : NULL;
  if(admin)
    handler = route_takes(&h->p.admin_route, rq) ? h->p.admin_route.handler : h->p.fallback;
  if(admin && handler != h->p.fallback)
    ud = h->p.admin_route.ud;
  for(i = 0; !admin && i < h->p.nroutes; i++)
    if(route_takes(&h->p.routes[i], rq)) {
      handler = h->p.routes[i].handler;
      ud = h->p.routes[i].ud;
      break;
    }
  if(handler)
    handler(ud, rq, r);
  else
    r->status = 404;
  /* a parked request is answered (and logged) when resumed; one a fault drops unanswered never is */
  if(h->p.answered && !r->park && !r->drop)
    h->p.answered(h->p.ud, rq, r, (long)(now_ms() - t0 + 0.5));
  free(dpath);
  if(u)
    evhttp_uri_free(u);
  rq->path = rq->raw_path = rq->query = NULL;
}
