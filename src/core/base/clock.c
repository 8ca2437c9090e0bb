/* The one clock (clock.h). The offset is set once when serve starts and again only when the
 * replay that runs it advances its virtual clock, so a request reads a variable, not a file.
 * A replay rewrites its clock file in place (truncate, then write the number), which rules out
 * mapping the file (a mapping reads an empty file in between, SIGBUS) and makes reading it per
 * request a syscall for nothing: the file is watched with inotify instead, and read when a
 * writer closes it. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

static _Atomic int64_t offset;

int64_t sceplab_clock_offset(void) { return atomic_load_explicit(&offset, memory_order_relaxed); }

void sceplab_clock_set_offset(int64_t seconds) { atomic_store_explicit(&offset, seconds, memory_order_relaxed); }

int64_t sceplab_clock_now(void) { return (int64_t)time(NULL) + sceplab_clock_offset(); }

/* The offset the file holds, within a century either way; the clock stays as it was when the
 * file holds nothing readable (a writer between its truncate and its write). */
static void read_file(const char *path)
{
  FILE *f = fopen(path, "r");
  long long off = 0;
  if(!f)
    return;
  if(fscanf(f, "%lld", &off) == 1 && off > -3153600000LL && off < 3153600000LL)
    sceplab_clock_set_offset((int64_t)off);
  fclose(f);
}

int sceplab_clock_follow(const char *path, sceplab_error *err)
{
  char *copy = strdup(path);
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  /* the directory, not the file: a writer that replaces the file (rename) is seen too */
  if(!copy || fd < 0 || inotify_add_watch(fd, dirname(copy), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: cannot watch the clock file: %s", path, strerror(errno));
    if(fd >= 0)
      close(fd);
    free(copy);
    return -1;
  }
  free(copy);
  read_file(path); /* after the watch is set: a write in between is not missed */
  return fd;
}

void sceplab_clock_refresh(int fd, const char *path)
{
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  int changed = 0;
  ssize_t n;
  while((n = read(fd, buf, sizeof(buf))) > 0) {
    char *p = buf;
    while(p < buf + n) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      if(ev->len && !strcmp(ev->name, base))
        changed = 1;
      p += sizeof(*ev) + ev->len;
    }
  }
  if(changed)
    read_file(path);
}
