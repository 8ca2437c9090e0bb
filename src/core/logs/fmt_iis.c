/* IIS W3C extended logs (u_exYYMMDD.log): fields from the #Fields directive.
 * Part of the log reader (src/core/logs/): see logs_int.h for how the pieces fit. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs_int.h"

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

static long tok_long(const sceplab_str *toks, int idx)
{
  char buf[24];
  if(!logs_copy_view(tok_val(toks, idx), buf, sizeof(buf)))
    return -1;
  return strtol(buf, NULL, 10);
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
    size_t k = i;
    while(k < n && p[k] != ' ')
      k++;
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
  {
    char db[16], tb[24];
    if(di < 0 || ti < 0 || !logs_copy_view(toks[di], db, sizeof(db)) || !logs_copy_view(toks[ti], tb, sizeof(tb)) ||
       sscanf(db, "%4d-%2d-%2d", &y, &mo, &d) != 3 || sscanf(tb, "%2d:%2d:%2d", &h, &mi, &s) != 3)
      y = 0;
  }
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
  r->method = tok_val(toks, lg->ix.method);
  r->url = tok_val(toks, lg->ix.stem);
  r->query = tok_val(toks, lg->ix.query);
  r->client_ip = tok_val(toks, lg->ix.cip);
  r->host = tok_val(toks, lg->ix.host);
  if(!r->host.n)
    r->host = tok_val(toks, lg->ix.sip);
  r->http_status = tok_long(toks, lg->ix.status);
  r->http_substatus = tok_long(toks, lg->ix.sub);
  {
    char buf[24];
    if(logs_copy_view(tok_val(toks, lg->ix.win32), buf, sizeof(buf))) {
      r->win32_status = strtoll(buf, NULL, 10);
      if(r->win32_status > 0)
        logs_set_hresult(r, (uint32_t)r->win32_status);
    }
  }
  r->time_taken_ms = tok_long(toks, lg->ix.taken);
  {
    sceplab_str ua = tok_val(toks, lg->ix.ua);
    size_t k;
    for(k = 0; k < ua.n && k + 1 < sizeof(lg->ua); k++)
      lg->ua[k] = ua.p[k] == '+' ? ' ' : ua.p[k];
    lg->ua[k] = 0;
    r->user_agent.p = lg->ua;
    r->user_agent.n = k;
    if((r->platform.p = platform_of(lg->ua)))
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
        r->scep_message.p = msg + 8;
        r->scep_message.n = logs_span_until(msg + 8, qend, "&");
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
static void logs_iis_message(sceplab_log *lg, sceplab_record *r)
{
  /* A readable message: "GET /certsrv/mscep/mscep.dll GetCACaps -> 200 0 0 (12 ms) windows" */
  {
    size_t o = 0, cap = sizeof(lg->scratch);
#define ADD(...) do { if(o < cap) o += (size_t)snprintf(lg->scratch + o, cap - o, __VA_ARGS__); } while(0)
    ADD("%.*s %.*s", (int)r->method.n, r->method.p ? r->method.p : "", (int)(r->url.n > 200 ? 200 : r->url.n),
        r->url.p ? r->url.p : "");
    if(r->step == 2 && r->scep_operation.n)
      ADD(" %.*s", (int)r->scep_operation.n, r->scep_operation.p);
    if(r->http_status >= 0)
      ADD(" -> %ld", r->http_status);
    if(r->http_substatus >= 0)
      ADD(" %ld", r->http_substatus);
    if(r->win32_status >= 0)
      ADD(" %lld", (long long)r->win32_status);
    if(r->time_taken_ms >= 0)
      ADD(" (%ld ms)", r->time_taken_ms);
    if(r->platform.n)
      ADD(" %s", r->platform.p);
#undef ADD
  }
  r->message.p = lg->scratch;
  r->message.n = strlen(lg->scratch);
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
