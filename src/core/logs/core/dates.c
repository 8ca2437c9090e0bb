/* Dates as logs write them: civil dates to UTC (31 February refused, never rolled into March),
 * fractions of a second, offsets as written ("+0530" is five and a half hours), ISO 8601, and
 * numeric dates in the order of the machine that wrote them (decided once per file).
 * Part of the log reader's core (src/core/logs/core/): see logtime.h and logs_int.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "logs/core/logs_int.h"

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

int logs_digits(const char *p, size_t n, int max, int *k)
{
  int v = 0;
  *k = 0;
  while((size_t)*k < n && *k < max && isdigit((unsigned char)p[*k])) {
    v = v * 10 + (p[*k] - '0');
    (*k)++;
  }
  return v;
}

int logs_digits_exact(const char *p, int n)
{
  int k, v = logs_digits(p, (size_t)n, n, &k);
  return k == n ? v : -1;
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
  h = logs_digits(p + 1, n - 1, 2, &k);
  if(k != 2)
    return -1;
  i = 3;
  /* "+05:30" and "+0530" are five and a half hours: the minutes are never dropped */
  if((size_t)i < n && p[i] == ':') {
    m = logs_digits(p + i + 1, n - (size_t)i - 1, 2, &k);
    if(k != 2)
      return -1;
    i += 3;
  }
  else if((size_t)i < n && isdigit((unsigned char)p[i])) {
    m = logs_digits(p + i, n - (size_t)i, 2, &k);
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
  nd->a = logs_digits(p, strlen(p), 4, &nd->ka);
  if(!nd->ka)
    return 0;
  p += nd->ka;
  nd->sep = *p;
  if(nd->sep != '/' && nd->sep != '.' && nd->sep != '-')
    return 0;
  nd->b = logs_digits(p + 1, strlen(p + 1), 2, &nd->kb);
  if(!nd->kb || p[1 + nd->kb] != nd->sep)
    return 0;
  p += 2 + nd->kb;
  nd->c = logs_digits(p, strlen(p), 4, &nd->kc);
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
  c->h = logs_digits(q, strlen(q), 2, &k);
  if(!k || q[k] != ':')
    return -1;
  q += k + 1;
  c->mi = logs_digits(q, strlen(q), 2, &k);
  if(k != 2)
    return -1;
  q += 2;
  if(*q == ':') {
    c->s = logs_digits(q + 1, strlen(q + 1), 2, &k);
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
      a = logs_digits(p + i, n - i, 4, &k);
      if(k == 4 && i + 10 <= n && p[i + 4] == '-' && p[i + 7] == '-') {
        int mo = logs_digits(p + i + 5, 2, 2, &k2), dd = logs_digits(p + i + 8, 2, 2, &k3);
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
        a = logs_digits(p + j, n - j, 4, &k3);
        if(k3 == 4 && logs_make_time(a, mon, logs_digits(p + i, n - i, 2, &k), 0, 0, 0, 0) != SCEPLAB_TIME_UNKNOWN) {
          *y = a;
          *m = mon;
          *d = logs_digits(p + i, n - i, 2, &k);
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
      dd = logs_digits(p + j, n - j, 2, &k2);
      if(!k2)
        continue;
      j += (size_t)k2;
      while(j < n && (p[j] == ',' || p[j] == ' '))
        j++;
      a = logs_digits(p + j, n - j, 4, &k3);
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

/* The whole seconds of t, rounded down (no libm for one floor()). */
static int64_t whole(double t)
{
  int64_t s = (int64_t)t;
  return (double)s > t ? s - 1 : s;
}

void logs_utc_text(double t, int date, char *out, size_t n)
{
  time_t s = (time_t)whole(t);
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(out, n, date ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S", &tm);
}

long logs_fraction(double t, int digits)
{
  double f = t - (double)whole(t), scale = 1;
  while(digits-- > 0)
    scale *= 10;
  return (long)whole(f * scale);
}
