/* The merged timeline: every log under the paths given (files, directories walked, zip and cab
 * bundles read in one pass, the archives inside them too) as one stream in UTC order.
 * Part of the log bundle (src/core/logs/bundle/): see logs_int.h and bundle.h.
 *
 * Memory and file descriptors stay bounded whatever the bundle holds:
 *  - a large input is streamed: one reader, one record held at a time;
 *  - a small input (at most SMALL_INPUT bytes: a CRS file, a short export) is read whole at open,
 *    its passing records kept in a compact form and its reader closed, so 10,000 CRS files cost
 *    10,000 small buffers, not 10,000 open files and readers;
 *  - a format that may be written newest first (Event Viewer exports) is read whole and sorted;
 *  - a zip is read once, front to back: small members as above, large ones spooled to an unlinked
 *    temporary file and streamed from it (as lnav unpacks archives before reading them); an
 *    archive inside it is spooled and walked the same way, within the limits said below.
 * Kept records are capped (BUFFER_CAP bytes in all); past the cap an input is streamed as written
 * and records out of time order are counted. The merge itself is a binary heap over the inputs'
 * current records, ordered by time, then input, then line.
 *
 * A log without a date (an iOS Console copy) or a zone (Android, Event Viewer exports) is read
 * last: every other input is watched as it is read (infer.c keeps its proven moments), large ones
 * in a pass of their own, and the log is placed where that evidence proves before it is read. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "logs/bundle/bundle.h"

#define SMALL_INPUT (1u << 20)
#define BUFFER_CAP (256u << 20)
#define MAX_DEPTH 32 /* directory nesting followed */

static int by_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(sceplab_merge *m, const char *path, int named, int depth)
{
  struct stat st;
  if(stat(path, &st) != 0) {
    merge_input *in = logs_add_input(m, path, 1);
    sceplab_error e;
    sceplab_err_set(&e, SCEPLAB_E_INPUT, "%s: %s", path, strerror(errno));
    if(in)
      logs_input_error(in, &e);
    return;
  }
  if(S_ISDIR(st.st_mode)) {
    DIR *d = depth < MAX_DEPTH ? opendir(path) : NULL;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i, plen = strlen(path);
    if(!d) {
      merge_input *in = logs_add_input(m, path, 1);
      sceplab_error e;
      sceplab_err_set(&e, SCEPLAB_E_INPUT, "%s: %s", path, depth < MAX_DEPTH ? strerror(errno) : "nested too deep");
      if(in)
        logs_input_error(in, &e);
      return;
    }
    while(plen > 1 && path[plen - 1] == '/') /* "logs/" and "logs" name the same children */
      plen--;
    while((de = readdir(d)) != NULL) {
      char *child;
      if(strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      if(n == cap) {
        char **a = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*a));
        if(!a)
          break;
        names = a;
      }
      child = malloc(plen + strlen(de->d_name) + 2);
      if(!child)
        break;
      sprintf(child, "%.*s/%s", (int)plen, path, de->d_name);
      names[n++] = child;
    }
    closedir(d);
    if(n) /* an empty folder (CertificateRequestStatus/Processing): qsort must not see NULL */
      qsort(names, n, sizeof(*names), by_name);
    for(i = 0; i < n; i++) {
      walk(m, names[i], 0, depth + 1);
      free(names[i]);
    }
    free(names);
    return;
  }
  if(!S_ISREG(st.st_mode) && !named)
    return; /* sockets and devices found in a directory are not logs */
  if(logs_open_zip(m, path, named) == 0)
    logs_open_file(m, path, named);
}

/* ---- the heap ---------------------------------------------------------------------------------- */

static int before(const sceplab_merge *m, size_t a, size_t b)
{
  const sceplab_record *ra = &m->in[a].cur, *rb = &m->in[b].cur;
  int64_t ta = logs_sort_time(ra->time_us), tb = logs_sort_time(rb->time_us);
  if(ta != tb)
    return ta < tb;
  if(a != b)
    return a < b;
  return ra->line < rb->line;
}

static void sift_down(sceplab_merge *m, size_t i)
{
  for(;;) {
    size_t l = 2 * i + 1, r = l + 1, best = i, t;
    if(l < m->nheap && before(m, m->heap[l], m->heap[best]))
      best = l;
    if(r < m->nheap && before(m, m->heap[r], m->heap[best]))
      best = r;
    if(best == i)
      return;
    t = m->heap[i];
    m->heap[i] = m->heap[best];
    m->heap[best] = t;
    i = best;
  }
}

/* Loads input i's next record into cur: 1, 0 when it has no more, -1 on a read error. */
static int advance(sceplab_merge *m, size_t i, sceplab_error *err)
{
  merge_input *in = &m->in[i];
  int rc;
  if(in->pos < in->kept.n) {
    logs_store_get(&in->kept, in->pos++, &in->cur);
    return 1;
  }
  if(in->kept.n) { /* done with what was kept: release it */
    m->kept_bytes -= in->kept.len;
    logs_store_free(&in->kept);
    in->pos = 0;
  }
  if(!in->lg)
    return 0;
  rc = sceplab_log_next(in->lg, &in->cur, err);
  if(rc > 0) {
    if(in->cur.time_us != SCEPLAB_TIME_UNKNOWN) {
      if(in->last_time != SCEPLAB_TIME_UNKNOWN && in->cur.time_us < in->last_time)
        in->info.out_of_order++;
      in->last_time = in->cur.time_us;
    }
    return 1;
  }
  if(rc < 0) {
    /* an error in the middle of a file: what was read stands, the input says what stopped it */
    logs_input_error(in, err);
    in->info.read_error = 1;
  }
  logs_snapshot(in);
  sceplab_log_close(in->lg);
  in->lg = NULL;
  return rc < 0 ? -1 : 0;
}

/* The proven moments of an input being streamed (too large to be read whole at open): a pass of
 * its own, through a second descriptor on the same file (a spooled zip member's too). */
static void prescan(sceplab_merge *m, merge_input *in)
{
  char fdpath[64];
  int fd = in->lg->f ? fileno(in->lg->f) : -1;
  sceplab_log_filter none;
  sceplab_log_opts o;
  sceplab_record r;
  sceplab_error e;
  sceplab_log *lg;
  FILE *f;
  if(fd < 0 || !(in->lg->ft->flags & LOGS_FORCEABLE))
    return;
  snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
  if(!(f = fopen(fdpath, "rb")))
    return;
  memset(&none, 0, sizeof(none));
  none.since_us = none.until_us = SCEPLAB_TIME_UNKNOWN;
  none.min_level = (sceplab_level)(SCEPLAB_LVL_CRITICAL + 1); /* every record watched, none returned */
  memset(&o, 0, sizeof(o));
  o.format = in->lg->ft->name;
  o.has_bias = m->opts.has_bias;
  o.bias = m->opts.bias;
  o.observe = logs_observe;
  o.observe_ud = m;
  sceplab_err_clear(&e);
  if(!(lg = logs_open_stream(f, in->path, &e)) || !(lg = logs_finish_open(lg, in->path, &none, &o, -1, NULL, &e)))
    return;
  m->observing = in->path;
  while(sceplab_log_next(lg, &r, &e) > 0)
    ;
  m->observing = NULL;
  sceplab_log_close(lg);
}

/* The logs put off: placed by the evidence of the others (read whole or prescanned), then read. */
static void place_deferred(sceplab_merge *m)
{
  size_t i;
  int any = 0;
  for(i = 0; i < m->n; i++)
    any |= m->in[i].deferred;
  if(any)
    for(i = 0; i < m->n; i++)
      if(m->in[i].lg && !m->in[i].deferred)
        prescan(m, &m->in[i]);
  for(i = 0; i < m->n; i++)
    if(m->in[i].lg)
      m->in[i].lg->observe = NULL;
  for(i = 0; i < m->n; i++) {
    merge_input *in = &m->in[i];
    if(!in->deferred)
      continue;
    logs_infer(m->ev, in->lg);
    in->deferred = 0;
    if(in->size <= SMALL_INPUT || (in->lg->ft->flags & LOGS_UNORDERED))
      logs_read_whole(m, in, (in->lg->ft->flags & LOGS_UNORDERED) != 0);
  }
  logs_evidence_free(m->ev);
  m->ev = NULL;
  m->opts.observe = NULL;
}

sceplab_merge *sceplab_merge_open(const char *const *paths, size_t npaths, const sceplab_log_filter *filter,
                                  const sceplab_log_opts *opts, sceplab_error *err)
{
  sceplab_merge *m = calloc(1, sizeof(*m));
  size_t i;
  if(!m) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  if(filter)
    m->filter = *filter;
  else
    m->filter.since_us = m->filter.until_us = SCEPLAB_TIME_UNKNOWN;
  if(opts)
    m->opts = *opts;
  if(m->opts.ncounters) {
    /* every reader hands what it counts to one table */
    m->counts.ncounters = m->opts.ncounters;
    m->counts.shift = calloc(m->opts.ncounters, sizeof(*m->counts.shift));
    m->counts.nbuckets = calloc(m->opts.ncounters, sizeof(*m->counts.nbuckets));
    if(!m->counts.shift || !m->counts.nbuckets) {
      free(m->counts.shift);
      free(m->counts.nbuckets);
      free(m);
      sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
      return NULL;
    }
    m->opts.counted = logs_counted;
    m->opts.counted_ud = &m->counts;
  }
  m->ev = logs_evidence_new();
  m->opts.observe = logs_observe;
  m->opts.observe_ud = m;
  for(i = 0; i < npaths; i++)
    walk(m, paths[i], 1, 0);
  place_deferred(m);
  /* a usage error (a bias out of range) is the caller's, not an input's: said once */
  for(i = 0; i < m->n; i++) {
    if(m->in[i].info.usage) {
      sceplab_err_set(err, SCEPLAB_E_USAGE, "%s", m->in[i].info.error);
      sceplab_merge_close(m);
      return NULL;
    }
  }
  m->heap = malloc((m->n ? m->n : 1) * sizeof(*m->heap));
  if(!m->heap) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    sceplab_merge_close(m);
    return NULL;
  }
  for(i = 0; i < m->n; i++) {
    sceplab_error e;
    sceplab_err_clear(&e);
    if((m->in[i].lg || m->in[i].kept.n) && advance(m, i, &e) > 0)
      m->heap[m->nheap++] = i;
  }
  for(i = m->nheap / 2; i-- > 0;)
    sift_down(m, i);
  return m;
}

int sceplab_merge_next(sceplab_merge *m, const sceplab_record **rec, const char **file, sceplab_error *err)
{
  if(m->returned) {
    /* the input returned last moves on, and sinks to its place */
    sceplab_error e;
    sceplab_err_clear(&e);
    m->returned = 0;
    if(advance(m, m->heap[0], &e) <= 0)
      m->heap[0] = m->heap[--m->nheap];
    sift_down(m, 0);
  }
  (void)err;
  if(m->nheap == 0)
    return 0;
  m->last = m->heap[0];
  m->returned = 1;
  *rec = &m->in[m->last].cur;
  if(file)
    *file = m->in[m->last].info.path;
  return 1;
}

size_t sceplab_merge_count(const sceplab_merge *m)
{
  return m->n;
}

const sceplab_merge_input *sceplab_merge_input_at(sceplab_merge *m, size_t i)
{
  if(i >= m->n)
    return NULL;
  logs_snapshot(&m->in[i]); /* a streamed input's counts so far */
  return &m->in[i].info;
}

void sceplab_merge_close(sceplab_merge *m)
{
  size_t i;
  int j;
  if(!m)
    return;
  for(i = 0; i < m->n; i++) {
    merge_input *in = &m->in[i];
    sceplab_log_close(in->lg);
    logs_store_free(&in->kept);
    free(in->path);
    free(in->error);
    for(j = 0; j < 3; j++) {
      free(in->examples[j]);
      free(in->notes[j]);
    }
  }
  for(i = 0; i < m->counts.n; i++) {
    free(m->counts.e[i].key);
    free(m->counts.e[i].first.file);
    free(m->counts.e[i].last.file);
  }
  free(m->counts.e);
  free(m->counts.slot);
  free(m->counts.shift);
  free(m->counts.nbuckets);
  free(m->in);
  free(m->heap);
  free(m);
}
