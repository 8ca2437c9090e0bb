/* Each reader's clock: where a record's date and offset come from, the date of date-less formats,
 * midnight crossings, the assumed zone. Dates as written are dates.c's, IANA zones zone.c's.
 * Part of the log reader's core (src/core/logs/core/): see logtime.h and logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "logs/core/logs_int.h"

/* ---- sources ---------------------------------------------------------------------------------- */

static const char *const tsrc_names[LOGS_TS_COUNT] = {
  NULL, "record", "format", "option", "zone", "correlated", "file", "zip-entry", "mtime", "assumed",
};

const char *logs_tsrc_name(logs_tsrc s)
{
  return (unsigned)s < LOGS_TS_COUNT ? tsrc_names[s] : NULL;
}

logs_tsrc logs_tsrc_named(const char *p, size_t n)
{
  int i;
  for(i = 1; i < LOGS_TS_COUNT; i++)
    if(strlen(tsrc_names[i]) == n && memcmp(tsrc_names[i], p, n) == 0)
      return (logs_tsrc)i;
  return LOGS_TS_NONE;
}

/* The source a record's name points at (the names are this table's strings). */
static logs_tsrc tsrc_of(const char *name)
{
  int i;
  for(i = 1; i < LOGS_TS_COUNT; i++)
    if(name == tsrc_names[i])
      return (logs_tsrc)i;
  return LOGS_TS_NONE;
}

/* ---- a reader's clock ------------------------------------------------------------------------- */

static void fmt_offset(char *out, size_t n, int min)
{
  int a = min < 0 ? -min : min;
  snprintf(out, n, "%c%02d:%02d", min < 0 ? '-' : '+', a / 60, a % 60);
}

static void fmt_day(char *out, size_t n, int64_t day)
{
  int y, m, d;
  logs_civil_from_days(day, &y, &m, &d);
  snprintf(out, n, "%04d-%02d-%02d", y, m, d);
}

int logs_clock_init(sceplab_log *lg, const sceplab_log_opts *opts, int64_t mtime, sceplab_error *err)
{
  logs_clock *c = &lg->clock;
  struct stat st;
  int fd = lg->f ? fileno(lg->f) : -1;
  c->origin_s = mtime >= 0 ? mtime : INT64_MIN;
  /* A zip member is read through a cookie (no descriptor) or from an unlinked spool file; a file
   * named on disk has a link. The member's time is its entry's, which says less than a file's own. */
  c->origin_src = fd < 0 || (fstat(fd, &st) == 0 && st.st_nlink == 0) ? LOGS_TS_ZIP : LOGS_TS_MTIME;
  c->date_src = c->origin_s != INT64_MIN ? c->origin_src : LOGS_TS_ASSUMED;
  c->offset_src = LOGS_TS_ASSUMED;
  c->zone_hint = INT64_MIN;
  if(opts && opts->date) {
    int y, m, d;
    char extra;
    if(sscanf(opts->date, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || logs_make_time(y, m, d, 0, 0, 0, 0) == SCEPLAB_TIME_UNKNOWN)
      return sceplab_err_set(err, SCEPLAB_E_USAGE, "date '%.40s' is not a calendar date (YYYY-MM-DD, 1970-2200)", opts->date), -1;
    c->date_src = LOGS_TS_OPTION;
    c->base_set = 1;
    c->base_day = logs_days_from_civil(y, (unsigned)m, (unsigned)d);
    c->base_year = y;
    snprintf(c->opt_date, sizeof(c->opt_date), "%s", opts->date);
    snprintf(c->date_note, sizeof(c->date_note), "%s, given (--date)", opts->date);
  }
  if(opts && opts->zone) {
    if(!(c->zone = logs_zone_load(opts->zone, err)))
      return -1;
    c->offset_src = LOGS_TS_ZONE;
    snprintf(c->opt_zone, sizeof(c->opt_zone), "%s", opts->zone);
    snprintf(c->offset_note, sizeof(c->offset_note), "%s, given (--assume-offset): each record's offset at its own moment",
             opts->zone);
  }
  else if(opts && opts->has_offset) {
    char o[16];
    c->offset_set = 1;
    c->offset_min = opts->offset_min;
    c->offset_src = LOGS_TS_OPTION;
    c->opt_offset_set = 1;
    c->opt_offset = opts->offset_min;
    fmt_offset(o, sizeof(o), opts->offset_min);
    snprintf(c->offset_note, sizeof(c->offset_note), "%s, given (--assume-offset)", o);
  }
  return 0;
}

int logs_lookahead(sceplab_log *lg, size_t max, sceplab_error *err)
{
  while(!lg->eof && lg->end - lg->start < max) {
    int rc = logs_refill(lg, err);
    if(rc < 0)
      return -1;
    if(rc == 0)
      break;
  }
  return lg->eof ? 1 : 0;
}

/* A date written before a date-less file's first record (a header: "Console log, 2020-05-24"). */
static void written_header_date(sceplab_log *lg)
{
  const char *p = lg->buf ? lg->buf + lg->start : NULL, *end = p ? lg->buf + lg->end : NULL;
  uint64_t line = lg->line;
  int i;
  if(!p || !lg->ft->continues)
    return;
  for(i = 0; i < 64 && p < end; i++, line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    int y, m, d;
    if(len && !lg->ft->continues(p, len))
      return; /* the first record: what follows is the records' own text */
    if(logs_find_date(p, len, &y, &m, &d)) {
      logs_written_date(lg, y, m, d, line);
      return;
    }
    if(!nl)
      return;
    p = nl + 1;
  }
}

void logs_clock_prepare(sceplab_log *lg)
{
  logs_clock *c = &lg->clock;
  if(c->prepared)
    return;
  c->prepared = 1;
  if(lg->ft->flags & (LOGS_DATELESS | LOGS_YEARLESS))
    written_header_date(lg);
  if(lg->ft->prepare)
    lg->ft->prepare(lg);
  if((lg->ft->flags & LOGS_ZONELESS) && !c->offset_note[0] && c->offset_src == LOGS_TS_ASSUMED)
    snprintf(c->offset_note, sizeof(c->offset_note), "local times without a zone, and nothing proves one: read as UTC");
}

void logs_written_date(sceplab_log *lg, int y, int m, int d, uint64_t line)
{
  logs_clock *c = &lg->clock;
  char day[16];
  /* --date and the bundle's own evidence say more than a date written in the file */
  if(c->date_src == LOGS_TS_OPTION || c->date_src == LOGS_TS_CORRELATED ||
     logs_make_time(y, m, d, 0, 0, 0, 0) == SCEPLAB_TIME_UNKNOWN)
    return;
  c->date_src = LOGS_TS_FILE;
  c->base_set = 1;
  c->base_day = logs_days_from_civil(y, (unsigned)m, (unsigned)d);
  c->base_year = y;
  c->day_roll = 0;
  c->year_roll = 0;
  c->have_prev = 0;
  fmt_day(day, sizeof(day), c->base_day);
  snprintf(c->date_note, sizeof(c->date_note), "%s, written in the file (line %llu)", day, (unsigned long long)line);
}

/* The day the file's date-less records start on, from the file's time when nothing else says:
 * that time's date where the records were written (their offset). */
static void origin_base(logs_clock *c, int offset_min)
{
  char day[16];
  int64_t t = (c->origin_s != INT64_MIN ? c->origin_s : 0) + (int64_t)offset_min * 60;
  int y, m, d;
  c->base_set = 1;
  c->base_day = t / 86400 - (t % 86400 < 0);
  logs_civil_from_days(c->base_day, &y, &m, &d);
  c->base_year = y;
  fmt_day(day, sizeof(day), c->base_day);
  if(c->date_src == LOGS_TS_ZIP)
    snprintf(c->date_note, sizeof(c->date_note), "%s, the zip entry's time", day);
  else if(c->date_src == LOGS_TS_MTIME)
    snprintf(c->date_note, sizeof(c->date_note), "%s, the file's modification time (in a copied bundle, the day it was copied)",
             day);
  else
    snprintf(c->date_note, sizeof(c->date_note), "%s, nothing says (no file time)", day);
}

int64_t logs_dateless_time(sceplab_log *lg, sceplab_record *r, int h, int mi, int s, long us, int offset_min)
{
  logs_clock *c = &lg->clock;
  int64_t tod, local;
  if(h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 || us < 0 || us > 999999)
    return SCEPLAB_TIME_UNKNOWN;
  if(!c->base_set)
    origin_base(c, offset_min);
  tod = (((int64_t)h * 60 + mi) * 60 + s) * 1000000 + us;
  /* a log in time order whose time of day falls back by hours has passed midnight (a change of
   * daylight saving time moves it back one hour at most) */
  if(c->have_prev && tod < c->prev_tod - 6 * 3600LL * 1000000)
    c->day_roll++;
  c->prev_tod = tod;
  c->have_prev = 1;
  local = (c->base_day + c->day_roll) * LOGS_DAY_US + tod;
  if(local < 0 || local > logs_make_time(2200, 12, 31, 23, 59, 59, 0))
    return SCEPLAB_TIME_UNKNOWN;
  /* a date written in the file (an MSI log's header) is the log's own, not assumed */
  r->date_assumed = c->date_src != LOGS_TS_FILE;
  r->date_source = logs_tsrc_name(c->date_src);
  return local;
}

int64_t logs_yearless_time(sceplab_log *lg, sceplab_record *r, int mo, int d, int h, int mi, int s, long us)
{
  logs_clock *c = &lg->clock;
  int64_t t;
  if(!c->base_set) {
    int oy, om, od;
    origin_base(c, c->offset_set ? c->offset_min : 0);
    logs_civil_from_days(c->base_day, &oy, &om, &od);
    /* a log is not written after its file: a record dated after the file's day is last year's */
    if(c->date_src != LOGS_TS_OPTION && c->date_src != LOGS_TS_FILE && c->date_src != LOGS_TS_CORRELATED &&
       (mo > om || (mo == om && d > od + 1)))
      c->base_year = oy - 1;
  }
  /* December then January: a new year */
  if(c->have_prev && mo < c->prev_month - 6)
    c->year_roll++;
  c->prev_month = mo;
  c->have_prev = 1;
  t = logs_make_time(c->base_year + c->year_roll, mo, d, h, mi, s, us);
  if(t != SCEPLAB_TIME_UNKNOWN) {
    r->date_assumed = 1;
    r->date_source = logs_tsrc_name(c->date_src);
  }
  return t;
}

/* The learnt offset nearest a local time (event blocks pasted with their XML show theirs). */
static int learnt_offset(const logs_clock *c, int64_t local_s)
{
  int i, best = 0;
  int64_t bestd = INT64_MAX;
  for(i = 0; i < c->nlearnt; i++) {
    int64_t dd = c->learnt[i].local_s - local_s;
    if(dd < 0)
      dd = -dd;
    if(dd < bestd) {
      bestd = dd;
      best = i;
    }
  }
  return c->learnt[best].offset_min;
}

void logs_learn_offset(sceplab_log *lg, int64_t local_s, int offset_min)
{
  logs_clock *c = &lg->clock;
  char o[16];
  if(c->nlearnt == LOGS_LEARNT_MAX || offset_min < -MAX_OFFSET_MIN || offset_min > MAX_OFFSET_MIN)
    return;
  c->learnt[c->nlearnt].local_s = local_s;
  c->learnt[c->nlearnt].offset_min = offset_min;
  c->nlearnt++;
  if(c->offset_src != LOGS_TS_ASSUMED && c->offset_src != LOGS_TS_FILE)
    return; /* --assume-offset says otherwise */
  c->offset_src = LOGS_TS_FILE;
  fmt_offset(o, sizeof(o), c->learnt[0].offset_min);
  if(c->nlearnt == 1 || c->learnt[c->nlearnt - 1].offset_min == c->learnt[0].offset_min)
    snprintf(c->offset_note, sizeof(c->offset_note), "%s, shown by the event XML pasted with its blocks", o);
  else
    snprintf(c->offset_note, sizeof(c->offset_note),
             "shown by the event XML pasted with its blocks, which changes within the file (daylight saving time): "
             "each block without XML takes the offset of the nearest block with it");
}

void logs_assume_zone(sceplab_log *lg, sceplab_record *r)
{
  logs_clock *c = &lg->clock;
  int64_t local_s = r->time_us / 1000000 - (r->time_us % 1000000 < 0);
  logs_tsrc src = c->offset_src;
  int off;
  if(c->zone) {
    off = logs_zone_offset_local(c->zone, local_s, c->zone_hint);
    src = LOGS_TS_ZONE;
  }
  else if(c->offset_set && (src == LOGS_TS_OPTION || src == LOGS_TS_CORRELATED))
    off = c->offset_min;
  else if(c->nlearnt) {
    off = learnt_offset(c, local_s);
    src = LOGS_TS_FILE;
  }
  else {
    off = 0;
    src = LOGS_TS_ASSUMED;
  }
  r->zone_assumed = src == LOGS_TS_OPTION || src == LOGS_TS_ZONE || src == LOGS_TS_ASSUMED;
  r->utc_offset_min = off;
  r->time_us -= (int64_t)off * LOGS_MIN_US;
  r->offset_source = logs_tsrc_name(src);
  if(!r->date_source)
    r->date_source = logs_tsrc_name(LOGS_TS_RECORD);
  c->zone_hint = r->time_us / 1000000;
}

void logs_time_sources(sceplab_record *r, logs_tsrc date, logs_tsrc offset)
{
  r->date_source = logs_tsrc_name(date);
  r->offset_source = logs_tsrc_name(offset);
}

void logs_clock_count(sceplab_log *lg, sceplab_record *r)
{
  logs_clock *c = &lg->clock;
  if(r->time_us == SCEPLAB_TIME_UNKNOWN)
    return;
  if(r->time_inferred && !r->date_source) {
    /* a record that borrows the previous record's time borrows where it came from too */
    r->date_source = c->last_date;
    r->offset_source = c->last_offset;
  }
  c->date_count[tsrc_of(r->date_source)]++;
  c->offset_count[tsrc_of(r->offset_source)]++;
  c->last_date = r->date_source;
  c->last_offset = r->offset_source;
}

/* The file-level source a summary names: the one records without their own date or offset use,
 * or NULL when every record carried its own. */
static const char *file_source(const uint64_t *count)
{
  static const logs_tsrc order[] = {LOGS_TS_CORRELATED, LOGS_TS_ZONE, LOGS_TS_OPTION, LOGS_TS_FILE, LOGS_TS_ZIP,
                                    LOGS_TS_MTIME, LOGS_TS_ASSUMED};
  size_t i;
  for(i = 0; i < sizeof(order) / sizeof(order[0]); i++)
    if(count[order[i]])
      return logs_tsrc_name(order[i]);
  return NULL;
}

void sceplab_log_times(const sceplab_log *lg, sceplab_log_time_info *out)
{
  const logs_clock *c = &lg->clock;
  memset(out, 0, sizeof(*out));
  out->date_source = file_source(c->date_count);
  out->offset_source = file_source(c->offset_count);
  out->date_note = out->date_source && c->date_note[0] ? c->date_note : NULL;
  out->offset_note = out->offset_source && c->offset_note[0] ? c->offset_note : NULL;
  out->order_note = c->order_note[0] ? c->order_note : NULL;
  /* what a file read before its first record would use (explain asks before anything is read) */
  if(!out->date_source && !lg->records && (lg->ft->flags & (LOGS_DATELESS | LOGS_YEARLESS)))
    out->date_source = logs_tsrc_name(c->date_src);
  if(!out->offset_source && !lg->records && (lg->ft->flags & LOGS_ZONELESS))
    out->offset_source = logs_tsrc_name(c->zone ? LOGS_TS_ZONE : c->offset_src);
}
