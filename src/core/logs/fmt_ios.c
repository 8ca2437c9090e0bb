/* iOS: Console copies and the legacy syslog form.
 * Part of the log reader (src/core/logs/): see logs_int.h for how the pieces fit. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs_int.h"

static int logs_parse_ios(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  const char *cur = p, *end = p + n;
  sceplab_str type = logs_next_tok(&cur, end), t = logs_next_tok(&cur, end), off = logs_next_tok(&cur, end), proc = logs_next_tok(&cur, end);
  char tb[24], ob[8];
  int h, mi, s, k = 0, oh, om;
  long us = 0;
  size_t len;
  if(!logs_copy_view(t, tb, sizeof(tb)) || !logs_copy_view(off, ob, sizeof(ob)) || sscanf(tb, "%2d:%2d:%2d%n", &h, &mi, &s, &k) != 3 ||
     (ob[0] != '+' && ob[0] != '-') || sscanf(ob + 1, "%2d%2d", &oh, &om) != 2 || !proc.n) {
    if(n)
      logs_skip(lg, r->line, "not an iOS console line");
    return 0;
  }
  if(tb[k] == '.')
    logs_fraction_us(tb + k + 1, strlen(tb + k + 1), &us);
  r->time_us = logs_make_time(lg->year, lg->month, lg->day, h, mi, s, us);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    logs_skip(lg, r->line, "time out of range");
    return 0;
  }
  r->date_assumed = 1;
  r->utc_offset_min = (ob[0] == '-' ? -1 : 1) * (oh * 60 + om);
  r->time_us -= (int64_t)r->utc_offset_min * 60 * 1000000;
  r->time_text.p = t.p;
  r->time_text.n = (size_t)(off.p + off.n - t.p);
  r->component = proc;
  r->level = type.n == 5 && memcmp(type.p, "Error", 5) == 0 ? SCEPLAB_LVL_ERROR
           : type.n == 5 && memcmp(type.p, "Fault", 5) == 0 ? SCEPLAB_LVL_CRITICAL
           : type.n == 5 && memcmp(type.p, "Debug", 5) == 0 ? SCEPLAB_LVL_VERBOSE : SCEPLAB_LVL_INFO;
  while(cur < end && *cur == ' ')
    cur++;
  len = logs_clean_rtf(lg, cur, (size_t)(end - cur));
  r->message.p = lg->msg;
  r->message.n = len;
  logs_jscep_fields(r);
  if(r->url.n) {
    const char *op = sceplab_memcasestr(r->url.p, r->url.n, "operation=");
    if(op) {
      r->scep_operation.p = op + 10;
      r->scep_operation.n = logs_span_until(op + 10, r->url.p + r->url.n, "&");
    }
  }
  logs_step_from_text(r);
  return 1;
}

static int logs_parse_syslog(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  char head[64], mon[4];
  const char *lt, *gt, *m, *mp;
  int d, h, mi, s, month;
  size_t hn = n < sizeof(head) - 1 ? n : sizeof(head) - 1, len;
  memcpy(head, p, hn);
  head[hn] = 0;
  if(sscanf(head, "%3s %2d %2d:%2d:%2d", mon, &d, &h, &mi, &s) != 5 || !(mp = strstr(logs_month_names, mon)) ||
     !(lt = memchr(p, '<', n)) || !(gt = memchr(lt, '>', n - (size_t)(lt - p)))) {
    if(n)
      logs_skip(lg, r->line, "not a syslog line");
    return 0;
  }
  month = (int)(mp - logs_month_names) / 3 + 1;
  r->time_us = logs_make_time(lg->year, month, d, h, mi, s, 0);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    logs_skip(lg, r->line, "date out of range");
    return 0;
  }
  r->date_assumed = 1;
  logs_assume_zone(lg, r);
  r->time_text.p = p;
  r->time_text.n = n < 15 ? n : 15;
  {
    const char *cur = p + r->time_text.n, *end = lt > cur ? lt : cur;
    sceplab_str host = logs_next_tok(&cur, end), proc = logs_next_tok(&cur, end);
    r->host = host;
    r->component.p = proc.p;
    r->component.n = logs_span_until(proc.p, proc.p + proc.n, "[");
  }
  r->level = sceplab_memcasestr(lt, (size_t)(gt - lt), "Error") ? SCEPLAB_LVL_ERROR
           : sceplab_memcasestr(lt, (size_t)(gt - lt), "Warn") ? SCEPLAB_LVL_WARNING : SCEPLAB_LVL_INFO;
  m = gt + 1;
  while(m < p + n && (*m == ':' || *m == ' '))
    m++;
  len = logs_clean_rtf(lg, m, (size_t)(p + n - m));
  r->message.p = lg->msg;
  r->message.n = len;
  logs_jscep_fields(r);
  logs_step_from_text(r);
  return 1;
}

static void head_of(const char *p, size_t n, char *head, size_t size)
{
  size_t hn = n < size - 1 ? n : size - 1;
  memcpy(head, p, hn);
  head[hn] = 0;
}

static const char *detect_console(const char *p, size_t n)
{
  int h, mi, sec, y, k = 0;
  char head[128];
  head_of(p, n, head, sizeof(head));
  if(sscanf(head, "%*[A-Za-z] %2d:%2d:%2d.%*d %*[-+]%4d %n", &h, &mi, &sec, &y, &k) == 4 && k > 0 &&
     (strncmp(head, "Default ", 8) == 0 || strncmp(head, "Debug ", 6) == 0 || strncmp(head, "Info ", 5) == 0 ||
      strncmp(head, "Error ", 6) == 0 || strncmp(head, "Fault ", 6) == 0))
    return "iOS console copy (type, time with offset, process, message)";
  return NULL;
}

static const char *detect_syslog(const char *p, size_t n)
{
  int d, h, mi, sec;
  char head[128], mon[4];
  head_of(p, n, head, sizeof(head));
  if(sscanf(head, "%3s %2d %2d:%2d:%2d", mon, &d, &h, &mi, &sec) == 5 && strstr(head, "]: ") == NULL &&
     strstr(head, "[") && strstr(head, "> ") == NULL && strstr(head, ">: "))
    return "iOS syslog (Mon DD HH:MM:SS device process[pid] <Level>: message)";
  return NULL;
}

const logs_format logs_fmt_ios = {FMT_IOS, "ios", LOGS_FORCEABLE, detect_console, logs_parse_ios, NULL, NULL};
const logs_format logs_fmt_syslog = {FMT_SYSLOG, "syslog", LOGS_FORCEABLE, detect_syslog, logs_parse_syslog, NULL, NULL};
