/* A tick on serve's loop (serve.h's tick): a timerfd the loop watches, so a periodic job (Intune's
 * revocation requests) runs between requests and never beside one. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "ndes/ndes_int.h"

static void ticked(void *ud, int fd)
{
  ndes_server *s = ud;
  uint64_t n;
  if(read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
    return; /* not due yet */
  s->p->tick(s->p->ud);
}

int ndes_tick_start(ndes_server *s, sceplab_error *err)
{
  struct itimerspec its;
  unsigned secs = s->p->tick_seconds ? s->p->tick_seconds : 60;
  memset(&its, 0, sizeof(its));
  its.it_value.tv_sec = its.it_interval.tv_sec = (time_t)secs;
  s->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if(s->tick_fd < 0 || timerfd_settime(s->tick_fd, 0, &its, NULL) != 0)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "timerfd: %s", strerror(errno)), -1;
  return sceplab_httpd_watch(s->httpd, s->tick_fd, ticked, s, err);
}

static void woken(void *ud, int fd)
{
  ndes_server *s = ud;
  uint64_t n;
  while(read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
    ; /* an eventfd reads once; a pipe may hold several */
  s->p->wake(s->p->ud);
  sceplab_httpd_resume(s->httpd);
  sceplab_httpd_check_drained(s->httpd); /* a drain may have waited for what just ended */
}

int ndes_wake_start(ndes_server *s, sceplab_error *err)
{
  if(s->p->wake_fd < 0)
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "a wake callback needs its descriptor"), -1;
  return sceplab_httpd_watch(s->httpd, s->p->wake_fd, woken, s, err);
}
