/* Windows Installer logs (SetupMsi.log of the Intune connector).
 * Part of the log reader (src/core/logs/): see logs_int.h for how the pieces fit. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs_int.h"

/* The date of "=== Verbose logging started: 5/24/2020  16:12:58 ..." (the machine's short date,
 * so in its order), or of the property dump's "Property(S): Date = 24/05/2020": the text after
 * the label, or NULL. */
static const char *date_text(const char *p, size_t n)
{
  const char *at;
  if(n > 4 && strncmp(p, "=== ", 4) == 0 && (at = memchr(p, ':', n)) != NULL)
    return at + 1;
  if(n > 9 && strncmp(p, "Property(", 9) == 0 && (at = sceplab_memcasestr(p, n, "): Date = ")) != NULL)
    return at + 10;
  return NULL;
}

/* The order of the machine's short date, from the headers and the Date property read ahead. */
static void prepare(sceplab_log *lg)
{
  const char *p = lg->buf ? lg->buf + lg->start : NULL, *end = p ? lg->buf + lg->end : NULL;
  uint64_t line = lg->line;
  while(p && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end, *d = date_text(p, (size_t)(eol - p));
    if(d)
      logs_order_see(&lg->clock.order, d, (size_t)(eol - d), line);
    line++;
    p = nl ? nl + 1 : end;
  }
  logs_order_decide(&lg->clock.order, lg->clock.order_note, sizeof(lg->clock.order_note));
}

/* "=== Verbose logging started: 5/24/2020  16:12:58 ..." gives the date the MSI lines lack;
 * "MSI (c) (28:54) [16:13:11:905]: message" lines are the records; property dumps are not. */
static int logs_parse_msi(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  char head[96];
  int h, mi, s, ms;
  const char *br, *msg;
  size_t hn = n < sizeof(head) - 1 ? n : sizeof(head) - 1;
  memcpy(head, p, hn);
  head[hn] = 0;
  if(strncmp(head, "=== ", 4) == 0) {
    const char *d = date_text(p, n);
    logs_civil c;
    while(d && d < p + n && *d == ' ')
      d++;
    /* the date only: "5/24/2020  16:12:58" has two spaces, which logs_parse_local reads too */
    if(d && logs_parse_local(&lg->clock.order, d, (size_t)(p + n - d), &c) > 0)
      logs_written_date(lg, c.y, c.mo, c.d, r->line);
    return 0;
  }
  if(strncmp(head, "MSI (", 5) != 0)
    return 0; /* property dumps and action lines: not records */
  br = memchr(p, '[', n);
  {
    char tb[24];
    size_t tl = br ? logs_span_until(br, p + n, "]") : 0;
    if(!br || br + tl >= p + n || tl + 1 >= sizeof(tb)) {
      logs_skip(lg, r->line, "MSI line without [HH:MM:SS:mmm]");
      return 0;
    }
    memcpy(tb, br, tl + 1);
    tb[tl + 1] = 0;
    if(sscanf(tb, "[%d:%d:%d:%d]", &h, &mi, &s, &ms) != 4) {
      logs_skip(lg, r->line, "MSI line without [HH:MM:SS:mmm]");
      return 0;
    }
  }
  r->time_us = logs_dateless_time(lg, r, h, mi, s, ms * 1000L, lg->clock.offset_set ? lg->clock.offset_min : 0);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    logs_skip(lg, r->line, "time out of range");
    return 0;
  }
  logs_assume_zone(lg, r);
  r->time_text.p = br;
  r->time_text.n = logs_span_until(br, p + n, "]") + 1;
  r->component.p = p;
  r->component.n = 7; /* "MSI (c)" or "MSI (s)" */
  msg = br + r->time_text.n;
  while(msg < p + n && (*msg == ':' || *msg == ' '))
    msg++;
  r->message.p = msg;
  r->message.n = (size_t)(p + n - msg);
  r->level = SCEPLAB_LVL_INFO;
  {
    const char *st = sceplab_memcasestr(msg, r->message.n, "error status: ");
    if(st) {
      char num[12];
      size_t k = 0;
      st += 14;
      while(st + k < p + n && k + 1 < sizeof(num) && isdigit((unsigned char)st[k]))
        k++;
      memcpy(num, st, k);
      num[k] = 0;
      r->win32_status = atol(num);
      if(r->win32_status != 0) {
        r->level = SCEPLAB_LVL_ERROR;
        logs_set_hresult(r, (uint32_t)r->win32_status);
      }
    }
    if(sceplab_memcasestr(msg, r->message.n, "Installation failed") || sceplab_memcasestr(msg, r->message.n, "Return value 3"))
      r->level = SCEPLAB_LVL_ERROR;
  }
  return 1;
}

static const char *detect(const char *p, size_t n)
{
  if(n > 28 && (strncmp(p, "=== Verbose logging started:", 28) == 0 || strncmp(p, "=== Logging started:", 20) == 0 ||
                strncmp(p, "MSI (c) (", 9) == 0 || strncmp(p, "MSI (s) (", 9) == 0))
    return "Windows Installer log (MSI (c)/(s) lines)";
  return NULL;
}

const logs_format logs_fmt_msi = {.id = FMT_MSI, .name = "msi", .flags = LOGS_FORCEABLE | LOGS_DATELESS | LOGS_ZONELESS,
  .detect = detect, .line = logs_parse_msi, .prepare = prepare};
