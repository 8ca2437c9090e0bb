/* serve's /metrics (Prometheus text format) on the admin listener: counters kept in one anonymous
 * shared mapping made before the supervisor forks its workers, so every worker adds to the same
 * ones and a scrape answered by any worker shows them all. Relaxed atomics: each is a count. */
#ifndef SCEPLAB_NDES_METRICS_H
#define SCEPLAB_NDES_METRICS_H

#include <stdint.h>

#include "ndes/httpd.h"

enum { NDES_OP_GETCACAPS, NDES_OP_GETCACERT, NDES_OP_GETNEXTCACERT, NDES_OP_PKIOPERATION, NDES_OP_OTHER, NDES_OP_N };
enum { NDES_ENROLL_ISSUED, NDES_ENROLL_PENDING, NDES_ENROLL_FAILURE, NDES_ENROLL_ERROR, NDES_ENROLL_N };
enum { NDES_DECIDE_ALLOW, NDES_DECIDE_DENY, NDES_DECIDE_PENDING, NDES_DECIDE_ERROR, NDES_DECIDE_N };
#define NDES_BUCKETS 13
#define NDES_SLOTS 512          /* the supervisor's worker slots (workers.c) */

typedef struct ndes_metrics {
  uint64_t counts[8];           /* base/count.c's slots (the store's errors and syncs) */
  uint64_t enroll[NDES_ENROLL_N];
  uint64_t decided[NDES_DECIDE_N];
  uint64_t bucket[NDES_OP_N][NDES_BUCKETS]; /* not cumulative: the scrape sums them */
  uint64_t count[NDES_OP_N];
  uint64_t sum_us[NDES_OP_N];
  int64_t inflight[NDES_SLOTS]; /* per worker slot: a worker killed mid-request has its slot zeroed */
  int64_t conns[NDES_SLOTS];    /* per worker slot: its open connections + 1 while it accepts, else 0 */
  int64_t workers;
  uint64_t restarts, reloads, generation;
  /* not a metric, shared the same way: the admin form's token key, made by the supervisor before it
   * forks, so a form one worker made is taken by another (0 in a single process: admin.c makes one) */
  int have_admin_key;
  unsigned char admin_key[32];
} ndes_metrics;

/* The process's counters: made (shared, anonymous) on first use, so before the first fork. */
ndes_metrics *ndes_metrics_get(void);
/* The operation a SCEP query names (operation=...). */
int ndes_metrics_op(const char *query);
void ndes_metrics_took(int op, double ms);
/* An enrollment (PKCSReq, RenewalReq) answered: rc -1 (the store, the policy or the CA failed), else
 * its pkiStatus (0 issued, 2 failure, 3 pending). */
void ndes_metrics_enrolled(int rc, int status);
/* A policy's answer: -1 when it failed, else its sceplab_policy_decision. */
void ndes_metrics_decided(int decision);
void ndes_metrics_add(int64_t *gauge, int64_t delta);
/* This process's requests in flight move by delta (its worker slot's gauge). */
void ndes_metrics_inflight(int delta);
/* A worker's open connections are n (-1: it accepts no more, draining): published in its slot.
 * 1 when another worker that accepts holds fewer, so this one should let it take the next; 0
 * otherwise, and always in a single process. */
int ndes_metrics_conns(int n);
/* A worker process: the slot its in-flight requests are counted in (the supervisor zeroes it
 * when the worker dies). */
void ndes_metrics_slot(unsigned slot);
void ndes_metrics_inc(uint64_t *counter);
/* The /metrics route's handler (ud unused). */
void ndes_metrics_handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp);

#endif
