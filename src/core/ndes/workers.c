/* `sceplab serve --workers N`: the supervisor (sceplab/workers.h). It forks the workers, which
 * inherit the listening sockets the caller made, and then only waits for signals: SIGCHLD (a worker
 * died: start another), SIGHUP (a new generation, then the old one drained), SIGTERM and SIGINT
 * (stop). They are blocked and taken with sigtimedwait, so no handler runs at a bad moment; a
 * worker gets them back unblocked and default, and dies with the supervisor (PR_SET_PDEATHSIG)
 * rather than serve on alone. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "ndes/metrics.h"
#include "sceplab/workers.h"

#define MAX_WORKERS 256         /* 2 x MAX_WORKERS slots: NDES_SLOTS */
#define START_MS 30000          /* a generation must listen within this */
#define FAST_DEATH_MS 1000      /* a worker that dies sooner is restarted after this pause */

typedef struct slot {
  pid_t pid;                    /* 0: free */
  unsigned gen, index;
  int ready_fd;                 /* the read end of its ready pipe, until it said it listens */
  int old;                      /* of a generation being drained */
  double started, restart_at;   /* restart_at > 0: the slot waits to be started again */
} slot;

typedef struct sup {
  const sceplab_workers_params *p;
  ndes_metrics *m;
  slot slots[2 * MAX_WORKERS];
  unsigned n, gen;
  int failed_status;            /* the exit status of a worker that did not start */
  sigset_t mask, oldmask;
} sup;

unsigned sceplab_cores(void)
{
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void say(sup *s, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

static void say(sup *s, const char *fmt, ...)
{
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if(s->p->say)
    s->p->say(s->p->ud, line);
}

static void close_ready(slot *w)
{
  if(w->ready_fd >= 0)
    close(w->ready_fd);
  w->ready_fd = -1;
}

/* The worker's side of a fork: the supervisor's state undone, then the caller's worker. */
static void in_worker(sup *s, slot *w, int wfd, pid_t parent)
{
  sceplab_worker info;
  struct sigaction dfl;
  size_t i;
  int rc;
  for(i = 0; i < sizeof(s->slots) / sizeof(s->slots[0]); i++)
    if(&s->slots[i] != w && s->slots[i].ready_fd >= 0)
      close(s->slots[i].ready_fd);
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGTERM, &dfl, NULL);
  sigaction(SIGINT, &dfl, NULL);
  sigaction(SIGCHLD, &dfl, NULL);
  dfl.sa_handler = SIG_IGN; /* a reload is the supervisor's: a worker never dies of one */
  sigaction(SIGHUP, &dfl, NULL);
  sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
  if(prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
    _exit(1);
  ndes_metrics_slot((unsigned)(w - s->slots));
  memset(&info, 0, sizeof(info));
  info.ready_fd = wfd;
  info.generation = w->gen;
  info.index = w->index;
  rc = s->p->worker(s->p->ud, &info);
  _exit(rc < 0 || rc > 255 ? 1 : rc);
}

static int spawn(sup *s, slot *w, unsigned gen, unsigned index)
{
  int fds[2];
  pid_t parent = getpid(), pid;
  if(pipe2(fds, O_CLOEXEC) != 0)
    return -1;
  w->gen = gen;
  w->index = index;
  w->old = 0;
  w->restart_at = 0;
  w->ready_fd = fds[0];
  fflush(NULL);
  if((pid = fork()) < 0) {
    close(fds[0]);
    close(fds[1]);
    w->ready_fd = -1;
    return -1;
  }
  if(pid == 0) {
    close(fds[0]);
    w->ready_fd = -1;
    in_worker(s, w, fds[1], parent);
  }
  close(fds[1]);
  w->pid = pid;
  w->started = now_ms();
  return 0;
}

static slot *free_slot(sup *s)
{
  size_t i;
  for(i = 0; i < sizeof(s->slots) / sizeof(s->slots[0]); i++)
    if(!s->slots[i].pid && s->slots[i].restart_at <= 0)
      return &s->slots[i];
  return NULL;
}

static void count_workers(sup *s)
{
  size_t i;
  int64_t n = 0;
  for(i = 0; i < sizeof(s->slots) / sizeof(s->slots[0]); i++)
    if(s->slots[i].pid && !s->slots[i].old)
      n++;
  __atomic_store_n(&s->m->workers, n, __ATOMIC_RELAXED);
}

/* Waits until each worker of generation gen said it listens: 0, or -1 when one exited first or
 * the time ran out. */
static int wait_ready(sup *s, unsigned gen)
{
  double end = now_ms() + START_MS;
  for(;;) {
    struct pollfd pf[2 * MAX_WORKERS];
    slot *ws[2 * MAX_WORKERS];
    nfds_t n = 0, k;
    size_t i;
    double left = end - now_ms();
    for(i = 0; i < sizeof(s->slots) / sizeof(s->slots[0]); i++)
      if(s->slots[i].pid && s->slots[i].gen == gen && s->slots[i].ready_fd >= 0) {
        pf[n].fd = s->slots[i].ready_fd;
        pf[n].events = POLLIN;
        ws[n++] = &s->slots[i];
      }
    if(!n)
      return 0;
    if(left <= 0 || poll(pf, n, (int)left) < 0) {
      if(left > 0 && errno == EINTR)
        continue;
      return -1;
    }
    for(k = 0; k < n; k++)
      if(pf[k].revents) {
        char b[16];
        ssize_t got = read(pf[k].fd, b, sizeof(b));
        close_ready(ws[k]);
        if(got <= 0)
          return -1; /* it exited before it listened */
      }
  }
}

/* Ready pipes of restarted workers: read and closed, so that a worker's write never fails. */
static void drain_ready(sup *s)
{
  size_t i;
  for(i = 0; i < sizeof(s->slots) / sizeof(s->slots[0]); i++) {
    slot *w = &s->slots[i];
    struct pollfd pf;
    if(!w->pid || w->ready_fd < 0)
      continue;
    pf.fd = w->ready_fd;
    pf.events = POLLIN;
    if(poll(&pf, 1, 0) == 1) {
      char b[16];
      if(read(w->ready_fd, b, sizeof(b)) < 0)
        errno = 0;
      close_ready(w);
    }
  }
}

static slot *find(sup *s, pid_t pid)
{
  size_t i;
  for(i = 0; i < sizeof(s->slots) / sizeof(s->slots[0]); i++)
    if(s->slots[i].pid == pid)
      return &s->slots[i];
  return NULL;
}

static void describe(int st, char *out, size_t n)
{
  if(WIFSIGNALED(st))
    snprintf(out, n, "was killed by signal %d", WTERMSIG(st));
  else
    snprintf(out, n, "exited with status %d", WEXITSTATUS(st));
}

/* Reaps the workers that exited; one of the serving generation is started again (stopping: 0). */
static void reap(sup *s, int stopping)
{
  pid_t pid;
  int st;
  while((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    slot *w = find(s, pid);
    char how[64];
    if(!w)
      continue;
    close_ready(w);
    w->pid = 0;
    /* what it had in flight died with it */
    __atomic_store_n(&s->m->inflight[w - s->slots], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->m->conns[w - s->slots], 0, __ATOMIC_RELAXED); /* it accepts no more */
    if(stopping || w->old || w->gen != s->gen)
      continue;
    describe(st, how, sizeof(how));
    ndes_metrics_inc(&s->m->restarts);
    /* one that dies at once would die again at once: not in a tight loop */
    w->restart_at = now_ms() - w->started < FAST_DEATH_MS ? now_ms() + FAST_DEATH_MS : now_ms();
    say(s, "worker %u (pid %d) %s: starting another", w->index + 1, (int)pid, how);
  }
  count_workers(s);
}

static void restart_due(sup *s)
{
  size_t i;
  for(i = 0; i < sizeof(s->slots) / sizeof(s->slots[0]); i++) {
    slot *w = &s->slots[i];
    if(!w->pid && w->restart_at > 0 && w->restart_at <= now_ms() && spawn(s, w, w->gen, w->index) != 0) {
      w->restart_at = now_ms() + FAST_DEATH_MS;
      say(s, "cannot start a worker: %s", strerror(errno));
    }
  }
  count_workers(s);
}

static void signal_gen(sup *s, int sig, int old_only)
{
  size_t i;
  for(i = 0; i < sizeof(s->slots) / sizeof(s->slots[0]); i++)
    if(s->slots[i].pid && (!old_only || s->slots[i].old))
      kill(s->slots[i].pid, sig);
}

/* A generation of n workers: 0 once each listens, or -1 (those started are killed and reaped). */
static int start_gen(sup *s, unsigned gen)
{
  unsigned i;
  size_t k;
  for(i = 0; i < s->n; i++) {
    slot *w = free_slot(s);
    if(!w || spawn(s, w, gen, i) != 0)
      break;
  }
  if(i == s->n && wait_ready(s, gen) == 0)
    return 0;
  for(k = 0; k < sizeof(s->slots) / sizeof(s->slots[0]); k++) {
    slot *w = &s->slots[k];
    if(w->gen == gen && w->pid) {
      int st = 0;
      kill(w->pid, SIGKILL);
      while(waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
        ;
      if(WIFEXITED(st) && WEXITSTATUS(st) && !s->failed_status)
        s->failed_status = WEXITSTATUS(st);
      close_ready(w);
      w->pid = 0;
    }
    if(w->gen == gen)
      w->restart_at = 0;
  }
  return -1;
}

/* SIGHUP: the new generation first; the old one is drained only once the new one listens. */
static void reload(sup *s)
{
  size_t k;
  unsigned gen = s->gen + 1;
  say(s, "SIGHUP: starting %u workers with the policy and settings read again", s->n);
  if(start_gen(s, gen) != 0) {
    say(s, "reload failed: a new worker did not start (its error is above); the running ones go on");
    return;
  }
  for(k = 0; k < sizeof(s->slots) / sizeof(s->slots[0]); k++) {
    slot *w = &s->slots[k];
    if(w->gen != gen && (w->pid || w->restart_at > 0)) {
      w->old = 1;
      w->restart_at = 0;
    }
  }
  s->gen = gen;
  signal_gen(s, SIGTERM, 1);
  ndes_metrics_inc(&s->m->reloads);
  __atomic_store_n(&s->m->generation, gen, __ATOMIC_RELAXED);
  count_workers(s);
  say(s, "reloaded: generation %u serves, the previous one drains", gen);
}

/* SIGTERM (drain) or SIGINT: passed on, then every worker waited for, within the drain's time and
 * a margin; those still running then are killed. */
static void stop(sup *s, int sig)
{
  double end = now_ms() + (s->p->drain_seconds ? s->p->drain_seconds : 10) * 1000.0 + 5000.0;
  size_t i;
  int left;
  signal_gen(s, sig, 0);
  for(;;) {
    struct timespec ts = {0, 100000000};
    reap(s, 1);
    for(left = 0, i = 0; i < sizeof(s->slots) / sizeof(s->slots[0]); i++)
      left += s->slots[i].pid != 0;
    if(!left)
      return;
    if(now_ms() > end) {
      say(s, "%d workers still running after the drain: killed", left);
      signal_gen(s, SIGKILL, 0);
      end = now_ms() + 60000.0;
    }
    sigtimedwait(&s->mask, NULL, &ts);
  }
}

int sceplab_workers_run(const sceplab_workers_params *p, sceplab_error *err)
{
  sup *s = calloc(1, sizeof(*s));
  size_t i;
  int sig = 0;
  if(!s)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  s->p = p;
  s->n = p->workers ? p->workers : sceplab_cores();
  if(s->n > MAX_WORKERS) {
    free(s);
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "--workers: at most %d", MAX_WORKERS), -1;
  }
  for(i = 0; i < sizeof(s->slots) / sizeof(s->slots[0]); i++)
    s->slots[i].ready_fd = -1;
  s->m = ndes_metrics_get(); /* the shared counters, before the first fork */
  if(RAND_bytes(s->m->admin_key, sizeof(s->m->admin_key)) != 1) {
    free(s);
    return sceplab_err_set(err, SCEPLAB_E_CRYPTO, "no random bytes"), -1;
  }
  s->m->have_admin_key = 1;
  sigemptyset(&s->mask);
  sigaddset(&s->mask, SIGCHLD);
  sigaddset(&s->mask, SIGTERM);
  sigaddset(&s->mask, SIGINT);
  sigaddset(&s->mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &s->mask, &s->oldmask);
  s->gen = 1;
  __atomic_store_n(&s->m->generation, 1, __ATOMIC_RELAXED);
  if(start_gen(s, 1) != 0) {
    /* its status is its error's class (the CLI's exit codes: 2 usage, 3 input, 4 network) */
    int code = s->failed_status >= SCEPLAB_E_USAGE && s->failed_status <= SCEPLAB_E_CRYPTO ? s->failed_status : SCEPLAB_E_FAILED;
    sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
    free(s);
    return sceplab_err_set(err, (sceplab_code)code, "a worker did not start (its error is above)"), -1;
  }
  count_workers(s);
  if(p->ready)
    p->ready(p->ud);
  while(sig != SIGTERM && sig != SIGINT) {
    struct timespec ts = {0, 200000000};
    sig = sigtimedwait(&s->mask, NULL, &ts);
    reap(s, 0);
    restart_due(s);
    drain_ready(s);
    if(sig == SIGHUP)
      reload(s);
  }
  say(s, sig == SIGTERM ? "SIGTERM: the workers finish the requests in flight and exit" : "SIGINT: stopping");
  stop(s, sig);
  __atomic_store_n(&s->m->workers, 0, __ATOMIC_RELAXED);
  sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
  free(s);
  return 0;
}
