/* The merge's inputs: each file or archive member opened, then read whole (small, or written
 * newest first), put off until the bundle's evidence places it (no date or zone of its own), or
 * streamed. Part of the log bundle (src/core/logs/bundle/): see bundle.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "logs/bundle/bundle.h"

merge_input *logs_add_input(sceplab_merge *m, const char *path, int named)
{
  merge_input *in;
  if(m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    merge_input *a = realloc(m->in, cap * sizeof(*a));
    if(!a)
      return NULL;
    m->in = a;
    m->cap = cap;
  }
  in = &m->in[m->n];
  memset(in, 0, sizeof(*in));
  in->path = logs_utf8_dup(path); /* shown, never opened: as UTF-8 whatever the file system held */
  in->info.path = in->path;
  in->info.named = named;
  in->last_time = SCEPLAB_TIME_UNKNOWN;
  if(!in->path)
    return NULL;
  m->n++;
  return in;
}

void logs_input_error(merge_input *in, const sceplab_error *e)
{
  free(in->error);
  in->error = logs_utf8_dup(e->msg[0] ? e->msg : "cannot be read"); /* it may quote a path or a line */
  in->info.error = in->error;
}

/* Takes the reader's counts once it is done with (or before it is closed). */
void logs_snapshot(merge_input *in)
{
  int i;
  const char *ex;
  if(!in->lg)
    return;
  in->info.format = sceplab_log_format(in->lg);
  in->info.why = sceplab_log_why(in->lg);
  in->info.records = sceplab_log_records(in->lg);
  in->info.skipped = sceplab_log_skipped(in->lg);
  for(i = 1; i <= 6; i++)
    in->info.steps[i] = sceplab_log_step_records(in->lg, i);
  for(i = 0; i < 3 && (ex = sceplab_log_skip_example(in->lg, i)) != NULL; i++) {
    free(in->examples[i]);
    in->examples[i] = strdup(ex);
    in->info.examples[i] = in->examples[i];
  }
  {
    sceplab_log_time_info t;
    const char **slot[3];
    sceplab_log_times(in->lg, &t);
    in->info.times = t;
    slot[0] = &in->info.times.date_note;
    slot[1] = &in->info.times.offset_note;
    slot[2] = &in->info.times.order_note;
    for(i = 0; i < 3; i++) {
      /* the reader's strings go with it: the input keeps copies */
      char *copy = *slot[i] ? strdup(*slot[i]) : NULL;
      free(in->notes[i]);
      in->notes[i] = copy;
      *slot[i] = copy;
    }
  }
}

/* Every record the readers parse, before the filter: the evidence of the bundle's times. */
void logs_observe(void *ud, const sceplab_record *r)
{
  sceplab_merge *m = ud;
  if(m->ev && m->observing)
    logs_evidence_add(m->ev, r, m->observing);
}

/* A log without a date or a zone that nothing else proves waits for the evidence of the others:
 * 1 when it is put off (its text read ahead whole), 0 when it is read now. */
int logs_defer(sceplab_merge *m, merge_input *in)
{
  sceplab_error e;
  sceplab_err_clear(&e);
  if(!m->ev || m->deferred_bytes >= BUFFER_CAP || !logs_wants_bundle_time(in->lg, &e))
    return 0;
  /* held as text until placed, within the cap kept records have too: past it, read as written */
  m->deferred_bytes += in->lg->end - in->lg->start;
  in->deferred = 1;
  in->lg->observe = NULL; /* its own records prove nothing */
  return 1;
}

/* Reads an input whole into kept (sorted by time), or stops at the buffer cap and leaves it to be
 * streamed from where it is: 1 read whole, 0 streamed, -1 a read error (recorded on the input). */
int logs_read_whole(sceplab_merge *m, merge_input *in, int sort)
{
  sceplab_record r;
  sceplab_error e;
  int rc;
  size_t before = in->kept.len;
  sceplab_err_clear(&e);
  m->observing = in->path;
  while(m->kept_bytes + (in->kept.len - before) < BUFFER_CAP && (rc = sceplab_log_next(in->lg, &r, &e)) > 0) {
    if(logs_store_add(&in->kept, &r) != 0) {
      sceplab_err_set(&e, SCEPLAB_E_NOMEM, "%s: out of memory keeping its records", in->info.path);
      rc = -1;
      break;
    }
  }
  m->observing = NULL;
  m->kept_bytes += in->kept.len - before;
  if(m->kept_bytes >= BUFFER_CAP && rc > 0) {
    /* over the cap: what was read is returned first, the rest streamed as written */
    in->info.partly_sorted = 1;
    return 0;
  }
  if(rc < 0) {
    logs_input_error(in, &e);
    in->info.read_error = 1;
  }
  logs_snapshot(in);
  sceplab_log_close(in->lg);
  in->lg = NULL;
  if(sort && in->kept.n > 1) {
    qsort_r(in->kept.at, in->kept.n, sizeof(*in->kept.at), logs_by_time_then_line, &in->kept);
    in->info.sorted = 1;
  }
  return rc < 0 ? -1 : 1;
}

/* Opened reader: read whole when small or newest-first, else streamed. */
void logs_start_input(sceplab_merge *m, merge_input *in, uint64_t size)
{
  int unordered = (in->lg->ft->flags & LOGS_UNORDERED) != 0;
  in->info.format = sceplab_log_format(in->lg);
  in->info.why = sceplab_log_why(in->lg);
  in->size = size;
  if(logs_defer(m, in))
    return;
  if(size <= SMALL_INPUT || unordered)
    logs_read_whole(m, in, unordered);
}

void logs_open_file(sceplab_merge *m, const char *path, int named)
{
  merge_input *in = logs_add_input(m, path, named);
  sceplab_error e;
  struct stat st;
  if(!in)
    return;
  const char *binary = NULL;
  sceplab_err_clear(&e);
  in->lg = logs_open_raw(path, &e);
  if(in->lg)
    in->lg = logs_finish_open(in->lg, path, &m->filter, &m->opts, stat(path, &st) == 0 ? (int64_t)st.st_mtime : -1,
                              &binary, &e);
  if(!in->lg) {
    logs_input_error(in, &e);
    in->info.binary = binary != NULL;
    if(e.code == SCEPLAB_E_USAGE)
      in->info.usage = 1;
    return;
  }
  logs_start_input(m, in, stat(path, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX);
}
