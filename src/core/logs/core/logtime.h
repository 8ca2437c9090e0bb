/* The date/time module of the log reader (time.c): one place for every reader's dates and zones.
 *
 *  - civil dates to UTC and back (31 February refused, never rolled into March);
 *  - UTC offsets as logs write them ("Z", "+05:30", "+0530", "-07"), never read as whole hours;
 *  - numeric dates in the order of the machine that wrote them (5/24/2020, 24/05/2020, 24.05.2020,
 *    2020/05/24), that order decided once per file from the dates only one order can read;
 *  - IANA zones (tzdata's TZif files, and the POSIX rule at their end) so an assumed zone gives each
 *    record the offset of its own moment, daylight saving time included;
 *  - where a record's date and offset came from (date_source, offset_source).
 *
 * time.c holds all but the zones (zone.c). This header needs nothing of the reader: the cmocka
 * tests (tests/unit/test_logtime.c) use it alone.
 * What needs the reader (the file's date for date-less formats, midnight crossings, the assumed
 * zone) is declared in logs_int.h. */
#ifndef SCEPLAB_LOGTIME_H
#define SCEPLAB_LOGTIME_H

#include <stddef.h>
#include <stdint.h>

#include "sceplab/error.h"
#include "sceplab/logs.h"

#define LOGS_DAY_US (86400LL * 1000000LL)
#define LOGS_MIN_US (60LL * 1000000LL)

/* Where a record's date, or its UTC offset, came from. The names are what records and inputs
 * carry (date_source, offset_source); docs/log-formats.md says what each means. */
typedef enum logs_tsrc {
  LOGS_TS_NONE = 0,
  LOGS_TS_RECORD,     /* the record's own text */
  LOGS_TS_FORMAT,     /* the format fixes it (W3C extended logs are UTC) */
  LOGS_TS_OPTION,     /* --date or --assume-offset */
  LOGS_TS_ZONE,       /* --assume-offset with a zone name: that zone's offset at the record's moment */
  LOGS_TS_CORRELATED, /* the bundle's dated records at the same moments (IIS requests, shared ids) */
  LOGS_TS_FILE,       /* written elsewhere in the file (a header, a pasted event's XML) */
  LOGS_TS_ZIP,        /* the zip entry's time */
  LOGS_TS_MTIME,      /* the file's modification time */
  LOGS_TS_ASSUMED,    /* nothing says: UTC */
  LOGS_TS_COUNT
} logs_tsrc;

const char *logs_tsrc_name(logs_tsrc s);
/* The source a name stands for (JSONL read back); LOGS_TS_NONE when it is none. */
logs_tsrc logs_tsrc_named(const char *p, size_t n);

/* ---- civil time ---- */
int64_t logs_days_from_civil(int64_t y, unsigned m, unsigned d);
void logs_civil_from_days(int64_t days, int *y, int *m, int *d);
int logs_days_in_month(int y, int m);
/* UTC microseconds of a civil time read as UTC; SCEPLAB_TIME_UNKNOWN when it is no time (1970-2200). */
int64_t logs_make_time(int y, int mo, int d, int h, int mi, int s, long us);
/* Up to 7 fraction digits into microseconds; returns the digits consumed. */
int logs_fraction_us(const char *p, size_t n, long *us);

/* An offset as written: "Z", "+05:30", "+0530", "+05", "-07:00". Returns the characters read (0:
 * none there, -1: malformed or beyond 18 hours); *min is minutes east. */
int logs_parse_offset(const char *p, size_t n, int *min);

/* ---- numeric dates: the order of the machine that wrote them ----
 * Evidence is fed date by date (logs_order_see); logs_order_decide settles the file's order once:
 * the dates only one order reads (24/05/2020 is day first, 5/24/2020 month first; 24.05.2020 is
 * always day first), by majority; with none, zero-padded first fields (05/06/2020: day-first
 * locales pad, Windows' en-US M/d/yyyy does not), else month first (Event Viewer's en-US default). */
enum { LOGS_ORDER_UNKNOWN = 0, LOGS_ORDER_MDY, LOGS_ORDER_DMY };
typedef struct logs_dateorder {
  unsigned day_first, month_first, padded;
  uint64_t line;      /* where the first date only one order reads was, for the note */
  char example[24];
  int order;          /* LOGS_ORDER_* once decided */
} logs_dateorder;
void logs_order_see(logs_dateorder *o, const char *p, size_t n, uint64_t line);
/* Decides (once) and says why in words. */
void logs_order_decide(logs_dateorder *o, char *why, size_t whylen);

/* A local date and time as Windows and tools write them: "5/24/2020 3:16:04 AM", "24/05/2020
 * 15:16:04", "24.05.2020 15:16:04", "2020-05-24 15:16:04.123", "2020-05-24T15:16:04", "2020/05/24
 * 15:16:04", two-digit years. Numeric day/month in the decided order; a date the decided order
 * cannot read (13/02/2024 in a month-first file) is read the only way it can be. Returns the
 * characters read, or -1. */
typedef struct logs_civil { int y, mo, d, h, mi, s; long us; } logs_civil;
int logs_parse_local(const logs_dateorder *o, const char *p, size_t n, logs_civil *c);
/* The first full date written in text: 2020-05-24, May 24, 2020, 24 May 2020 (names in English).
 * 1 with the date, else 0. */
int logs_find_date(const char *p, size_t n, int *y, int *m, int *d);

/* ---- IANA zones ----
 * Read from $TZDIR or /usr/share/zoneinfo, never through setenv("TZ"): offsets at any moment, in
 * the transitions the file lists and, past them, by its POSIX rule. */
typedef struct logs_zone logs_zone;
/* Whether name looks like a zone name (Europe/London, UTC, Etc/GMT+5) rather than an offset. */
int logs_zone_name_ok(const char *name);
logs_zone *logs_zone_load(const char *name, sceplab_error *err);
void logs_zone_free(logs_zone *z);
const char *logs_zone_name(const logs_zone *z);
/* Minutes east of UTC at the UTC moment t (seconds). */
int logs_zone_offset_at(const logs_zone *z, int64_t t);
/* The offset of a local wall-clock time (seconds, read as UTC). In the hour a change repeats, the
 * first reading, unless it falls more than two minutes before hint (the previous record's UTC
 * second, INT64_MIN for none): a log in time order has passed it, the second is meant. In the hour
 * a change skips, the offset before the change. */
int logs_zone_offset_local(const logs_zone *z, int64_t local, int64_t hint);

/* ---- a reader's clock ----
 * How one file's records get their dates and offsets, decided before its first record (what needs
 * the reader itself is declared in logs_int.h). */
#define LOGS_LEARNT_MAX 32
typedef struct logs_clock {
  int prepared;
  int64_t origin_s;          /* the file's modification time or its zip entry's, seconds (INT64_MIN: none) */
  logs_tsrc origin_src;      /* LOGS_TS_MTIME or LOGS_TS_ZIP */
  logs_tsrc date_src;        /* date-less formats: where the file's date comes from */
  int base_set;
  int64_t base_day;          /* date-less formats: the first record's day (days since 1970) */
  int base_year;             /* year-less formats (syslog): the first record's year */
  int64_t day_roll, prev_tod;/* midnights crossed; the last record's local time of day (us) */
  int have_prev;
  int year_roll, prev_month; /* new years crossed (syslog); the last record's month */
  logs_tsrc offset_src;      /* zone-less formats: where the offset comes from */
  int offset_set, offset_min;
  logs_zone *zone;           /* --assume-offset ZONE: each record's offset at its own moment */
  int64_t zone_hint;         /* the last record's UTC second: which reading of a repeated hour */
  struct { int64_t local_s; int offset_min; } learnt[LOGS_LEARNT_MAX]; /* offsets the file shows */
  int nlearnt;
  logs_dateorder order;
  const char *last_date, *last_offset; /* the previous record's sources (a record that borrows its time) */
  /* the options as given, for a second reader of the same text */
  char opt_date[16], opt_zone[64];
  int opt_offset_set, opt_offset;
  char date_note[200], offset_note[200], order_note[160];
  uint64_t date_count[LOGS_TS_COUNT], offset_count[LOGS_TS_COUNT]; /* records by source */
} logs_clock;

#endif
