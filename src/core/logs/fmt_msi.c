/* Windows Installer logs (SetupMsi.log of the Intune connector).
 * Part of the log reader (src/core/logs/): see logs_int.h for how the pieces fit. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs_int.h"

/* "=== Verbose logging started: 5/24/2020  16:12:58 ..." gives the date the MSI lines lack;
 * "MSI (c) (28:54) [16:13:11:905]: message" lines are the records; property dumps are not. */
static int logs_parse_msi(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  char head[96];
  int h, mi, s, ms, mo, d, y;
  const char *br, *msg;
  size_t hn = n < sizeof(head) - 1 ? n : sizeof(head) - 1;
  memcpy(head, p, hn);
  head[hn] = 0;
  if(strncmp(head, "=== ", 4) == 0) {
    const char *colon = strchr(head, ':');
    if(colon && sscanf(colon + 1, " %d/%d/%d", &mo, &d, &y) == 3) {
      lg->year = y;
      lg->month = mo;
      lg->day = d;
    }
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
  r->time_us = logs_make_time(lg->year, lg->month, lg->day, h, mi, s, ms * 1000L);
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

const logs_format logs_fmt_msi = {.id = FMT_MSI, .name = "msi", .flags = LOGS_FORCEABLE,
  .detect = detect, .line = logs_parse_msi};
