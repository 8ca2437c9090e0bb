/* serve's /metrics: the shared counters (metrics.h) and their Prometheus text exposition. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "base/base_int.h"
#include "ndes/metrics.h"
#include "sceplab/scep.h"
#include "sceplab/serve.h"

static ndes_metrics *shared;
static unsigned my_slot;      /* 0: a single process */
static int in_worker;         /* one of several processes on a socket (ndes_metrics_slot) */
static ndes_metrics fallback; /* when no mapping can be made: this process's counts only */

static const char *const op_names[NDES_OP_N] = {"GetCACaps", "GetCACert", "GetNextCACert", "PKIOperation", "other"};
static const char *const enroll_names[NDES_ENROLL_N] = {"issued", "pending", "failure", "error"};
static const char *const decide_names[NDES_DECIDE_N] = {"allow", "deny", "pending", "error"};
/* upper bounds in seconds: an enrollment takes milliseconds, a slow CA seconds */
static const double bounds[NDES_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

ndes_metrics *ndes_metrics_get(void)
{
  if(!shared) {
    void *m = mmap(NULL, sizeof(ndes_metrics), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    shared = m == MAP_FAILED ? &fallback : m;
    _Static_assert(SCEPLAB_TALLY_N <= sizeof(shared->counts) / sizeof(shared->counts[0]), "a slot for every tally");
    sceplab_tally_place(shared->counts);
  }
  return shared;
}

void ndes_metrics_inc(uint64_t *counter) { __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }
void ndes_metrics_add(int64_t *gauge, int64_t delta) { __atomic_fetch_add(gauge, delta, __ATOMIC_RELAXED); }
void ndes_metrics_slot(unsigned slot)
{
  my_slot = slot < NDES_SLOTS ? slot : 0;
  in_worker = 1;
}

int ndes_metrics_conns(int n)
{
  ndes_metrics *m;
  int64_t mine = n < 0 ? 0 : (int64_t)n + 1;
  unsigned i;
  if(!in_worker)
    return 0;
  m = ndes_metrics_get();
  __atomic_store_n(&m->conns[my_slot], mine, __ATOMIC_RELAXED);
  for(i = 0; mine > 1 && i < NDES_SLOTS; i++) {
    int64_t c = i == my_slot ? 0 : __atomic_load_n(&m->conns[i], __ATOMIC_RELAXED);
    if(c > 0 && c < mine)
      return 1;
  }
  return 0;
}
void ndes_metrics_inflight(int delta) { ndes_metrics_add(&ndes_metrics_get()->inflight[my_slot], delta); }

int ndes_metrics_op(const char *query)
{
  const char *p = query;
  size_t i;
  while(p && *p) {
    if(!strncasecmp(p, "operation=", 10)) {
      p += 10;
      for(i = 0; i < NDES_OP_OTHER; i++) {
        size_t n = strlen(op_names[i]);
        if(!strncasecmp(p, op_names[i], n) && (p[n] == '\0' || p[n] == '&'))
          return (int)i;
      }
      return NDES_OP_OTHER;
    }
    p = strchr(p, '&');
    p = p ? p + 1 : NULL;
  }
  return NDES_OP_OTHER;
}

void ndes_metrics_took(int op, double ms)
{
  ndes_metrics *m = ndes_metrics_get();
  int b = 0;
  if(op < 0 || op >= NDES_OP_N)
    op = NDES_OP_OTHER;
  while(b < NDES_BUCKETS && ms / 1000.0 > bounds[b])
    b++;
  if(b < NDES_BUCKETS)
    ndes_metrics_inc(&m->bucket[op][b]);
  ndes_metrics_inc(&m->count[op]);
  __atomic_fetch_add(&m->sum_us[op], (uint64_t)(ms * 1000.0 + 0.5), __ATOMIC_RELAXED);
}

void ndes_metrics_enrolled(int rc, int status)
{
  ndes_metrics *m = ndes_metrics_get();
  int k = rc != 0 ? NDES_ENROLL_ERROR : status == SCEPLAB_STATUS_SUCCESS ? NDES_ENROLL_ISSUED
        : status == SCEPLAB_STATUS_PENDING ? NDES_ENROLL_PENDING : NDES_ENROLL_FAILURE;
  ndes_metrics_inc(&m->enroll[k]);
}

void ndes_metrics_decided(int decision)
{
  ndes_metrics *m = ndes_metrics_get();
  int k = decision == SCEPLAB_POLICY_ALLOW ? NDES_DECIDE_ALLOW : decision == SCEPLAB_POLICY_DENY ? NDES_DECIDE_DENY
        : decision == SCEPLAB_POLICY_PENDING ? NDES_DECIDE_PENDING : NDES_DECIDE_ERROR;
  ndes_metrics_inc(&m->decided[k]);
}

/* ---- the exposition ------------------------------------------------------------------------- */

typedef struct out { char *b; size_t n, cap; int failed; } out;

static void put(out *o, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

static void put(out *o, const char *fmt, ...)
{
  va_list ap;
  int k;
  if(o->failed)
    return;
  for(;;) {
    va_start(ap, fmt);
    k = vsnprintf(o->b + o->n, o->cap - o->n, fmt, ap);
    va_end(ap);
    if(k < 0) {
      o->failed = 1;
      return;
    }
    if((size_t)k < o->cap - o->n) {
      o->n += (size_t)k;
      return;
    }
    {
      size_t cap = o->cap * 2 + (size_t)k;
      char *nb = realloc(o->b, cap);
      if(!nb) {
        o->failed = 1;
        return;
      }
      o->b = nb;
      o->cap = cap;
    }
  }
}

static uint64_t load(const uint64_t *v) { return __atomic_load_n(v, __ATOMIC_RELAXED); }

static void family(out *o, const char *name, const char *type, const char *help)
{
  put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void ndes_metrics_handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp)
{
  ndes_metrics *m = ndes_metrics_get();
  out o = {NULL, 0, 0, 0};
  int i, b;
  (void)ud;
  (void)rq;
  if(!(o.b = malloc(o.cap = 8192))) {
    resp->status = 500;
    return;
  }
  family(&o, "sceplab_enrollments_total", "counter", "PKCSReq and RenewalReq answered, by outcome (error: the store, the policy or the CA failed: HTTP 500).");
  for(i = 0; i < NDES_ENROLL_N; i++)
    put(&o, "sceplab_enrollments_total{outcome=\"%s\"} %llu\n", enroll_names[i], (unsigned long long)load(&m->enroll[i]));
  family(&o, "sceplab_policy_decisions_total", "counter", "The challenge policy's answers, by decision (error: the policy failed).");
  for(i = 0; i < NDES_DECIDE_N; i++)
    put(&o, "sceplab_policy_decisions_total{decision=\"%s\"} %llu\n", decide_names[i], (unsigned long long)load(&m->decided[i]));
  family(&o, "sceplab_request_duration_seconds", "histogram", "Time to answer a request of the SCEP URL, by operation.");
  for(i = 0; i < NDES_OP_N; i++) {
    uint64_t cum = 0;
    for(b = 0; b < NDES_BUCKETS; b++) {
      cum += load(&m->bucket[i][b]);
      put(&o, "sceplab_request_duration_seconds_bucket{operation=\"%s\",le=\"%g\"} %llu\n", op_names[i], bounds[b],
          (unsigned long long)cum);
    }
    put(&o, "sceplab_request_duration_seconds_bucket{operation=\"%s\",le=\"+Inf\"} %llu\n", op_names[i],
        (unsigned long long)load(&m->count[i]));
    put(&o, "sceplab_request_duration_seconds_sum{operation=\"%s\"} %.6f\n", op_names[i], (double)load(&m->sum_us[i]) / 1e6);
    put(&o, "sceplab_request_duration_seconds_count{operation=\"%s\"} %llu\n", op_names[i], (unsigned long long)load(&m->count[i]));
  }
  family(&o, "sceplab_database_errors_total", "counter", "Statements of the CA's database that failed.");
  put(&o, "sceplab_database_errors_total %llu\n", (unsigned long long)load(&m->counts[SCEPLAB_TALLY_DB_ERROR]));
  family(&o, "sceplab_database_reconnects_total", "counter", "Connections to the CA's database made again after it was lost.");
  put(&o, "sceplab_database_reconnects_total %llu\n", (unsigned long long)load(&m->counts[SCEPLAB_TALLY_DB_RECONNECT]));
  family(&o, "sceplab_database_syncs_total", "counter", "Syncs of the CA's SQLite WAL made beside the loop (each covers every commit before it).");
  put(&o, "sceplab_database_syncs_total %llu\n", (unsigned long long)load(&m->counts[SCEPLAB_TALLY_DB_SYNC]));
  family(&o, "sceplab_database_synced_commits_total", "counter", "Commits those syncs covered (commits per sync: how many shared one).");
  put(&o, "sceplab_database_synced_commits_total %llu\n", (unsigned long long)load(&m->counts[SCEPLAB_TALLY_DB_SYNC_COMMITS]));
  family(&o, "sceplab_database_sync_seconds_total", "counter", "Time spent in those syncs (the disk's flush; answers that committed wait for it).");
  put(&o, "sceplab_database_sync_seconds_total %.6f\n", (double)load(&m->counts[SCEPLAB_TALLY_DB_SYNC_US]) / 1e6);
  family(&o, "sceplab_requests_in_flight", "gauge", "Requests read in part or whole and not answered yet, every worker's.");
  {
    long long inflight = 0;
    for(i = 0; i < NDES_SLOTS; i++)
      inflight += (long long)__atomic_load_n(&m->inflight[i], __ATOMIC_RELAXED);
    put(&o, "sceplab_requests_in_flight %lld\n", inflight);
  }
  family(&o, "sceplab_workers", "gauge", "Worker processes serving (1: a single process).");
  put(&o, "sceplab_workers %lld\n", (long long)__atomic_load_n(&m->workers, __ATOMIC_RELAXED));
  family(&o, "sceplab_worker_restarts_total", "counter", "Workers that died and were started again.");
  put(&o, "sceplab_worker_restarts_total %llu\n", (unsigned long long)load(&m->restarts));
  family(&o, "sceplab_reloads_total", "counter", "SIGHUP reloads that started a new generation of workers.");
  put(&o, "sceplab_reloads_total %llu\n", (unsigned long long)load(&m->reloads));
  if(o.failed) {
    free(o.b);
    resp->status = 500;
    return;
  }
  resp->status = 200;
  resp->type = "text/plain; version=0.0.4; charset=utf-8";
  resp->body = (unsigned char *)o.b;
  resp->len = o.n;
}
