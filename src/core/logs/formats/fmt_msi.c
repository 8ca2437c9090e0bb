/* Windows Installer logs (SetupMsi.log of the Intune connector).
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/formats/formats.h"

/* The record's level and codes from its text: "Installation success or error status: 1603" and
 * "CustomAction X returned actual error code 1603" set win32_status (and ERROR_INSTALL_FAILURE);
 * those, "Installation failed", "Return value 3" and "Error 1920." / "Error 0x80070005" make it an
 * error. */
static void msi_level(sceplab_record *r)
{
  static const char *const codes[] = {"error status: ", "returned actual error code ", NULL};
  const char *msg = r->message.p, *end = msg + r->message.n, *e;
  size_t n = r->message.n;
  int i;
  r->level = SCEPLAB_LVL_INFO;
  for(i = 0; codes[i]; i++) {
    const char *st = sceplab_memcasestr(msg, n, codes[i]);
    if(st) {
      char num[12];
      size_t k = 0;
      st += strlen(codes[i]);
      while(st + k < end && k + 1 < sizeof(num) && isdigit((unsigned char)st[k]))
        k++;
      if(!k)
        continue;
      memcpy(num, st, k);
      num[k] = 0;
      r->win32_status = atol(num);
      if(r->win32_status != 0) {
        r->level = SCEPLAB_LVL_ERROR;
        logs_set_hresult(r, (uint32_t)r->win32_status);
      }
      break;
    }
  }
  if(sceplab_memcasestr(msg, n, "Installation failed") || sceplab_memcasestr(msg, n, "Return value 3"))
    r->level = SCEPLAB_LVL_ERROR;
  for(e = msg; (e = sceplab_memcasestr(e, (size_t)(end - e), "Error ")) != NULL; e += 6)
    if((e == msg || !isalnum((unsigned char)e[-1])) && e + 6 < end && isdigit((unsigned char)e[6]))
      r->level = SCEPLAB_LVL_ERROR; /* "Error 1920.", "Error 0x80070005: ..." */
}

static int starts(const char *p, size_t n, const char *lit)
{
  size_t k = strlen(lit);
  return n >= k && memcmp(p, lit, k) == 0;
}

/* "Action start 16:13:01: InstallFiles." and "Action ended 16:13:11: InstallFinalize. Return value
 * 3.": the time after the word, else 0. */
static int action_time(const char *p, size_t n, int *h, int *mi, int *s, const char **rest)
{
  char head[40];
  int k = 0;
  size_t hn = n < sizeof(head) - 1 ? n : sizeof(head) - 1;
  memcpy(head, p, hn);
  head[hn] = 0;
  if((strncmp(head, "Action start ", 13) != 0 && strncmp(head, "Action ended ", 13) != 0) ||
     sscanf(head + 13, "%2d:%2d:%2d:%n", h, mi, s, &k) != 3 || !k)
    return 0;
  *rest = p + 13 + k;
  return 1;
}

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
 * "MSI (c) (28:54) [16:13:11:905]: message" lines are records with their time, "Action start
 * 16:13:01: ..." too; property dumps are not records. Any other line is (a log as admins quote it:
 * a few lines, broken where a page wrapped them), at the time of the record before it. */
static int logs_parse_msi(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  char head[96];
  int h, mi, s, ms = 0, timed = 0;
  const char *br = NULL, *msg = NULL;
  size_t hn;
  (void)err;
  while(n && (*p == ' ' || *p == '\t')) {
    p++;
    n--;
  }
  hn = n < sizeof(head) - 1 ? n : sizeof(head) - 1;
  memcpy(head, p, hn);
  head[hn] = 0;
  if(starts(p, n, "=== ")) {
    const char *d = date_text(p, n);
    logs_civil c;
    while(d && d < p + n && *d == ' ')
      d++;
    /* the date only: "5/24/2020  16:12:58" has two spaces, which logs_parse_local reads too */
    if(d && logs_parse_local(&lg->clock.order, d, (size_t)(p + n - d), &c) > 0)
      logs_written_date(lg, c.y, c.mo, c.d, r->line);
    return 0;
  }
  if(!n || starts(p, n, "Property("))
    return 0; /* property dumps: not records */
  if(starts(p, n, "MSI (") && (br = memchr(p, '[', n)) != NULL) {
    char tb[24];
    size_t tl = logs_span_until(br, p + n, "]");
    if(br + tl < p + n && tl + 1 < sizeof(tb)) {
      memcpy(tb, br, tl + 1);
      tb[tl + 1] = 0;
      if(sscanf(tb, "[%d:%d:%d:%d]", &h, &mi, &s, &ms) == 4) {
        timed = 1;
        r->time_text.p = br;
        r->time_text.n = tl + 1;
        r->component.p = p;
        r->component.n = 7; /* "MSI (c)" or "MSI (s)" */
        msg = br + tl + 1;
      }
    }
  }
  else if(action_time(p, n, &h, &mi, &s, &msg)) {
    timed = 1;
    r->time_text.p = p + 13;
    r->time_text.n = (size_t)(msg - p - 13 - 1);
    r->component.p = p;
    r->component.n = 6; /* "Action" */
  }
  if(timed) {
    r->time_us = logs_dateless_time(lg, r, h, mi, s, ms * 1000L, lg->clock.offset_set ? lg->clock.offset_min : 0);
    if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
      logs_skip(lg, r->line, "time out of range");
      return 0;
    }
    logs_assume_zone(lg, r);
    while(msg < p + n && (*msg == ':' || *msg == ' '))
      msg++;
  }
  else {
    /* a line without a time of its own: in its place, at the previous record's time */
    msg = p;
    r->time_inferred = 1;
    r->time_us = lg->last_time;
  }
  r->message.p = msg;
  r->message.n = (size_t)(p + n - msg);
  msi_level(r);
  return 1;
}

/* A verbose log starts with its header; a quoted one anywhere in its first lines, with an MSI line,
 * an action line or a custom action's result at the start of a line. */
static const char *detect(const char *p, size_t n)
{
  static const char *const starts[] = {"=== Verbose logging started:", "=== Logging started:", "MSI (c) (", "MSI (s) (",
                                       "MSI (a) (", "Action start ", "Action ended ", "CustomAction ", NULL};
  const char *end = p + n;
  int line, i;
  if(n > 28 && (strncmp(p, "=== Verbose logging started:", 28) == 0 || strncmp(p, "=== Logging started:", 20) == 0 ||
                strncmp(p, "MSI (c) (", 9) == 0 || strncmp(p, "MSI (s) (", 9) == 0))
    return "Windows Installer log (MSI (c)/(s) lines)";
  for(line = 0; line < 40 && p < end; line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p)), *q = p;
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    while(q < p + len && (*q == ' ' || *q == '\t'))
      q++;
    for(i = 0; starts[i]; i++) {
      size_t k = strlen(starts[i]);
      if((size_t)(p + len - q) > k && strncmp(q, starts[i], k) == 0 &&
         (i < 5 || (i < 7 ? isdigit((unsigned char)q[k]) : sceplab_memcasestr(q, (size_t)(p + len - q), "returned actual error code") != NULL)))
        return "Windows Installer log, quoted (MSI, action or custom action lines)";
    }
    if(!nl)
      break;
    p = nl + 1;
  }
  return NULL;
}

const logs_format logs_fmt_msi = {.id = FMT_MSI, .name = "msi", .flags = LOGS_FORCEABLE | LOGS_DATELESS | LOGS_ZONELESS,
  .detect = detect, .line = logs_parse_msi, .prepare = prepare};
