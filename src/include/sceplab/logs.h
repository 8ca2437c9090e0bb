/* sceplab: log ingestion. Each format has a streaming parser that turns a file into normalized
 * records, one at a time, with bounded memory; a filter evaluated here decides which records reach
 * the caller at all. */
#ifndef SCEPLAB_LOGS_H
#define SCEPLAB_LOGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sceplab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SCEPLAB_TIME_UNKNOWN INT64_MIN

typedef enum sceplab_level {
  SCEPLAB_LVL_UNKNOWN = 0, SCEPLAB_LVL_VERBOSE, SCEPLAB_LVL_INFO, SCEPLAB_LVL_WARNING, SCEPLAB_LVL_ERROR,
  SCEPLAB_LVL_CRITICAL
} sceplab_level;

const char *sceplab_level_name(sceplab_level l);

/* A string view into the reader's buffers: valid until the next record is read. */
typedef struct sceplab_str { const char *p; size_t n; } sceplab_str;

typedef struct sceplab_record {
  int64_t time_us;          /* UTC, microseconds since the epoch; SCEPLAB_TIME_UNKNOWN when none */
  int utc_offset_min;       /* the original text's offset from UTC in minutes (east positive) */
  int zone_assumed;         /* no zone in the text: UTC (or the per-source override) was assumed */
  int time_inferred;        /* no time on this record: the previous record's time is used */
  int date_assumed;         /* the format has no date: the file's (or the given) date is used */
  /* Where the date and the UTC offset came from: "record" (its own text), "format" (IIS: UTC),
   * "option" (--date, --assume-offset), "zone" (--assume-offset ZONE, at the record's moment),
   * "correlated" (the bundle's dated records), "file" (written elsewhere in the file), "zip-entry",
   * "mtime", "assumed" (offset: nothing says, UTC). NULL when the record has no time. */
  const char *date_source, *offset_source;
  sceplab_str time_text;    /* the time as written */
  const char *source;       /* format name: "iis", "cmtrace" */
  uint64_t line;            /* first line of the record, from 1 */
  uint64_t offset;          /* byte offset of that line in the (decoded) text */
  sceplab_level level;
  int step;                 /* workflow step 1-6 of the Intune SCEP flow, 0 when unclassified */
  sceplab_str host, component, message;
  long event_id;            /* -1 when none */
  /* Extracted fields (empty when absent). */
  sceplab_str method, url, query, client_ip, user_agent, scep_operation, platform,
              thread, context, file_attr;
  size_t scep_message_length;        /* a GET PKIOperation's message= parameter, its length */
  long http_status, http_substatus;  /* -1 when none */
  int64_t win32_status;              /* -1 when none */
  char hresult[12];                  /* "0x800B0109", from win32 status or the message */
  const char *hresult_name;          /* symbolic name when known */
  long time_taken_ms;
  char request_id[256];              /* canonical Intune request id found in the record */
  char transaction_id[96];
  char device_id[40];
  char user_id[40];                  /* an Intune/Entra user id (guid) */
  char thumbprint[66];               /* a certificate thumbprint (SHA-1 or SHA-256 hex) the record names */
  sceplab_str origin;                /* sceplab's own JSONL read back: the file the record first came from */
} sceplab_record;

typedef struct sceplab_log_filter {
  const char *const *sources;  /* only these formats; NULL for all */
  size_t nsources;
  const char *const *contains; /* message must contain one of these (case-insensitive) */
  size_t ncontains;
  const long *statuses;        /* HTTP statuses */
  size_t nstatuses;
  const long *event_ids;
  size_t nevent_ids;
  sceplab_level min_level;
  int64_t since_us, until_us;  /* SCEPLAB_TIME_UNKNOWN for open ends */
  int any;                     /* pass a record matching ANY of statuses, event_ids, min_level, contains
                                  (the union of many playbooks' match declarations) instead of all */
  const char *request_id;      /* only records of this canonical Intune request id (NULL: any) */
  const char *device_id;       /* only records of this device id, case-insensitive (NULL: any) */
  const char *const *operations; /* only these SCEP or CRP operations (PKIOperation, VerifyRequest, Notify) */
  size_t noperations;
  const char *const *components; /* only components containing one of these (case-insensitive) */
  size_t ncomponents;
  const char *const *contains_all; /* the message must contain every one of these too */
  size_t ncontains_all;
  const long *hresults;        /* HRESULTs (0x800B0109), matched on the record's hresult whatever form the text
                                  wrote it in: 0x800B0109, 800B0109, signed or unsigned decimal */
  size_t nhresults;
  int whole_numbers;           /* contains and contains_all entries that are numbers ("12175", "-1004", "0x409")
                                  match a whole token in that spelling, never digits inside a hex id,
                                  a GUID or base64 (sceplab_text_has_code) */
} sceplab_log_filter;

/* Numbers as logs write them: the spellings sceplab_text_has_code accepts. */
enum {
  SCEPLAB_CODE_DEC = 1,    /* decimal, with a sign when negative: 12175, -1004 */
  SCEPLAB_CODE_HEX = 2,    /* 0x hex, any case, zero-padded or not: 0x409, 0x00000409 */
  SCEPLAB_CODE_HRESULT = 4 /* a 32-bit HRESULT: also 8-digit bare hex (800B0109) and the signed decimal
                              (-2146762487) beside the unsigned one */
};
/* Does text hold value as a whole token in one of the spellings? A token is bounded by what is
 * neither a letter, a digit nor '_'; '.', '-', '+' and '/' between two such characters join them
 * into one token (a version, a GUID, base64), so 12175 is found in "(12175)", "error 12175" and
 * "WINHTTP_... 12175", never in "7C12175D16". 1 or 0. */
int sceplab_text_has_code(const char *text, size_t n, int64_t value, unsigned spellings);
/* Is s (n bytes) a number written as logs write one, decimal ("12175", "-1004") or 0x hex ("0x409")?
 * 1 with *value and *spelling (the spelling it was written in), else 0. */
int sceplab_code_spelling(const char *s, size_t n, int64_t *value, unsigned *spelling);

typedef struct sceplab_log sceplab_log;

typedef struct sceplab_log_opts {
  int has_bias;       /* use bias (minutes) instead of CMTrace's written one (writers using the ISO sign) */
  int bias;
  int has_offset;     /* zone-less formats (Android, Event Viewer exports, syslog): the UTC offset in */
  int offset_min;     /* minutes east to assume instead of UTC */
  const char *zone;   /* or an IANA zone ("Europe/London"): each record gets its moment's offset */
  const char *date;   /* "YYYY-MM-DD" for formats without a date (iOS console); default: the file's date */
  const char *format; /* read as this format ("iis", "cmtrace", ...) instead of detecting it */
  /* called with the bytes of each chunk read from the file, so a front end can show progress even
   * while the filter passes nothing */
  void (*progress)(void *ud, size_t bytes);
  void *progress_ud;
  /* Records to count rather than return: each counter is a filter (all its criteria must hold);
   * every record meeting one, whether the main filter passes it or not, goes to counted(). What
   * diagnose learns of the many successes of a busy NDES without making each a Lua table. */
  const sceplab_log_filter *counters;
  size_t ncounters;
  void (*counted)(void *ud, size_t counter, const sceplab_record *r, const char *path);
  void *counted_ud;
  /* Archives in a merge (zip and cab, and the archives inside them): how many levels of archives
   * inside archives are opened (0: 4), and how many bytes an outermost archive may expand to at
   * every depth (0: 100 times its size, 1 GiB at least). A member expanding more than 500 times
   * its compressed size is refused whatever these say. */
  int archive_depth;
  uint64_t archive_budget;
  /* Every record parsed, before the filter (the merge learns the bundle's times from them). */
  void (*observe)(void *ud, const sceplab_record *r);
  void *observe_ud;
} sceplab_log_opts;

/* Does a record pass the filter? The test the readers apply, for a record a front end holds (the
 * diagnosis dispatching records to each playbook's own declaration): 1 or 0. The record's
 * message and extracted fields (hresult, request_id, device_id) must be filled. */
int sceplab_log_filter_test(const sceplab_log_filter *f, const sceplab_record *r);

/* Opens a file and detects its format from its content (BOM and UTF-16 handled). */
sceplab_log *sceplab_log_open(const char *path, const sceplab_log_filter *filter, const sceplab_log_opts *opts,
                              sceplab_error *err);
/* Next record passing the filter: 1, 0 at end, -1 on a read error (err set). */
int sceplab_log_next(sceplab_log *lg, sceplab_record *rec, sceplab_error *err);
void sceplab_log_close(sceplab_log *lg);

/* Zip bundles, read in place: the regular-file members of an archive, by index. Returns the number
 * of members, or -1 with err (SCEPLAB_E_INPUT when it is not an archive). */
int sceplab_archive_members(const char *path, void (*each)(void *u, int index, const char *name), void *u,
                            sceplab_error *err);
/* Opens one member as a log; its name is "ARCHIVE!member". */
/* Writes the folder dir (its regular files, recursively, names sorted, hidden ones left out) as
 * a zip at zip_path, as a collection is sent. 0, or -1 with err (nothing left at zip_path). */
int sceplab_zip_dir(const char *dir, const char *zip_path, sceplab_error *err);
sceplab_log *sceplab_log_open_member(const char *archive, int index, const sceplab_log_filter *filter,
                                     const sceplab_log_opts *opts, sceplab_error *err);

const char *sceplab_log_format(const sceplab_log *lg);
/* The formats read, by index from 0 (NULL past the last), and whether opts->format may name one. */
const char *sceplab_log_format_name(size_t i);
int sceplab_log_format_forceable(size_t i);
const char *sceplab_log_path(const sceplab_log *lg);
/* Why the file was read as its format, in words ("IIS W3C extended log (#Fields directives)"). */
const char *sceplab_log_why(const sceplab_log *lg);
uint64_t sceplab_log_records(const sceplab_log *lg);   /* records parsed (before filtering) */
uint64_t sceplab_log_skipped(const sceplab_log *lg);   /* lines that could not be read */
/* Records parsed (before filtering) that the parser placed on workflow step 1..6, so a front end
 * can tell "no evidence for this step" from "nothing relevant passed the filter". */
uint64_t sceplab_log_step_records(const sceplab_log *lg, int step);
/* Up to 3 examples of skipped lines: "line N: reason". */
const char *sceplab_log_skip_example(const sceplab_log *lg, int i);

/* Where a file's records got their dates and offsets: the source its records without their own
 * use (NULL when each carried its own), and why in words; and the order its numeric dates were
 * read in. Strings live as long as the log. */
typedef struct sceplab_log_time_info {
  const char *date_source, *offset_source;
  const char *date_note, *offset_note, *order_note;
} sceplab_log_time_info;
void sceplab_log_times(const sceplab_log *lg, sceplab_log_time_info *out);
/* Whether an IANA zone name (opts.zone) is in the time zone database: 0, or -1 with err. */
int sceplab_log_zone_check(const char *name, sceplab_error *err);

/* ---- the merged timeline ----
 * Every log under paths (files; directories walked, names sorted; zip bundles read in one pass) as
 * one stream in UTC order (then input, then line), with bounded memory and file descriptors: small
 * inputs and exports written newest first are read whole (sorted), large ones streamed. The filter
 * applies to every input; its arrays must outlive the merge. */
typedef struct sceplab_merge sceplab_merge;

typedef struct sceplab_merge_input {
  const char *path;        /* a file, or "ARCHIVE!member" ("case.zip!Laptop-logs.zip!member" inside a
                              nested archive), as UTF-8 */
  const char *format;      /* NULL when it was not read as a log */
  const char *why;         /* why it was read as that format */
  uint64_t records;        /* parsed, before filtering */
  uint64_t skipped;
  uint64_t steps[7];       /* records per workflow step 1..6, before filtering */
  uint64_t out_of_order;   /* records older than the one before them (streamed inputs) */
  const char *examples[3]; /* skipped lines, "line N: reason" */
  const char *error;       /* why it was not read, or why reading stopped in the middle */
  int named;               /* named by the caller: its error is fatal; one found in a directory may be anything */
  int read_error;          /* reading stopped in the middle: the records before it were merged */
  int sorted;              /* read whole and sorted by time (an export written newest first) */
  int partly_sorted;       /* too large to read whole: its first part was sorted, the rest merged as written */
  int usage;               /* the options were refused (a bias out of range) */
  int binary;              /* a binary file (an image, an archive not opened): skipped, its bytes never shown */
  int refused;             /* an archive member refused as a bomb, or past the nesting or member limits */
  sceplab_log_time_info times; /* where its dates and offsets came from (see sceplab_log_times) */
} sceplab_merge_input;

sceplab_merge *sceplab_merge_open(const char *const *paths, size_t npaths, const sceplab_log_filter *filter,
                                  const sceplab_log_opts *opts, sceplab_error *err);
/* The next record in time order: 1 (rec and file valid until the next call), 0 at the end. A read
 * error in the middle of an input ends that input, and its entry says so; the merge goes on. */
int sceplab_merge_next(sceplab_merge *m, const sceplab_record **rec, const char **file, sceplab_error *err);
size_t sceplab_merge_count(const sceplab_merge *m);

/* What opts.counters counted over the whole merge, by counter and key: the record's request id
 * ("request:..."), else its transaction id ("transaction:..."), else the minute it fell in
 * ("minute:<minutes since the epoch>"); first and last occurrence of each. Bounded: past 200,000
 * keys a counter's further records go to its key "overflow". */
typedef struct sceplab_count_seen {
  int64_t time_us;
  uint64_t line;
  char *file;
  char text[240];          /* the message's start */
} sceplab_count_seen;
typedef struct sceplab_count {
  size_t counter;
  char *key;               /* "request:<id>", "transaction:<id>" or "minutes:<start>+<width>" (minutes
                              since the epoch: records without an id, by time, buckets widening as
                              the log runs long) */
  uint64_t count;
  sceplab_count_seen first, last;
  int timed;               /* keyed by time (bucket: its number at the current width) */
  int64_t bucket;
} sceplab_count;
size_t sceplab_merge_counts(const sceplab_merge *m);
const sceplab_count *sceplab_merge_count_at(const sceplab_merge *m, size_t i);
/* Input i, with its counts so far. */
const sceplab_merge_input *sceplab_merge_input_at(sceplab_merge *m, size_t i);
void sceplab_merge_close(sceplab_merge *m);

/* ---- writing records ----
 * timeline's text line, sceplab's JSONL (read back by the jsonl format), or Elastic Common Schema
 * JSON, written in C into a FILE in large writes. tz (text only): "UTC", "local" or "+HH:MM". */
typedef enum { SCEPLAB_WRITE_TEXT, SCEPLAB_WRITE_JSONL, SCEPLAB_WRITE_ECS } sceplab_write_format;
typedef struct sceplab_writer sceplab_writer;
sceplab_writer *sceplab_writer_new(FILE *out, sceplab_write_format fmt, const char *tz, sceplab_error *err);
/* Text only: colour the level and dim the evidence (the caller decides: --color, a terminal, NO_COLOR). */
void sceplab_writer_colour(sceplab_writer *w, int on);
/* 0, or -1 once writing failed (a full disk, a closed pipe). file: where the record was read. */
int sceplab_writer_put(sceplab_writer *w, const sceplab_record *r, const char *file);
/* Flushes and frees: 0, or -1 when anything could not be written. */
int sceplab_writer_close(sceplab_writer *w);

/* Explains detection: which format and why, in one line; 0 or SCEPLAB_E_INPUT (unknown). */
int sceplab_log_explain(const char *path, char *out, size_t outlen, sceplab_error *err);

/* Win32 / HRESULT codes that matter to SCEP: symbolic name, or NULL. */
const char *sceplab_hresult_name(uint32_t code);

#ifdef __cplusplus
}
#endif
#endif
