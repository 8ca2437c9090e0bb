/* CMTrace logs (NDESPlugin.log and the other Intune connector logs), both forms.
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/formats/formats.h"

/* Value of name="..." in the attribute text. */
static sceplab_str attr_of(const char *a, size_t n, const char *name)
{
  sceplab_str s = {NULL, 0};
  char key[32];
  const char *p, *q;
  snprintf(key, sizeof(key), "%s=\"", name);
  p = sceplab_memcasestr(a, n, key);
  if(!p)
    return s;
  p += strlen(key);
  q = memchr(p, '"', n - (size_t)(p - a));
  if(!q)
    return s;
  s.p = p;
  s.n = (size_t)(q - p);
  return s;
}

/* "HH:MM:SS.fffffff+BIAS" and "MM-DD-YYYY" -> UTC. Windows bias: UTC = local + bias minutes. */
static int cm_time(sceplab_log *lg, sceplab_str t, sceplab_str d, sceplab_record *r)
{
  char tb[48], db[24];
  int h, mi, s, mo, day, y, consumed = 0, bias = 0;
  long us = 0;
  const char *sign;
  if(!t.n || !d.n || t.n >= sizeof(tb) || d.n >= sizeof(db))
    return -1;
  memcpy(tb, t.p, t.n);
  tb[t.n] = 0;
  memcpy(db, d.p, d.n);
  db[d.n] = 0;
  if(sscanf(tb, "%d:%d:%d%n", &h, &mi, &s, &consumed) != 3 || sscanf(db, "%d-%d-%d", &mo, &day, &y) != 3)
    return -1;
  if(tb[consumed] == '.')
    consumed += 1 + logs_fraction_us(tb + consumed + 1, strlen(tb + consumed + 1), &us);
  sign = tb + consumed;
  if(*sign == '+' || *sign == '-') {
    long b = strtol(sign, NULL, 10);
    if(b < -MAX_OFFSET_MIN || b > MAX_OFFSET_MIN)
      return -1; /* "+99999": not a zone */
    bias = (int)b;
    logs_time_sources(r, LOGS_TS_RECORD, LOGS_TS_RECORD);
  }
  else {
    r->zone_assumed = 1;
    logs_time_sources(r, LOGS_TS_RECORD, LOGS_TS_ASSUMED);
  }
  if(lg->bias_set) {
    bias = lg->bias;
    logs_time_sources(r, LOGS_TS_RECORD, LOGS_TS_OPTION);
  }
  r->time_us = logs_make_time(y, mo, day, h, mi, s, us);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN)
    return -1;
  r->time_us += (int64_t)bias * 60 * 1000000;
  r->utc_offset_min = -bias;
  r->time_text = t;
  return 0;
}

/* One CMTrace record, which may span lines: "<![LOG[message]LOG]!><time=... date=... component=...>". */
static int logs_parse_cmtrace(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  const char *open = n >= 7 ? sceplab_memcasestr(p, n < 64 ? n : 64, "<![LOG[") : NULL;
  const char *body, *close, *attrs;
  size_t len = 0, blen, alen;
  uint64_t first = r->line;
  if(!open) {
    /* the older form: "message $$<component><MM-dd-yyyy HH:mm:ss.fff+TTT><thread=N (0xN)>" */
    const char *dd = n > 3 ? sceplab_memcasestr(p, n, "$$<") : NULL;
    const char *c1, *c2, *t1, *t2, *sp;
    sceplab_str t, d;
    if(!dd) {
      if(n)
        logs_skip(lg, first, "not a CMTrace record");
      return 0;
    }
    c1 = dd + 3;
    c2 = memchr(c1, '>', n - (size_t)(c1 - p));
    t1 = c2 && c2 + 1 < p + n && c2[1] == '<' ? c2 + 2 : NULL;
    t2 = t1 ? memchr(t1, '>', n - (size_t)(t1 - p)) : NULL;
    sp = t1 && t2 ? memchr(t1, ' ', (size_t)(t2 - t1)) : NULL;
    if(!sp) {
      logs_skip(lg, first, "CMTrace record without <date time>");
      return 0;
    }
    d.p = t1;
    d.n = (size_t)(sp - t1);
    t.p = sp + 1;
    t.n = (size_t)(t2 - sp - 1);
    if(cm_time(lg, t, d, r) != 0) {
      logs_skip(lg, first, "unreadable CMTrace time");
      return 0;
    }
    r->time_text.p = t1;
    r->time_text.n = (size_t)(t2 - t1);
    r->component.p = c1;
    r->component.n = (size_t)(c2 - c1);
    if(t2 + 1 < p + n) {
      const char *th = sceplab_memcasestr(t2 + 1, n - (size_t)(t2 + 1 - p), "thread=");
      if(th) {
        r->thread.p = th + 7;
        r->thread.n = logs_span_until(th + 7, p + n, " >");
      }
    }
    {
      size_t mlen = (size_t)(dd - p);
      while(mlen && p[mlen - 1] == ' ')
        mlen--;
      if(logs_msg_append(lg, &len, p, mlen) != 0)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    }
    r->level = SCEPLAB_LVL_INFO;
    goto done;
  }
  body = open + 7;
  blen = n - (size_t)(body - p);
  for(;;) {
    close = sceplab_memcasestr(body, blen, "]LOG]!>");
    if(close) {
      if(logs_msg_append(lg, &len, body, (size_t)(close - body)) != 0)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
      break;
    }
    /* the message goes on: an HTML error page inside a message is real */
    if(logs_msg_append(lg, &len, body, blen) != 0 || logs_msg_append(lg, &len, "\n", 1) != 0)
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    {
      int rc = logs_next_line(lg, &p, &n, err);
      if(rc < 0)
        return -1;
      if(rc == 0) {
        logs_skip(lg, first, "CMTrace message never closed with ]LOG]!>");
        return 0;
      }
    }
    body = p;
    blen = n;
  }
  attrs = close + 7;
  alen = (size_t)(body + blen - attrs);
  r->line = first;
  if(alen > 0 && attrs[0] == '<') {
    sceplab_str t = attr_of(attrs, alen, "time"), d = attr_of(attrs, alen, "date"), ty;
    if(cm_time(lg, t, d, r) != 0) {
      logs_skip(lg, first, "unreadable time= or date= attribute");
      return 0;
    }
    r->component = attr_of(attrs, alen, "component");
    r->context = attr_of(attrs, alen, "context");
    r->thread = attr_of(attrs, alen, "thread");
    r->file_attr = attr_of(attrs, alen, "file");
    ty = attr_of(attrs, alen, "type");
    r->level = ty.n == 1 && ty.p[0] == '3' ? SCEPLAB_LVL_ERROR : ty.n == 1 && ty.p[0] == '2' ? SCEPLAB_LVL_WARNING
                                                                                             : SCEPLAB_LVL_INFO;
  }
  else {
    /* no attributes (excerpts often lose them): keep the order, borrow the previous time */
    r->time_inferred = 1;
    r->time_us = lg->last_time;
    r->level = SCEPLAB_LVL_INFO;
  }
done:
  r->message.p = lg->msg;
  r->message.n = len;
  if(r->component.n && sceplab_memcasestr(r->component.p, r->component.n, "NDES"))
    r->step = 3;
  return 1;
}

static const char *detect(const char *p, size_t n)
{
  if(sceplab_memcasestr(p, n, "<![LOG["))
    return "CMTrace log (<![LOG[...]LOG]!> records)";
  if(sceplab_memcasestr(p, n, "$$<") && sceplab_memcasestr(p, n, "><thread="))
    return "CMTrace log, older form (message $$<component><time><thread=N>)";
  return NULL;
}

const logs_format logs_fmt_cmtrace = {.id = FMT_CMTRACE, .name = "cmtrace", .flags = LOGS_FORCEABLE,
  .detect = detect, .line = logs_parse_cmtrace};
