/* Times: civil dates to UTC microseconds, fractions, ISO 8601, assumed zones.
 * Part of the log reader (src/core/logs/): see logs_int.h for how the pieces fit. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs_int.h"

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
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

static int days_in_month(int y, int m)
{
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) ? 29 : days[m - 1];
}

int64_t logs_make_time(int y, int mo, int d, int h, int mi, int s, long us)
{
  /* 31 February is refused, not rolled over into March */
  if(y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23 || mi < 0 ||
     mi > 59 || s < 0 || s > 60)
    return SCEPLAB_TIME_UNKNOWN;
  return ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400) + h * 3600 + mi * 60 + s) * 1000000 + us;
}

/* Parses up to 7 fraction digits into microseconds; returns the digits consumed. */
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

/* The ISO 8601 SystemTime: "2020-05-24T10:16:06.1234567Z" or with an offset. */
int logs_iso_time(const char *t, sceplab_record *r)
{
  int y, mo, d, h, mi, s, consumed = 0;
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
  if(*z == 'Z')
    r->utc_offset_min = 0;
  else if(*z == '+' || *z == '-') {
    int oh = 0, om = 0;
    if(sscanf(z + 1, "%2d:%2d", &oh, &om) < 1)
      return -1;
    r->utc_offset_min = (*z == '-' ? -1 : 1) * (oh * 60 + om);
    r->time_us -= (int64_t)r->utc_offset_min * 60 * 1000000;
  }
  else
    r->zone_assumed = 1;
  return 0;
}

/* Applies the assumed zone to a local time. */
void logs_assume_zone(sceplab_log *lg, sceplab_record *r)
{
  r->zone_assumed = !lg->zone_learnt;
  r->utc_offset_min = lg->offset_set ? lg->offset_min : 0;
  r->time_us -= (int64_t)r->utc_offset_min * 60 * 1000000;
}
