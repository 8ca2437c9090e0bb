/* serve's log of its calls to Intune's API (the intune-api policy): W3C-style lines, one per HTTP
 * call, with the fields a failed enrollment is traced by (its transaction ID, the client-request-id
 * Microsoft's support asks for, the endpoint, the HTTP status, the service's or Entra ID's code,
 * the duration). The writer (sceplab_api_log_line) sits beside the reader.
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logs/formats/formats.h"
#include "sceplab/artifacts.h"

#define API_SOFTWARE "#Software: sceplab intune-api"
#define API_FIELDS "date time transaction-id client-request-id endpoint attempt status code duration-ms message"
enum { F_DATE, F_TIME, F_TID, F_CRID, F_ENDPOINT, F_ATTEMPT, F_STATUS, F_CODE, F_MS, F_MESSAGE, F_COUNT };

const char *sceplab_api_log_header(void)
{
  return API_SOFTWARE "\n#Version: 1.0\n#Fields: " API_FIELDS "\n";
}

/* One field, escaped as W3C logs escape (a space is '+', a control character %XX), and '%' and
 * '+' escaped too so that a device's own "%41" or "+" reads back as written; '-' when empty. */
static int put_field(char *out, size_t cap, size_t *used, const char *v, size_t max)
{
  size_t n = v ? strnlen(v, max) : 0, i = 0;
  if(*used + 2 > cap)
    return -1;
  if(*used)
    out[(*used)++] = ' ';
  if(!n) {
    out[(*used)++] = '-';
    return 0;
  }
  while(i < n) {
    size_t span = strcspn(v + i, "%+"), consumed = 0, w;
    if(span > n - i)
      span = n - i;
    if(span) {
      w = sceplab_esc_w3c(v + i, span, out + *used, cap - *used, &consumed);
      if(consumed < span)
        return -1;
      *used += w;
      i += span;
    }
    if(i < n) {
      if(*used + 4 > cap)
        return -1;
      memcpy(out + *used, v[i] == '%' ? "%25" : "%2B", 3);
      *used += 3;
      i++;
    }
  }
  return 0;
}

char *sceplab_api_log_line(const sceplab_api_call *c, sceplab_error *err)
{
  char date[16], tm[24], num[3][24];
  long long total_ms = (long long)(c->time * 1000.0 + 0.5); /* .850 stays .850, never .849 */
  time_t secs = (time_t)(total_ms / 1000);
  long ms = (long)(total_ms % 1000);
  struct tm t;
  size_t cap = 4096, used = 0;
  char *out;
  const char *fields[F_COUNT];
  size_t max[F_COUNT] = {16, 24, 128, 64, 64, 24, 24, 128, 24, 1024}, i;
  if(!c->endpoint || !*c->endpoint)
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "an API call needs its endpoint"), NULL;
  if(ms < 0 || ms > 999)
    ms = 0;
  gmtime_r(&secs, &t);
  strftime(date, sizeof(date), "%Y-%m-%d", &t);
  snprintf(tm, sizeof(tm), "%02d:%02d:%02d.%03ld", t.tm_hour, t.tm_min, t.tm_sec, ms);
  snprintf(num[0], sizeof(num[0]), "%d", c->attempt > 0 ? c->attempt : 1);
  snprintf(num[1], sizeof(num[1]), "%d", c->status);
  snprintf(num[2], sizeof(num[2]), "%ld", c->duration_ms);
  fields[F_DATE] = date;
  fields[F_TIME] = tm;
  fields[F_TID] = c->transaction_id;
  fields[F_CRID] = c->client_request_id;
  fields[F_ENDPOINT] = c->endpoint;
  fields[F_ATTEMPT] = num[0];
  fields[F_STATUS] = num[1];
  fields[F_CODE] = c->code;
  fields[F_MS] = num[2];
  fields[F_MESSAGE] = c->message;
  if(!(out = malloc(cap)))
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  for(i = 0; i < F_COUNT; i++)
    if(put_field(out, cap - 2, &used, fields[i], max[i]) != 0) {
      free(out);
      return sceplab_err_set(err, SCEPLAB_E_USAGE, "an API call's field is too long"), NULL;
    }
  out[used++] = '\n';
  out[used] = '\0';
  return out;
}

/* ---- the reader ---- */

static long number(sceplab_str s)
{
  long v = 0;
  size_t i;
  if(!s.n || s.n > 9)
    return -1;
  for(i = 0; i < s.n; i++) {
    if(s.p[i] < '0' || s.p[i] > '9')
      return -1;
    v = v * 10 + (s.p[i] - '0');
  }
  return v;
}

static int is(sceplab_str s, const char *word)
{
  return s.n == strlen(word) && memcmp(s.p, word, s.n) == 0;
}

static int hexval(char c)
{
  return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The byte at s.p[*i] decoded ('+' a space, %XX its byte, a control character '?'), *i moved on. */
static char decoded_at(sceplab_str s, size_t *i)
{
  char c = s.p[*i];
  int hi, lo;
  if(c == '+')
    c = ' ';
  else if(c == '%' && *i + 2 < s.n && (hi = hexval(s.p[*i + 1])) >= 0 && (lo = hexval(s.p[*i + 2])) >= 0) {
    c = (char)(hi * 16 + lo);
    *i += 2;
  }
  if((unsigned char)c < 0x20 || c == 0x7f)
    c = '?'; /* a field stays one line */
  return c;
}

/* A field decoded into out (cut to cap). */
/* The field decoded, then made valid UTF-8 again: a %XX is any byte, and the reader repaired the
 * line before it was decoded (class: a decoding step after the repair). Returns a malloc'd string
 * with its length in *n, or NULL. */
static char *decoded_utf8(sceplab_str s, size_t *n)
{
  char *raw = malloc(s.n + 1), *out = malloc(3 * s.n + 1);
  size_t i, k = 0;
  if(!raw || !out) {
    free(raw);
    free(out);
    return NULL;
  }
  for(i = 0; i < s.n; i++)
    raw[k++] = decoded_at(s, &i);
  *n = sceplab_utf8_repair(raw, k, out);
  out[*n] = '\0';
  free(raw);
  return out;
}

static void decode_into(char *out, size_t cap, sceplab_str s)
{
  size_t n = 0;
  char *d = decoded_utf8(s, &n);
  n = d ? sceplab_utf8_boundary(d, n, cap - 1) : 0;
  memcpy(out, d ? d : "", n);
  out[n] = '\0';
  free(d);
}

/* A field decoded into the message: '+' a space, %XX its byte, '-' nothing. */
static void append_decoded(sceplab_log *lg, size_t *len, sceplab_str s)
{
  size_t n = 0;
  char *d;
  if(s.n == 1 && s.p[0] == '-')
    return;
  if((d = decoded_utf8(s, &n)) != NULL)
    logs_msg_append(lg, len, d, n);
  free(d);
}

static int logs_parse_intuneapi(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  sceplab_str f[F_COUNT];
  const char *end = p + n;
  size_t len = 0;
  int nf = 0, y, mo, d, h, mi, s, ms = 0;
  long status;
  (void)err;
  if(n && p[0] == '#')
    return 0;
  while(nf < F_COUNT) {
    f[nf] = logs_next_tok(&p, end);
    if(!f[nf].n)
      break;
    nf++;
  }
  if(nf != F_COUNT || logs_next_tok(&p, end).n) {
    logs_skip(lg, r->line, "not the 10 fields of an intune-api line");
    return 0;
  }
  if(f[F_DATE].n != 10 || f[F_TIME].n < 8 || (y = logs_digits_exact(f[F_DATE].p, 4)) < 0 || (mo = logs_digits_exact(f[F_DATE].p + 5, 2)) < 0 ||
     (d = logs_digits_exact(f[F_DATE].p + 8, 2)) < 0 || (h = logs_digits_exact(f[F_TIME].p, 2)) < 0 || (mi = logs_digits_exact(f[F_TIME].p + 3, 2)) < 0 ||
     (s = logs_digits_exact(f[F_TIME].p + 6, 2)) < 0 || (f[F_TIME].n == 12 && (ms = logs_digits_exact(f[F_TIME].p + 9, 3)) < 0)) {
    logs_skip(lg, r->line, "no readable date and time");
    return 0;
  }
  r->time_us = logs_make_time(y, mo, d, h, mi, s, (int64_t)ms * 1000);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    logs_skip(lg, r->line, "date or time out of range");
    return 0;
  }
  r->time_text.p = f[F_DATE].p;
  r->time_text.n = (size_t)(f[F_TIME].p + f[F_TIME].n - f[F_DATE].p);
  r->utc_offset_min = 0; /* written in UTC */
  logs_time_sources(r, LOGS_TS_RECORD, LOGS_TS_FORMAT);
  r->component.p = "intune-api";
  r->component.n = 10;
  r->url = f[F_ENDPOINT];
  status = number(f[F_STATUS]);
  r->http_status = status;
  r->time_taken_ms = number(f[F_MS]);
  if(!(f[F_TID].n == 1 && f[F_TID].p[0] == '-'))
    decode_into(r->transaction_id, sizeof(r->transaction_id), f[F_TID]);
  /* a refusal of any kind is an error: no answer, an HTTP error, Entra ID's AADSTS, a code other
   * than the service's Success (or issued, found, ok: a token, a discovery, a revocation call) */
  r->level = SCEPLAB_LVL_INFO;
  if(status <= 0 || status >= 400 || !(is(f[F_CODE], "Success") || is(f[F_CODE], "issued") || is(f[F_CODE], "found") ||
                                       is(f[F_CODE], "ok") || is(f[F_CODE], "-")))
    r->level = SCEPLAB_LVL_ERROR;
  r->step = is(f[F_ENDPOINT], "successNotification") || is(f[F_ENDPOINT], "failureNotification") ? 6
          : f[F_ENDPOINT].n >= 5 && memcmp(f[F_ENDPOINT].p, "token", 5) == 0 ? 3
          : is(f[F_ENDPOINT], "discovery") || is(f[F_ENDPOINT], "validateRequest") ? 3 : 0;
  /* "validateRequest 200 SubjectNameMismatch (client-request-id ..., attempt 1, 12 ms): ..." */
  append_decoded(lg, &len, f[F_ENDPOINT]);
  logs_msg_append(lg, &len, " ", 1);
  logs_msg_append(lg, &len, f[F_STATUS].p, f[F_STATUS].n);
  logs_msg_append(lg, &len, " ", 1);
  append_decoded(lg, &len, f[F_CODE]);
  logs_msg_append(lg, &len, " (client-request-id ", 20);
  append_decoded(lg, &len, f[F_CRID]);
  logs_msg_append(lg, &len, ", attempt ", 10);
  logs_msg_append(lg, &len, f[F_ATTEMPT].p, f[F_ATTEMPT].n);
  logs_msg_append(lg, &len, ", ", 2);
  logs_msg_append(lg, &len, f[F_MS].p, f[F_MS].n);
  logs_msg_append(lg, &len, " ms)", 4);
  if(!(f[F_MESSAGE].n == 1 && f[F_MESSAGE].p[0] == '-')) {
    logs_msg_append(lg, &len, ": ", 2);
    append_decoded(lg, &len, f[F_MESSAGE]);
  }
  r->message.p = lg->msg;
  r->message.n = len;
  return 1;
}

static const char *detect(const char *p, size_t n)
{
  if(n >= sizeof(API_SOFTWARE) - 1 && memcmp(p, API_SOFTWARE, sizeof(API_SOFTWARE) - 1) == 0)
    return "sceplab serve's Intune API call log (#Software: sceplab intune-api)";
  return NULL;
}

const logs_format logs_fmt_intuneapi = {.id = FMT_INTUNEAPI, .name = "intune-api", .flags = LOGS_FORCEABLE | LOGS_EXTRACTED,
  .detect = detect, .line = logs_parse_intuneapi};
