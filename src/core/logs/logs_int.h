/* The log reader's private header: the reader state every part shares, and the parts.
 *
 * src/core/logs/ is one reader cut into pieces, as curl's lib/vtls is one TLS layer with a file
 * per backend:
 *   reader.c   the streaming reader: BOM and UTF-16 decoding, CRLF, bounded lines, scratch space
 *   time.c     civil dates to UTC, fractions, ISO 8601, assumed zones
 *   extract.c  fields any message may carry: HRESULTs, request, transaction and device ids
 *   filter.c   the C filter (cheap fields first, the message search last)
 *   archive.c  zip bundles, read in place
 *   log.c      the format table (detection order, names, parsers), open, next, close, explain
 *   fmt_*.c    one file per format: its detection rule and its parser
 * A record's strings are views into the reader's buffers, valid until the next record, so a record
 * the filter rejects costs no copy.
 *
 * Library headers (<libxml/parser.h>, <archive.h>) go before this one: internal.h's optlib.h turns
 * their calls into calls through pointers opened on first use. */
#ifndef SCEPLAB_LOGS_INT_H
#define SCEPLAB_LOGS_INT_H

#include <stdint.h>
#include <stdio.h>

#include <libevtx.h>

#include "../internal.h"
#include "sceplab/logs.h"

#define CHUNK (256u * 1024u)
#define MAX_LINE (1u << 20)      /* a longer line is cut and counted as skipped */
#define MAX_MESSAGE (1u << 20)   /* a longer CMTrace message is cut */
#define MAX_FIELDS 64

typedef enum { ENC_UTF8, ENC_UTF16LE, ENC_UTF16BE } encoding;
typedef enum { FMT_IIS, FMT_CMTRACE, FMT_SVCLOG, FMT_EVENTXML, FMT_OMADM, FMT_IOS, FMT_SYSLOG, FMT_EVTTXT, FMT_EVTCSV,
               FMT_EVTX, FMT_CRS, FMT_MSI, FMT_REG, FMT_JSONL, FMT_EVTBLOCK } format;
typedef struct logs_format logs_format;

#define NEEDLES_MAX 256 /* filter.contains beyond this are searched one by one */

/* A filter's substrings indexed by first letter (filter.c). */
typedef struct logs_needles {
  int indexed;
  short head[256];
  short next[NEEDLES_MAX];
  size_t len[NEEDLES_MAX];
  char quoted[NEEDLES_MAX];       /* the needle has an apostrophe or a quote: any form of it matches */
  unsigned char second[NEEDLES_MAX]; /* its second character, folded (0: none or a quote): checked
                                        before the full comparison, which most candidates fail */
  /* filter.whole_numbers: the needles that are numbers, searched as tokens, not in the index */
  short numbers[NEEDLES_MAX];
  size_t nnumbers;
  int64_t value[NEEDLES_MAX];
  unsigned char spelling[NEEDLES_MAX];
} logs_needles;

struct sceplab_log {
  FILE *f;
  char *path;
  encoding enc;
  format fmt;
  const logs_format *ft;          /* the format's table entry */
  const char *why;                /* why it was read as that format */
  int eof;
  unsigned char raw[CHUNK + 4];
  size_t rawleft;                 /* undecoded UTF-16 bytes kept between reads */
  void (*progress)(void *ud, size_t bytes);
  void *progress_ud;
  uint64_t bytes_read;
  uint64_t steps[7];              /* records per workflow step, before filtering */
  logs_needles needles;           /* filter.contains indexed by first letter */
  const sceplab_log_filter *counters; /* records counted, not returned (opts.counters) */
  size_t ncounters;
  void (*counted)(void *ud, size_t counter, const sceplab_record *r, const char *path);
  void *counted_ud;
  char *buf;                      /* decoded UTF-8 */
  size_t cap, start, end;
  uint64_t line, offset;          /* the next line's number and offset */
  uint64_t line_start;            /* offset of the line last returned */
  int line_cut;                   /* the last line returned was cut at MAX_LINE */
  /* parser state */
  char *fields[MAX_FIELDS];
  int nfields;
  struct { int date, time, method, stem, query, cip, host, sip, status, sub, win32, taken, ua; } ix;
  char *msg;                      /* CMTrace message accumulator */
  size_t msgcap;
  char scratch[4096];             /* rendered message and decoded user agent */
  char *pending;                  /* XML formats: text read but not yet parsed */
  size_t pendlen, pendcap;
  uint64_t pend_line, pend_offset;
  char arena[16384];              /* strings copied out of a parsed XML fragment */
  size_t arena_used;
  int64_t mtime_us;               /* the file's modification time (CRS files have no other) */
  int done;                       /* single-record formats: already returned */
  libevtx_file_t *evtx;           /* binary .evtx: libevtx reads the chunks */
  int evtx_count, evtx_index;
  char *xml;                      /* one record's XML */
  size_t xmlcap;
  char ua[1024];                  /* IIS: the decoded user agent, kept while the raw one repeats */
  size_t ua_n, ua_raw_n;
  char ua_raw[1024];
  const char *ua_platform;
  int64_t last_time;
  int bias_set, bias;
  int offset_set, offset_min;     /* assumed zone for zone-less formats */
  int zone_learnt;                /* offset_min was learnt from the file itself (not assumed) */
  int zone_tried;                 /* a format that can learn its zone has looked */
  int year, month, day;           /* the date for date-less formats */
  char regkey[512];               /* registry exports: the current [key] */
  sceplab_log_filter filter;
  uint64_t records, skipped;
  char examples[3][256];
};



/* ---- the format table ----
 * One entry per format, in fmt_<name>.c, listed in log.c in detection order. detect looks at the
 * first chunk of the (decoded) text and answers why it is this format, or NULL. A line format
 * parses one line at a time (line); a record format reads what it needs itself (record). render
 * builds the message of a record only once it passed the cheap filters (IIS renders its fields). */
#define LOGS_XML2 1u        /* records are XML: libxml2 is needed, and said at open */
#define LOGS_FORCEABLE 2u   /* --format may name it (evtx is a binary container, found by signature) */
#define LOGS_EXTRACTED 4u   /* the parser extracted the message fields itself (no logs_extract pass) */
#define LOGS_UNORDERED 8u   /* may be written newest first (Event Viewer exports): the merge sorts it */

struct logs_format {
  format id;
  const char *name;
  unsigned flags;
  const char *(*detect)(const char *p, size_t n);
  int (*line)(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err);
  int (*record)(sceplab_log *lg, sceplab_record *r, sceplab_error *err);
  void (*render)(sceplab_log *lg, sceplab_record *r);
  /* line formats whose records may go on over the next lines (iOS: an NSError's "Desc   :" lines):
   * whether a line continues the record before it. The parser then keeps the record's message in
   * lg->msg and its other strings in the arena, since reading on may move the line buffer. */
  int (*continues)(const char *p, size_t n);
};

extern const logs_format logs_fmt_iis, logs_fmt_cmtrace, logs_fmt_svclog, logs_fmt_eventxml, logs_fmt_android,
  logs_fmt_ios, logs_fmt_syslog, logs_fmt_eventtext, logs_fmt_eventcsv, logs_fmt_evtx, logs_fmt_crs, logs_fmt_msi,
  logs_fmt_registry, logs_fmt_jsonl, logs_fmt_eventblock;

/* ---- shared by the parts ---- */

#define MAX_OFFSET_MIN (18 * 60) /* zones stay within 18 hours of UTC */
#define MAX_FRAGMENT (4u << 20)  /* an XML record larger than this is skipped */

/* reader.c */
void logs_skip(sceplab_log *lg, uint64_t line, const char *why);
int logs_refill(sceplab_log *lg, sceplab_error *err);
int logs_next_line(sceplab_log *lg, const char **p, size_t *n, sceplab_error *err);
void logs_unread_line(sceplab_log *lg, const char *p);
int logs_msg_append(sceplab_log *lg, size_t *len, const char *p, size_t n);
sceplab_str logs_arena_str(sceplab_log *lg, const char *s);
sceplab_log *logs_open_raw(const char *path, sceplab_error *err);
sceplab_log *logs_open_stream(FILE *f, const char *path, sceplab_error *err);

/* time.c */
int64_t logs_make_time(int y, int mo, int d, int h, int mi, int s, long us);
int logs_fraction_us(const char *p, size_t n, long *us);
int logs_iso_time(const char *t, sceplab_record *r);
void logs_assume_zone(sceplab_log *lg, sceplab_record *r);

/* extract.c */
extern const char *const logs_month_names;
void logs_set_hresult(sceplab_record *r, uint32_t code);
void logs_extract(sceplab_record *r);
size_t logs_span_until(const char *p, const char *end, const char *set);
int logs_copy_view(sceplab_str v, char *out, size_t outlen);
sceplab_str logs_next_tok(const char **p, const char *end);
void logs_step_from_text(sceplab_record *r);
void logs_event_step(sceplab_record *r);
void logs_jscep_fields(sceplab_record *r);
size_t logs_clean_rtf(sceplab_log *lg, const char *p, size_t n);

/* filter.c */
void logs_index_needles(const sceplab_log_filter *f, logs_needles *ix);
int logs_filter_fields(const sceplab_log_filter *f, const sceplab_record *r);
int logs_filter_message(const sceplab_log_filter *f, const logs_needles *ix, const sceplab_record *r);

/* log.c: the format whose detection rule the text meets, and why; NULL when none does */
const logs_format *logs_detect(const char *p, size_t n, const char **why);
sceplab_log *logs_finish_open(sceplab_log *lg, const char *path, const sceplab_log_filter *filter,
                              const sceplab_log_opts *opts, int64_t mtime, sceplab_error *err);

/* shared by the two XML formats and .evtx */
int logs_parse_fragment(sceplab_log *lg, const char *frag, size_t n, sceplab_record *r);
int logs_evtx_open(sceplab_log *lg, const char *path, sceplab_error *err);

#endif
