/* Records written out in C: sceplab's JSONL (what timeline --jsonl prints and reads back), the text
 * line of timeline, and Elastic Common Schema JSON (timeline --format ecs) for the engines big teams
 * run (Elasticsearch, OpenSearch, Splunk). A record never becomes a Lua table on this path, so a
 * 2 GB IIS log exports at the parser's speed, not at the speed of building tables.
 * Part of the log reader's core (src/core/logs/core/): see logs_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logs/core/logs_int.h"

/* ---- an output buffer, flushed to a FILE in large writes ---------------------------------------- */

typedef struct obuf {
  char *p;
  size_t n, cap;
  FILE *f;
  int failed;
} obuf;

#define OBUF_FLUSH (256u * 1024u)

static void ob_flush(obuf *b)
{
  if(b->n && !b->failed && fwrite(b->p, 1, b->n, b->f) != b->n)
    b->failed = 1;
  b->n = 0;
}

static char *ob_room(obuf *b, size_t need)
{
  if(b->n + need > b->cap) {
    size_t cap = b->cap ? b->cap : OBUF_FLUSH * 2;
    char *np;
    while(cap < b->n + need)
      cap *= 2;
    if(!(np = realloc(b->p, cap))) {
      b->failed = 1;
      return NULL;
    }
    b->p = np;
    b->cap = cap;
  }
  return b->p + b->n;
}

static void ob_put(obuf *b, const char *s, size_t n)
{
  char *o = ob_room(b, n);
  if(!o)
    return;
  memcpy(o, s, n);
  b->n += n;
}

#define OB_LIT(b, s) ob_put(b, s, sizeof(s) - 1)

static void ob_int(obuf *b, long long v)
{
  char tmp[24], *e = tmp + sizeof(tmp), *q = e;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    *--q = (char)('0' + u % 10);
    u /= 10;
  } while(u);
  if(v < 0)
    *--q = '-';
  ob_put(b, q, (size_t)(e - q));
}

/* Bytes a JSON string can carry as they are: printable ASCII but the quote and the backslash. */
static unsigned char plain[256];

static void init_plain(void)
{
  int c;
  for(c = 0x20; c < 0x80; c++)
    plain[c] = c != '"' && c != '\\';
}

/* A JSON string: control characters escaped, invalid UTF-8 replaced with U+FFFD (JSON is UTF-8,
 * and a search engine refuses a document that is not). Room for the worst case (every byte a
 * six-byte escape) is made once, then bytes are written directly. */
static void ob_json_str(obuf *b, const char *s, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  char *o = ob_room(b, n * 6 + 2), *start = o;
  if(!o)
    return;
  *o++ = '"';
  while(i < n) {
    unsigned char c = u[i];
    if(plain[c]) {
      *o++ = (char)c;
      i++;
    }
    else if(c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
      i++;
    }
    else if(c < 0x20 || c == 0x7F) {
      *o++ = '\\';
      switch(c) {
      case '\n': *o++ = 'n'; break;
      case '\r': *o++ = 'r'; break;
      case '\t': *o++ = 't'; break;
      case '\b': *o++ = 'b'; break;
      case '\f': *o++ = 'f'; break;
      default: *o++ = 'u'; *o++ = '0'; *o++ = '0'; *o++ = hex[c >> 4]; *o++ = hex[c & 15]; break;
      }
      i++;
    }
    else {
      /* a multibyte sequence: copied when well formed */
      size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0, k;
      int ok = len > 0 && i + len <= n;
      for(k = 1; ok && k < len; k++)
        ok = (u[i + k] & 0xC0) == 0x80;
      if(ok && len == 3) {
        unsigned cp = (c & 0x0Fu) << 12 | (u[i + 1] & 0x3Fu) << 6 | (u[i + 2] & 0x3Fu);
        ok = cp >= 0x800 && (cp < 0xD800 || cp >= 0xE000);
      }
      else if(ok && len == 4) {
        unsigned cp = (c & 0x07u) << 18 | (u[i + 1] & 0x3Fu) << 12 | (u[i + 2] & 0x3Fu) << 6 | (u[i + 3] & 0x3Fu);
        ok = cp >= 0x10000 && cp <= 0x10FFFF;
      }
      if(ok) {
        memcpy(o, s + i, len);
        o += len;
        i += len;
      }
      else {
        memcpy(o, "\xEF\xBF\xBD", 3);
        o += 3;
        i++;
      }
    }
  }
  *o++ = '"';
  b->n += (size_t)(o - start);
}

/* ---- times -------------------------------------------------------------------------------------- */

/* "2020-05-24T10:16:04Z" or with ".123456" when the record has a fraction; the second's text is
 * cached, as records come many to a second. */
typedef struct tcache { int64_t sec; char ymdhms[24]; } tcache;

static void two(char *o, int v)
{
  o[0] = (char)('0' + v / 10 % 10);
  o[1] = (char)('0' + v % 10);
}

static int64_t floor_div(int64_t a, int64_t b);

/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm, as time.c's inverse): gmtime
 * takes a lock and looks at the zone, per record. */
static void civil(int64_t days, int *y, int *m, int *d)
{
  int64_t z = days + 719468, era = floor_div(z, 146097), doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (*m <= 2));
}

static const char *ymdhms(tcache *c, int64_t sec, char sep)
{
  if(c->sec != sec || c->ymdhms[10] != sep) {
    int64_t days = floor_div(sec, 86400), rem = sec - days * 86400;
    int y, mo, d;
    civil(days, &y, &mo, &d);
    y %= 10000;
    two(c->ymdhms, y / 100);
    two(c->ymdhms + 2, y % 100);
    c->ymdhms[4] = '-';
    two(c->ymdhms + 5, mo);
    c->ymdhms[7] = '-';
    two(c->ymdhms + 8, d);
    c->ymdhms[10] = sep;
    two(c->ymdhms + 11, (int)(rem / 3600));
    c->ymdhms[13] = ':';
    two(c->ymdhms + 14, (int)(rem / 60 % 60));
    c->ymdhms[16] = ':';
    two(c->ymdhms + 17, (int)(rem % 60));
    c->ymdhms[19] = '\0';
    c->sec = sec;
  }
  return c->ymdhms;
}

static int64_t floor_div(int64_t a, int64_t b)
{
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static void ob_iso(obuf *b, tcache *c, int64_t us, int ms_only)
{
  int64_t sec = floor_div(us, 1000000);
  long frac = (long)(us - sec * 1000000);
  ob_put(b, ymdhms(c, sec, 'T'), 19);
  if(ms_only) {
    char f[5] = {'.', (char)('0' + frac / 100000), (char)('0' + frac / 10000 % 10), (char)('0' + frac / 1000 % 10), 0};
    ob_put(b, f, 4);
  }
  else if(frac) {
    char f[7];
    int i;
    f[0] = '.';
    for(i = 6; i >= 1; i--) {
      f[i] = (char)('0' + frac % 10);
      frac /= 10;
    }
    ob_put(b, f, 7);
  }
  OB_LIT(b, "Z");
}

/* ---- the formats -------------------------------------------------------------------------------- */

struct sceplab_writer {
  obuf b;
  sceplab_write_format fmt;
  int tz_local;          /* text: show each time in the machine's zone */
  int tz_offset_s;       /* text: else this offset */
  char tz_label[16];     /* text: "Z" or "+05:30" */
  int colour;            /* text: ANSI colours on the level and the evidence */
  tcache tc;
  char scratch[1024];
};

/* One "key":value pair in sorted-key JSONL; first says whether a comma goes before. */
#define JKEY(b, first, k) do { if(!(first)) OB_LIT(b, ","); OB_LIT(b, "\"" k "\":"); first = 0; } while(0)
/* A pair when the value is there: a view (S), a C string (C), a number >= 0 (I), a flag (T), a
 * positive number (P). They use the function's own b and first. */
#define S(k, v) if((v).n) { JKEY(b, first, k); ob_json_str(b, (v).p, (v).n); }
#define C(k, v) if((v) && *(v)) { JKEY(b, first, k); ob_json_str(b, (v), strlen(v)); }
#define I(k, v) if((v) >= 0) { JKEY(b, first, k); ob_int(b, (long long)(v)); }
#define P(k, v) if((v) > 0) { JKEY(b, first, k); ob_int(b, (long long)(v)); }
#define T(k, v) if(v) { JKEY(b, first, k); OB_LIT(b, "true"); }
/* An ECS object of one string: ,"host":{"name":"..."} */
#define OBJ1(b, head, s, n) do { OB_LIT(b, head); ob_json_str(b, s, n); OB_LIT(b, "}"); } while(0)

static void jsonl(sceplab_writer *w, const sceplab_record *r, const char *file)
{
  obuf *b = &w->b;
  int first = 1;
  sceplab_str fv;
  fv.p = r->origin.n ? r->origin.p : file;
  fv.n = r->origin.n ? r->origin.n : strlen(file);
  /* keys in sorted order, as sceplab.json writes them and fmt_jsonl.c reads them back */
  OB_LIT(b, "{");
  S("client_ip", r->client_ip);
  S("component", r->component);
  S("context", r->context);
  T("date_assumed", r->date_assumed);
  C("date_source", r->date_source);
  C("device_id", r->device_id);
  I("event_id", r->event_id);
  S("file", fv);
  S("host", r->host);
  C("hresult", r->hresult);
  C("hresult_name", r->hresult_name);
  I("http_status", r->http_status);
  I("http_substatus", r->http_substatus);
  JKEY(b, first, "level");
  ob_json_str(b, sceplab_level_name(r->level), strlen(sceplab_level_name(r->level)));
  JKEY(b, first, "line");
  ob_int(b, (long long)r->line);
  S("message", r->message);
  S("method", r->method);
  JKEY(b, first, "offset");
  ob_int(b, (long long)r->offset);
  C("offset_source", r->offset_source);
  S("platform", r->platform);
  C("request_id", r->request_id);
  P("scep_message_length", r->scep_message_length);
  S("scep_operation", r->scep_operation);
  C("source", r->source);
  P("step", r->step);
  S("thread", r->thread);
  C("thumbprint", r->thumbprint);
  if(r->time_us != SCEPLAB_TIME_UNKNOWN) {
    JKEY(b, first, "time");
    OB_LIT(b, "\"");
    ob_iso(b, &w->tc, r->time_us, 0);
    OB_LIT(b, "\"");
  }
  T("time_inferred", r->time_inferred);
  I("time_taken_ms", r->time_taken_ms);
  S("time_text", r->time_text);
  C("transaction_id", r->transaction_id);
  S("url", r->url);
  S("user_agent", r->user_agent);
  C("user_id", r->user_id);
  if(r->time_us != SCEPLAB_TIME_UNKNOWN) {
    JKEY(b, first, "utc_offset");
    ob_int(b, r->utc_offset_min);
  }
  I("win32_status", r->win32_status);
  T("zone_assumed", r->zone_assumed);
  OB_LIT(b, "}\n");
}

/* Elastic Common Schema 8: the standard fields by their ECS names, the rest under "sceplab". */
static void ecs(sceplab_writer *w, const sceplab_record *r, const char *file)
{
  obuf *b = &w->b;
  int first;
  const char *fp = r->origin.n ? NULL : file;
  OB_LIT(b, "{");
  if(r->time_us != SCEPLAB_TIME_UNKNOWN) {
    OB_LIT(b, "\"@timestamp\":\"");
    ob_iso(b, &w->tc, r->time_us, 0);
    OB_LIT(b, "\",");
  }
  OB_LIT(b, "\"ecs\":{\"version\":\"8.11.0\"},\"event\":{\"kind\":\"event\",\"module\":\"sceplab\",\"dataset\":\"sceplab.");
  ob_put(b, r->source, strlen(r->source));
  OB_LIT(b, "\"");
  if(r->event_id >= 0) {
    OB_LIT(b, ",\"code\":\"");
    ob_int(b, r->event_id);
    OB_LIT(b, "\"");
  }
  if(r->component.n) {
    OB_LIT(b, ",\"provider\":");
    ob_json_str(b, r->component.p, r->component.n);
  }
  if(r->time_taken_ms >= 0) {
    OB_LIT(b, ",\"duration\":");
    ob_int(b, (long long)r->time_taken_ms * 1000000LL);
  }
  if(r->level >= SCEPLAB_LVL_ERROR)
    OB_LIT(b, ",\"outcome\":\"failure\"");
  OB_LIT(b, "},\"log\":{\"level\":\"");
  ob_put(b, sceplab_level_name(r->level), strlen(sceplab_level_name(r->level)));
  OB_LIT(b, "\",\"file\":{\"path\":");
  if(fp)
    ob_json_str(b, fp, strlen(fp));
  else
    ob_json_str(b, r->origin.p, r->origin.n);
  OB_LIT(b, "},\"offset\":");
  ob_int(b, (long long)r->offset);
  OB_LIT(b, "}");
  if(r->message.n) {
    OB_LIT(b, ",\"message\":");
    ob_json_str(b, r->message.p, r->message.n);
  }
  if(r->host.n)
    OBJ1(b, ",\"host\":{\"name\":", r->host.p, r->host.n);
  if(r->method.n || r->http_status >= 0) {
    OB_LIT(b, ",\"http\":{");
    if(r->method.n) {
      OB_LIT(b, "\"request\":{\"method\":");
      ob_json_str(b, r->method.p, r->method.n);
      OB_LIT(b, "}");
    }
    if(r->http_status >= 0) {
      if(r->method.n)
        OB_LIT(b, ",");
      OB_LIT(b, "\"response\":{\"status_code\":");
      ob_int(b, r->http_status);
      OB_LIT(b, "}");
    }
    OB_LIT(b, "}");
  }
  if(r->url.n) {
    /* IIS gives the path and the query apart; devices write whole URLs */
    int whole = r->url.n > 7 && (strncmp(r->url.p, "http://", 7) == 0 || strncmp(r->url.p, "https://", 8) == 0);
    OB_LIT(b, ",\"url\":{");
    if(whole) {
      OB_LIT(b, "\"original\":");
      ob_json_str(b, r->url.p, r->url.n);
    }
    else {
      OB_LIT(b, "\"path\":");
      ob_json_str(b, r->url.p, r->url.n);
      if(r->query.n) {
        OB_LIT(b, ",\"query\":");
        ob_json_str(b, r->query.p, r->query.n);
      }
    }
    OB_LIT(b, "}");
  }
  if(r->client_ip.n)
    OBJ1(b, ",\"source\":{\"ip\":", r->client_ip.p, r->client_ip.n);
  if(r->user_agent.n)
    OBJ1(b, ",\"user_agent\":{\"original\":", r->user_agent.p, r->user_agent.n);
  if(r->hresult[0]) {
    OB_LIT(b, ",\"error\":{\"code\":");
    ob_json_str(b, r->hresult, strlen(r->hresult));
    if(r->hresult_name) {
      OB_LIT(b, ",\"type\":");
      ob_json_str(b, r->hresult_name, strlen(r->hresult_name));
    }
    OB_LIT(b, "}");
  }
  /* what ECS has no field for */
  OB_LIT(b, ",\"sceplab\":{\"source\":\"");
  ob_put(b, r->source, strlen(r->source));
  OB_LIT(b, "\",\"line\":");
  ob_int(b, (long long)r->line);
  first = 0;
  P("step", r->step);
  C("request_id", r->request_id);
  C("transaction_id", r->transaction_id);
  C("device_id", r->device_id);
  C("user_id", r->user_id);
  C("thumbprint", r->thumbprint);
  S("scep_operation", r->scep_operation);
  S("platform", r->platform);
  S("thread", r->thread);
  S("context", r->context);
  S("time_text", r->time_text);
  I("http_substatus", r->http_substatus);
  I("win32_status", r->win32_status);
  if(r->time_us != SCEPLAB_TIME_UNKNOWN) {
    JKEY(b, first, "utc_offset");
    ob_int(b, r->utc_offset_min);
  }
  T("zone_assumed", r->zone_assumed);
  T("time_inferred", r->time_inferred);
  T("date_assumed", r->date_assumed);
  C("date_source", r->date_source);
  C("offset_source", r->offset_source);
  OB_LIT(b, "}}\n");
}

/* The SGR sequence of a level on a terminal (probe's and diagnose's colours): warnings yellow,
 * errors red, critical bold red; NULL leaves the level plain. */
static const char *level_colour(sceplab_level l)
{
  switch(l) {
  case SCEPLAB_LVL_WARNING:
    return "\033[33m";
  case SCEPLAB_LVL_ERROR:
    return "\033[31m";
  case SCEPLAB_LVL_CRITICAL:
    return "\033[1;31m";
  default:
    return NULL;
  }
}

/* timeline's text line: "2020-05-24 10:16:04.392Z iis      step 2 error   message  [file:line]".
 * The message on one line (its line breaks as " | "), cut at 160 bytes, and message and file name
 * with control characters escaped (codec.c's sceplab_visible). */
static void text(sceplab_writer *w, const sceplab_record *r, const char *file)
{
  obuf *b = &w->b;
  char *m = w->scratch;
  size_t mn = 0, i, used;
  const char *base;
  if(r->time_us == SCEPLAB_TIME_UNKNOWN)
    OB_LIT(b, "(no time)                ");
  else {
    int64_t sec = floor_div(r->time_us, 1000000), shown;
    long ms = (long)((r->time_us - sec * 1000000) / 1000);
    char label[16], f[5];
    int off = w->tz_offset_s;
    if(w->tz_local) {
      time_t t = (time_t)sec;
      struct tm tm;
      localtime_r(&t, &tm);
      off = (int)tm.tm_gmtoff;
      snprintf(label, sizeof(label), "%c%02d%02d", off < 0 ? '-' : '+', abs(off) / 3600, abs(off) / 60 % 60);
    }
    else
      snprintf(label, sizeof(label), "%s", w->tz_label);
    shown = sec + off;
    ob_put(b, ymdhms(&w->tc, shown, ' '), 19);
    f[0] = '.';
    f[1] = (char)('0' + ms / 100);
    f[2] = (char)('0' + ms / 10 % 10);
    f[3] = (char)('0' + ms % 10);
    ob_put(b, f, 4);
    ob_put(b, label, strlen(label));
    OB_LIT(b, " ");
    if(r->time_inferred)
      b->p[b->n - 1] = '~';
  }
  OB_LIT(b, " ");
  {
    size_t sn = strlen(r->source);
    ob_put(b, r->source, sn);
    for(; sn < 8; sn++)
      OB_LIT(b, " ");
  }
  OB_LIT(b, " ");
  if(r->step) {
    OB_LIT(b, "step ");
    ob_int(b, r->step);
  }
  else
    OB_LIT(b, "      ");
  OB_LIT(b, " ");
  {
    const char *lv = sceplab_level_name(r->level);
    const char *on = w->colour ? level_colour(r->level) : NULL;
    size_t ln = strlen(lv);
    if(on)
      ob_put(b, on, strlen(on));
    ob_put(b, lv, ln);
    if(on)
      OB_LIT(b, "\033[0m");
    for(; ln < 7; ln++)
      OB_LIT(b, " ");
  }
  OB_LIT(b, " ");
  /* the message on one line, cut */
  for(i = 0; i < r->message.n && mn < 200; i++) {
    char c = r->message.p[i];
    if(c == '\r' && i + 1 < r->message.n && r->message.p[i + 1] == '\n')
      continue;
    if(c == '\n') {
      memcpy(m + mn, " | ", 3);
      mn += 3;
    }
    else
      m[mn++] = c;
  }
  if(mn > 160 || i < r->message.n) {
    if(mn > 157)
      mn = 157;
    memcpy(m + mn, "...", 3);
    mn += 3;
  }
  {
    char *o = ob_room(b, mn * 6 + 8);
    if(o)
      b->n += sceplab_visible(m, mn, o, mn * 6 + 8, &used);
  }
  OB_LIT(b, "  ");
  if(w->colour)
    OB_LIT(b, "\033[2m");
  OB_LIT(b, "[");
  base = r->origin.n ? NULL : strrchr(file, '/');
  if(r->origin.n) {
    const char *p = r->origin.p, *e = p + r->origin.n, *s = p;
    for(; p < e; p++)
      if(*p == '/')
        s = p + 1;
    base = s;
    mn = (size_t)(e - s);
  }
  else {
    base = base ? base + 1 : file;
    mn = strlen(base);
  }
  {
    char *o = ob_room(b, mn * 6 + 8);
    if(o)
      b->n += sceplab_visible(base, mn, o, mn * 6 + 8, &used);
  }
  OB_LIT(b, ":");
  ob_int(b, (long long)r->line);
  OB_LIT(b, "]");
  if(w->colour)
    OB_LIT(b, "\033[0m");
  OB_LIT(b, "\n");
}

void sceplab_writer_colour(sceplab_writer *w, int on)
{
  w->colour = on != 0;
}

sceplab_writer *sceplab_writer_new(FILE *out, sceplab_write_format fmt, const char *tz, sceplab_error *err)
{
  sceplab_writer *w = calloc(1, sizeof(*w));
  if(!plain['a'])
    init_plain();
  if(!w) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  w->b.f = out;
  w->fmt = fmt;
  w->tc.sec = INT64_MIN;
  snprintf(w->tz_label, sizeof(w->tz_label), "Z");
  if(tz && strcmp(tz, "local") == 0)
    w->tz_local = 1;
  else if(tz && strcmp(tz, "UTC") != 0 && strcmp(tz, "Z") != 0) {
    int min, a;
    /* "+05:30" and "+0530" alike (never five hours) */
    if(tz[0] == 'Z' || logs_parse_offset(tz, strlen(tz), &min) != (int)strlen(tz)) {
      free(w);
      sceplab_err_set(err, SCEPLAB_E_USAGE, "zone '%.20s': expected UTC, local or +HH:MM within 18:00 of UTC", tz);
      return NULL;
    }
    w->tz_offset_s = min * 60;
    a = min < 0 ? -min : min;
    snprintf(w->tz_label, sizeof(w->tz_label), "%c%02d:%02d", min < 0 ? '-' : '+', a / 60, a % 60);
  }
  return w;
}

int sceplab_writer_put(sceplab_writer *w, const sceplab_record *r, const char *file)
{
  if(w->fmt == SCEPLAB_WRITE_JSONL)
    jsonl(w, r, file);
  else if(w->fmt == SCEPLAB_WRITE_ECS)
    ecs(w, r, file);
  else
    text(w, r, file);
  if(w->b.n >= OBUF_FLUSH)
    ob_flush(&w->b);
  return w->b.failed ? -1 : 0;
}

int sceplab_writer_close(sceplab_writer *w)
{
  int failed;
  if(!w)
    return 0;
  ob_flush(&w->b);
  failed = w->b.failed || fflush(w->b.f) != 0;
  free(w->b.p);
  free(w);
  return failed ? -1 : 0;
}

size_t logs_one_line(const char *in, char *out)
{
  size_t n = 0;
  for(; *in; in++)
    out[n++] = *in == '\r' || *in == '\n' ? ' ' : *in;
  out[n] = '\0';
  return n;
}
