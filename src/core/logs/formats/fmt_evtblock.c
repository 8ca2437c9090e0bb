/* Event Viewer's "Copy details as text": the form admins paste into tickets and forums. One block
 * per event, several in one file, newest first as often as not:
 *
 *   Log Name:      Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin
 *   Source:        Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider
 *   Date:          5/24/2020 3:16:04 AM
 *   Event ID:      32
 *   Task Category: None
 *   Level:         Error
 *   Keywords:
 *   User:          DESKTOP-1234567\user
 *   Computer:      DESKTOP-1234567
 *   Description:
 *   SCEP: Certificate enroll failed. Result: (The hash value is not correct.).
 *   Event Xml:
 *   <Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"> ... </Event>
 *
 * The description runs to "Event Xml:", the next block or the end. The Event Xml part, when
 * pasted, gives the exact UTC time (TimeCreated SystemTime); the Date line is local time with no
 * zone. Web pages and tickets flatten a block onto one line ("Log Name: System Source: ... Event
 * ID: 5002 ... Description: ...", or from "Event ID:" on): read as well.
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/formats/formats.h"

static const char *const labels[] = {"Log Name:", "Source:", "Date:", "Event ID:", "Task Category:", "Level:",
                                     "Opcode:", "Keywords:", "User:", "Computer:", "Description:", NULL};
enum { L_LOG, L_SOURCE, L_DATE, L_EVENT, L_TASK, L_LEVEL, L_OPCODE, L_KEYWORDS, L_USER, L_COMPUTER, L_DESC, L_COUNT };

/* The label a line starts with, or -1. */
static int label_of(const char *p, size_t n)
{
  int i;
  for(i = 0; labels[i]; i++) {
    size_t k = strlen(labels[i]);
    if(n >= k && strncasecmp(p, labels[i], k) == 0)
      return i;
  }
  return -1;
}

static sceplab_str trim(const char *p, size_t n)
{
  sceplab_str s;
  while(n && isspace((unsigned char)*p)) {
    p++;
    n--;
  }
  while(n && isspace((unsigned char)p[n - 1]))
    n--;
  s.p = p;
  s.n = n;
  return s;
}

/* A one-line block: every label found in it, each value running to the next label. */
static int flattened(const char *p, size_t n, sceplab_str *val)
{
  const char *at[L_COUNT];
  int i, j, found = 0;
  for(i = 0; i < L_COUNT; i++) {
    at[i] = sceplab_memcasestr(p, n, labels[i]);
    /* a label only where a word starts: "Event ID:" is not inside "MyEvent ID:" */
    if(at[i] && at[i] > p && !isspace((unsigned char)at[i][-1]))
      at[i] = NULL;
    found += at[i] != NULL;
  }
  if(!at[L_EVENT] || !at[L_DESC] || found < 3)
    return 0;
  for(i = 0; i < L_COUNT; i++) {
    const char *start, *stop = p + n;
    if(!at[i])
      continue;
    start = at[i] + strlen(labels[i]);
    if(i != L_DESC) /* the description runs to the end of the line: labels inside it are text */
      for(j = 0; j < L_COUNT; j++)
        if(at[j] && at[j] > at[i] && at[j] < stop)
          stop = at[j];
    val[i] = trim(start, (size_t)(stop - start));
  }
  return 1;
}

/* "5/24/2020 3:16:04 AM", "24/05/2020 15:16:04", "2020-05-24 15:16:04", "2020-05-24T15:16:04.123":
 * local time, read as UTC (the day/month order is the file's, decided once: see prepare). */
static int local_time(const logs_dateorder *o, sceplab_str d, int64_t *local_us)
{
  logs_civil c;
  if(logs_parse_local(o, d.p, d.n, &c) < 0)
    return -1;
  *local_us = logs_make_time(c.y, c.mo, c.d, c.h, c.mi, c.s, c.us);
  return *local_us == SCEPLAB_TIME_UNKNOWN ? -1 : 0;
}

/* The local Date to UTC: the zone --assume-offset gives, the file's event XML shows, or UTC. */
static int local_date(sceplab_log *lg, sceplab_str d, sceplab_record *r)
{
  if(local_time(&lg->clock.order, d, &r->time_us) != 0)
    return -1;
  logs_assume_zone(lg, r);
  return 0;
}

static sceplab_level level_word(sceplab_str l)
{
  if(l.n >= 4 && strncasecmp(l.p, "Crit", 4) == 0) return SCEPLAB_LVL_CRITICAL;
  if(l.n >= 5 && strncasecmp(l.p, "Error", 5) == 0) return SCEPLAB_LVL_ERROR;
  if(l.n >= 4 && strncasecmp(l.p, "Warn", 4) == 0) return SCEPLAB_LVL_WARNING;
  if(l.n >= 4 && strncasecmp(l.p, "Verb", 4) == 0) return SCEPLAB_LVL_VERBOSE;
  return SCEPLAB_LVL_INFO;
}

/* Fills the record from the fields found (views into stable memory). */
static int finish(sceplab_log *lg, sceplab_record *r, sceplab_str *val, const char *system_time, uint64_t line)
{
  char tmp[512];
  r->line = line;
  if(system_time && logs_iso_time(system_time, r) == 0) {
    r->time_text = logs_arena_str(lg, system_time);
    logs_time_sources(r, LOGS_TS_RECORD, r->zone_assumed ? LOGS_TS_ASSUMED : LOGS_TS_RECORD);
  }
  else if(val[L_DATE].n && local_date(lg, val[L_DATE], r) == 0) {
    if(logs_copy_view(val[L_DATE], tmp, sizeof(tmp)))
      r->time_text = logs_arena_str(lg, tmp);
  }
  else {
    logs_skip(lg, line, val[L_DATE].n ? "unreadable Date" : "event block without Date or Event Xml");
    return 0;
  }
  if(logs_copy_view(val[L_SOURCE], tmp, sizeof(tmp)))
    r->component = logs_arena_str(lg, tmp);
  else if(r->message.n > 5 && strncmp(r->message.p, "SCEP:", 5) == 0)
    /* a flattened copy without its Source line: "SCEP: ..." is the device's enrollment provider */
    r->component = logs_arena_str(lg, "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider");
  if(logs_copy_view(val[L_COMPUTER], tmp, sizeof(tmp)))
    r->host = logs_arena_str(lg, tmp);
  if(logs_copy_view(val[L_LOG], tmp, sizeof(tmp)))
    r->context = logs_arena_str(lg, tmp);
  if(logs_copy_view(val[L_EVENT], tmp, sizeof(tmp)))
    r->event_id = strtol(tmp, NULL, 10);
  r->level = level_word(val[L_LEVEL]);
  logs_event_step(r);
  return 1;
}

/* The SystemTime of pasted event XML, into out. */
static int system_time(const char *xml, size_t n, char *out, size_t outlen)
{
  const char *p = sceplab_memcasestr(xml, n, "SystemTime=");
  size_t k = 0;
  if(!p || (size_t)(p - xml) + 12 >= n)
    return 0;
  p += 11;
  if(*p == '"' || *p == '\'')
    p++;
  while((size_t)(p - xml) + k < n && p[k] != '"' && p[k] != '\'' && k + 1 < outlen)
    k++;
  memcpy(out, p, k);
  out[k] = '\0';
  return k > 0;
}

/* One block: 1 a record, 2 a block skipped (and counted), 0 the end, -1 an error. */
static int read_block(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
{
  sceplab_str val[L_COUNT];
  char sys[64] = "";
  const char *p;
  size_t n, len = 0;
  uint64_t first = 0;
  int rc, lab, in_desc = 0, in_xml = 0, started = 0;
  memset(val, 0, sizeof(val));
  lg->arena_used = 0;
  for(;;) {
    rc = logs_next_line(lg, &p, &n, err);
    if(rc < 0)
      return -1;
    if(rc == 0)
      break;
    if(lg->line_cut) {
      logs_skip(lg, lg->line - 1, "line longer than 1 MiB");
      continue;
    }
    if(in_xml) {
      /* the pasted event XML: only its SystemTime is needed */
      if(!sys[0])
        system_time(p, n, sys, sizeof(sys));
      if(sceplab_memcasestr(p, n, "</Event>"))
        in_xml = 0;
      continue;
    }
    lab = label_of(p, n);
    if(started && lab == L_LOG) { /* the next block */
      logs_unread_line(lg, p);
      break;
    }
    if(!started) {
      sceplab_str flat[L_COUNT];
      memset(flat, 0, sizeof(flat));
      if(flattened(p, n, flat)) { /* "Log Name: System Source: ... Description: ..." too */
        char tmp[512];
        int i;
        /* one whole event on this line: its strings leave the line buffer */
        for(i = 0; i < L_COUNT; i++)
          if(i != L_DESC && logs_copy_view(flat[i], tmp, sizeof(tmp)))
            val[i] = logs_arena_str(lg, tmp);
        if(logs_msg_append(lg, &len, flat[L_DESC].p, flat[L_DESC].n) != 0)
          return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
        r->message.p = lg->msg;
        r->message.n = len;
        return finish(lg, r, val, NULL, lg->line - 1) ? 1 : 2;
      }
      if(lab < 0) {
        if(trim(p, n).n)
          logs_skip(lg, lg->line - 1, "text outside an event block");
        continue;
      }
      started = 1;
      first = lg->line - 1;
    }
    if(in_desc) {
      if(trim(p, n).n == 9 && strncasecmp(trim(p, n).p, "Event Xml", 9) == 0)
        continue;
      if(n >= 10 && strncasecmp(p, "Event Xml:", 10) == 0) {
        in_desc = 0;
        in_xml = 1;
        continue;
      }
      if(len && logs_msg_append(lg, &len, "\n", 1) != 0)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
      if(logs_msg_append(lg, &len, p, n) != 0)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
      continue;
    }
    if(lab == L_DESC) {
      sceplab_str rest = trim(p + strlen(labels[L_DESC]), n - strlen(labels[L_DESC]));
      in_desc = 1;
      if(rest.n && logs_msg_append(lg, &len, rest.p, rest.n) != 0)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
      continue;
    }
    if(lab >= 0) {
      char tmp[512];
      sceplab_str v = trim(p + strlen(labels[lab]), n - strlen(labels[lab]));
      if(logs_copy_view(v, tmp, sizeof(tmp)))
        val[lab] = logs_arena_str(lg, tmp);
    }
  }
  if(!started)
    return 0;
  /* trailing blank lines belong to no description */
  while(len && (lg->msg[len - 1] == '\n' || lg->msg[len - 1] == ' ' || lg->msg[len - 1] == '\r'))
    len--;
  r->message.p = len ? lg->msg : NULL;
  r->message.n = len;
  return finish(lg, r, val, sys[0] ? sys : NULL, first) ? 1 : 2;
}

#define PREPARE_LOOKAHEAD (16u << 20)

/* The values of the "Date:" labels in text (at a line's start, or inside a flattened block), for
 * each: fn(lg, value, the text after it, line). */
static void each_date(sceplab_log *lg, const char *p, const char *end, uint64_t line,
                      void (*fn)(sceplab_log *lg, sceplab_str v, const char *rest, uint64_t line))
{
  while(p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end;
    const char *at = sceplab_memcasestr(p, (size_t)(eol - p), "Date:");
    if(at && (at == p || isspace((unsigned char)at[-1]))) {
      sceplab_str v = trim(at + 5, (size_t)(eol - at - 5));
      fn(lg, v, eol, line);
    }
    line++;
    p = nl ? nl + 1 : end;
  }
}

static void see_order(sceplab_log *lg, sceplab_str v, const char *rest, uint64_t line)
{
  (void)rest;
  logs_order_see(&lg->clock.order, v.p, v.n, line);
}

/* A block pasted with its event XML shows the machine's zone: its Date is local time, its
 * SystemTime UTC. Every such block's difference is learnt, so a block pasted without XML takes the
 * offset of the nearest one (a file across a daylight saving change has two), unless
 * --assume-offset says. */
static void see_zone(sceplab_log *lg, sceplab_str v, const char *rest, uint64_t line)
{
  const char *end = lg->buf + lg->end, *next, *st;
  char sys[64];
  sceplab_record utc;
  int64_t local;
  (void)line;
  next = sceplab_memcasestr(rest, (size_t)(end - rest), "\nLog Name:");
  st = sceplab_memcasestr(rest, (size_t)((next ? next : end) - rest), "SystemTime=");
  memset(&utc, 0, sizeof(utc));
  if(!st || !system_time(st, (size_t)(end - st), sys, sizeof(sys)) || local_time(&lg->clock.order, v, &local) != 0 ||
     logs_iso_time(sys, &utc) != 0 || utc.zone_assumed)
    return;
  {
    /* whole minutes; zones are whole quarter hours and Date has no fraction */
    int64_t diff = (local - utc.time_us) / 60000000;
    if(diff >= -MAX_OFFSET_MIN && diff <= MAX_OFFSET_MIN)
      logs_learn_offset(lg, local / 1000000, (int)((diff >= 0 ? diff + 7 : diff - 7) / 15 * 15));
  }
}

/* Before the first block: the day/month order of the file's Dates, then the zone its event XML
 * shows, from the text read ahead (pasted copies are small; a large file, its first 16 MiB). */
static void prepare(sceplab_log *lg)
{
  sceplab_error e;
  logs_lookahead(lg, PREPARE_LOOKAHEAD, &e);
  if(!lg->buf)
    return;
  each_date(lg, lg->buf + lg->start, lg->buf + lg->end, lg->line, see_order);
  logs_order_decide(&lg->clock.order, lg->clock.order_note, sizeof(lg->clock.order_note));
  each_date(lg, lg->buf + lg->start, lg->buf + lg->end, lg->line, see_zone);
}

static int parse_block(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
{
  int rc;
  while((rc = read_block(lg, r, err)) == 2)
    ; /* skipped and counted: on to the next block */
  return rc;
}

/* A "Log Name:" line followed by the block's other labels, or a flattened block, within the first
 * lines; a copy may start with the tail of a description. */
static const char *detect(const char *p, size_t n)
{
  const char *end = p + n;
  int i, seen_log = 0, labels_seen = 0;
  for(i = 0; i < 60 && p < end; i++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    int lab = label_of(p, len);
    sceplab_str flat[L_COUNT];
    if(lab == L_LOG)
      seen_log = 1;
    else if(seen_log && (lab == L_EVENT || lab == L_SOURCE || lab == L_LEVEL || lab == L_DESC))
      labels_seen++;
    if(seen_log && labels_seen >= 3)
      return "Event Viewer event details copied as text (Log Name:, Source:, Event ID:, Description:)";
    memset(flat, 0, sizeof(flat));
    if(flattened(p, len, flat))
      return "Event Viewer event details copied as text, flattened onto one line (Event ID: ... Description: ...)";
    if(!nl)
      break;
    p = nl + 1;
  }
  return NULL;
}

const logs_format logs_fmt_eventblock = {.id = FMT_EVTBLOCK, .name = "eventblock", .flags = LOGS_FORCEABLE | LOGS_UNORDERED | LOGS_ZONELESS,
  .detect = detect, .record = parse_block, .prepare = prepare};
