/* Dates and zones for every reader: civil dates to UTC, offsets as written, numeric dates in the
 * order of the machine that wrote them (decided once per file), and each reader's clock (the date
 * of date-less formats, midnight crossings, the assumed zone). IANA zones are zone.c's.
 * Part of the log reader (src/core/logs/): see logtime.h and logs_int.h for how the pieces fit. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "logs_int.h"

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

/* ---- civil time ------------------------------------------------------------------------------- */

int64_t logs_days_from_civil(int64_t y, unsigned m, unsigned d)
{
  /* Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar */
  int64_t era;
  unsigned yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned)(y - era * 400);
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void logs_civil_from_days(int64_t z, int *y, int *m, int *d)
{
  int64_t era, yy;
  unsigned doe, yoe, doy, mp;
  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = (unsigned)(z - era * 146097);
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  yy = (int64_t)yoe + era * 400;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yy + (*m <= 2));
}

int logs_days_in_month(int y, int m)
{
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if(m < 1 || m > 12)
    return 0;
  return m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) ? 29 : days[m - 1];
}

int64_t logs_make_time(int y, int mo, int d, int h, int mi, int s, long us)
{
  /* 31 February is refused, not rolled over into March */
  if(y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > logs_days_in_month(y, mo) || h < 0 || h > 23 ||
     mi < 0 || mi > 59 || s < 0 || s > 60 || us < 0 || us > 999999)
    return SCEPLAB_TIME_UNKNOWN;
  return ((logs_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400) + h * 3600 + mi * 60 + s) * 1000000 + us;
}

int logs_fraction_us(const char *p, size_t n, long *us)
{
  int i = 0;
  long v = 0, scale = 100000;
  while((size_t)i < n && isdigit((unsigned char)p[i])) {
    if(i < 6) {
      v += (p[i] - '0') * scale;
      scale /= 10;
    }
    i++;
  }
  *us = v;
  return i;
}

/* Digits at p (at most max): their value, and how many in *k (0: none). */
static int digits(const char *p, size_t n, int max, int *k)
{
  int v = 0;
  *k = 0;
  while((size_t)*k < n && *k < max && isdigit((unsigned char)p[*k])) {
    v = v * 10 + (p[*k] - '0');
    (*k)++;
  }
  return v;
}

int logs_parse_offset(const char *p, size_t n, int *min)
{
  int h, m = 0, k, i;
  if(n >= 1 && (p[0] == 'Z' || p[0] == 'z')) {
    *min = 0;
    return 1;
  }
  if(n < 3 || (p[0] != '+' && p[0] != '-'))
    return 0;
  h = digits(p + 1, n - 1, 2, &k);
  if(k != 2)
    return -1;
  i = 3;
  /* "+05:30" and "+0530" are five and a half hours: the minutes are never dropped */
  if((size_t)i < n && p[i] == ':') {
    m = digits(p + i + 1, n - (size_t)i - 1, 2, &k);
    if(k != 2)
      return -1;
    i += 3;
  }
  else if((size_t)i < n && isdigit((unsigned char)p[i])) {
    m = digits(p + i, n - (size_t)i, 2, &k);
    if(k != 2)
      return -1;
    i += 2;
  }
  if(((size_t)i < n && isdigit((unsigned char)p[i])) || m > 59 || h * 60 + m > MAX_OFFSET_MIN)
    return -1;
  *min = (p[0] == '-' ? -1 : 1) * (h * 60 + m);
  return i;
}

/* The ISO 8601 SystemTime: "2020-05-24T10:16:06.1234567Z" or with its offset ("+05:30", "+0530").
 * Without a zone the time is taken as UTC and zone_assumed said. */
int logs_iso_time(const char *t, sceplab_record *r)
{
  int y, mo, d, h, mi, s, consumed = 0, off = 0, k;
  long us = 0;
  const char *z;
  if(!t || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6)
    return -1;
  z = t + consumed;
  if(*z == '.')
    z += 1 + logs_fraction_us(z + 1, strlen(z + 1), &us);
  r->time_us = logs_make_time(y, mo, d, h, mi, s, us);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN)
    return -1;
  k = logs_parse_offset(z, strlen(z), &off);
  if(k < 0)
    return -1;
  if(k == 0) {
    r->zone_assumed = 1;
    r->utc_offset_min = 0;
    return 0;
  }
  r->utc_offset_min = off;
  r->time_us -= (int64_t)off * LOGS_MIN_US;
  return 0;
}

/* ---- numeric dates in the writer's order ------------------------------------------------------ */

/* Copies text without the invisible marks Windows puts around a date's numbers (U+200E, U+200F
 * in some Event Viewer exports), NUL-terminated. */
static size_t clean_date(const char *p, size_t n, char *out, size_t outlen)
{
  size_t i = 0, o = 0;
  while(i < n && o + 1 < outlen) {
    if(i + 2 < n && (unsigned char)p[i] == 0xE2 && (unsigned char)p[i + 1] == 0x80 &&
       ((unsigned char)p[i + 2] == 0x8E || (unsigned char)p[i + 2] == 0x8F)) {
      i += 3;
      continue;
    }
    out[o++] = p[i++];
  }
  out[o] = '\0';
  return o;
}

typedef struct numdate { int a, b, c, ka, kb, kc; char sep; size_t len; } numdate;

/* "a/b/c", "a.b.c", "a-b-c" at the start of s (after spaces): 1 with the parts, else 0. */
static int num_date(const char *s, numdate *nd)
{
  const char *p = s;
  while(*p == ' ' || *p == '\t')
    p++;
  nd->a = digits(p, strlen(p), 4, &nd->ka);
  if(!nd->ka)
    return 0;
  p += nd->ka;
  nd->sep = *p;
  if(nd->sep != '/' && nd->sep != '.' && nd->sep != '-')
    return 0;
  nd->b = digits(p + 1, strlen(p + 1), 2, &nd->kb);
  if(!nd->kb || p[1 + nd->kb] != nd->sep)
    return 0;
  p += 2 + nd->kb;
  nd->c = digits(p, strlen(p), 4, &nd->kc);
  if(nd->kc != 2 && nd->kc != 4)
    return 0;
  p += nd->kc;
  if(isdigit((unsigned char)*p))
    return 0;
  nd->len = (size_t)(p - s);
  return 1;
}

void logs_order_see(logs_dateorder *o, const char *p, size_t n, uint64_t line)
{
  char b[64];
  numdate nd;
  int which = 0;
  clean_date(p, n, b, sizeof(b));
  if(!num_date(b, &nd) || nd.ka == 4 || nd.ka > 2)
    return; /* year first: no question of order */
  if(nd.sep == '.')
    which = 2; /* 24.05.2020: every locale writing dots writes the day first */
  else if(nd.a > 12 && nd.a <= 31 && nd.b >= 1 && nd.b <= 12)
    which = 2;
  else if(nd.b > 12 && nd.b <= 31 && nd.a >= 1 && nd.a <= 12)
    which = 1;
  else if(nd.ka == 2 && b[strspn(b, " \t")] == '0')
    o->padded++;
  if(!which)
    return;
  if(which == 2)
    o->day_first++;
  else
    o->month_first++;
  if(!o->example[0]) {
    snprintf(o->example, sizeof(o->example), "%.*s", (int)(nd.len < 20 ? nd.len : 20), b + strspn(b, " \t"));
    o->line = line;
  }
}

void logs_order_decide(logs_dateorder *o, char *why, size_t whylen)
{
  if(!o->order) {
    if(o->day_first > o->month_first)
      o->order = LOGS_ORDER_DMY;
    else if(o->month_first > o->day_first)
      o->order = LOGS_ORDER_MDY;
    else if(!o->day_first && o->padded)
      o->order = LOGS_ORDER_DMY;
    else
      o->order = LOGS_ORDER_MDY;
  }
  if(!why || !whylen)
    return;
  if(o->day_first && o->month_first)
    snprintf(why, whylen, "%s first: %u date(s) read only day first, %u only month first", o->order == LOGS_ORDER_DMY ? "day" : "month",
             o->day_first, o->month_first);
  else if(o->day_first || o->month_first)
    snprintf(why, whylen, "%s first: %s (line %llu) reads only that way", o->order == LOGS_ORDER_DMY ? "day" : "month", o->example,
             (unsigned long long)o->line);
  else if(o->order == LOGS_ORDER_DMY)
    snprintf(why, whylen, "day first: no date reads only one way, and they are zero-padded as day-first locales write them");
  else
    snprintf(why, whylen, "month first: no date reads only one way (Event Viewer's en-US default)");
}

/* "AM", "PM", "a.m.", "p.m." (any case) at p: 1 am, 2 pm, 0 none; *k the characters read. */
static int ampm(const char *p, int *k)
{
  char c = (char)tolower((unsigned char)p[0]);
  if(c != 'a' && c != 'p')
    return 0;
  if(tolower((unsigned char)p[1]) == 'm' && !isalpha((unsigned char)p[2])) {
    *k = 2;
    return c == 'a' ? 1 : 2;
  }
  if(p[1] == '.' && tolower((unsigned char)p[2]) == 'm' && p[3] == '.') {
    *k = 4;
    return c == 'a' ? 1 : 2;
  }
  return 0;
}

int logs_parse_local(const logs_dateorder *o, const char *p, size_t n, logs_civil *c)
{
  char b[96];
  const char *q;
  numdate nd;
  int k, mer, iso = 0;
  clean_date(p, n, b, sizeof(b));
  memset(c, 0, sizeof(*c));
  if(!num_date(b, &nd))
    return -1;
  if(nd.ka == 4) { /* 2020-05-24, 2020/05/24 */
    c->y = nd.a;
    c->mo = nd.b;
    c->d = nd.c;
    iso = nd.sep == '-';
    if(nd.kc > 2)
      return -1;
  }
  else if(nd.ka <= 2) {
    c->y = nd.kc == 4 ? nd.c : nd.c + (nd.c < 70 ? 2000 : 1900);
    if(nd.sep == '.' || (o && o->order == LOGS_ORDER_DMY)) {
      c->d = nd.a;
      c->mo = nd.b;
    }
    else {
      c->mo = nd.a;
      c->d = nd.b;
    }
    /* a date the file's order cannot read is read the only way it can be */
    if(nd.sep != '.' && (c->mo > 12 || c->d > logs_days_in_month(c->y, c->mo)) && c->d <= 12 &&
       c->mo <= logs_days_in_month(c->y, c->d)) {
      int t = c->mo;
      c->mo = c->d;
      c->d = t;
    }
  }
  else
    return -1;
  q = b + nd.len;
  if(iso && *q == 'T')
    q++;
  else if(*q == ' ' || *q == '\t' || (*q == ',' && q[1] == ' '))
    while(*q == ' ' || *q == '\t' || *q == ',')
      q++;
  else
    return -1;
  c->h = digits(q, strlen(q), 2, &k);
  if(!k || q[k] != ':')
    return -1;
  q += k + 1;
  c->mi = digits(q, strlen(q), 2, &k);
  if(k != 2)
    return -1;
  q += 2;
  if(*q == ':') {
    c->s = digits(q + 1, strlen(q + 1), 2, &k);
    if(k != 2)
      return -1;
    q += 3;
    if(*q == '.' || *q == ',')
      q += 1 + logs_fraction_us(q + 1, strlen(q + 1), &c->us);
  }
  {
    const char *sp = q;
    while(*sp == ' ')
      sp++;
    if((mer = ampm(sp, &k)) != 0) {
      /* an hour past 12 is left for logs_make_time to refuse ("out of range") */
      if(mer == 1 && c->h == 12)
        c->h = 0;
      else if(mer == 2 && c->h < 12)
        c->h += 12;
      q = sp + k;
    }
  }
  /* the characters read, in the text as given (the marks removed from b were there too) */
  {
    size_t used = (size_t)(q - b), i = 0, seen = 0;
    while(i < n && seen < used) {
      if(i + 2 < n && (unsigned char)p[i] == 0xE2 && (unsigned char)p[i + 1] == 0x80 &&
         ((unsigned char)p[i + 2] == 0x8E || (unsigned char)p[i + 2] == 0x8F))
        i += 3;
      else {
        i++;
        seen++;
      }
    }
    return (int)i;
  }
}

/* Months by name, in English: how tools and people write a date in a header. */
static int month_named(const char *p, size_t n, int *k)
{
  static const char *const names[] = {"january", "february", "march", "april", "may", "june", "july",
                                      "august", "september", "october", "november", "december"};
  size_t len = 0;
  int i;
  while(len < n && isalpha((unsigned char)p[len]))
    len++;
  *k = (int)len;
  if(len < 3)
    return 0;
  for(i = 0; i < 12; i++)
    if(len <= strlen(names[i]) && strncasecmp(p, names[i], len) == 0 && (len == 3 || len == strlen(names[i]) ||
                                                                          (len == 4 && i == 8)))
      return i + 1;
  return 0;
}

int logs_find_date(const char *p, size_t n, int *y, int *m, int *d)
{
  size_t i;
  for(i = 0; i < n; i++) {
    int k, k2, k3, a, mon;
    if(i > 0 && isalnum((unsigned char)p[i - 1]))
      continue;
    if(isdigit((unsigned char)p[i])) {
      a = digits(p + i, n - i, 4, &k);
      if(k == 4 && i + 10 <= n && p[i + 4] == '-' && p[i + 7] == '-') {
        int mo = digits(p + i + 5, 2, 2, &k2), dd = digits(p + i + 8, 2, 2, &k3);
        if(k2 == 2 && k3 == 2 && (i + 10 == n || !isdigit((unsigned char)p[i + 10])) &&
           logs_make_time(a, mo, dd, 0, 0, 0, 0) != SCEPLAB_TIME_UNKNOWN) {
          *y = a;
          *m = mo;
          *d = dd;
          return 1;
        }
      }
      else if(k <= 2 && i + (size_t)k + 1 < n && p[i + k] == ' ' &&
              (mon = month_named(p + i + k + 1, n - i - (size_t)k - 1, &k2)) != 0) {
        size_t j = i + (size_t)k + 1 + (size_t)k2;
        while(j < n && (p[j] == ' ' || p[j] == ','))
          j++;
        a = digits(p + j, n - j, 4, &k3);
        if(k3 == 4 && logs_make_time(a, mon, digits(p + i, n - i, 2, &k), 0, 0, 0, 0) != SCEPLAB_TIME_UNKNOWN) {
          *y = a;
          *m = mon;
          *d = digits(p + i, n - i, 2, &k);
          return 1;
        }
      }
    }
    else if(isalpha((unsigned char)p[i]) && (mon = month_named(p + i, n - i, &k)) != 0) {
      size_t j = i + (size_t)k;
      int dd;
      if(j < n && p[j] == '.')
        j++;
      while(j < n && p[j] == ' ')
        j++;
      dd = digits(p + j, n - j, 2, &k2);
      if(!k2)
        continue;
      j += (size_t)k2;
      while(j < n && (p[j] == ',' || p[j] == ' '))
        j++;
      a = digits(p + j, n - j, 4, &k3);
      if(k3 == 4 && (j + 4 == n || !isdigit((unsigned char)p[j + 4])) &&
         logs_make_time(a, mon, dd, 0, 0, 0, 0) != SCEPLAB_TIME_UNKNOWN) {
        *y = a;
        *m = mon;
        *d = dd;
        return 1;
      }
    }
  }
  return 0;
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

void logs_clock_free(logs_clock *c)
{
  logs_zone_free(c->zone);
  c->zone = NULL;
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
