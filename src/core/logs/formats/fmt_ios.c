/* iOS: Console copies and the legacy syslog form.
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/formats/writers.h"

/* The processes of an iOS device that enroll and install certificates: their records are the
 * device's own evidence, whichever form the log was copied in. */
static int device_process(sceplab_str proc)
{
  static const char *const names[] = {"profiled", "mdmd", "dmd", "mdmclient", "ManagedConfiguration", "MCInstall", NULL};
  int i;
  for(i = 0; names[i]; i++)
    if(proc.n == strlen(names[i]) && strncasecmp(proc.p, names[i], proc.n) == 0)
      return 1;
  return 0;
}

static void set_platform(sceplab_record *r)
{
  r->platform.p = "ios";
  r->platform.n = 3;
}

/* A record's severity from its own text where its header says less: profiled writes "<Notice>:
 * (Error) MC: ..." (the level it meant, in the text). */
static void level_from_text(sceplab_record *r)
{
  const char *m = r->message.p;
  size_t n = r->message.n;
  if(!m || r->level >= SCEPLAB_LVL_ERROR)
    return;
  if(sceplab_memcasestr(m, n, "(Error)") || sceplab_memcasestr(m, n, "<Error>") || sceplab_memcasestr(m, n, "(Fault)"))
    r->level = SCEPLAB_LVL_ERROR;
  else if(r->level < SCEPLAB_LVL_WARNING && (sceplab_memcasestr(m, n, "(Warning)") || sceplab_memcasestr(m, n, "<Warning>")))
    r->level = SCEPLAB_LVL_WARNING;
}

/* A copy that starts in the middle of a record: its first lines (an NSError's "Desc   : ..." lines
 * of a record not pasted) are a record of their own, not lost. Its time is the next record's
 * (time_inferred: log.c looks ahead); an NSError's lines are an error's. 1 when it is one. */
static int leading_orphan(sceplab_log *lg, const char *p, size_t n, sceplab_record *r)
{
  size_t len;
  if(lg->records || !n)
    return 0;
  while(n && (*p == ' ' || *p == '\t')) {
    p++;
    n--;
  }
  if(!n)
    return 0;
  lg->arena_used = 0;
  len = logs_clean_rtf(lg, p, n);
  r->message.p = lg->msg;
  r->message.n = len;
  r->time_inferred = 1;
  r->level = SCEPLAB_LVL_INFO;
  {
    static const char *const nserror[] = {"Desc ", "Sugg ", "US Desc:", "US Sugg:", "Domain ", "Code ", "NSError", NULL};
    int i;
    for(i = 0; nserror[i]; i++)
      if(n >= strlen(nserror[i]) && strncmp(p, nserror[i], strlen(nserror[i])) == 0)
        r->level = SCEPLAB_LVL_ERROR;
  }
  set_platform(r);
  level_from_text(r);
  logs_step_from_text(r);
  return 1;
}

/* A Console record's head: TYPE TIME OFFSET PROCESS, separated by spaces or tabs, the type in either
 * case ("Default" as Console shows it, "default" as it copies it). 1 with the fields, else 0. */
static int console_head(const char *p, size_t n, sceplab_str *type, sceplab_str *t, sceplab_str *off, sceplab_str *proc,
                        const char **rest)
{
  static const char *const types[] = {"default", "info", "debug", "error", "fault", "notice", "activity", NULL};
  const char *cur = p, *end = p + n;
  char tb[24];
  int h, mi, s, i, ok = 0;
  *type = logs_next_tok(&cur, end);
  for(i = 0; types[i]; i++)
    ok = ok || (type->n == strlen(types[i]) && strncasecmp(type->p, types[i], type->n) == 0);
  if(!ok)
    return 0;
  *t = logs_next_tok(&cur, end);
  *off = logs_next_tok(&cur, end);
  *proc = logs_next_tok(&cur, end);
  if(!logs_copy_view(*t, tb, sizeof(tb)) || sscanf(tb, "%2d:%2d:%2d", &h, &mi, &s) != 3 || off->n != 5 ||
     (off->p[0] != '+' && off->p[0] != '-') || !proc->n)
    return 0;
  while(cur < end && (*cur == ' ' || *cur == '\t'))
    cur++;
  *rest = cur;
  return 1;
}

static int console_continues(const char *p, size_t n)
{
  sceplab_str a, b, c, d;
  const char *rest;
  return !console_head(p, n, &a, &b, &c, &d, &rest);
}

static int logs_parse_ios(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  sceplab_str type, t, off, proc;
  const char *cur, *end = p + n;
  char tb[24], ob[8];
  int h, mi, s, k = 0, offset = 0;
  long us = 0;
  size_t len;
  (void)err;
  if(!console_head(p, n, &type, &t, &off, &proc, &cur) || !logs_copy_view(t, tb, sizeof(tb)) ||
     !logs_copy_view(off, ob, sizeof(ob)) || sscanf(tb, "%2d:%2d:%2d%n", &h, &mi, &s, &k) != 3 ||
     logs_parse_offset(ob, strlen(ob), &offset) != 5) {
    if(leading_orphan(lg, p, n, r))
      return 1;
    if(n)
      logs_skip(lg, r->line, "not an iOS console line");
    return 0;
  }
  if(tb[k] == '.')
    logs_fraction_us(tb + k + 1, strlen(tb + k + 1), &us);
  /* the record's own offset, the file's date (times of day only: see the clock in time.c) */
  r->time_us = logs_dateless_time(lg, r, h, mi, s, us, offset);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    logs_skip(lg, r->line, "time out of range");
    return 0;
  }
  r->utc_offset_min = offset;
  r->time_us -= (int64_t)offset * LOGS_MIN_US;
  r->offset_source = logs_tsrc_name(LOGS_TS_RECORD);
  /* the record may go on over the next lines: its strings leave the line buffer now */
  lg->arena_used = 0;
  {
    char tt[40];
    snprintf(tt, sizeof(tt), "%.*s", (int)(off.p + off.n - t.p), t.p);
    r->time_text = logs_arena_str(lg, tt);
  }
  {
    char pb[64];
    if(logs_copy_view(proc, pb, sizeof(pb)))
      r->component = logs_arena_str(lg, pb);
  }
  r->level = strncasecmp(type.p, "error", 5) == 0 && type.n == 5 ? SCEPLAB_LVL_ERROR
           : strncasecmp(type.p, "fault", 5) == 0 && type.n == 5 ? SCEPLAB_LVL_CRITICAL
           : strncasecmp(type.p, "debug", 5) == 0 && type.n == 5 ? SCEPLAB_LVL_VERBOSE : SCEPLAB_LVL_INFO;
  set_platform(r);
  len = logs_clean_rtf(lg, cur, (size_t)(end - cur));
  r->message.p = lg->msg;
  r->message.n = len;
  level_from_text(r);
  logs_jscep_fields(r);
  if(r->url.n) {
    const char *op = sceplab_memcasestr(r->url.p, r->url.n, "operation=");
    if(op) {
      r->scep_operation.p = op + 10;
      r->scep_operation.n = logs_span_until(op + 10, r->url.p + r->url.n, "&");
    }
  }
  logs_step_from_text(r);
  if(!r->step && device_process(proc))
    r->step = 2;
  return 1;
}

/* "May 23 14:15:38 iPhone profiled[150] <Error>: message": 1 with the month index, else 0. */
static int syslog_head(const char *p, size_t n, int *month, int *d, int *h, int *mi, int *s, const char **lt,
                       const char **gt)
{
  char head[64], mon[4];
  const char *mp;
  size_t hn = n < sizeof(head) - 1 ? n : sizeof(head) - 1;
  memcpy(head, p, hn);
  head[hn] = 0;
  if(sscanf(head, "%3s %2d %2d:%2d:%2d", mon, d, h, mi, s) != 5 || strlen(mon) != 3 || !(mp = strstr(logs_month_names, mon)) ||
     (mp - logs_month_names) % 3 != 0 || !(*lt = memchr(p, '<', n)) || !(*gt = memchr(*lt, '>', n - (size_t)(*lt - p))))
    return 0;
  *month = (int)(mp - logs_month_names) / 3 + 1;
  return 1;
}

/* Lines that are not a syslog record belong to the one before: an NSError's "Desc   : ...",
 * "Domain : ...", "Code   : ..." lines, indented lines, blank lines. */
static int syslog_continues(const char *p, size_t n)
{
  int month, d, h, mi, s;
  const char *lt, *gt;
  return !syslog_head(p, n, &month, &d, &h, &mi, &s, &lt, &gt);
}

static int logs_parse_syslog(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  const char *lt, *gt, *m;
  int d, h, mi, s, month;
  size_t len;
  (void)err;
  if(!syslog_head(p, n, &month, &d, &h, &mi, &s, &lt, &gt)) {
    if(leading_orphan(lg, p, n, r))
      return 1;
    if(n)
      logs_skip(lg, r->line, "not a syslog line");
    return 0;
  }
  r->time_us = logs_yearless_time(lg, r, month, d, h, mi, s, 0);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    logs_skip(lg, r->line, "date out of range");
    return 0;
  }
  logs_assume_zone(lg, r);
  lg->arena_used = 0;
  {
    char tt[20];
    snprintf(tt, sizeof(tt), "%.*s", (int)(n < 15 ? n : 15), p);
    r->time_text = logs_arena_str(lg, tt);
  }
  {
    const char *cur = p + (n < 15 ? n : 15), *end = lt > cur ? lt : cur;
    sceplab_str host = logs_next_tok(&cur, end), proc = logs_next_tok(&cur, end);
    char hb[128], pb[128];
    proc.n = logs_span_until(proc.p, proc.p + proc.n, "[");
    if(logs_copy_view(host, hb, sizeof(hb)))
      r->host = logs_arena_str(lg, hb);
    if(logs_copy_view(proc, pb, sizeof(pb)))
      r->component = logs_arena_str(lg, pb);
    if(device_process(proc)) {
      set_platform(r);
      r->step = 2;
    }
  }
  r->level = sceplab_memcasestr(lt, (size_t)(gt - lt), "Error") ? SCEPLAB_LVL_ERROR
           : sceplab_memcasestr(lt, (size_t)(gt - lt), "Warn") ? SCEPLAB_LVL_WARNING : SCEPLAB_LVL_INFO;
  m = gt + 1;
  while(m < p + n && (*m == ':' || *m == ' '))
    m++;
  len = logs_clean_rtf(lg, m, (size_t)(p + n - m));
  r->message.p = lg->msg;
  r->message.n = len;
  level_from_text(r);
  logs_jscep_fields(r);
  {
    int step = r->step;
    r->step = 0;
    logs_step_from_text(r);
    if(!r->step)
      r->step = step;
  }
  return 1;
}

/* Detection looks at the first lines, not only the first: a copy often starts in the middle of a
 * record (continuation lines first). The first line that is a record decides. */
#define DETECT_LINES 40

static const char *detect_console(const char *p, size_t n)
{
  const char *end = p + n;
  int i;
  for(i = 0; i < DETECT_LINES && p < end; i++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    sceplab_str a, b, c, d;
    const char *rest;
    if(console_head(p, len, &a, &b, &c, &d, &rest))
      return "iOS console copy (type, time with offset, process, message; spaces or tabs)";
    if(!nl)
      break;
    p = nl + 1;
  }
  return NULL;
}

static const char *detect_syslog(const char *p, size_t n)
{
  const char *end = p + n;
  int i;
  for(i = 0; i < DETECT_LINES && p < end; i++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    int month, d, h, mi, s;
    const char *lt, *gt;
    if(syslog_head(p, len, &month, &d, &h, &mi, &s, &lt, &gt)) {
      /* "<Level>:" after "process[pid]", not a bracketed tag of another format */
      const char *br = memchr(p, '[', (size_t)(lt - p));
      if(br && gt + 1 < p + len && gt[1] == ':')
        return "iOS syslog (Mon DD HH:MM:SS device process[pid] <Level>: message)";
    }
    if(!nl)
      break;
    p = nl + 1;
  }
  return NULL;
}

const logs_format logs_fmt_ios = {.id = FMT_IOS, .name = "ios", .flags = LOGS_FORCEABLE | LOGS_DATELESS,
  .detect = detect_console, .line = logs_parse_ios, .continues = console_continues};
const logs_format logs_fmt_syslog = {.id = FMT_SYSLOG, .name = "syslog", .flags = LOGS_FORCEABLE | LOGS_YEARLESS | LOGS_ZONELESS,
  .detect = detect_syslog, .line = logs_parse_syslog, .continues = syslog_continues};

/* A line of a Console copy of profiled's log, as this file reads it back: the severity, the UTC
 * time of day with six digits of fraction and its offset, the process, the text (no date: a
 * Console copy writes none). */
size_t logs_write_console(char *out, size_t out_cap, const sceplab_device_event *e)
{
  char when[16], *text;
  int n;
  if(!e->severity)
    return 0;
  if(!(text = malloc(strlen(e->text ? e->text : "") + 1)))
    return 0;
  logs_one_line(e->text ? e->text : "", text);
  logs_utc_text(e->time, 0, when, sizeof(when));
  n = snprintf(out, out_cap, "%s\t%s.%06ld +0000\tprofiled\t%s\n", e->severity, when, logs_fraction(e->time, 6), text);
  free(text);
  return n > 0 && (size_t)n < out_cap ? (size_t)n : 0;
}
