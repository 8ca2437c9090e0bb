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

/* ---- records kept in a compact form ---------------------------------------------------------- */

/* The numbers of a record, as stored; the strings follow as (u32 length, bytes) in VIEWS then
 * ARRAYS order. */
typedef struct packed_head {
  int64_t time_us, win32_status;
  uint64_t line, offset, scep_message_length;
  long event_id, http_status, http_substatus, time_taken_ms;
  const char *source, *hresult_name, *date_source, *offset_source;
  int utc_offset_min, step;
  unsigned char zone_assumed, time_inferred, date_assumed, level;
} packed_head;

#define VIEWS(X) X(time_text) X(host) X(component) X(message) X(method) X(url) X(query) X(client_ip) \
  X(user_agent) X(scep_operation) X(platform) X(thread) X(context) X(file_attr) X(origin)
#define ARRAYS(X) X(hresult) X(request_id) X(transaction_id) X(device_id) X(user_id) X(thumbprint)

typedef struct rec_store {
  unsigned char *data;
  size_t len, cap;
  size_t *at;           /* offset of each record */
  size_t n, ncap;
} rec_store;

static int store_grow(rec_store *s, size_t need)
{
  if(s->len + need > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    unsigned char *d;
    while(cap < s->len + need)
      cap *= 2;
    if(!(d = realloc(s->data, cap)))
      return -1;
    s->data = d;
    s->cap = cap;
  }
  return 0;
}

static size_t packed_size(const sceplab_record *r)
{
  size_t n = sizeof(packed_head);
#define VLEN(f) n += 4 + r->f.n;
#define ALEN(f) n += 4 + strlen(r->f);
  VIEWS(VLEN) ARRAYS(ALEN)
#undef VLEN
#undef ALEN
  return n;
}

static void put_bytes(unsigned char **o, const char *p, size_t n)
{
  uint32_t len = (uint32_t)n;
  memcpy(*o, &len, 4);
  if(n)
    memcpy(*o + 4, p, n);
  *o += 4 + n;
}

static int store_add(rec_store *s, const sceplab_record *r)
{
  size_t need = packed_size(r);
  packed_head h;
  unsigned char *o;
  if(need > UINT32_MAX || store_grow(s, need) != 0)
    return -1;
  if(s->n == s->ncap) {
    size_t cap = s->ncap ? s->ncap * 2 : 64;
    size_t *at = realloc(s->at, cap * sizeof(*at));
    if(!at)
      return -1;
    s->at = at;
    s->ncap = cap;
  }
  memset(&h, 0, sizeof(h));
  h.time_us = r->time_us;
  h.win32_status = r->win32_status;
  h.line = r->line;
  h.offset = r->offset;
  h.scep_message_length = r->scep_message_length;
  h.event_id = r->event_id;
  h.http_status = r->http_status;
  h.http_substatus = r->http_substatus;
  h.time_taken_ms = r->time_taken_ms;
  h.source = r->source;
  h.hresult_name = r->hresult_name;
  h.date_source = r->date_source;
  h.offset_source = r->offset_source;
  h.utc_offset_min = r->utc_offset_min;
  h.step = r->step;
  h.zone_assumed = (unsigned char)r->zone_assumed;
  h.time_inferred = (unsigned char)r->time_inferred;
  h.date_assumed = (unsigned char)r->date_assumed;
  h.level = (unsigned char)r->level;
  s->at[s->n++] = s->len;
  o = s->data + s->len;
  memcpy(o, &h, sizeof(h));
  o += sizeof(h);
#define VPUT(f) put_bytes(&o, r->f.p, r->f.n);
#define APUT(f) put_bytes(&o, r->f, strlen(r->f));
  VIEWS(VPUT) ARRAYS(APUT)
#undef VPUT
#undef APUT
  s->len += need;
  return 0;
}

/* The record at position i, its strings pointing into the store. */
static void store_get(const rec_store *s, size_t i, sceplab_record *r)
{
  const unsigned char *p = s->data + s->at[i];
  packed_head h;
  uint32_t len;
  memcpy(&h, p, sizeof(h));
  p += sizeof(h);
  memset(r, 0, sizeof(*r));
  r->time_us = h.time_us;
  r->win32_status = h.win32_status;
  r->line = h.line;
  r->offset = h.offset;
  r->scep_message_length = (size_t)h.scep_message_length;
  r->event_id = h.event_id;
  r->http_status = h.http_status;
  r->http_substatus = h.http_substatus;
  r->time_taken_ms = h.time_taken_ms;
  r->source = h.source;
  r->hresult_name = h.hresult_name;
  r->date_source = h.date_source;
  r->offset_source = h.offset_source;
  r->utc_offset_min = h.utc_offset_min;
  r->step = h.step;
  r->zone_assumed = h.zone_assumed;
  r->time_inferred = h.time_inferred;
  r->date_assumed = h.date_assumed;
  r->level = (sceplab_level)h.level;
#define VGET(f) memcpy(&len, p, 4); r->f.p = len ? (const char *)p + 4 : NULL; r->f.n = len; p += 4 + len;
#define AGET(f) memcpy(&len, p, 4); if(len >= sizeof(r->f)) len = sizeof(r->f) - 1; \
                memcpy(r->f, p + 4, len); r->f[len] = '\0'; memcpy(&len, p, 4); p += 4 + len;
  VIEWS(VGET) ARRAYS(AGET)
#undef VGET
#undef AGET
}

static void store_free(rec_store *s)
{
  free(s->data);
  free(s->at);
  memset(s, 0, sizeof(*s));
}

/* Records with no time sort first, as they keep their place at the start of their file. */
static int64_t sort_time(int64_t t)
{
  return t == SCEPLAB_TIME_UNKNOWN ? INT64_MIN : t;
}

static int by_time_then_line(const void *a, const void *b, void *store)
{
  const rec_store *sorting = store;
  const unsigned char *pa = sorting->data + *(const size_t *)a, *pb = sorting->data + *(const size_t *)b;
  packed_head ha, hb;
  int64_t ta, tb;
  memcpy(&ha, pa, sizeof(ha));
  memcpy(&hb, pb, sizeof(hb));
  ta = sort_time(ha.time_us);
  tb = sort_time(hb.time_us);
  if(ta != tb)
    return ta < tb ? -1 : 1;
  return ha.line < hb.line ? -1 : ha.line > hb.line;
}

/* ---- inputs ------------------------------------------------------------------------------------ */

typedef struct merge_input {
  sceplab_merge_input info;     /* what the caller sees: path, format, counts, error */
  sceplab_log *lg;              /* streamed: the reader, its current record in cur */
  rec_store kept;               /* read whole: the records, in order */
  size_t pos;
  sceplab_record cur;
  int has_cur;
  int64_t last_time;
  uint64_t size;                /* bytes, for the choice of reading whole or streaming */
  int deferred;                 /* read once the bundle's evidence has placed it (infer.c) */
  char *path, *error, *examples[3]; /* owned; info points at them */
  char *notes[3];               /* owned: the time notes info.times points at */
} merge_input;

/* The counts of opts.counters: entries by (counter, key) in an open-addressing table. A record
 * with a request or transaction id is counted under it (at most COUNT_IDS_MAX ids); any other under
 * its time bucket: a minute at first, and when a counter has COUNT_BUCKETS_MAX buckets, twice as
 * wide (neighbours merged). Memory stays bounded whatever the log's length or rate: a week of a
 * busy NDES's successes is a few thousand entries, however many records they count. */
#define COUNT_IDS_MAX 4096
#define COUNT_BUCKETS_MAX 1024

typedef struct count_table {
  sceplab_count *e;
  size_t n, cap;
  uint32_t *slot; /* entry index + 1 */
  size_t nslots;
  size_t nids;                /* entries keyed by an id */
  size_t ncounters;
  unsigned char *shift;       /* per counter: buckets are 1 << shift minutes wide */
  size_t *nbuckets;           /* per counter: entries keyed by time */
} count_table;
struct sceplab_merge {
  count_table counts;
  merge_input *in;
  size_t n, cap;
  size_t *heap, nheap;
  size_t last;                  /* the input whose record was returned last, advanced on the next call */
  int returned;
  size_t kept_bytes;
  size_t deferred_bytes;        /* text of the logs put off, held until they are placed */
  sceplab_log_filter filter;
  sceplab_log_opts opts;
  logs_evidence *ev;            /* the bundle's proven moments, while the inputs are opened */
  const char *observing;        /* the input being read whole, whose records are evidence */
};

static uint32_t count_hash(size_t counter, const char *key)
{
  uint32_t h = 2166136261u ^ (uint32_t)counter;
  for(; *key; key++)
    h = (h ^ (unsigned char)*key) * 16777619u;
  return h;
}

/* The slots for the entries as they are, in a table of nslots (a power of two). */
static int count_rehash(count_table *t, size_t nslots)
{
  size_t i;
  uint32_t *slot = calloc(nslots, sizeof(*slot));
  if(!slot)
    return -1;
  for(i = 0; i < t->n; i++) {
    size_t j = count_hash(t->e[i].counter, t->e[i].key) & (nslots - 1);
    while(slot[j])
      j = (j + 1) & (nslots - 1);
    slot[j] = (uint32_t)i + 1;
  }
  free(t->slot);
  t->slot = slot;
  t->nslots = nslots;
  return 0;
}

static sceplab_count *count_find(const count_table *t, size_t counter, const char *key)
{
  size_t j;
  if(!t->nslots)
    return NULL;
  for(j = count_hash(counter, key) & (t->nslots - 1); t->slot[j]; j = (j + 1) & (t->nslots - 1)) {
    sceplab_count *c = &t->e[t->slot[j] - 1];
    if(c->counter == counter && strcmp(c->key, key) == 0)
      return c;
  }
  return NULL;
}

static void seen_set(sceplab_count_seen *s, const sceplab_record *r, const char *path)
{
  size_t n = r->message.n < sizeof(s->text) - 1 ? r->message.n : sizeof(s->text) - 1;
  const char *file = r->origin.n ? NULL : path;
  s->time_us = r->time_us;
  s->line = r->line;
  if(!s->file || strcmp(s->file, file ? file : "") != 0) {
    free(s->file);
    s->file = file ? strdup(file) : strndup(r->origin.p, r->origin.n);
  }
  if(n)
    memcpy(s->text, r->message.p, n);
  s->text[n] = '\0';
}

static void seen_free(sceplab_count_seen *s)
{
  free(s->file);
  s->file = NULL;
}

static void time_key(char *key, size_t len, int64_t bucket, int shift)
{
  snprintf(key, len, "minutes:%lld+%d", (long long)bucket << shift, 1 << shift);
}

/* Halves the number of a counter's time buckets: each pair of neighbours becomes one entry, with
 * the earlier first record, the later last one and both counts. */
static int count_widen(count_table *t, size_t counter)
{
  size_t i, kept = 0;
  int shift = ++t->shift[counter];
  for(i = 0; i < t->n; i++) {
    sceplab_count *c = &t->e[i];
    if(c->counter == counter && c->timed) {
      char key[64];
      c->bucket >>= 1; /* floor: an arithmetic shift, as time buckets before 1970 need */
      time_key(key, sizeof(key), c->bucket, shift);
      free(c->key);
      if(!(c->key = strdup(key)))
        return -1;
    }
  }
  /* the slots rebuilt entry by entry: an entry whose key is already there merges into that one */
  memset(t->slot, 0, t->nslots * sizeof(*t->slot));
  t->nbuckets[counter] = 0;
  for(i = 0; i < t->n; i++) {
    sceplab_count *c = &t->e[i], *into = c->counter == counter && c->timed ? count_find(t, counter, c->key) : NULL;
    size_t j;
    if(into) {
      into->count += c->count;
      if(c->first.time_us < into->first.time_us) {
        seen_free(&into->first);
        into->first = c->first;
      }
      else
        seen_free(&c->first);
      if(c->last.time_us >= into->last.time_us) {
        seen_free(&into->last);
        into->last = c->last;
      }
      else
        seen_free(&c->last);
      free(c->key);
      continue;
    }
    if(c->counter == counter && c->timed)
      t->nbuckets[counter]++;
    if(kept != i)
      t->e[kept] = *c;
    for(j = count_hash(t->e[kept].counter, t->e[kept].key) & (t->nslots - 1); t->slot[j]; j = (j + 1) & (t->nslots - 1))
      ;
    t->slot[j] = (uint32_t)++kept;
  }
  t->n = kept;
  return 0;
}

/* The counters' callback: one more record for (counter, key). */
static void counted(void *ud, size_t counter, const sceplab_record *r, const char *path)
{
  count_table *t = ud;
  char key[300];
  sceplab_count *e;
  int timed = 0;
  int64_t bucket = 0;
  if(counter >= t->ncounters)
    return;
  key[0] = '\0';
  if(r->request_id[0])
    snprintf(key, sizeof(key), "request:%s", r->request_id);
  else if(r->transaction_id[0])
    snprintf(key, sizeof(key), "transaction:%s", r->transaction_id);
  if(key[0] && !(e = count_find(t, counter, key)) && t->nids >= COUNT_IDS_MAX)
    key[0] = '\0'; /* too many ids: counted by time */
  if(!key[0]) {
    timed = 1;
    if(r->time_us == SCEPLAB_TIME_UNKNOWN)
      bucket = INT64_MIN >> 20;
    else {
      int64_t min = r->time_us / 60000000 - (r->time_us % 60000000 < 0);
      bucket = min >> t->shift[counter];
    }
    time_key(key, sizeof(key), bucket, t->shift[counter]);
  }
  e = count_find(t, counter, key);
  if(!e && timed && t->nbuckets[counter] >= COUNT_BUCKETS_MAX) {
    if(count_widen(t, counter) != 0)
      return;
    bucket >>= 1;
    time_key(key, sizeof(key), bucket, t->shift[counter]);
    e = count_find(t, counter, key);
  }
  if(!e) {
    size_t j;
    if(t->n == t->cap) {
      size_t cap = t->cap ? t->cap * 2 : 64;
      sceplab_count *ne = realloc(t->e, cap * sizeof(*ne));
      if(!ne)
        return;
      t->e = ne;
      t->cap = cap;
    }
    if((t->n + 1) * 2 > t->nslots && count_rehash(t, t->nslots ? t->nslots * 2 : 1024) != 0)
      return;
    e = &t->e[t->n];
    memset(e, 0, sizeof(*e));
    e->counter = counter;
    e->timed = timed;
    e->bucket = bucket;
    if(!(e->key = strdup(key)))
      return;
    for(j = count_hash(counter, key) & (t->nslots - 1); t->slot[j]; j = (j + 1) & (t->nslots - 1))
      ;
    t->slot[j] = (uint32_t)++t->n;
    if(timed)
      t->nbuckets[counter]++;
    else
      t->nids++;
    seen_set(&e->first, r, path);
  }
  e->count++;
  seen_set(&e->last, r, path);
}

size_t sceplab_merge_counts(const sceplab_merge *m)
{
  return m->counts.n;
}

const sceplab_count *sceplab_merge_count_at(const sceplab_merge *m, size_t i)
{
  return i < m->counts.n ? &m->counts.e[i] : NULL;
}

static merge_input *add_input(sceplab_merge *m, const char *path, int named)
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

static void input_error(merge_input *in, const sceplab_error *e)
{
  free(in->error);
  in->error = logs_utf8_dup(e->msg[0] ? e->msg : "cannot be read"); /* it may quote a path or a line */
  in->info.error = in->error;
}

/* Takes the reader's counts once it is done with (or before it is closed). */
static void snapshot(merge_input *in)
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
static void observe(void *ud, const sceplab_record *r)
{
  sceplab_merge *m = ud;
  if(m->ev && m->observing)
    logs_evidence_add(m->ev, r, m->observing);
}

/* A log without a date or a zone that nothing else proves waits for the evidence of the others:
 * 1 when it is put off (its text read ahead whole), 0 when it is read now. */
static int defer(sceplab_merge *m, merge_input *in)
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
static int read_whole(sceplab_merge *m, merge_input *in, int sort)
{
  sceplab_record r;
  sceplab_error e;
  int rc;
  size_t before = in->kept.len;
  sceplab_err_clear(&e);
  m->observing = in->path;
  while(m->kept_bytes + (in->kept.len - before) < BUFFER_CAP && (rc = sceplab_log_next(in->lg, &r, &e)) > 0) {
    if(store_add(&in->kept, &r) != 0) {
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
    input_error(in, &e);
    in->info.read_error = 1;
  }
  snapshot(in);
  sceplab_log_close(in->lg);
  in->lg = NULL;
  if(sort && in->kept.n > 1) {
    qsort_r(in->kept.at, in->kept.n, sizeof(*in->kept.at), by_time_then_line, &in->kept);
    in->info.sorted = 1;
  }
  return rc < 0 ? -1 : 1;
}

/* Opened reader: read whole when small or newest-first, else streamed. */
static void start_input(sceplab_merge *m, merge_input *in, uint64_t size)
{
  int unordered = (in->lg->ft->flags & LOGS_UNORDERED) != 0;
  in->info.format = sceplab_log_format(in->lg);
  in->info.why = sceplab_log_why(in->lg);
  in->size = size;
  if(defer(m, in))
    return;
  if(size <= SMALL_INPUT || unordered)
    read_whole(m, in, unordered);
}

static void open_file(sceplab_merge *m, const char *path, int named)
{
  merge_input *in = add_input(m, path, named);
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
    input_error(in, &e);
    in->info.binary = binary != NULL;
    if(e.code == SCEPLAB_E_USAGE)
      in->info.usage = 1;
    return;
  }
  start_input(m, in, stat(path, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX);
}

/* ---- archives: zip and cab bundles, and the archives inside them, in one pass ------------------
 *
 * A case zip often holds the device's own zip (a Windows MDM diagnostic archive, "Laptop-logs.zip")
 * and sometimes a cab: an archive member that is an archive is spooled and walked in turn, its
 * members named "case.zip!Laptop-logs.zip!path". What an archive may cost is bounded, so a bomb is
 * refused with a message and the rest is still read:
 *  - archives inside archives are followed MAX_NESTING levels deep (a quine, r.zip, ends there);
 *  - a member expanding more than MEMBER_RATIO times its compressed size (past its first MiB:
 *    logs compress 5 to 50 times, a bomb's zeros 1,000) is refused;
 *  - everything an outermost archive expands to, at every depth, stays within EXPAND_RATIO times
 *    its size, and at least EXPAND_FLOOR: past that the rest of it is not read;
 *  - at most MAX_MEMBERS members are read from one outermost archive. */
#define MAX_NESTING 4
#define MEMBER_RATIO 500
#define MEMBER_RATIO_AFTER (1u << 20)
#define EXPAND_RATIO 100
#define EXPAND_FLOOR (1ull << 30)
#define MAX_MEMBERS 100000

/* One outermost archive being walked, whatever the depth reached. */
typedef struct archive_walk {
  const char *top;          /* the outermost archive's name, for messages */
  uint64_t expanded, budget;
  size_t members;
  int depth_limit;
  int asked;                /* the budget is the caller's (opts.archive_budget) */
  int spent;                /* the budget is spent: nothing more of it is read */
} archive_walk;

/* A member as it is read: the bytes it expanded to, what the archive had consumed at its start. */
typedef struct entry_cookie {
  struct archive *a;
  archive_walk *w;
  uint64_t out;
  int64_t raw0;
  unsigned char peek[8];    /* its first bytes, read to see whether it is an archive itself */
  size_t npeek, ppos;
  char refused[320];        /* why its reading was stopped (a bomb), or empty */
} entry_cookie;

static ssize_t entry_read(void *cv, char *buf, size_t n)
{
  entry_cookie *c = cv;
  la_ssize_t r;
  if(c->ppos < c->npeek) {
    size_t k = c->npeek - c->ppos < n ? c->npeek - c->ppos : n;
    memcpy(buf, c->peek + c->ppos, k);
    c->ppos += k;
    return (ssize_t)k;
  }
  if(c->refused[0])
    return -1;
  r = archive_read_data(c->a, buf, n);
  if(r <= 0)
    return r < 0 ? -1 : 0;
  c->out += (uint64_t)r;
  c->w->expanded += (uint64_t)r;
  if(c->w->expanded > c->w->budget) {
    uint64_t b = c->w->budget;
    char limit[64];
    if(c->w->asked)
      snprintf(limit, sizeof(limit), "the budget asked for");
    else
      snprintf(limit, sizeof(limit), "%d times its size, %llu GiB at least", EXPAND_RATIO,
               (unsigned long long)(EXPAND_FLOOR >> 30));
    snprintf(c->refused, sizeof(c->refused), "refused: %.80s expands past %llu %s (%s): a zip bomb? the rest of it is "
             "not read", c->w->top, (unsigned long long)(b >= 1u << 20 ? b >> 20 : b), b >= 1u << 20 ? "MiB" : "bytes",
             limit);
    c->w->spent = 1;
    return -1;
  }
  if(c->out > MEMBER_RATIO_AFTER) {
    int64_t raw = archive_filter_bytes(c->a, -1) - c->raw0;
    if(raw <= 0 || c->out / MEMBER_RATIO > (uint64_t)raw) {
      snprintf(c->refused, sizeof(c->refused),
               "refused: expands more than %d times its compressed size (a zip bomb?); not read", MEMBER_RATIO);
      return -1;
    }
  }
  return (ssize_t)r;
}

static int entry_close(void *cv)
{
  (void)cv; /* the cookie is the caller's; the archive goes on to the next member */
  return 0;
}

/* A temporary file, already unlinked, holding the rest of the member: large members are spooled so
 * they can be streamed in step with the other inputs, nested archives so they can be walked. A
 * member damaged in the middle keeps what came before the damage (*damaged set, err saying where);
 * NULL when nothing could be spooled. */
static FILE *spool(FILE *from, const char *name, int *damaged, sceplab_error *err)
{
  char buf[65536];
  size_t n;
  uint64_t total = 0;
  int fd;
  FILE *to;
  *damaged = 0;
  if((fd = logs_tmpfd(name, err)) < 0)
    return NULL;
  to = fdopen(fd, "w+b");
  if(!to) {
    close(fd);
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  while((n = fread(buf, 1, sizeof(buf), from)) > 0) {
    if(fwrite(buf, 1, n, to) != n) {
      sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: cannot spool the member: %s", name, strerror(errno));
      fclose(to);
      return NULL;
    }
    total += n;
  }
  if(ferror(from)) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: damaged archive member: reading stopped after %llu bytes", name,
                    (unsigned long long)total);
    *damaged = 1;
  }
  rewind(to);
  return to;
}

/* A member whose reading was refused (a bomb): none of it is read, the input says why. */
static void refuse(sceplab_merge *m, merge_input *in, const char *why)
{
  sceplab_error e;
  if(in->lg) {
    sceplab_log_close(in->lg);
    in->lg = NULL;
  }
  if(in->kept.n || in->kept.len) {
    m->kept_bytes -= in->kept.len;
    store_free(&in->kept);
  }
  memset(&in->info.steps, 0, sizeof(in->info.steps));
  in->info.format = in->info.why = NULL;
  in->info.records = in->info.skipped = 0;
  in->info.read_error = in->info.sorted = in->info.partly_sorted = 0;
  in->info.refused = 1;
  sceplab_err_set(&e, SCEPLAB_E_INPUT, "%s: %s", in->path, why);
  input_error(in, &e);
}

static void walk_archive(sceplab_merge *m, archive_walk *w, struct archive *a, const char *name, int depth);

/* An input for a member that could not be read, with why. */
static merge_input *member_error(sceplab_merge *m, const char *name, const sceplab_error *err)
{
  merge_input *in = add_input(m, name, 0);
  if(in)
    input_error(in, err);
  return in;
}

/* An archive inside an archive, at the member the cookie reads (f): spooled, then walked; its
 * members are the inputs. It is listed itself only when it cannot be read. */
static void open_nested(sceplab_merge *m, const char *name, FILE *f, entry_cookie *c, int kind, int depth)
{
  sceplab_error err;
  int damaged = 0;
  FILE *s;
  struct archive *na;
  merge_input *in;
  sceplab_err_clear(&err);
  if(depth + 1 > c->w->depth_limit) {
    fclose(f);
    sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: a %s archive nested %d deep: not opened (archives inside archives "
                    "are followed %d levels deep)", name, kind == 2 ? "cab" : "zip", depth + 1, c->w->depth_limit);
    if((in = member_error(m, name, &err)))
      in->info.refused = 1;
    return;
  }
  s = spool(f, name, &damaged, &err);
  fclose(f);
  if(c->refused[0] || !s || damaged) {
    if(s)
      fclose(s);
    if(c->refused[0]) {
      sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: %s", name, c->refused);
      if((in = member_error(m, name, &err)))
        in->info.refused = 1;
    }
    else
      member_error(m, name, &err);
    return;
  }
  if(!(na = logs_archive_new(kind, &err)) || archive_read_open_fd(na, fileno(s), 65536) != ARCHIVE_OK) {
    if(na)
      sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: not a %s archive (%s)", name, kind == 2 ? "cab" : "zip",
                      archive_error_string(na));
    member_error(m, name, &err);
    if(na)
      archive_read_free(na);
    fclose(s);
    return;
  }
  walk_archive(m, c->w, na, name, depth + 1);
  archive_read_free(na);
  fclose(s);
}

static void open_member(sceplab_merge *m, archive_walk *w, struct archive *a, struct archive_entry *e,
                        const char *outer, int depth)
{
  char name[4096];
  int64_t mtime = archive_entry_mtime_is_set(e) ? (int64_t)archive_entry_mtime(e) : -1;
  uint64_t size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : UINT64_MAX;
  cookie_io_functions_t io = {entry_read, NULL, NULL, entry_close};
  entry_cookie c; /* every path below closes the stream over it before returning */
  merge_input *in;
  sceplab_error err;
  const char *binary = NULL;
  int damaged = 0, kind;
  la_ssize_t got;
  FILE *f;
  logs_member_name(name, sizeof(name), outer, e);
  sceplab_err_clear(&err);
  memset(&c, 0, sizeof(c));
  c.a = a;
  c.w = w;
  c.raw0 = archive_filter_bytes(a, -1);
  /* the first bytes say whether the member is an archive itself */
  got = archive_read_data(a, c.peek, sizeof(c.peek));
  c.npeek = got > 0 ? (size_t)got : 0;
  c.out = c.npeek;
  w->expanded += c.npeek;
  if(!(f = fopencookie(&c, "rb", io))) {
    sceplab_err_set(&err, SCEPLAB_E_NOMEM, "out of memory");
    member_error(m, name, &err);
    return;
  }
  if((kind = logs_archive_magic(c.peek, c.npeek)) != 0) {
    open_nested(m, name, f, &c, kind, depth);
    return;
  }
  if(!(in = add_input(m, name, 0))) {
    fclose(f);
    return;
  }
  if(size > SMALL_INPUT) {
    FILE *s = spool(f, name, &damaged, &err);
    fclose(f);
    if(c.refused[0] || !s) {
      if(s)
        fclose(s);
      if(c.refused[0])
        refuse(m, in, c.refused);
      else
        input_error(in, &err);
      return;
    }
    if(damaged) {
      /* what came before the damage is read; the input says where it stopped */
      input_error(in, &err);
      in->info.read_error = 1;
    }
    f = s;
  }
  {
    sceplab_error oerr;
    sceplab_err_clear(&oerr);
    in->lg = logs_open_stream(f, name, &oerr);
    if(in->lg) {
      in->lg->in_archive = 1;
      in->lg = logs_finish_open(in->lg, name, &m->filter, &m->opts, mtime, &binary, &oerr);
    }
    if(!in->lg) {
      if(c.refused[0])
        refuse(m, in, c.refused);
      else if(!damaged)
        input_error(in, &oerr);
      in->info.binary = binary != NULL;
      return;
    }
  }
  in->size = size;
  if(size <= SMALL_INPUT && defer(m, in))
    return; /* read ahead whole while the archive is on it */
  if(size <= SMALL_INPUT) {
    /* a small member must be read now, while the archive is on it */
    int whole = read_whole(m, in, (in->lg->ft->flags & LOGS_UNORDERED) != 0);
    if(c.refused[0]) {
      refuse(m, in, c.refused);
      return;
    }
    if(whole == 0) {
      /* over the buffer cap: spool the rest and stream it */
      FILE *s = spool(in->lg->f, name, &damaged, &err);
      if(c.refused[0] || !s) {
        if(s)
          fclose(s);
        if(c.refused[0])
          refuse(m, in, c.refused);
        else {
          input_error(in, &err);
          sceplab_log_close(in->lg);
          in->lg = NULL;
        }
        return;
      }
      if(damaged) {
        input_error(in, &err);
        in->info.read_error = 1;
      }
      fclose(in->lg->f);
      in->lg->f = s;
    }
    return;
  }
  start_input(m, in, size);
}

/* Every regular member of an open archive, in the order it holds them. An archive with none is
 * said to be empty, never silently nothing. */
static void walk_archive(sceplab_merge *m, archive_walk *w, struct archive *a, const char *name, int depth)
{
  struct archive_entry *e;
  sceplab_error err;
  size_t before = m->n;
  int rc;
  while(!w->spent && (rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    if(archive_entry_filetype(e) != AE_IFREG)
      continue;
    if(++w->members > MAX_MEMBERS) {
      merge_input *in = add_input(m, name, 0);
      sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: more than %d members: the rest are not read", name, MAX_MEMBERS);
      if(in) {
        input_error(in, &err);
        in->info.refused = 1;
      }
      w->spent = 1;
      return;
    }
    open_member(m, w, a, e, name, depth);
  }
  if(!w->spent && rc != ARCHIVE_EOF) {
    merge_input *in = add_input(m, name, 0);
    sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: damaged archive (%s)", name, archive_error_string(a));
    if(in) {
      input_error(in, &err);
      in->info.named = depth == 0; /* the outermost archive's damage is an error wherever it was found */
    }
  }
  else if(m->n == before) {
    merge_input *in = add_input(m, name, 0);
    sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: an empty archive (no files in it)", name);
    if(in)
      input_error(in, &err);
  }
}

/* 1 when path is an archive this walked (its members added), 0 when it is none, -1 when it is one
 * that cannot be read (the error on an input named after it). */
static int open_zip(sceplab_merge *m, const char *path, int named)
{
  FILE *f = fopen(path, "rb");
  unsigned char magic[4];
  size_t got = f ? fread(magic, 1, 4, f) : 0;
  struct archive *a;
  sceplab_error err;
  archive_walk w;
  struct stat st;
  int kind;
  if(f)
    fclose(f);
  if(!(kind = logs_archive_magic(magic, got)))
    return 0;
  sceplab_err_clear(&err);
  if(!(a = logs_archive_new(kind, &err))) {
    merge_input *in = add_input(m, path, named);
    if(in) {
      input_error(in, &err);
      in->info.named = 1; /* an archive that cannot be opened is an error wherever it was found */
    }
    return -1;
  }
  if(archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
    merge_input *in = add_input(m, path, named);
    sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: not a %s archive (%s)", path, kind == 2 ? "cab" : "zip",
                    archive_error_string(a));
    if(in)
      input_error(in, &err);
    archive_read_free(a);
    return -1;
  }
  memset(&w, 0, sizeof(w));
  w.top = path;
  w.depth_limit = m->opts.archive_depth > 0 ? m->opts.archive_depth : MAX_NESTING;
  if(m->opts.archive_budget) {
    w.budget = m->opts.archive_budget;
    w.asked = 1;
  }
  else {
    uint64_t size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    w.budget = size > EXPAND_FLOOR / EXPAND_RATIO ? size * EXPAND_RATIO : EXPAND_FLOOR;
  }
  walk_archive(m, &w, a, path, 0);
  archive_read_free(a);
  return 1;
}

static int by_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(sceplab_merge *m, const char *path, int named, int depth)
{
  struct stat st;
  if(stat(path, &st) != 0) {
    merge_input *in = add_input(m, path, 1);
    sceplab_error e;
    sceplab_err_set(&e, SCEPLAB_E_INPUT, "%s: %s", path, strerror(errno));
    if(in)
      input_error(in, &e);
    return;
  }
  if(S_ISDIR(st.st_mode)) {
    DIR *d = depth < MAX_DEPTH ? opendir(path) : NULL;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i, plen = strlen(path);
    if(!d) {
      merge_input *in = add_input(m, path, 1);
      sceplab_error e;
      sceplab_err_set(&e, SCEPLAB_E_INPUT, "%s: %s", path, depth < MAX_DEPTH ? strerror(errno) : "nested too deep");
      if(in)
        input_error(in, &e);
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
  if(open_zip(m, path, named) == 0)
    open_file(m, path, named);
}

/* ---- the heap ---------------------------------------------------------------------------------- */

static int before(const sceplab_merge *m, size_t a, size_t b)
{
  const sceplab_record *ra = &m->in[a].cur, *rb = &m->in[b].cur;
  int64_t ta = sort_time(ra->time_us), tb = sort_time(rb->time_us);
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
    store_get(&in->kept, in->pos++, &in->cur);
    return 1;
  }
  if(in->kept.n) { /* done with what was kept: release it */
    m->kept_bytes -= in->kept.len;
    store_free(&in->kept);
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
    input_error(in, err);
    in->info.read_error = 1;
  }
  snapshot(in);
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
  o.observe = observe;
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
      read_whole(m, in, (in->lg->ft->flags & LOGS_UNORDERED) != 0);
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
    m->opts.counted = counted;
    m->opts.counted_ud = &m->counts;
  }
  m->ev = logs_evidence_new();
  m->opts.observe = observe;
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
  snapshot(&m->in[i]); /* a streamed input's counts so far */
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
    store_free(&in->kept);
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
