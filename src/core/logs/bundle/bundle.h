/* The log bundle's private header: archives (archive.c), the times a bundle proves (infer.c) and
 * its inputs (inputs.c), for the merged timeline (merge.c). The bundle calls the reader's core
 * (logs_int.h); the core never calls it. */
#ifndef SCEPLAB_LOGS_BUNDLE_H
#define SCEPLAB_LOGS_BUNDLE_H

#include "logs/core/logs_int.h"

/* archive.c: zip and cab archives (libarchive) */
struct archive;
struct archive_entry;
int logs_archive_magic(const unsigned char *p, size_t n);      /* 1 zip, 2 cab, 0 neither */
struct archive *logs_archive_new(int kind, sceplab_error *err); /* a reader for that kind */
void logs_member_name(char *out, size_t outlen, const char *outer, struct archive_entry *e); /* "outer!member", UTF-8 */

/* infer.c: the bundle's evidence of times, and what it proves of a log without them */
typedef struct logs_evidence logs_evidence;
logs_evidence *logs_evidence_new(void);
void logs_evidence_free(logs_evidence *ev);
/* A record seen (before the filter) in the input named input: kept when its time is proven. */
void logs_evidence_add(logs_evidence *ev, const sceplab_record *r, const char *input);
/* Whether lg (opened, nothing read) has date-less or zone-less records that nothing proves; its
 * text is then read ahead whole (up to a bound) so that logs_infer can read it first. */
int logs_wants_bundle_time(sceplab_log *lg, sceplab_error *err);
/* Reads lg's text in a second reader, matches its device records with the evidence and, when the
 * evidence proves it, sets lg's date and/or offset (source "correlated"). 1 set, 0 not. */
int logs_infer(logs_evidence *ev, sceplab_log *lg);

/* ---- the merged timeline's parts: recstore.c, counts.c, inputs.c, members.c, merge.c ---- */

#define SMALL_INPUT (1u << 20)    /* an input at most this long is read whole at open */
#define BUFFER_CAP (256u << 20)   /* records kept, in all */

/* Records kept in a compact form (recstore.c). */
typedef struct rec_store {
  unsigned char *data;
  size_t len, cap;
  size_t *at;           /* offset of each record */
  size_t n, ncap;
} rec_store;
int logs_store_add(rec_store *s, const sceplab_record *r);
void logs_store_get(const rec_store *s, size_t i, sceplab_record *r);
void logs_store_free(rec_store *s);
/* the time records are ordered by (unknown first), and the order of kept records (qsort_r) */
int64_t logs_sort_time(int64_t t);
int logs_by_time_then_line(const void *a, const void *b, void *store);

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

/* counts.c: the counting callback (opts.counted) */
void logs_counted(void *ud, size_t counter, const sceplab_record *r, const char *path);

/* inputs.c: the inputs, files or members, read whole or streamed */
merge_input *logs_add_input(sceplab_merge *m, const char *path, int named);
void logs_input_error(merge_input *in, const sceplab_error *e);
/* Takes lg (just opened): read whole (small or unordered), put off (no date or zone the bundle
 * proves), or streamed. */
void logs_start_input(sceplab_merge *m, merge_input *in, uint64_t size);
int logs_read_whole(sceplab_merge *m, merge_input *in, int sort);
/* Puts in off until the bundle's evidence places it, when it needs that: 1 put off, 0 not. */
int logs_defer(sceplab_merge *m, merge_input *in);
/* Copies in's reader's counts and notes into what the caller sees. */
void logs_snapshot(merge_input *in);
void logs_open_file(sceplab_merge *m, const char *path, int named);
/* Watches every record of the bundle's dated inputs, before the filter (opts.observe: ud the merge). */
void logs_observe(void *ud, const sceplab_record *r);

/* members.c: path as a zip or cab bundle, each member an input: 1, or 0 when it is no archive */
int logs_open_zip(sceplab_merge *m, const char *path, int named);

#endif
