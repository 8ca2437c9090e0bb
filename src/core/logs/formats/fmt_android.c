/* Android Company Portal OMADM logs.
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/formats/writers.h"

static int logs_parse_omadm(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  const char *cur = p, *end = p + n;
  sceplab_str ts = logs_next_tok(&cur, end), lvl = logs_next_tok(&cur, end), ev = logs_next_tok(&cur, end);
  sceplab_str logger = logs_next_tok(&cur, end), pid = logs_next_tok(&cur, end), tid = logs_next_tok(&cur, end);
  char tb[40];
  int y, mo, d, h, mi, s, k = 0;
  long us = 0;
  (void)pid;
  if(!logs_copy_view(ts, tb, sizeof(tb)) || sscanf(tb, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &k) != 6 ||
     !(ev.n == 5 && memcmp(ev.p, "Event", 5) == 0) || !tid.n) {
    if(n)
      logs_skip(lg, r->line, "not an OMADM log line");
    return 0;
  }
  if(tb[k] == '.')
    logs_fraction_us(tb + k + 1, strlen(tb + k + 1), &us);
  r->time_us = logs_make_time(y, mo, d, h, mi, s, us);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    logs_skip(lg, r->line, "date or time out of range");
    return 0;
  }
  logs_assume_zone(lg, r);
  r->time_text = ts;
  r->component = logger;
  r->thread = tid;
  r->level = lvl.n >= 4 && strncmp(lvl.p, "VERB", 4) == 0 ? SCEPLAB_LVL_VERBOSE
           : lvl.n >= 4 && strncmp(lvl.p, "WARN", 4) == 0 ? SCEPLAB_LVL_WARNING
           : lvl.n >= 5 && (strncmp(lvl.p, "ERROR", 5) == 0 || strncmp(lvl.p, "SEVER", 5) == 0) ? SCEPLAB_LVL_ERROR
                                                                                          : SCEPLAB_LVL_INFO;
  while(cur < end && (*cur == ' ' || *cur == '\t'))
    cur++;
  r->message.p = cur;
  r->message.n = (size_t)(end - cur);
  logs_jscep_fields(r);
  if(r->http_status >= 500 && r->level < SCEPLAB_LVL_ERROR)
    r->level = SCEPLAB_LVL_ERROR;
  logs_step_from_text(r);
  if(logger.n && sceplab_memcasestr(logger.p, logger.n, "jscep"))
    r->step = r->step ? r->step : 2;
  return 1;
}

/* "2018-02-27T04:50:52.1890000<ws>LEVEL<ws>Event<ws>logger<ws>pid<ws>tid<ws>message" */
static const char *detect(const char *p, size_t n)
{
  int y, mo, d, h, mi, sec, k = 0;
  char lvl[8] = "", ev[8] = "", head[128];
  size_t hn = n < sizeof(head) - 1 ? n : sizeof(head) - 1;
  memcpy(head, p, hn);
  head[hn] = 0;
  if(sscanf(head, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &k) == 6 && head[k] == '.' &&
     sscanf(head + k, "%*[.0-9]%*[ \t]%7s%*[ \t]%7s", lvl, ev) == 2 && strcmp(ev, "Event") == 0)
    return "Android Company Portal OMADM log (timestamp, level, Event, logger, pid, tid)";
  return NULL;
}

const logs_format logs_fmt_android = {.id = FMT_OMADM, .name = "android", .flags = LOGS_FORCEABLE | LOGS_ZONELESS,
  .detect = detect, .line = logs_parse_omadm};

/* A line of Company Portal's OMADMLog.log, as this file reads it back: the UTC time with seven
 * digits of fraction, the severity, "Event", the class, the process and thread IDs, the text. */
size_t logs_write_omadm(char *out, size_t out_cap, const sceplab_device_event *e)
{
  char when[32], *text;
  int n;
  if(!e->severity || !e->component)
    return 0;
  if(!(text = malloc(strlen(e->text ? e->text : "") + 1)))
    return 0;
  logs_one_line(e->text ? e->text : "", text);
  logs_utc_text(e->time, 1, when, sizeof(when));
  n = snprintf(out, out_cap, "%s.%07ld\t%s\tEvent\t%s\t%d\t%d\t%s\n", when, logs_fraction(e->time, 7), e->severity,
               e->component, 18327, 10, text);
  free(text);
  return n > 0 && (size_t)n < out_cap ? (size_t)n : 0;
}
