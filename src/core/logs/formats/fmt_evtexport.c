/* Event Viewer "Save as" exports: text (tab) and CSV.
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/formats/formats.h"

/* Event Viewer "Save as" text (tab) and CSV (comma): Level, Date and Time, Source, Event ID, Task
 * Category, then the description, quoted (with "" inside) when it spans lines. */
static int logs_parse_evtexport(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  char sep = lg->fmt == FMT_EVTTXT ? '\t' : ',';
  sceplab_str col[5];
  const char *cur = p, *end = p + n;
  size_t len = 0;
  int i;
  logs_civil c;
  if(r->line == 1)
    return 0; /* the header */
  for(i = 0; i < 5; i++) {
    const char *st = cur;
    if(cur < end && *cur == '"') { /* a quoted column (CSV) */
      st = ++cur;
      while(cur < end && *cur != '"')
        cur++;
      col[i].p = st;
      col[i].n = (size_t)(cur - st);
      if(cur < end)
        cur++;
    }
    else {
      while(cur < end && *cur != sep)
        cur++;
      col[i].p = st;
      col[i].n = (size_t)(cur - st);
    }
    if(cur >= end || *cur != sep) {
      if(n)
        logs_skip(lg, r->line, "fewer than six columns");
      return 0;
    }
    cur++;
  }
  /* the machine's short date, in the order decided for the whole file (prepare) */
  if(logs_parse_local(&lg->clock.order, col[1].p, col[1].n, &c) < 0) {
    logs_skip(lg, r->line, "unreadable Date and Time");
    return 0;
  }
  r->time_us = logs_make_time(c.y, c.mo, c.d, c.h, c.mi, c.s, c.us);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    logs_skip(lg, r->line, "Date and Time out of range");
    return 0;
  }
  logs_assume_zone(lg, r);
  r->level = col[0].n >= 5 && strncmp(col[0].p, "Error", 5) == 0 ? SCEPLAB_LVL_ERROR
           : col[0].n >= 4 && strncmp(col[0].p, "Warn", 4) == 0 ? SCEPLAB_LVL_WARNING
           : col[0].n >= 4 && strncmp(col[0].p, "Crit", 4) == 0 ? SCEPLAB_LVL_CRITICAL
           : col[0].n >= 4 && strncmp(col[0].p, "Verb", 4) == 0 ? SCEPLAB_LVL_VERBOSE : SCEPLAB_LVL_INFO;
  {
    char eid[16];
    if(logs_copy_view(col[3], eid, sizeof(eid)))
      r->event_id = strtol(eid, NULL, 10);
  }
  /* the columns point into the line buffer, which the next line may move: keep copies */
  lg->arena_used = 0;
  r->time_text = col[1];
  {
    char tmp[512];
    if(logs_copy_view(col[1], tmp, sizeof(tmp)))
      r->time_text = logs_arena_str(lg, tmp);
    if(logs_copy_view(col[2], tmp, sizeof(tmp)))
      r->component = logs_arena_str(lg, tmp);
  }
  /* the description */
  if(cur < end && *cur == '"') {
    const char *q = cur + 1, *e;
    for(;;) {
      e = q;
      while(e < end) {
        if(*e == '"' && e + 1 < end && e[1] == '"') {
          logs_msg_append(lg, &len, q, (size_t)(e - q) + 1);
          q = e += 2;
          continue;
        }
        if(*e == '"')
          break;
        e++;
      }
      logs_msg_append(lg, &len, q, (size_t)(e - q));
      if(e < end)
        break;
      {
        int rc;
        logs_msg_append(lg, &len, "\n", 1);
        rc = logs_next_line(lg, &p, &n, err);
        if(rc < 0)
          return -1;
        if(rc == 0)
          break;
        q = p;
        end = p + n;
      }
    }
  }
  else
    logs_msg_append(lg, &len, cur, (size_t)(end - cur));
  r->message.p = lg->msg;
  r->message.n = len;
  logs_event_step(r);
  return 1;
}

/* The Date and Time column of a line (the second), quoted or not. */
static int date_column(const char *p, size_t n, char sep, sceplab_str *v)
{
  const char *cur = memchr(p, sep, n), *end = p + n;
  if(!cur)
    return 0;
  cur++;
  if(cur < end && *cur == '"') {
    const char *q = memchr(cur + 1, '"', (size_t)(end - cur - 1));
    if(!q)
      return 0;
    v->p = cur + 1;
    v->n = (size_t)(q - cur - 1);
    return 1;
  }
  v->p = cur;
  v->n = logs_span_until(cur, end, sep == '\t' ? "\t" : ",");
  return 1;
}

#define ORDER_LOOKAHEAD (16u << 20)

/* Day or month first: decided once for the file from its dates (logtime.h), reading ahead when
 * the first chunk's dates all read both ways. */
static void prepare(sceplab_log *lg)
{
  char sep = lg->fmt == FMT_EVTTXT ? '\t' : ',';
  size_t at = lg->start;
  uint64_t line = lg->line;
  logs_dateorder *o = &lg->clock.order;
  while(lg->buf) { /* no buffer: an empty input, nothing to decide from */
    const char *p = lg->buf + at, *end = lg->buf + lg->end;
    while(p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      sceplab_str v;
      if(!nl && !lg->eof)
        break; /* a line cut by the chunk: read on first */
      if(line > 1 && date_column(p, nl ? (size_t)(nl - p) : (size_t)(end - p), sep, &v))
        logs_order_see(o, v.p, v.n, line);
      line++;
      p = nl ? nl + 1 : end;
    }
    at = (size_t)(p - lg->buf);
    if(o->day_first || o->month_first || lg->eof || lg->end - lg->start >= ORDER_LOOKAHEAD)
      break;
    {
      size_t before = lg->start;
      sceplab_error e;
      if(logs_refill(lg, &e) <= 0)
        break;
      at -= before - lg->start; /* the buffer was compacted */
    }
  }
  logs_order_decide(o, lg->clock.order_note, sizeof(lg->clock.order_note));
}

static const char *detect_text(const char *p, size_t n)
{
  static const char head[] = "Level\tDate and Time\tSource\tEvent ID";
  if(n > sizeof(head) && strncmp(p, head, sizeof(head) - 1) == 0)
    return "Event Viewer text export (Level, Date and Time, Source, Event ID, Task Category)";
  return NULL;
}

static const char *detect_csv(const char *p, size_t n)
{
  static const char head[] = "Level,Date and Time,Source,Event ID";
  if(n > sizeof(head) && strncmp(p, head, sizeof(head) - 1) == 0)
    return "Event Viewer CSV export (Level,Date and Time,Source,Event ID,Task Category)";
  return NULL;
}

const logs_format logs_fmt_eventtext = {.id = FMT_EVTTXT, .name = "eventtext", .flags = LOGS_FORCEABLE | LOGS_UNORDERED | LOGS_ZONELESS,
  .detect = detect_text, .line = logs_parse_evtexport, .prepare = prepare};
const logs_format logs_fmt_eventcsv = {.id = FMT_EVTCSV, .name = "eventcsv", .flags = LOGS_FORCEABLE | LOGS_UNORDERED | LOGS_ZONELESS,
  .detect = detect_csv, .line = logs_parse_evtexport, .prepare = prepare};
