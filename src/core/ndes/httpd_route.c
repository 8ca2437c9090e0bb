/* Routing a whole request by its path (httpd.h's route table), and its parameters: what libevent's
 * URI helpers give, to the rest of the server. */
#include <stdint.h>
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

/* rq's path (as sent and decoded) and query from its target; *u and *dpath hold them until
 * paths_free. */
static void paths(sceplab_httpd_req *rq, struct evhttp_uri **u, char **dpath)
{
  const char *path;
  size_t dlen = 0;
  *u = evhttp_uri_parse(rq->target);
  path = *u ? evhttp_uri_get_path(*u) : NULL;
  *dpath = path ? evhttp_uridecode(path, 0, &dlen) : NULL;
  if(*dpath && strlen(*dpath) != dlen) {
    /* a %00 in the path: a comparison would stop at it and take /certsrv/mscep/mscep.dll%00.txt
     * for the SCEP URL */
    free(*dpath);
    *dpath = NULL;
  }
  rq->raw_path = path;
  rq->path = *dpath;
  rq->query = *u ? evhttp_uri_get_query(*u) : NULL;
}

static void paths_free(sceplab_httpd_req *rq, struct evhttp_uri *u, char *dpath)
{
  free(dpath);
  if(u)
    evhttp_uri_free(u);
  rq->path = rq->raw_path = rq->query = NULL;
}

double httpd_handle(sceplab_httpd *h, int admin, sceplab_httpd_req *rq, sceplab_httpd_resp *r, int *held)
{
  double t0 = now_ms();
  struct evhttp_uri *u;
  char *dpath;
  size_t i;
  sceplab_httpd_handler handler = h->p.fallback;
  void *ud = h->p.ud;
  uint64_t commits = h->p.commits ? h->p.commits(h->p.ud) : 0;
  paths(rq, &u, &dpath);
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
  /* one that committed waits for its commits' sync, and is logged when it leaves (httpd_logged);
   * the loop is single-threaded: every commit since the handler began is this request's */
  *held = h->p.commits && !r->park && !(r->drop && !r->delay_ms) && h->p.commits(h->p.ud) != commits;
  /* a parked request is answered (and logged) when resumed; one a fault drops unanswered never is */
  if(h->p.answered && !r->park && !r->drop && !*held)
    h->p.answered(h->p.ud, rq, r, (long)(now_ms() - t0 + 0.5));
  paths_free(rq, u, dpath);
  return t0;
}

void httpd_logged(sceplab_httpd *h, sceplab_httpd_req *rq, const sceplab_httpd_resp *r, double t0)
{
  struct evhttp_uri *u;
  char *dpath;
  if(!h->p.answered || r->drop)
    return;
  paths(rq, &u, &dpath);
  h->p.answered(h->p.ud, rq, r, (long)(now_ms() - t0 + 0.5));
  paths_free(rq, u, dpath);
}
