/* Opening, detection (through the format table, formats/formats.c), iteration: the public
 * sceplab_log_* functions. Part of the log reader's core (src/core/logs/core/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "logs/core/logs_int.h"

#define NFORMATS logs_nformats

const char *sceplab_log_format_name(size_t i)
{
  return i < NFORMATS ? logs_formats[i]->name : NULL;
}

int sceplab_log_format_forceable(size_t i)
{
  return i < NFORMATS && (logs_formats[i]->flags & LOGS_FORCEABLE) != 0;
}

/* "iis, cmtrace, ..." of the formats --format may name, for messages. */
static void forceable_list(char *out, size_t outlen)
{
  size_t i, o = 0;
  out[0] = '\0';
  for(i = 0; i < NFORMATS; i++)
    if(logs_formats[i]->flags & LOGS_FORCEABLE)
      o += (size_t)snprintf(out + o, o < outlen ? outlen - o : 0, "%s%s", o ? ", " : "", logs_formats[i]->name);
}

/* A binary format whose signature the input's first bytes carry, and why; NULL when none. */
static const logs_format *binary_format(const sceplab_log *lg, const char **why)
{
  size_t i;
  for(i = 0; i < NFORMATS; i++)
    if((logs_formats[i]->flags & LOGS_BINARY) && (*why = logs_formats[i]->detect(lg->buf ? lg->buf : "", lg->end)) != NULL)
      return logs_formats[i];
  return NULL;
}

const logs_format *logs_detect(const char *p, size_t n, const char **why)
{
  size_t i;
  for(i = 0; i < NFORMATS; i++)
    if(logs_formats[i]->detect && !(logs_formats[i]->flags & LOGS_BINARY) && (*why = logs_formats[i]->detect(p, n)) != NULL)
      return logs_formats[i];
  return NULL;
}

sceplab_log *sceplab_log_open(const char *path, const sceplab_log_filter *filter, const sceplab_log_opts *opts,
                              sceplab_error *err)
{
  sceplab_log *lg = logs_open_raw(path, err);
  struct stat st;
  if(!lg)
    return NULL;
  return logs_finish_open(lg, path, filter, opts, stat(path, &st) == 0 ? (int64_t)st.st_mtime : -1, NULL, err);
}

/* What a binary input is (a screenshot in a bundle, an archive not opened), from its first bytes;
 * NULL when it may be text. Only asked once no format claimed the input. */
static const char *binary_kind(const unsigned char *p, size_t n)
{
  static const struct { const char *magic; size_t len; const char *what; } kinds[] = {
    {"\x89PNG\r\n\x1A\n", 8, "PNG image"}, {"\xFF\xD8\xFF", 3, "JPEG image"}, {"GIF87a", 6, "GIF image"},
    {"GIF89a", 6, "GIF image"}, {"%PDF-", 5, "PDF document"}, {"PK\3\4", 4, "zip archive"}, {"PK\5\6", 4, "zip archive"},
    {"MSCF", 4, "cab archive"}, {"\x1F\x8B", 2, "gzip data"}, {"7z\xBC\xAF\x27\x1C", 6, "7-Zip archive"},
    {"Rar!\x1A\x07", 6, "RAR archive"}, {"\x7F" "ELF", 4, "executable"},
    {"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8, "Office document"},
  };
  size_t i, controls = 0, look = n < 4096 ? n : 4096;
  for(i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
    if(n >= kinds[i].len && memcmp(p, kinds[i].magic, kinds[i].len) == 0)
      return kinds[i].what;
  /* text (UTF-16 is decoded by now) has no NUL and few control characters */
  for(i = 0; i < look; i++) {
    if(!p[i])
      return "binary data";
    if(p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r' && p[i] != '\f' && p[i] != 0x1B)
      controls++;
  }
  return look && controls * 10 > look ? "binary data" : NULL;
}

sceplab_log *logs_finish_open(sceplab_log *lg, const char *path, const sceplab_log_filter *filter,
                                const sceplab_log_opts *opts, int64_t mtime, const char **binary, sceplab_error *err)
{
  const char *why = NULL;
  if(opts && opts->format) {
    size_t i;
    for(i = 0; i < NFORMATS; i++)
      if((logs_formats[i]->flags & LOGS_FORCEABLE) && strcmp(opts->format, logs_formats[i]->name) == 0)
        break;
    if(i == NFORMATS) {
      char list[256];
      forceable_list(list, sizeof(list));
      sceplab_err_set(err, SCEPLAB_E_USAGE, "format '%.40s' cannot be forced (one of %s)", opts->format, list);
      sceplab_log_close(lg);
      return NULL;
    }
    lg->ft = logs_formats[i];
    lg->why = "as asked (--format)";
  }
  else if((lg->ft = binary_format(lg, &lg->why)) != NULL) {
    if(lg->ft->open(lg, path, err) != 0) {
      sceplab_log_close(lg);
      return NULL;
    }
  }
  else if((lg->ft = logs_detect(lg->buf ? lg->buf : "", lg->end, &why)) == NULL) {
    const char *kind = binary_kind((const unsigned char *)(lg->buf ? lg->buf : ""), lg->end);
    if(kind) {
      /* said, counted, never quoted: its bytes have no place in a report */
      sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: binary file (%s), not a log", lg->path, kind);
      if(binary)
        *binary = kind;
    }
    else {
      /* the first line as UTF-8, cut at a character's end */
      char first[200];
      size_t k = 0;
      while(k < lg->end && k < 64 && lg->buf[k] != '\n' && lg->buf[k] != '\r')
        k++;
      k = sceplab_utf8_boundary(lg->buf, k, 60);
      first[sceplab_utf8_repair(lg->buf, k, first)] = '\0';
      sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: log format not recognised (first line: \"%s\")", lg->path, first);
    }
    sceplab_log_close(lg);
    return NULL;
  }
  if(opts && ((opts->has_bias && (opts->bias < -MAX_OFFSET_MIN || opts->bias > MAX_OFFSET_MIN)) ||
              (opts->has_offset && (opts->offset_min < -MAX_OFFSET_MIN || opts->offset_min > MAX_OFFSET_MIN)))) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "%s: bias and offset stay within %d minutes of UTC", lg->path, MAX_OFFSET_MIN);
    sceplab_log_close(lg);
    return NULL;
  }
  if(!lg->why)
    lg->why = why;
  lg->fmt = lg->ft->id;
  lg->formats = logs_formats;
  lg->nformats = NFORMATS;
  if(!(lg->ft->flags & LOGS_BINARY) && logs_repair_utf8(lg, err) != 0) {
    sceplab_log_close(lg);
    return NULL;
  }
  /* Formats of XML records need libxml2: said once, at open, rather than for every record. */
  if(lg->ft->flags & LOGS_XML2) {
    sceplab_error lib;
    if(sceplab_optlib_need(SCEPLAB_LIB_XML2, &lib) != 0) {
      sceplab_err_set(err, lib.code, "%s: %s", lg->path, lib.msg);
      sceplab_log_close(lg);
      return NULL;
    }
  }
  if(filter)
    lg->filter = *filter;
  else
    lg->filter.since_us = lg->filter.until_us = SCEPLAB_TIME_UNKNOWN;
  logs_index_needles(&lg->filter, &lg->needles);
  if(opts && opts->ncounters && opts->counted) {
    lg->counters = opts->counters;
    lg->ncounters = opts->ncounters;
    lg->counted = opts->counted;
    lg->counted_ud = opts->counted_ud;
  }
  if(opts && opts->has_bias) {
    lg->bias_set = 1;
    lg->bias = opts->bias;
  }
  if(opts && opts->observe) {
    lg->observe = opts->observe;
    lg->observe_ud = opts->observe_ud;
  }
  if(opts && opts->progress) {
    lg->progress = opts->progress;
    lg->progress_ud = opts->progress_ud;
    if(lg->bytes_read) /* what format detection read already */
      lg->progress(lg->progress_ud, (size_t)lg->bytes_read);
  }
  lg->mtime_us = mtime >= 0 ? mtime * 1000000 : SCEPLAB_TIME_UNKNOWN;
  /* the date of date-less formats and the offset of zone-less ones: given, or decided later */
  if(logs_clock_init(lg, opts, mtime, err) != 0) {
    sceplab_log_close(lg);
    return NULL;
  }
  return lg;
}

static void count_step(sceplab_log *lg, const sceplab_record *r)
{
  if(r->step >= 1 && r->step <= 6)
    lg->steps[r->step]++;
}

static void record_init(const sceplab_log *lg, sceplab_record *r)
{
  memset(r, 0, sizeof(*r));
  r->time_us = SCEPLAB_TIME_UNKNOWN;
  r->event_id = -1;
  r->http_status = r->http_substatus = -1;
  r->win32_status = -1;
  r->time_taken_ms = -1;
  r->source = lg->ft->name;
}

/* The message (IIS builds it from its fields) and the fields any message may carry (ids, HRESULT)
 * are made once per record, and only when a test needs them: most records are rejected first. */
#define MADE_MESSAGE 1
#define MADE_FIELDS 2

static void make_message(sceplab_log *lg, sceplab_record *r, int *made)
{
  if(!(*made & MADE_MESSAGE) && lg->ft->render)
    lg->ft->render(lg, r);
  *made |= MADE_MESSAGE;
}

static void make_fields(sceplab_log *lg, sceplab_record *r, int *made)
{
  make_message(lg, r, made);
  if(!(*made & MADE_FIELDS) && !(lg->ft->flags & LOGS_EXTRACTED))
    logs_extract(r);
  *made |= MADE_FIELDS;
}

/* The counters: each record meeting one is handed to the callback (diagnose's success summaries). */
static void count(sceplab_log *lg, sceplab_record *r, int *made)
{
  size_t i;
  for(i = 0; i < lg->ncounters; i++) {
    const sceplab_log_filter *c = &lg->counters[i];
    if(c->nhresults)
      make_fields(lg, r, made);
    if(!logs_filter_fields(c, r))
      continue;
    make_message(lg, r, made);
    if(logs_filter_message(c, NULL, r)) {
      make_fields(lg, r, made); /* the ids the summary is keyed by */
      lg->counted(lg->counted_ud, i, r, lg->path);
    }
  }
}

/* The tests on ids, known only once the fields are extracted. */
static int ids_pass(const sceplab_log_filter *f, const sceplab_record *r)
{
  if(f->request_id && strcmp(r->request_id, f->request_id) != 0)
    return 0;
  if(f->device_id && strcasecmp(r->device_id, f->device_id) != 0)
    return 0;
  return 1;
}

int sceplab_log_filter_test(const sceplab_log_filter *f, const sceplab_record *r)
{
  int pass = logs_filter_fields(f, r);
  if(!pass)
    return 0;
  if((pass == 2 || !f->any || f->ncontains_all) && !logs_filter_message(f, NULL, r))
    return 0;
  return ids_pass(f, r);
}

/* A record the parser produced: counted, then tested; 1 when it passes the filter. */
static int keep(sceplab_log *lg, sceplab_record *r)
{
  int pass, made = 0;
  lg->records++;
  count_step(lg, r);
  logs_clock_count(lg, r);
  if(lg->observe) {
    /* the merge learns the bundle's times from every record, whatever the filter keeps */
    if(logs_evidence_wants_fields(r))
      make_fields(lg, r, &made);
    lg->observe(lg->observe_ud, r);
  }
  if(r->time_us != SCEPLAB_TIME_UNKNOWN && !r->time_inferred)
    lg->last_time = r->time_us;
  if(lg->ncounters)
    count(lg, r, &made);
  if(lg->filter.nhresults) /* an HRESULT is known once extracted */
    make_fields(lg, r, &made);
  pass = logs_filter_fields(&lg->filter, r);
  if(!pass)
    return 0;
  make_message(lg, r, &made);
  if((pass == 2 || !lg->filter.any || lg->filter.ncontains_all) && !logs_filter_message(&lg->filter, &lg->needles, r))
    return 0;
  make_fields(lg, r, &made);
  /* ids are known only once extracted: these tests come last */
  return ids_pass(&lg->filter, r);
}

/* Appends the lines that continue record r (the format says which) to its message, one line each,
 * and gives back the first line that does not. */
static int read_continuation(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
{
  size_t len = r->message.n;
  for(;;) {
    const char *p;
    size_t n;
    int rc = logs_next_line(lg, &p, &n, err);
    if(rc <= 0)
      return rc;
    if(lg->line_cut || !lg->ft->continues(p, n)) {
      if(!lg->line_cut)
        logs_unread_line(lg, p);
      else
        logs_skip(lg, lg->line - 1, "line longer than 1 MiB");
      return 0;
    }
    while(n && (*p == ' ' || *p == '\t')) {
      p++;
      n--;
    }
    if(!n)
      continue;
    {
      const char *old = lg->msg;
      size_t used = len;
      if(logs_msg_append(lg, &len, "\n", 1) != 0 || logs_msg_append(lg, &len, p, n) != 0)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
      /* the fields the parser found in the message (a URL, an operation) moved with it */
      logs_rebase(r, old, used, lg->msg);
    }
    r->message.p = lg->msg;
    r->message.n = len;
  }
}

/* A record its format could give no time (the leading lines of a copy that starts in the middle of
 * a record) takes the next record's: the next line is parsed for its time and given back. The
 * record's message is kept aside first, as parsing moves the message buffer. */
static int borrow_next_time(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
{
  const char *p;
  size_t n;
  sceplab_record next;
  int rc;
  if(r->message.n) {
    char *held = realloc(lg->held, r->message.n);
    if(!held)
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    memcpy(held, r->message.p, r->message.n);
    lg->held = held;
    r->message.p = held;
  }
  if((rc = logs_next_line(lg, &p, &n, err)) <= 0)
    return rc;
  if(lg->line_cut) {
    /* a line that long is no record: skipped as the main loop would */
    logs_skip(lg, lg->line - 1, "line longer than 1 MiB");
    return 0;
  }
  {
    uint64_t skipped = lg->skipped;
    record_init(lg, &next);
    next.line = lg->line - 1;
    if(lg->ft->line(lg, p, n, &next, err) > 0 && next.time_us != SCEPLAB_TIME_UNKNOWN) {
      r->time_us = next.time_us;
      r->utc_offset_min = next.utc_offset_min;
      r->zone_assumed = next.zone_assumed;
      r->date_assumed = next.date_assumed;
      /* the borrowed time's date and offset came from where the next record's did */
      r->date_source = next.date_source;
      r->offset_source = next.offset_source;
    }
    lg->skipped = skipped; /* the line is read again as what it is */
  }
  logs_unread_line(lg, p);
  return 0;
}

int sceplab_log_next(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
{
  if(!lg->clock.prepared)
    logs_clock_prepare(lg);
  if(lg->ft->record) {
    for(;;) {
      int rc;
      record_init(lg, r);
      rc = lg->ft->record(lg, r, err);
      if(rc <= 0)
        return rc; /* the reader's own error, as it said it */
      if(keep(lg, r))
        return 1;
    }
  }
  for(;;) {
    const char *p;
    size_t n;
    int rc = logs_next_line(lg, &p, &n, err), got;
    if(rc <= 0)
      return rc;
    record_init(lg, r);
    r->line = lg->line - 1;
    r->offset = lg->line_start;
    if(lg->line_cut) {
      logs_skip(lg, r->line, "line longer than 1 MiB");
      continue;
    }
    got = lg->ft->line(lg, p, n, r, err);
    if(got < 0)
      return -1;
    if(got && lg->ft->continues && read_continuation(lg, r, err) < 0)
      return -1;
    /* formats of one line a record (and continuation lines) may look one line ahead */
    if(got && lg->ft->continues && r->time_us == SCEPLAB_TIME_UNKNOWN && r->time_inferred &&
       borrow_next_time(lg, r, err) < 0)
      return -1;
    if(got && keep(lg, r))
      return 1;
  }
}

const char *sceplab_log_format(const sceplab_log *lg) { return lg->ft->name; }
const char *sceplab_log_path(const sceplab_log *lg) { return lg->path; }
const char *sceplab_log_why(const sceplab_log *lg) { return lg->why; }
uint64_t sceplab_log_records(const sceplab_log *lg) { return lg->records; }
uint64_t sceplab_log_skipped(const sceplab_log *lg) { return lg->skipped; }
uint64_t sceplab_log_step_records(const sceplab_log *lg, int step)
{
  return step >= 1 && step <= 6 ? lg->steps[step] : 0;
}

const char *sceplab_log_skip_example(const sceplab_log *lg, int i)
{
  return i >= 0 && (uint64_t)i < lg->skipped && i < 3 ? lg->examples[i] : NULL;
}

int sceplab_log_explain(const char *path, char *out, size_t outlen, sceplab_error *err)
{
  sceplab_log *lg = logs_open_raw(path, err);
  const logs_format *ft;
  const char *why;
  if(!lg)
    return err ? (int)err->code : SCEPLAB_E_INPUT;
  if((ft = binary_format(lg, &why)) != NULL) {
    snprintf(out, outlen, "%s: %s", ft->name, why);
    sceplab_log_close(lg);
    return 0;
  }
  if((ft = logs_detect(lg->buf ? lg->buf : "", lg->end, &why)) == NULL) {
    size_t seen = lg->end;
    const char *kind = binary_kind((const unsigned char *)(lg->buf ? lg->buf : ""), lg->end);
    if(kind)
      sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: binary file (%s), not a log", lg->path, kind);
    else
      sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: no known log format in the first %zu bytes", lg->path, seen);
    sceplab_log_close(lg);
    return err ? (int)err->code : SCEPLAB_E_INPUT;
  }
  snprintf(out, outlen, "%s: %s%s", ft->name, why,
           lg->enc == ENC_UTF16LE ? ", UTF-16LE" : lg->enc == ENC_UTF16BE ? ", UTF-16BE" : "");
  sceplab_log_close(lg);
  return 0;
}
