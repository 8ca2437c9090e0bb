/* IIS W3C extended logs (u_exYYMMDD.log): fields from the #Fields directive.
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/formats/formats.h"

static int field_index(const sceplab_log *lg, const char *name)
{
  int i;
  for(i = 0; i < lg->nfields; i++)
    if(strcasecmp(lg->fields[i], name) == 0)
      return i;
  return -1;
}

static void set_fields(sceplab_log *lg, const char *p, size_t n)
{
  int i;
  for(i = 0; i < lg->nfields; i++)
    free(lg->fields[i]);
  lg->nfields = 0;
  while(n && lg->nfields < MAX_FIELDS) {
    size_t k = 0;
    while(n && *p == ' ') { p++; n--; }
    while(k < n && p[k] != ' ')
      k++;
    if(k)
      lg->fields[lg->nfields++] = strndup(p, k);
    p += k;
    n -= k;
  }
  /* resolved once per directive, not once per line */
  lg->ix.date = field_index(lg, "date");
  lg->ix.time = field_index(lg, "time");
  lg->ix.method = field_index(lg, "cs-method");
  lg->ix.stem = field_index(lg, "cs-uri-stem");
  lg->ix.query = field_index(lg, "cs-uri-query");
  lg->ix.cip = field_index(lg, "c-ip");
  lg->ix.host = field_index(lg, "s-computername");
  lg->ix.sip = field_index(lg, "s-ip");
  lg->ix.status = field_index(lg, "sc-status");
  lg->ix.sub = field_index(lg, "sc-substatus");
  lg->ix.win32 = field_index(lg, "sc-win32-status");
  lg->ix.taken = field_index(lg, "time-taken");
  lg->ix.ua = field_index(lg, "cs(User-Agent)");
}

static sceplab_str tok_val(const sceplab_str *toks, int idx)
{
  sceplab_str s = {NULL, 0};
  if(idx >= 0 && !(toks[idx].n == 1 && toks[idx].p[0] == '-'))
    s = toks[idx];
  return s;
}

/* A decimal field (an optional sign, then digits only), or -1. Hand-made: these run for every field
 * of every line, where strtol's locale handling showed in profiles. */
static int64_t view_int(sceplab_str v)
{
  size_t i = 0;
  int neg = 0;
  int64_t x = 0;
  if(!v.p || !v.n || v.n > 19)
    return -1;
  if(v.p[0] == '-' || v.p[0] == '+') {
    neg = v.p[0] == '-';
    i = 1;
  }
  if(i == v.n)
    return -1;
  for(; i < v.n; i++) {
    if(v.p[i] < '0' || v.p[i] > '9')
      return -1;
    x = x * 10 + (v.p[i] - '0');
  }
  return neg ? -x : x;
}

static long tok_long(const sceplab_str *toks, int idx)
{
  return (long)view_int(tok_val(toks, idx));
}

static const char *platform_of(const char *ua)
{
  if(strstr(ua, "NDES client") || strstr(ua, "NDES+client")) return "windows";
  if(strstr(ua, "NDES_Plugin")) return "ndes-plugin";
  if(strstr(ua, "Dalvik") || strstr(ua, "Android")) return "android";
  if(strstr(ua, "profiled") || strstr(ua, "Darwin") || strstr(ua, "iPhone") || strstr(ua, "iOS")) return "ios";
  return NULL;
}

static int logs_parse_iis(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  sceplab_str toks[MAX_FIELDS];
  int nt = 0, di, ti;
  size_t i = 0;
  int y, mo, d, h, mi, s;
  if(n && p[0] == '#') {
    if(n > 8 && strncmp(p, "#Fields:", 8) == 0)
      set_fields(lg, p + 8, n - 8);
    return 0;
  }
  if(lg->nfields == 0) {
    logs_skip(lg, r->line, "data before any #Fields directive");
    return 0;
  }
  while(i < n) {
    const char *sp = memchr(p + i, ' ', n - i);
    size_t k = sp ? (size_t)(sp - p) : n;
    if(nt == MAX_FIELDS)
      break;
    toks[nt].p = p + i;
    toks[nt].n = k - i;
    nt++;
    i = k + 1;
  }
  if(nt != lg->nfields) {
    char why[96];
    snprintf(why, sizeof(why), "%d fields where #Fields declares %d", nt, lg->nfields);
    logs_skip(lg, r->line, why);
    return 0;
  }
  di = lg->ix.date;
  ti = lg->ix.time;
  /* "2020-05-24" and "10:16:04": W3C fixes the shape */
  if(di < 0 || ti < 0 || toks[di].n != 10 || toks[ti].n < 8 || toks[di].p[4] != '-' || toks[di].p[7] != '-' ||
     toks[ti].p[2] != ':' || toks[ti].p[5] != ':' || (y = logs_digits_exact(toks[di].p, 4)) < 0 || (mo = logs_digits_exact(toks[di].p + 5, 2)) < 0 ||
     (d = logs_digits_exact(toks[di].p + 8, 2)) < 0 || (h = logs_digits_exact(toks[ti].p, 2)) < 0 || (mi = logs_digits_exact(toks[ti].p + 3, 2)) < 0 ||
     (s = logs_digits_exact(toks[ti].p + 6, 2)) < 0)
    y = 0;
  if(y == 0) {
    logs_skip(lg, r->line, "no readable date and time");
    return 0;
  }
  r->time_us = logs_make_time(y, mo, d, h, mi, s, 0);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    logs_skip(lg, r->line, "date or time out of range");
    return 0;
  }
  r->time_text.p = toks[di].p;
  r->time_text.n = (size_t)(toks[ti].p + toks[ti].n - toks[di].p);
  r->utc_offset_min = 0; /* W3C extended logs are written in UTC */
  logs_time_sources(r, LOGS_TS_RECORD, LOGS_TS_FORMAT);
  r->method = tok_val(toks, lg->ix.method);
  r->url = tok_val(toks, lg->ix.stem);
  r->query = tok_val(toks, lg->ix.query);
  r->client_ip = tok_val(toks, lg->ix.cip);
  r->host = tok_val(toks, lg->ix.host);
  if(!r->host.n)
    r->host = tok_val(toks, lg->ix.sip);
  r->http_status = tok_long(toks, lg->ix.status);
  r->http_substatus = tok_long(toks, lg->ix.sub);
  r->win32_status = view_int(tok_val(toks, lg->ix.win32));
  if(r->win32_status > 0)
    logs_set_hresult(r, (uint32_t)r->win32_status);
  r->time_taken_ms = tok_long(toks, lg->ix.taken);
  {
    /* the same few user agents on every line: decoded and classified once per change */
    sceplab_str ua = tok_val(toks, lg->ix.ua);
    if(ua.n != lg->ua_raw_n || (ua.n && memcmp(ua.p, lg->ua_raw, ua.n) != 0)) {
      size_t k;
      for(k = 0; k < ua.n && k + 1 < sizeof(lg->ua); k++)
        lg->ua[k] = ua.p[k] == '+' ? ' ' : ua.p[k];
      lg->ua[k] = 0;
      lg->ua_n = k;
      lg->ua_platform = platform_of(lg->ua);
      lg->ua_raw_n = ua.n < sizeof(lg->ua_raw) ? ua.n : 0; /* a longer one is decoded each time */
      if(lg->ua_raw_n)
        memcpy(lg->ua_raw, ua.p, ua.n);
    }
    r->user_agent.p = lg->ua;
    r->user_agent.n = lg->ua_n;
    if((r->platform.p = lg->ua_platform))
      r->platform.n = strlen(r->platform.p);
  }
  if(r->url.n && sceplab_memcasestr(r->url.p, r->url.n, "mscep")) {
    r->step = 2;
    if(r->query.n) {
      const char *op = sceplab_memcasestr(r->query.p, r->query.n, "operation=");
      const char *msg = sceplab_memcasestr(r->query.p, r->query.n, "message=");
      const char *qend = r->query.p + r->query.n;
      if(op) {
        r->scep_operation.p = op + 10;
        r->scep_operation.n = logs_span_until(op + 10, qend, "&");
      }
      if(msg) {
        r->scep_message_length = logs_span_until(msg + 8, qend, "&");
      }
    }
    else if(r->method.n == 4 && memcmp(r->method.p, "POST", 4) == 0) {
      r->scep_operation.p = "PKIOperation";
      r->scep_operation.n = 12;
    }
  }
  else if(r->url.n && sceplab_memcasestr(r->url.p, r->url.n, "CertificateRegistrationSvc")) {
    const char *slash = r->url.p + r->url.n;
    while(slash > r->url.p && slash[-1] != '/')
      slash--;
    /* the CRP verifies the challenge (step 3); the connector's Notify reports the result (step 6) */
    r->step = (size_t)(r->url.p + r->url.n - slash) == 6 && strncasecmp(slash, "Notify", 6) == 0 ? 6 : 3;
    r->scep_operation.p = slash;
    r->scep_operation.n = (size_t)(r->url.p + r->url.n - slash);
  }
  r->level = r->http_status >= 500 ? SCEPLAB_LVL_ERROR : r->http_status >= 400 ? SCEPLAB_LVL_WARNING : SCEPLAB_LVL_INFO;
  return 1;
}

/* The IIS message is rendered only for records that passed the cheap filters. */
/* Appends to the scratch message, bounded by its size and cut between characters, never inside one
 * (the fields are valid UTF-8 by now: an invalid byte is a 3-byte U+FFFD). */
static void put(char *o, size_t *n, size_t cap, const char *s, size_t len)
{
  if(*n + len >= cap)
    len = sceplab_utf8_boundary(s, len, *n < cap - 1 ? cap - 1 - *n : 0);
  memcpy(o + *n, s, len);
  *n += len;
}

static void put_int(char *o, size_t *n, size_t cap, int64_t v)
{
  char t[24], *e = t + sizeof(t), *q = e;
  uint64_t u = v < 0 ? 0ULL - (uint64_t)v : (uint64_t)v;
  do {
    *--q = (char)('0' + u % 10);
    u /= 10;
  } while(u);
  if(v < 0)
    *--q = '-';
  put(o, n, cap, q, (size_t)(e - q));
}

/* A readable message, "GET /certsrv/mscep/mscep.dll GetCACaps -> 200 0 0 (12 ms) windows", built
 * only for records that passed the cheap filters (by hand: snprintf showed in profiles). */
static void logs_iis_message(sceplab_log *lg, sceplab_record *r)
{
  char *o = lg->scratch;
  size_t n = 0, cap = sizeof(lg->scratch);
  put(o, &n, cap, r->method.p ? r->method.p : "", r->method.n);
  put(o, &n, cap, " ", 1);
  put(o, &n, cap, r->url.p ? r->url.p : "", sceplab_utf8_boundary(r->url.p ? r->url.p : "", r->url.n, 200));
  if(r->step == 2 && r->scep_operation.n) {
    put(o, &n, cap, " ", 1);
    put(o, &n, cap, r->scep_operation.p, r->scep_operation.n);
  }
  if(r->http_status >= 0) {
    put(o, &n, cap, " -> ", 4);
    put_int(o, &n, cap, r->http_status);
  }
  if(r->http_substatus >= 0) {
    put(o, &n, cap, " ", 1);
    put_int(o, &n, cap, r->http_substatus);
  }
  if(r->win32_status >= 0) {
    put(o, &n, cap, " ", 1);
    put_int(o, &n, cap, r->win32_status);
  }
  if(r->time_taken_ms >= 0) {
    put(o, &n, cap, " (", 2);
    put_int(o, &n, cap, r->time_taken_ms);
    put(o, &n, cap, " ms)", 4);
  }
  if(r->platform.n) {
    put(o, &n, cap, " ", 1);
    put(o, &n, cap, r->platform.p, r->platform.n);
  }
  o[n] = '\0';
  r->message.p = o;
  r->message.n = n;
}

static const char *detect(const char *p, size_t n)
{
  if(sceplab_memcasestr(p, n < 200 ? n : 200, "#Software: Microsoft Internet Information Services") ||
     (n > 8 && strncmp(p, "#Fields:", 8) == 0) || sceplab_memcasestr(p, n, "\n#Fields: date time"))
    return "IIS W3C extended log (#Software/#Fields directives)";
  return NULL;
}

const logs_format logs_fmt_iis = {.id = FMT_IIS, .name = "iis", .flags = LOGS_FORCEABLE | LOGS_EXTRACTED,
  .detect = detect, .line = logs_parse_iis, .render = logs_iis_message};
