/* FreeRADIUS's log file (radius.log, logging to files): a RADIUS server checking a device's
 * certificate for EAP-TLS says here why it refused it (OpenSSL's verify errors, its OCSP client).
 *   Mon Dec  7 12:40:01 2026 : Auth: (5) Login incorrect (eap_tls: (TLS) ocsp: Unable to check certificate, failing): [host/dev1] ...
 *   Mon Dec  7 12:40:01 2026 : ERROR: (5) eap_tls: (TLS) OpenSSL says error 12 : CRL has expired
 * The time is ctime's, local and without a zone (FreeRADIUS's log_dates_utc writes it in UTC).
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "logs/formats/formats.h"

static const struct { const char *name; sceplab_level level; } levels[] = {
  {"Debug", SCEPLAB_LVL_VERBOSE}, {"Auth", SCEPLAB_LVL_INFO}, {"Proxy", SCEPLAB_LVL_INFO}, {"Info", SCEPLAB_LVL_INFO},
  {"Acct", SCEPLAB_LVL_INFO}, {"Warning", SCEPLAB_LVL_WARNING}, {"WARNING", SCEPLAB_LVL_WARNING},
  {"Error", SCEPLAB_LVL_ERROR}, {"ERROR", SCEPLAB_LVL_ERROR},
};

/* "Www Mmm dd hh:mm:ss yyyy : Level: ": the fields, the length of the head, and the level's
 * index; 0 when the line is not one. */
static int head_of(const char *p, size_t n, int *mo, int *d, int *h, int *mi, int *s, int *y, size_t *len, size_t *lvl)
{
  char head[64], mon[4], dow[4];
  size_t hn = n < sizeof(head) - 1 ? n : sizeof(head) - 1, i;
  const char *m;
  int k = 0;
  memcpy(head, p, hn);
  head[hn] = 0;
  if(sscanf(head, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d : %n", dow, mon, d, h, mi, s, y, &k) != 7 || !k ||
     strlen(dow) != 3 || strlen(mon) != 3 || !(m = strstr(logs_month_names, mon)))
    return 0;
  *mo = (int)((m - logs_month_names) / 3) + 1;
  for(i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
    size_t ln = strlen(levels[i].name);
    if((size_t)k + ln + 1 < hn && !strncmp(head + k, levels[i].name, ln) && head[k + ln] == ':') {
      *lvl = i;
      *len = (size_t)k + ln + 1;
      return 1;
    }
  }
  return 0;
}

static int parse_line(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  int mo, d, h, mi, s, y;
  size_t len, lvl;
  const char *cur, *end = p + n, *q;
  (void)err;
  if(!head_of(p, n, &mo, &d, &h, &mi, &s, &y, &len, &lvl)) {
    if(n)
      logs_skip(lg, r->line, "not a FreeRADIUS log line");
    return 0;
  }
  r->time_us = logs_make_time(y, mo, d, h, mi, s, 0);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    logs_skip(lg, r->line, "date or time out of range");
    return 0;
  }
  logs_assume_zone(lg, r);
  r->time_text.p = p;
  r->time_text.n = 24;
  r->component.p = levels[lvl].name;
  r->component.n = strlen(levels[lvl].name);
  r->level = levels[lvl].level;
  cur = p + len;
  while(cur < end && *cur == ' ')
    cur++;
  /* "(5) ": the request's number, FreeRADIUS's thread of one authentication */
  if(cur < end && *cur == '(' && (q = memchr(cur, ')', (size_t)(end - cur))) != NULL && q - cur < 12) {
    r->thread.p = cur + 1;
    r->thread.n = (size_t)(q - cur - 1);
  }
  r->message.p = cur;
  r->message.n = (size_t)(end - cur);
  /* a refusal is logged as an Auth line: it is the outcome, an error */
  if(sceplab_memcasestr(cur, r->message.n, "Login incorrect"))
    r->level = SCEPLAB_LVL_ERROR;
  return 1;
}

static const char *detect(const char *p, size_t n)
{
  int mo, d, h, mi, s, y;
  size_t len, lvl;
  return head_of(p, n, &mo, &d, &h, &mi, &s, &y, &len, &lvl) ? "FreeRADIUS log (ctime, ' : ', a level such as Auth: or Error:)"
                                                            : NULL;
}

const logs_format logs_fmt_radius = {.id = FMT_RADIUS, .name = "freeradius", .flags = LOGS_FORCEABLE | LOGS_ZONELESS,
  .detect = detect, .line = parse_line};
