/* sceplab's own JSONL (timeline --jsonl) read back: one flat JSON object per line, its fields
 * mapped back onto the record, so an exported timeline is diagnosed and filtered exactly as the
 * logs it came from (the same C filter), and names the file each record first came from.
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logs/formats/formats.h"

/* Unescapes the JSON string whose body starts at s (after the quote), in place: returns its length
 * and sets *end after the closing quote, or returns -1 when it is not a valid string. */
static long json_string(char *s, const char *limit, char **end)
{
  char *o = s, *p = s;
  while(p < limit && *p != '"') {
    if((unsigned char)*p < 0x20)
      return -1;
    if(*p != '\\') {
      *o++ = *p++;
      continue;
    }
    if(++p >= limit)
      return -1;
    switch(*p) {
    case '"': case '\\': case '/': *o++ = *p++; break;
    case 'b': *o++ = '\b'; p++; break;
    case 'f': *o++ = '\f'; p++; break;
    case 'n': *o++ = '\n'; p++; break;
    case 'r': *o++ = '\r'; p++; break;
    case 't': *o++ = '\t'; p++; break;
    case 'u': {
      unsigned cp = 0, lo = 0;
      if(limit - p < 5 || sscanf(p + 1, "%4x", &cp) != 1)
        return -1;
      p += 5;
      if(cp >= 0xD800 && cp < 0xDC00 && limit - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
         sscanf(p + 2, "%4x", &lo) == 1 && lo >= 0xDC00 && lo < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
      }
      else if(cp >= 0xD800 && cp < 0xE000)
        cp = 0xFFFD;
      /* never longer than the escape it replaces: \uXXXX is 6 bytes, UTF-8 at most 4 */
      if(cp < 0x80)
        *o++ = (char)cp;
      else if(cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 63));
      }
      else if(cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | ((cp >> 6) & 63));
        *o++ = (char)(0x80 | (cp & 63));
      }
      else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | ((cp >> 12) & 63));
        *o++ = (char)(0x80 | ((cp >> 6) & 63));
        *o++ = (char)(0x80 | (cp & 63));
      }
      break;
    }
    default: return -1;
    }
  }
  if(p >= limit)
    return -1;
  *end = p + 1;
  return (long)(o - s);
}

/* A format's name as the table spells it (a static string), from the table the core gave lg. */
static const char *static_source(const sceplab_log *lg, const char *s, size_t n)
{
  size_t i;
  for(i = 0; i < lg->nformats; i++)
    if(strlen(lg->formats[i]->name) == n && memcmp(lg->formats[i]->name, s, n) == 0)
      return lg->formats[i]->name;
  return "jsonl";
}

static sceplab_level level_of(const char *s, size_t n)
{
  int l;
  for(l = SCEPLAB_LVL_VERBOSE; l <= SCEPLAB_LVL_CRITICAL; l++) {
    const char *name = sceplab_level_name((sceplab_level)l);
    if(strlen(name) == n && memcmp(name, s, n) == 0)
      return (sceplab_level)l;
  }
  return SCEPLAB_LVL_UNKNOWN;
}

static void set_array(char *dst, size_t size, const char *s, size_t n)
{
  snprintf(dst, size, "%.*s", (int)(n < size ? n : size - 1), s);
}

/* One field of the object onto the record. */
static void field(const sceplab_log *lg, sceplab_record *r, const char *k, size_t kn, char *s, size_t n, int is_string,
                  int *has_time)
{
#define KEY(name) (kn == sizeof(name) - 1 && memcmp(k, name, kn) == 0)
  sceplab_str v = {s, n};
  long long num = is_string ? 0 : strtoll(s, NULL, 10);
  if(KEY("time") && is_string) {
    char t[64];
    set_array(t, sizeof(t), s, n);
    *has_time = logs_iso_time(t, r) == 0;
  }
  else if(KEY("utc_offset")) r->utc_offset_min = (int)num;
  else if(KEY("source")) r->source = static_source(lg, s, n);
  else if(KEY("file")) r->origin = v;
  else if(KEY("line")) r->line = (uint64_t)num;
  else if(KEY("offset")) r->offset = (uint64_t)num;
  else if(KEY("level")) r->level = level_of(s, n);
  else if(KEY("step")) r->step = (int)num;
  else if(KEY("message")) r->message = v;
  else if(KEY("time_text")) r->time_text = v;
  else if(KEY("host")) r->host = v;
  else if(KEY("component")) r->component = v;
  else if(KEY("method")) r->method = v;
  else if(KEY("url")) r->url = v;
  else if(KEY("client_ip")) r->client_ip = v;
  else if(KEY("user_agent")) r->user_agent = v;
  else if(KEY("platform")) r->platform = v;
  else if(KEY("scep_operation")) r->scep_operation = v;
  else if(KEY("scep_message_length")) r->scep_message_length = (size_t)num;
  else if(KEY("thread")) r->thread = v;
  else if(KEY("context")) r->context = v;
  else if(KEY("event_id")) r->event_id = (long)num;
  else if(KEY("http_status")) r->http_status = (long)num;
  else if(KEY("http_substatus")) r->http_substatus = (long)num;
  else if(KEY("win32_status")) r->win32_status = num;
  else if(KEY("time_taken_ms")) r->time_taken_ms = (long)num;
  else if(KEY("hresult") && is_string) {
    set_array(r->hresult, sizeof(r->hresult), s, n);
    r->hresult_name = sceplab_hresult_name((uint32_t)strtoul(r->hresult, NULL, 16));
  }
  else if(KEY("request_id")) set_array(r->request_id, sizeof(r->request_id), s, n);
  else if(KEY("transaction_id")) set_array(r->transaction_id, sizeof(r->transaction_id), s, n);
  else if(KEY("device_id")) set_array(r->device_id, sizeof(r->device_id), s, n);
  else if(KEY("user_id")) set_array(r->user_id, sizeof(r->user_id), s, n);
  else if(KEY("thumbprint")) set_array(r->thumbprint, sizeof(r->thumbprint), s, n);
  else if(KEY("zone_assumed")) r->zone_assumed = n == 4 && memcmp(s, "true", 4) == 0;
  else if(KEY("time_inferred")) r->time_inferred = n == 4 && memcmp(s, "true", 4) == 0;
  else if(KEY("date_assumed")) r->date_assumed = n == 4 && memcmp(s, "true", 4) == 0;
  else if(KEY("date_source")) r->date_source = logs_tsrc_name(logs_tsrc_named(s, n));
  else if(KEY("offset_source")) r->offset_source = logs_tsrc_name(logs_tsrc_named(s, n));
#undef KEY
}

static int parse_jsonl(sceplab_log *lg, const char *line, size_t len, sceplab_record *r, sceplab_error *err)
{
  /* the line is the reader's own buffer, read once: strings are unescaped where they stand */
  char *p = (char *)line, *end = p + len;
  int has_time = 0;
  uint64_t at = r->line; /* "line" in the object is the line of the file it came from */
  (void)err;
  while(p < end && isspace((unsigned char)*p))
    p++;
  if(p == end)
    return 0;
  if(*p != '{')
    goto bad;
  p++;
  for(;;) {
    char *k, *v, *after;
    long kn, vn;
    int is_string = 0;
    while(p < end && isspace((unsigned char)*p))
      p++;
    if(p < end && *p == '}')
      break;
    if(p >= end || *p != '"')
      goto bad;
    k = ++p;
    if((kn = json_string(k, end, &after)) < 0)
      goto bad;
    p = after;
    while(p < end && isspace((unsigned char)*p))
      p++;
    if(p >= end || *p != ':')
      goto bad;
    p++;
    while(p < end && isspace((unsigned char)*p))
      p++;
    if(p < end && *p == '"') {
      v = ++p;
      if((vn = json_string(v, end, &after)) < 0)
        goto bad;
      p = after;
      is_string = 1;
    }
    else {
      v = p;
      while(p < end && *p != ',' && *p != '}' && !isspace((unsigned char)*p))
        p++;
      vn = (long)(p - v);
      if(vn == 0 || *v == '{' || *v == '[')
        goto bad; /* a record is flat */
    }
    field(lg, r, k, (size_t)kn, v, (size_t)vn, is_string, &has_time);
    while(p < end && isspace((unsigned char)*p))
      p++;
    if(p < end && *p == ',') {
      p++;
      continue;
    }
    if(p < end && *p == '}')
      break;
    goto bad;
  }
  if(!has_time) {
    logs_skip(lg, at, "sceplab JSONL record without a readable \"time\"");
    return 0;
  }
  /* an export of an older sceplab says nothing of its sources: the time was written whole */
  if(!r->date_source)
    r->date_source = logs_tsrc_name(LOGS_TS_RECORD);
  if(!r->offset_source)
    r->offset_source = logs_tsrc_name(r->zone_assumed ? LOGS_TS_ASSUMED : LOGS_TS_RECORD);
  return 1;
bad:
  logs_skip(lg, at, "not a sceplab JSONL record (one flat JSON object per line)");
  return 0;
}

/* The first line of timeline --jsonl: an object carrying time, source, file and line. */
static const char *detect(const char *p, size_t n)
{
  const char *nl = memchr(p, '\n', n);
  size_t first = nl ? (size_t)(nl - p) : n;
  if(first > 2 && p[0] == '{' && p[1] == '"' && sceplab_memcasestr(p, first, "\"time\":\"") &&
     sceplab_memcasestr(p, first, "\"source\":\"") && sceplab_memcasestr(p, first, "\"file\":\"") &&
     sceplab_memcasestr(p, first, "\"line\":"))
    return "sceplab JSONL (timeline --jsonl), read back";
  return NULL;
}

const logs_format logs_fmt_jsonl = {.id = FMT_JSONL, .name = "jsonl", .flags = LOGS_FORCEABLE | LOGS_EXTRACTED,
  .detect = detect, .line = parse_jsonl};
