/* IANA zones for the log reader: tzdata's TZif files (RFC 8536) and the POSIX TZ rule at their end,
 * read from $TZDIR or /usr/share/zoneinfo, so an assumed zone gives each record the offset of its
 * own moment, daylight saving time included, without setenv("TZ") and localtime.
 * Part of the log reader's core (src/core/logs/core/): see logtime.h and logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logs/core/logs_int.h"

typedef struct tz_date { int kind; int m, w, d, n; int32_t time; } tz_date; /* kind: 'M', 'J', 'n' */
typedef struct tz_rule {
  int32_t std_off, dst_off; /* seconds east */
  int has_dst;
  tz_date start, end;
} tz_rule;

struct logs_zone {
  char name[64];
  int64_t *trans;
  unsigned char *idx;
  size_t ntrans;
  int32_t *utoff;
  size_t ntypes;
  int has_rule;
  tz_rule rule;
};

int logs_zone_name_ok(const char *name)
{
  size_t i, n = name ? strlen(name) : 0;
  if(!n || n >= 64 || name[0] == '/' || name[0] == '.' || strstr(name, "..") || name[0] == '+' || name[0] == '-')
    return 0;
  for(i = 0; i < n; i++)
    if(!isalnum((unsigned char)name[i]) && !strchr("/_+-.", name[i]))
      return 0;
  return isalpha((unsigned char)name[0]);
}

static int64_t be(const unsigned char *p, int n)
{
  uint64_t v = 0;
  int i;
  for(i = 0; i < n; i++)
    v = v << 8 | p[i];
  if(n == 4)
    return (int32_t)(uint32_t)v;
  return (int64_t)v;
}

/* POSIX TZ pieces: a zone abbreviation, an offset (west positive, as POSIX writes it), a date. */
static const char *tz_name(const char *p)
{
  if(*p == '<') {
    const char *e = strchr(p, '>');
    return e ? e + 1 : NULL;
  }
  if(!isalpha((unsigned char)*p))
    return NULL;
  while(isalpha((unsigned char)*p))
    p++;
  return p;
}

static const char *tz_secs(const char *p, int32_t *out, int allow_sign)
{
  int sign = 1, h, m = 0, s = 0, k;
  if(allow_sign && (*p == '+' || *p == '-'))
    sign = *p++ == '-' ? -1 : 1;
  h = logs_digits(p, 3, 3, &k);
  if(!k)
    return NULL;
  p += k;
  if(*p == ':') {
    m = logs_digits(p + 1, 2, 2, &k);
    p += 1 + k;
    if(*p == ':') {
      s = logs_digits(p + 1, 2, 2, &k);
      p += 1 + k;
    }
  }
  *out = sign * (h * 3600 + m * 60 + s);
  return p;
}

static const char *tz_date_parse(const char *p, tz_date *d)
{
  int k;
  d->time = 7200;
  if(*p == 'M') {
    d->kind = 'M';
    d->m = logs_digits(p + 1, 2, 2, &k);
    p += 1 + k;
    if(*p++ != '.')
      return NULL;
    d->w = logs_digits(p, 1, 1, &k);
    p += k;
    if(*p++ != '.')
      return NULL;
    d->d = logs_digits(p, 1, 1, &k);
    p += k;
    if(d->m < 1 || d->m > 12 || d->w < 1 || d->w > 5 || d->d > 6)
      return NULL;
  }
  else if(*p == 'J') {
    d->kind = 'J';
    d->n = logs_digits(p + 1, 3, 3, &k);
    p += 1 + k;
    if(d->n < 1 || d->n > 365)
      return NULL;
  }
  else if(isdigit((unsigned char)*p)) {
    d->kind = 'n';
    d->n = logs_digits(p, 3, 3, &k);
    p += k;
    if(d->n > 365)
      return NULL;
  }
  else
    return NULL;
  if(*p == '/' && !(p = tz_secs(p + 1, &d->time, 1)))
    return NULL;
  return p;
}

static int tz_rule_parse(const char *s, tz_rule *r)
{
  const char *p = tz_name(s);
  int32_t off;
  memset(r, 0, sizeof(*r));
  if(!p || !(p = tz_secs(p, &off, 1)))
    return -1;
  r->std_off = -off;
  if(!*p)
    return 0;
  if(!(p = tz_name(p)))
    return -1;
  r->has_dst = 1;
  r->dst_off = r->std_off + 3600;
  if(*p && *p != ',') {
    if(!(p = tz_secs(p, &off, 1)))
      return -1;
    r->dst_off = -off;
  }
  if(!*p) { /* no rule: the US rule, as C libraries assume */
    r->start.kind = r->end.kind = 'M';
    r->start.m = 3, r->start.w = 2, r->start.d = 0, r->start.time = 7200;
    r->end.m = 11, r->end.w = 1, r->end.d = 0, r->end.time = 7200;
    return 0;
  }
  if(*p++ != ',' || !(p = tz_date_parse(p, &r->start)) || *p++ != ',' || !(p = tz_date_parse(p, &r->end)))
    return -1;
  return *p ? -1 : 0;
}

/* The day (since 1970) a rule's date falls on in year y. */
static int64_t tz_day(const tz_date *d, int y)
{
  int leap = logs_days_in_month(y, 2) == 29;
  int64_t jan1 = logs_days_from_civil(y, 1, 1);
  if(d->kind == 'J')
    return jan1 + d->n - 1 + (leap && d->n >= 60);
  if(d->kind == 'n')
    return jan1 + d->n;
  {
    int64_t first = logs_days_from_civil(y, (unsigned)d->m, 1);
    int dow = (int)(((first % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    int day = 1 + (d->d - dow + 7) % 7 + (d->w - 1) * 7;
    while(day > logs_days_in_month(y, d->m))
      day -= 7;
    return first + day - 1;
  }
}

static int32_t tz_rule_off(const tz_rule *r, int64_t t)
{
  int y, m, d;
  int64_t start, end;
  if(!r->has_dst)
    return r->std_off;
  logs_civil_from_days((t + r->std_off) / 86400 - ((t + r->std_off) % 86400 < 0), &y, &m, &d);
  start = tz_day(&r->start, y) * 86400 + r->start.time - r->std_off;
  end = tz_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
  if(start < end)
    return t >= start && t < end ? r->dst_off : r->std_off;
  return t >= end && t < start ? r->std_off : r->dst_off; /* the southern hemisphere: summer spans the new year */
}

static int32_t zone_off_s(const logs_zone *z, int64_t t)
{
  size_t lo = 0, hi;
  if(!z->ntrans || t < z->trans[0]) {
    if(!z->ntrans && z->has_rule)
      return tz_rule_off(&z->rule, t);
    return z->ntypes ? z->utoff[0] : 0;
  }
  if(t >= z->trans[z->ntrans - 1] && z->has_rule)
    return tz_rule_off(&z->rule, t);
  hi = z->ntrans;
  while(hi - lo > 1) { /* the last transition at or before t */
    size_t mid = (lo + hi) / 2;
    if(z->trans[mid] <= t)
      lo = mid;
    else
      hi = mid;
  }
  return z->utoff[z->idx[lo]];
}

int logs_zone_offset_at(const logs_zone *z, int64_t t)
{
  return zone_off_s(z, t) / 60;
}

int logs_zone_offset_local(const logs_zone *z, int64_t local, int64_t hint)
{
  /* the offsets in force a day around: a local time is one of them applied to a UTC moment */
  int32_t cand[3], sol_off[3];
  int64_t sol[3];
  int nc = 0, ns = 0, i, j;
  int64_t probes[3] = {local - 18 * 3600, local, local + 18 * 3600};
  for(i = 0; i < 3; i++) {
    int32_t o = zone_off_s(z, probes[i]);
    for(j = 0; j < nc && cand[j] != o; j++)
      ;
    if(j == nc)
      cand[nc++] = o;
  }
  for(i = 0; i < nc; i++)
    if(zone_off_s(z, local - cand[i]) == cand[i]) {
      sol[ns] = local - cand[i];
      sol_off[ns++] = cand[i];
    }
  if(ns == 0) /* the hour the change skips: read with the offset before it */
    return cand[0] / 60;
  if(ns == 1)
    return sol_off[0] / 60;
  /* the hour the change repeats: the earlier reading first, the later once the log has passed it */
  if(sol[1] < sol[0]) {
    int64_t t = sol[0];
    int32_t o = sol_off[0];
    sol[0] = sol[1], sol_off[0] = sol_off[1];
    sol[1] = t, sol_off[1] = o;
  }
  if(hint != INT64_MIN && sol[0] < hint - 120)
    return sol_off[1] / 60;
  return sol_off[0] / 60;
}

#define TZIF_MAX (1u << 20)

static int tzif_parse(logs_zone *z, const unsigned char *b, size_t n)
{
  size_t off = 0, cnt[6], tsize = 4, need;
  int pass, i;
  for(pass = 0; pass < 2; pass++) {
    if(off + 44 > n || memcmp(b + off, "TZif", 4) != 0)
      return -1;
    for(i = 0; i < 6; i++)
      cnt[i] = (size_t)(uint32_t)be(b + off + 20 + 4 * i, 4);
    /* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
    if(cnt[3] > 100000 || cnt[4] == 0 || cnt[4] > 256 || cnt[5] > 10000 || cnt[2] > 10000)
      return -1;
    need = cnt[3] * tsize + cnt[3] + cnt[4] * 6 + cnt[5] + cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
    if(off + 44 + need > n)
      return -1;
    if(pass == 0 && b[off + 4] >= '2') { /* the 64-bit data follows the 32-bit block */
      off += 44 + need;
      tsize = 8;
      continue;
    }
    break;
  }
  {
    const unsigned char *p = b + off + 44;
    size_t k;
    z->ntrans = cnt[3];
    z->ntypes = cnt[4];
    z->trans = malloc((z->ntrans ? z->ntrans : 1) * sizeof(*z->trans));
    z->idx = malloc(z->ntrans ? z->ntrans : 1);
    z->utoff = malloc(z->ntypes * sizeof(*z->utoff));
    if(!z->trans || !z->idx || !z->utoff)
      return -1;
    for(k = 0; k < z->ntrans; k++)
      z->trans[k] = be(p + k * tsize, (int)tsize);
    p += z->ntrans * tsize;
    for(k = 0; k < z->ntrans; k++) {
      z->idx[k] = p[k];
      if(p[k] >= z->ntypes)
        return -1;
    }
    p += z->ntrans;
    for(k = 0; k < z->ntypes; k++) {
      z->utoff[k] = (int32_t)be(p + k * 6, 4);
      if(z->utoff[k] < -MAX_OFFSET_MIN * 60 - 3600 || z->utoff[k] > MAX_OFFSET_MIN * 60 + 3600)
        return -1;
    }
    if(tsize == 8) {
      /* the footer: "\n<POSIX TZ>\n" gives the offsets past the last transition */
      size_t f = off + 44 + need;
      if(f < n && b[f] == '\n') {
        const unsigned char *e = memchr(b + f + 1, '\n', n - f - 1);
        if(e && (size_t)(e - (b + f + 1)) < 128 && e > b + f + 1) {
          char s[128];
          memcpy(s, b + f + 1, (size_t)(e - (b + f + 1)));
          s[e - (b + f + 1)] = '\0';
          z->has_rule = tz_rule_parse(s, &z->rule) == 0;
        }
      }
    }
  }
  return 0;
}

logs_zone *logs_zone_load(const char *name, sceplab_error *err)
{
  const char *dir = getenv("TZDIR");
  char path[512];
  FILE *f;
  unsigned char *buf;
  size_t n;
  logs_zone *z;
  if(!logs_zone_name_ok(name)) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "zone '%.40s': not a time zone name (Area/City, such as Europe/London)", name ? name : "");
    return NULL;
  }
  snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
  f = fopen(path, "rb");
  if(!f) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "zone '%s': not in the time zone database (%s: %s)", name, path, strerror(errno));
    return NULL;
  }
  buf = malloc(TZIF_MAX);
  n = buf ? fread(buf, 1, TZIF_MAX, f) : 0;
  fclose(f);
  z = calloc(1, sizeof(*z));
  if(!buf || !z) {
    free(buf);
    free(z);
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  snprintf(z->name, sizeof(z->name), "%s", name);
  if(tzif_parse(z, buf, n) != 0) {
    free(buf);
    logs_zone_free(z);
    sceplab_err_set(err, SCEPLAB_E_USAGE, "zone '%s': %s is not a TZif zone file", name, path);
    return NULL;
  }
  free(buf);
  return z;
}

void logs_zone_free(logs_zone *z)
{
  if(!z)
    return;
  free(z->trans);
  free(z->idx);
  free(z->utoff);
  free(z);
}

const char *logs_zone_name(const logs_zone *z)
{
  return z->name;
}

int sceplab_log_zone_check(const char *name, sceplab_error *err)
{
  logs_zone *z = logs_zone_load(name, err);
  logs_zone_free(z);
  return z ? 0 : -1;
}

void logs_clock_free(logs_clock *c)
{
  logs_zone_free(c->zone);
  c->zone = NULL;
}
