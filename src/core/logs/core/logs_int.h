/* The log reader's private header: the reader state every part shares, and the parts.
 *
 * src/core/logs/ is one reader cut into pieces, as curl's lib/vtls is one TLS layer with a file
 * per backend. Three layers, each calling only the ones before it:
 *   core/      the reader: reader.c (streaming: BOM and UTF-16 decoding, CRLF, bounded lines,
 *              scratch space, close), dates.c and time.c (logtime.h: dates as written, each file's
 *              clock), zone.c (IANA zones), extract.c (fields any message may carry), winmsg.c
 *              (Windows' system messages), records.c (level names, what the evidence wants),
 *              xmlrec.c (XML event records), filter.c (the C filter), log.c (open, detection through
 *              the format table, next, explain), write.c (records written out)
 *   formats/   one file per format: its detection rule, its parser, its table entry; formats.c is
 *              the table in detection order. The core reaches a format through the table only, and
 *              a format calls the core only.
 *   bundle/    bundles: archive.c (zip and cab, read in place), infer.c (date-less and zone-less logs
 *              placed by the dated ones), inputs.c and merge.c (the merged timeline)
 * A record's strings are views into the reader's buffers, valid until the next record, so a record
 * the filter rejects costs no copy.
 *
 * Library headers (<libxml/parser.h>, <archive.h>, <libevtx.h>) go before this one: optlib.h turns
 * their calls into calls through pointers opened on first use. */
#ifndef SCEPLAB_LOGS_INT_H
#define SCEPLAB_LOGS_INT_H

#include <stdint.h>
#include <stdio.h>

#include "base/base_int.h"
#include "base/optlib.h"
#include "logs/core/logtime.h"
#include "sceplab/logs.h"

#define CHUNK (256u * 1024u)
#define MAX_LINE (1u << 20)      /* a longer line is cut and counted as skipped */
#define MAX_MESSAGE (1u << 20)   /* a longer CMTrace message is cut */
#define MAX_FIELDS 64

typedef enum { ENC_UTF8, ENC_UTF16LE, ENC_UTF16BE, ENC_CP1252 } encoding;
typedef enum { FMT_IIS, FMT_CMTRACE, FMT_SVCLOG, FMT_EVENTXML, FMT_OMADM, FMT_IOS, FMT_SYSLOG, FMT_EVTTXT, FMT_EVTCSV,
               FMT_EVTX, FMT_CRS, FMT_MSI, FMT_REG, FMT_JSONL, FMT_EVTBLOCK,
               FMT_INTUNEAPI, FMT_RADIUS } format;
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
  int repair;                     /* ill-formed UTF-8 becomes U+FFFD as chunks are decoded */
  int in_archive;                 /* read from an archive member: path names no file to open */
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
  char *held;                     /* a record's message kept aside while the reader looks ahead */
  char scratch[4096];             /* rendered message and decoded user agent */
  char *pending;                  /* XML formats: text read but not yet parsed */
  size_t pendlen, pendcap;
  uint64_t pend_line, pend_offset;
  char arena[16384];              /* strings copied out of a parsed XML fragment */
  size_t arena_used;
  int64_t mtime_us;               /* the file's modification time (CRS files have no other) */
  int done;                       /* single-record formats: already returned */
  void *fstate;                   /* a format's own state (binary .evtx: libevtx's file), freed by its close */
  const logs_format *const *formats; /* the format table, for a parser that names formats (JSONL) */
  size_t nformats;
  char *xml;                      /* one record's XML */
  size_t xmlcap;
  char ua[1024];                  /* IIS: the decoded user agent, kept while the raw one repeats */
  size_t ua_n, ua_raw_n;
  char ua_raw[1024];
  const char *ua_platform;
  int64_t last_time;
  int bias_set, bias;
  logs_clock clock;               /* dates and offsets of date-less and zone-less records (time.c) */
  /* the merge watching every record before the filter (the bundle's evidence of times, infer.c) */
  void (*observe)(void *ud, const sceplab_record *r);
  void *observe_ud;
  char regkey[512];               /* registry exports: the current [key] */
  sceplab_log_filter filter;
  uint64_t records, skipped;
  char examples[3][256];
};



/* ---- the format table ----
 * One entry per format, in formats/fmt_<name>.c, listed in formats/formats.c in detection order.
 * detect looks at the first chunk of the (decoded) text and answers why it is this format, or
 * NULL; a binary format's (LOGS_BINARY) looks at the bytes as read, before any text rule, and its
 * open takes the input over. A line format parses one line at a time (line); a record format
 * reads what it needs itself (record). render builds the message of a record only once it passed
 * the cheap filters (IIS renders its fields). close frees what the format kept (fstate). */
#define LOGS_XML2 1u        /* records are XML: libxml2 is needed, and said at open */
#define LOGS_FORCEABLE 2u   /* --format may name it (evtx is a binary container, found by signature) */
#define LOGS_EXTRACTED 4u   /* the parser extracted the message fields itself (no logs_extract pass) */
#define LOGS_UNORDERED 8u   /* may be written newest first (Event Viewer exports): the merge sorts it */
#define LOGS_DATELESS 16u   /* times of day only (iOS Console copies, MSI lines): the file's date is used */
#define LOGS_YEARLESS 32u   /* month and day, no year (syslog) */
#define LOGS_ZONELESS 64u   /* local times without a zone (Android, Event Viewer exports, syslog, MSI) */
#define LOGS_BINARY 128u    /* a binary container found by its signature (.evtx): no text decoding */

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
  /* called once before the first record, the file's first chunk read: what the whole file decides
   * (the day/month order of its dates, the zone its pasted event XML shows) */
  void (*prepare)(sceplab_log *lg);
  int (*open)(sceplab_log *lg, const char *path, sceplab_error *err); /* LOGS_BINARY: reads the input itself */
  void (*close)(sceplab_log *lg);
};

/* formats/formats.c: every format, in detection order. */
extern const logs_format *const logs_formats[];
extern const size_t logs_nformats;

/* ---- shared by the parts ---- */

#define MAX_OFFSET_MIN (18 * 60) /* zones stay within 18 hours of UTC */
#define MAX_FRAGMENT (4u << 20)  /* an XML record larger than this is skipped */

/* reader.c (and sceplab_log_close) */
void logs_skip(sceplab_log *lg, uint64_t line, const char *why);
int logs_refill(sceplab_log *lg, sceplab_error *err);
int logs_next_line(sceplab_log *lg, const char **p, size_t *n, sceplab_error *err);
void logs_unread_line(sceplab_log *lg, const char *p);
int logs_msg_append(sceplab_log *lg, size_t *len, const char *p, size_t n);
sceplab_str logs_arena_str(sceplab_log *lg, const char *s);
sceplab_log *logs_open_raw(const char *path, sceplab_error *err);
sceplab_log *logs_open_stream(FILE *f, const char *path, sceplab_error *err);
int logs_repair_utf8(sceplab_log *lg, sceplab_error *err);
char *logs_utf8_dup(const char *s);          /* malloc'd, ill-formed sequences as U+FFFD */
int logs_tmpfd(const char *what, sceplab_error *err); /* an unlinked file in $TMPDIR, or -1 */

/* time.c: the reader's clock (the rest of the date/time module is in logtime.h) */
int logs_iso_time(const char *t, sceplab_record *r);
/* At open: the file's time (mtime, seconds; -1 none) and the options (--date, --assume-offset). */
int logs_clock_init(sceplab_log *lg, const sceplab_log_opts *opts, int64_t mtime, sceplab_error *err);
/* Before the first record: a date written before it, then the format's own prepare. */
void logs_clock_prepare(sceplab_log *lg);
/* Reads ahead until max bytes of text are buffered (or the end): 1 at the end, 0 not, -1 an error. */
int logs_lookahead(sceplab_log *lg, size_t max, sceplab_error *err);
/* A date written in the file (a header) for its date-less records, unless --date or the bundle says. */
void logs_written_date(sceplab_log *lg, int y, int m, int d, uint64_t line);
/* A date-less record's UTC time: the file's date, plus the midnights crossed; offset_min the record's. */
int64_t logs_dateless_time(sceplab_log *lg, sceplab_record *r, int h, int mi, int s, long us, int offset_min);
/* A year-less record's local time (read as UTC; the zone is applied by logs_assume_zone). */
int64_t logs_yearless_time(sceplab_log *lg, sceplab_record *r, int mo, int d, int h, int mi, int s, long us);
/* An offset the file shows at a local moment (an event block's Date beside its XML SystemTime). */
void logs_learn_offset(sceplab_log *lg, int64_t local_s, int offset_min);
/* A local time without a zone (r->time_us read as UTC) to UTC: --assume-offset (an offset, or a
 * zone's offset at that moment), the bundle's, the file's, else UTC (offset_source says which). */
void logs_assume_zone(sceplab_log *lg, sceplab_record *r);
void logs_time_sources(sceplab_record *r, logs_tsrc date, logs_tsrc offset);
/* Counts the record's sources for the file's summary (sceplab_log_times). */
void logs_clock_count(sceplab_log *lg, sceplab_record *r);

/* zone.c: frees what a reader's clock holds (its zone) */
void logs_clock_free(logs_clock *c);

/* records.c: whether a record's time was proven by what it says, and whether its ids are worth
 * extracting for a bundle's evidence of times (cheap: before the filter) */
int logs_time_proven(const sceplab_record *r);
/* The record's views into a buffer that moved from old (len bytes used) to now, made to point
 * into now (the message buffer grows as continuation lines are appended). */
void logs_rebase(sceplab_record *r, const char *old, size_t len, const char *now);
int logs_evidence_wants_fields(const sceplab_record *r);

/* dates.c: the digits at p (at most max): their value, and how many in *k (0: none) */
int logs_digits(const char *p, size_t n, int max, int *k);
/* dates.c: exactly n digits at p: their value, or -1 (a field of fixed width: "2026", "07") */
int logs_digits_exact(const char *p, int n);
/* dates.c: a time as writers write it: the UTC date and time "YYYY-MM-DDTHH:MM:SS" (or with date
 * 0 the time of day "HH:MM:SS"), and its fraction of a second in units of 10^-digits (truncated) */
void logs_utc_text(double t, int date, char *out, size_t n);
long logs_fraction(double t, int digits);

/* write.c: text on one line, CR and LF as spaces (a record of a line format must not end early):
 * the length written to out (room for strlen(in) + 1) */
size_t logs_one_line(const char *in, char *out);

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


/* winmsg.c: the HRESULT a Windows system message stands for (its text alone), or 0 */
uint32_t logs_hresult_of_text(const char *m, size_t n);

/* filter.c */
void logs_index_needles(const sceplab_log_filter *f, logs_needles *ix);
int logs_filter_fields(const sceplab_log_filter *f, const sceplab_record *r);
int logs_filter_message(const sceplab_log_filter *f, const logs_needles *ix, const sceplab_record *r);

/* log.c: the format whose detection rule the text meets, and why; NULL when none does */
const logs_format *logs_detect(const char *p, size_t n, const char **why);
/* Detects the format and applies the options; on failure closes lg, and when the input is binary
 * (an image, an archive too deep to open) sets *binary (if not NULL) to what it is. */
sceplab_log *logs_finish_open(sceplab_log *lg, const char *path, const sceplab_log_filter *filter,
                              const sceplab_log_opts *opts, int64_t mtime, const char **binary, sceplab_error *err);

/* xmlrec.c: one XML event record (event XML, an E2ETraceEvent, an .evtx record's XML) onto r:
 * 1, or 0 when it is none (skipped, said) */
int logs_parse_fragment(sceplab_log *lg, const char *frag, size_t n, sceplab_record *r);

#endif
