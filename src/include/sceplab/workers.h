/* sceplab: `sceplab serve --workers N`, pre-fork. The caller makes the listening sockets (serve.h,
 * sceplab_serve_listen); the supervisor forks N workers that inherit them, each serving on its own
 * event loop with its own CA connection (opened in the worker: an SQLite connection never crosses a
 * fork), and the kernel hands each new connection to one of them. A worker that dies is started
 * again (counted in /metrics); SIGTERM drains (the workers stop accepting, answer what they read,
 * exit; the supervisor waits, bounded); SIGHUP starts a new generation of workers (which load the
 * policy and configuration afresh) and, once every one of them listens, drains the old one: the
 * listening socket stays open throughout, so no connection is refused. */
#ifndef SCEPLAB_WORKERS_H
#define SCEPLAB_WORKERS_H

#include "sceplab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a worker is told, in its own process. */
typedef struct sceplab_worker {
  int ready_fd;                 /* write the port and a newline here once listening, then close it */
  unsigned generation;          /* 1, then one more at each SIGHUP */
  unsigned index;               /* 0 .. workers - 1 */
} sceplab_worker;

typedef struct sceplab_workers_params {
  unsigned workers;             /* processes (0: the number of cores) */
  unsigned drain_seconds;       /* SIGTERM: how long the workers may take to finish (0: 10) */
  /* in each new worker process: serves (sceplab_serve with the shared sockets) and returns its
   * exit status (when it cannot start: its error's sceplab_code, which the supervisor's error
   * takes); the supervisor's signal mask and handlers are undone before */
  int (*worker)(void *ud, const sceplab_worker *w);
  void (*ready)(void *ud);      /* the first generation listens, every worker of it */
  void (*say)(void *ud, const char *line); /* a worker died and was restarted, a reload, a drain */
  void *ud;
} sceplab_workers_params;

/* The number of cores online (at least 1). */
unsigned sceplab_cores(void);

/* Supervises until SIGTERM or SIGINT: 0 once every worker exited, or -1 with err when the first
 * generation did not start (a worker exited before it listened: its own error is on stderr). */
int sceplab_workers_run(const sceplab_workers_params *p, sceplab_error *err);

#ifdef __cplusplus
}
#endif
#endif
