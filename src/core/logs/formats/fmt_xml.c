/* XML record formats: WCF .svclog and Windows event XML (also what .evtx records are read as).
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#include "logs/formats/writers.h"

static int pend_append(sceplab_log *lg, const char *p, size_t n)
{
  if(lg->pendlen + n + 2 > lg->pendcap) {
    size_t cap = lg->pendcap ? lg->pendcap : 8192;
    char *np;
    while(cap < lg->pendlen + n + 2)
      cap *= 2;
    np = realloc(lg->pending, cap);
    if(!np)
      return -1;
    lg->pending = np;
    lg->pendcap = cap;
  }
  memcpy(lg->pending + lg->pendlen, p, n);
  lg->pendlen += n;
  lg->pending[lg->pendlen++] = '\n';
  return 0;
}

/* Cuts the next <tag ...>...</tag> out of the stream, reading lines as needed. 1, 0 at end, -1. */
static int logs_parse_xml_record(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
{
  const char *open_tag = lg->fmt == FMT_SVCLOG ? "<E2ETraceEvent" : "<Event", *close_tag;
  close_tag = lg->fmt == FMT_SVCLOG ? "</E2ETraceEvent>" : "</Event>";
  for(;;) {
    const char *o = lg->pendlen ? sceplab_memcasestr(lg->pending, lg->pendlen, open_tag) : NULL;
    /* "<Event" must not match "<EventData" or "<EventID" */
    while(o && lg->fmt == FMT_EVENTXML && o[6] != ' ' && o[6] != '>')
      o = sceplab_memcasestr(o + 1, lg->pendlen - (size_t)(o + 1 - lg->pending), open_tag);
    if(o) {
      const char *c = sceplab_memcasestr(o, lg->pendlen - (size_t)(o - lg->pending), close_tag);
      if(c) {
        size_t end = (size_t)(c - lg->pending) + strlen(close_tag);
        const char *q;
        int got;
        /* the record's line: count the newlines before its start */
        r->line = lg->pend_line;
        r->offset = lg->pend_offset;
        for(q = lg->pending; q < o; q++)
          if(*q == '\n')
            r->line++;
        lg->arena_used = 0;
        got = logs_parse_fragment(lg, o, end - (size_t)(o - lg->pending), r);
        for(q = lg->pending; q < lg->pending + end; q++)
          if(*q == '\n')
            lg->pend_line++;
        memmove(lg->pending, lg->pending + end, lg->pendlen - end);
        lg->pendlen -= end;
        if(got)
          return 1;
        continue;
      }
      if(lg->pendlen > MAX_FRAGMENT) {
        logs_skip(lg, lg->pend_line, "record larger than 4 MiB");
        lg->pendlen = 0;
      }
    }
    else if(lg->pendlen > 65536) {
      /* text outside any record: drop it, keep the line count right */
      const char *q;
      for(q = lg->pending; q < lg->pending + lg->pendlen; q++)
        if(*q == '\n')
          lg->pend_line++;
      lg->pendlen = 0;
    }
    {
      const char *p;
      size_t n;
      int rc = logs_next_line(lg, &p, &n, err);
      if(rc <= 0) {
        if(rc == 0 && o)
          logs_skip(lg, lg->pend_line, "record never closed at the end of the file");
        return rc;
      }
      if(lg->pendlen == 0) {
        lg->pend_line = lg->line - 1;
        lg->pend_offset = lg->line_start;
      }
      if(pend_append(lg, p, n) != 0)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    }
  }
}

static const char *detect_svclog(const char *p, size_t n)
{
  return sceplab_memcasestr(p, n, "<E2ETraceEvent") ? "WCF trace (.svclog: <E2ETraceEvent> fragments)" : NULL;
}

static const char *detect_eventxml(const char *p, size_t n)
{
  if(sceplab_memcasestr(p, n, "<Event xmlns=") || sceplab_memcasestr(p, n, "<Event xmlns:"))
    return "Windows event XML (wevtutil qe /f:xml or /f:RenderedXml)";
  return NULL;
}

const logs_format logs_fmt_svclog = {.id = FMT_SVCLOG, .name = "svclog", .flags = LOGS_XML2 | LOGS_FORCEABLE,
  .detect = detect_svclog, .record = logs_parse_xml_record};
const logs_format logs_fmt_eventxml = {.id = FMT_EVENTXML, .name = "eventxml", .flags = LOGS_XML2 | LOGS_FORCEABLE,
  .detect = detect_eventxml, .record = logs_parse_xml_record};

/* ---- writing ------------------------------------------------------------------------------- */

typedef struct buf {
  char *p;
  size_t n, cap;
  int full;
} buf;

static void put(void *ud, const char *p, size_t n)
{
  buf *b = ud;
  if(b->full || b->n + n >= b->cap) {
    b->full = 1;
    return;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void puts_raw(buf *b, const char *s) { put(b, s, strlen(s)); }

/* An event of the DeviceManagement-Enterprise-Diagnostics-Provider/Admin channel, as `wevtutil qe
 * /f:RenderedXml` prints it, one event a line (what this file reads back as eventxml). */
size_t logs_write_device_event(char *out, size_t out_cap, const sceplab_device_event *e)
{
  static const char *const levels[] = {"", "", "Error", "Warning", "Information"};
  char head[1024], when[32];
  buf b = {out, 0, out_cap, 0};
  if(!out_cap || e->level < 2 || e->level > 4)
    return 0;
  out[0] = '\0';
  logs_utc_text(e->time, 1, when, sizeof(when));
  snprintf(head, sizeof(head),
           "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
           "<Provider Name='Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider' Guid='{3da494e4-0fe2-415c-b895-fb5265c5c83b}'/>"
           "<EventID>%d</EventID><Version>0</Version><Level>%d</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>"
           "<TimeCreated SystemTime='%s.%07ldZ'/><Channel>Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin</Channel>"
           "<Computer>DESKTOP-SCEPLAB</Computer></System><EventData><Data Name='Message1'>",
           e->id, e->level, when, logs_fraction(e->time, 7));
  puts_raw(&b, head);
  sceplab_esc_put(sceplab_esc_xml, e->text ? e->text : "", put, &b);
  puts_raw(&b, "</Data></EventData><RenderingInfo Culture='en-US'><Message>");
  sceplab_esc_put(sceplab_esc_xml, e->text ? e->text : "", put, &b);
  puts_raw(&b, "</Message><Level>");
  puts_raw(&b, levels[e->level]);
  puts_raw(&b, "</Level></RenderingInfo></Event>\n");
  return b.full ? 0 : b.n;
}
