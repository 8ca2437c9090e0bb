/* Log ingestion: a streaming reader (BOM, UTF-16, CRLF, bounded lines), content detection, and one
 * parser per format producing sceplab_record. Records point into the reader's buffers, so nothing
 * is copied for a record the filter rejects. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>
#include <libevtx.h>
#include <libxml/parser.h>

/* After the libraries' headers: optlib.h routes their calls through pointers opened on use. */
#include "internal.h"
#include "sceplab/logs.h"

#define CHUNK (256u * 1024u)
#define MAX_LINE (1u << 20)      /* a longer line is cut and counted as skipped */
#define MAX_MESSAGE (1u << 20)   /* a longer CMTrace message is cut */
#define MAX_FIELDS 64

typedef enum { ENC_UTF8, ENC_UTF16LE, ENC_UTF16BE } encoding;
typedef enum { FMT_IIS, FMT_CMTRACE, FMT_SVCLOG, FMT_EVENTXML, FMT_OMADM, FMT_IOS, FMT_SYSLOG, FMT_EVTTXT, FMT_EVTCSV,
               FMT_EVTX, FMT_CRS, FMT_MSI, FMT_REG } format;
static const char *const format_names[] = {"iis", "cmtrace", "svclog", "eventxml", "android", "ios", "syslog",
                                           "eventtext", "eventcsv", "evtx", "crs", "msi", "registry"};

#define NEEDLES_MAX 256 /* filter.contains beyond this are searched one by one */

struct sceplab_log {
  FILE *f;
  char *path;
  encoding enc;
  format fmt;
  int eof;
  unsigned char raw[CHUNK + 4];
  size_t rawleft;                 /* undecoded UTF-16 bytes kept between reads */
  void (*progress)(void *ud, size_t bytes);
  void *progress_ud;
  uint64_t bytes_read;
  uint64_t steps[7];              /* records per workflow step, before filtering */
  int needles_indexed;            /* filter.contains indexed by first letter (index_needles) */
  short needle_head[256];
  short needle_next[NEEDLES_MAX];
  size_t needle_len[NEEDLES_MAX];
  char *buf;                      /* decoded UTF-8 */
  size_t cap, start, end;
  uint64_t line, offset;          /* the next line's number and offset */
  uint64_t line_start;            /* offset of the line last returned */
  int line_cut;                   /* the last line returned was cut at MAX_LINE */
  /* parser state */
  char *fields[MAX_FIELDS];
  int nfields;
  struct { int date, time, method, stem, query, cip, host, sip, status, sub, win32, taken, ua; } ix;
  char *msg;                      /* CMTrace message accumulator */
  size_t msgcap;
  char scratch[4096];             /* rendered message and decoded user agent */
  char *pending;                  /* XML formats: text read but not yet parsed */
  size_t pendlen, pendcap;
  uint64_t pend_line, pend_offset;
  char arena[16384];              /* strings copied out of a parsed XML fragment */
  size_t arena_used;
  int64_t mtime_us;               /* the file's modification time (CRS files have no other) */
  int done;                       /* single-record formats: already returned */
  libevtx_file_t *evtx;           /* binary .evtx: libevtx reads the chunks */
  int evtx_count, evtx_index;
  char *xml;                      /* one record's XML */
  size_t xmlcap;
  char ua[1024];
  int64_t last_time;
  int bias_set, bias;
  int offset_set, offset_min;     /* assumed zone for zone-less formats */
  int year, month, day;           /* the date for date-less formats */
  char regkey[512];               /* registry exports: the current [key] */
  sceplab_log_filter filter;
  uint64_t records, skipped;
  char examples[3][256];
};

static void index_needles(sceplab_log *lg);

const char *sceplab_level_name(sceplab_level l)
{
  static const char *const names[] = {"unknown", "verbose", "info", "warning", "error", "critical"};
  return (unsigned)l < 6 ? names[l] : "unknown";
}

static void skip_line(sceplab_log *lg, uint64_t line, const char *why)
{
  if(lg->skipped < 3)
    snprintf(lg->examples[lg->skipped], sizeof(lg->examples[0]), "line %llu: %.200s", (unsigned long long)line, why);
  lg->skipped++;
}

/* ---- reading -------------------------------------------------------------------------------- */

static size_t put_utf8(char *o, uint32_t cp)
{
  if(cp < 0x80) { o[0] = (char)cp; return 1; }
  if(cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
  if(cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63));
  o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
  return 4;
}

/* Appends decoded bytes to buf; returns 0 at end of file, -1 on error. */
static int refill(sceplab_log *lg, sceplab_error *err)
{
  size_t n, need;
  if(lg->eof)
    return 0;
  if(lg->start > 0) { /* compact */
    memmove(lg->buf, lg->buf + lg->start, lg->end - lg->start);
    lg->end -= lg->start;
    lg->start = 0;
  }
  n = fread(lg->raw + lg->rawleft, 1, CHUNK, lg->f);
  if(n == 0) {
    if(ferror(lg->f))
      return sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: read error: %s", lg->path, strerror(errno)), -1;
    lg->eof = 1;
    return 0;
  }
  lg->bytes_read += n;
  if(lg->progress)
    lg->progress(lg->progress_ud, n);
  n += lg->rawleft;
  lg->rawleft = 0;
  need = lg->end + (lg->enc == ENC_UTF8 ? n : n / 2 * 3 + 4) + 1;
  if(need > lg->cap) {
    size_t cap = lg->cap ? lg->cap : CHUNK * 2;
    char *nb;
    while(cap < need)
      cap *= 2;
    nb = realloc(lg->buf, cap);
    if(!nb)
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    lg->buf = nb;
    lg->cap = cap;
  }
  if(lg->enc == ENC_UTF8) {
    memcpy(lg->buf + lg->end, lg->raw, n);
    lg->end += n;
  }
  else {
    size_t i = 0;
    int le = lg->enc == ENC_UTF16LE;
    while(i + 1 < n) {
      uint32_t u = le ? (uint32_t)(lg->raw[i] | lg->raw[i + 1] << 8) : (uint32_t)(lg->raw[i] << 8 | lg->raw[i + 1]);
      if(u >= 0xD800 && u < 0xDC00) {
        uint32_t lo;
        if(i + 3 >= n)
          break; /* the pair continues in the next chunk */
        lo = le ? (uint32_t)(lg->raw[i + 2] | lg->raw[i + 3] << 8) : (uint32_t)(lg->raw[i + 2] << 8 | lg->raw[i + 3]);
        if(lo >= 0xDC00 && lo < 0xE000) {
          u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
          i += 2;
        }
        else
          u = 0xFFFD;
      }
      else if(u >= 0xDC00 && u < 0xE000)
        u = 0xFFFD;
      lg->end += put_utf8(lg->buf + lg->end, u);
      i += 2;
    }
    lg->rawleft = n - i;
    memmove(lg->raw, lg->raw + i, lg->rawleft);
  }
  return 1;
}

/* The next line (CR/LF stripped), as a view valid until the next call; 0 at end, -1 on error. */
static int next_line(sceplab_log *lg, const char **p, size_t *n, sceplab_error *err)
{
  for(;;) {
    char *nl = lg->end > lg->start ? memchr(lg->buf + lg->start, '\n', lg->end - lg->start) : NULL;
    size_t len;
    lg->line_start = lg->offset;
    if(!nl && lg->end - lg->start > MAX_LINE) {
      /* cut: hand out the first MAX_LINE bytes, drop the rest up to the newline */
      *p = lg->buf + lg->start;
      *n = MAX_LINE;
      lg->line_cut = 1;
      lg->start += MAX_LINE;
      for(;;) {
        char *e = memchr(lg->buf + lg->start, '\n', lg->end - lg->start);
        if(e) {
          lg->offset += (uint64_t)(e + 1 - (lg->buf + lg->start)) + MAX_LINE;
          lg->start = (size_t)(e + 1 - lg->buf);
          break;
        }
        lg->offset += lg->end - lg->start;
        lg->start = lg->end;
        if(refill(lg, err) <= 0)
          break;
      }
      lg->line++;
      return 1;
    }
    if(nl || (lg->eof && lg->end > lg->start)) {
      size_t stop = nl ? (size_t)(nl - lg->buf) : lg->end;
      len = stop - lg->start;
      *p = lg->buf + lg->start;
      lg->offset += len + (nl ? 1 : 0);
      lg->start = nl ? stop + 1 : stop;
      while(len && ((*p)[len - 1] == '\r'))
        len--;
      *n = len;
      lg->line++;
      lg->line_cut = len > MAX_LINE; /* whole, but too long to be a record */
      return 1;
    }
    if(lg->eof)
      return 0;
    {
      int r = refill(lg, err);
      if(r < 0)
        return -1;
    }
  }
}

/* ---- time ----------------------------------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
  /* Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar */
  int64_t era;
  unsigned yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned)(y - era * 400);
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

#define MAX_OFFSET_MIN (18 * 60) /* zones stay within 18 hours of UTC */

static int days_in_month(int y, int m)
{
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) ? 29 : days[m - 1];
}

static int64_t make_time(int y, int mo, int d, int h, int mi, int s, long us)
{
  /* 31 February is refused, not rolled over into March */
  if(y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23 || mi < 0 ||
     mi > 59 || s < 0 || s > 60)
    return SCEPLAB_TIME_UNKNOWN;
  return ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400) + h * 3600 + mi * 60 + s) * 1000000 + us;
}

/* Parses up to 7 fraction digits into microseconds; returns the digits consumed. */
static int fraction_us(const char *p, size_t n, long *us)
{
  int i = 0;
  long v = 0, scale = 100000;
  while((size_t)i < n && isdigit((unsigned char)p[i])) {
    if(i < 6) {
      v += (p[i] - '0') * scale;
      scale /= 10;
    }
    i++;
  }
  *us = v;
  return i;
}

/* ---- extraction shared by formats --------------------------------------------------------- */

static const struct { uint32_t code; const char *name; } hresults[] = {
  {0x800B0109, "CERT_E_UNTRUSTEDROOT"}, {0x800B010A, "CERT_E_CHAINING"}, {0x800B0101, "CERT_E_EXPIRED"},
  {0x800B010F, "CERT_E_CN_NO_MATCH"}, {0x80092013, "CRYPT_E_REVOCATION_OFFLINE"}, {0x80092012, "CRYPT_E_NO_REVOCATION_CHECK"},
  {0x80094800, "CERTSRV_E_UNSUPPORTED_CERT_TYPE"}, {0x80094811, "CERTSRV_E_KEY_LENGTH"},
  {0x800706BA, "RPC_S_SERVER_UNAVAILABLE"}, {0x80072EE7, "WININET_E_NAME_NOT_RESOLVED"},
  {0x80072EFD, "WININET_E_CANNOT_CONNECT"}, {0x80072EE2, "WININET_E_TIMEOUT"}, {0x80072F8F, "WININET_E_DECODING_FAILED"},
  {0x80190194, "BG_E_HTTP_ERROR_404"}, {0x80070005, "E_ACCESSDENIED"}, {0x80090016, "NTE_BAD_KEYSET"},
  {0x80091007, "CRYPT_E_HASH_VALUE"}, {0x00000542, "ERROR_BAD_IMPERSONATION_LEVEL"}, {0x00000005, "ERROR_ACCESS_DENIED"},
  {0x00002F7F, "ERROR_WINHTTP_SECURE_FAILURE"}, {0x00002F8F, "ERROR_WINHTTP_SECURE_INVALID_CERT"},
  {0x00000643, "ERROR_INSTALL_FAILURE"}, {0x00002F7D, "ERROR_WINHTTP_CANNOT_CONNECT"},
  {0x00002EE7, "ERROR_WINHTTP_NAME_NOT_RESOLVED"}, {0x00002EE2, "ERROR_WINHTTP_TIMEOUT"},
};

const char *sceplab_hresult_name(uint32_t code)
{
  size_t i;
  for(i = 0; i < sizeof(hresults) / sizeof(hresults[0]); i++)
    if(hresults[i].code == code)
      return hresults[i].name;
  return NULL;
}

static void set_hresult(sceplab_record *r, uint32_t code)
{
  snprintf(r->hresult, sizeof(r->hresult), "0x%08X", code);
  r->hresult_name = sceplab_hresult_name(code);
}

/* Fields any message may carry: request id, HRESULT, transaction, device. */
static void extract_from_message(sceplab_record *r)
{
  const char *m = r->message.p, *p;
  size_t n = r->message.n;
  sceplab_intune_id id;
  if(!m)
    return;
  if(sceplab_intune_id_scan(m, n, &id))
    snprintf(r->request_id, sizeof(r->request_id), "%s", id.canonical);
  if(!r->hresult[0] && (p = sceplab_memcasestr(m, n, "0x8"))) {
    size_t k = 2;
    char hex[9];
    while((size_t)(p - m) + k < n && isxdigit((unsigned char)p[k]) && k < 11)
      k++;
    if(k == 10) { /* exactly eight digits: an HRESULT, not a longer number */
      memcpy(hex, p + 2, 8);
      hex[8] = 0;
      set_hresult(r, (uint32_t)strtoul(hex, NULL, 16));
    }
  }
  if((p = sceplab_memcasestr(m, n, "Transaction: ")) || (p = sceplab_memcasestr(m, n, "TransactionID: "))) {
    const char *v = strchr(p, ':') + 2;
    size_t k = 0;
    while((size_t)(v - m) + k < n && isalnum((unsigned char)v[k]) && k + 1 < sizeof(r->transaction_id))
      k++;
    snprintf(r->transaction_id, sizeof(r->transaction_id), "%.*s", (int)k, v);
  }
  if((p = sceplab_memcasestr(m, n, "User : ")) || (p = sceplab_memcasestr(m, n, "UserID: "))) {
    const char *v = strchr(p, ':') + 1;
    size_t k = 0;
    while(*v == ' ')
      v++;
    while((size_t)(v - m) + k < n && (isxdigit((unsigned char)v[k]) || v[k] == '-') && k + 1 < sizeof(r->user_id))
      k++;
    if(k == 36)
      snprintf(r->user_id, sizeof(r->user_id), "%.*s", (int)k, v);
  }
  if(!r->thumbprint[0] && (p = sceplab_memcasestr(m, n, "thumbprint"))) {
    /* the first run of exactly 40 or 64 hex digits after the word: "thumbprint is d005...",
     * "CA cert thumbprint '0C93...'", "Thumbprint=584206..." */
    const char *q = p + 10, *end = m + n;
    while(q < end && q < p + 40) {
      size_t k = 0;
      while(q + k < end && isxdigit((unsigned char)q[k]))
        k++;
      if((k == 40 || k == 64) && (q + k == end || !isalnum((unsigned char)q[k]))) {
        snprintf(r->thumbprint, sizeof(r->thumbprint), "%.*s", (int)k, q);
        break;
      }
      q += k ? k : 1;
    }
  }
  if((p = sceplab_memcasestr(m, n, "Device : ")) || (p = sceplab_memcasestr(m, n, "DeviceID: "))) {
    const char *v = strchr(p, ':') + 1;
    size_t k = 0;
    while(*v == ' ')
      v++;
    while((size_t)(v - m) + k < n && (isxdigit((unsigned char)v[k]) || v[k] == '-') && k + 1 < sizeof(r->device_id))
      k++;
    if(k == 36)
      snprintf(r->device_id, sizeof(r->device_id), "%.*s", (int)k, v);
  }
}

/* ---- IIS W3C extended ------------------------------------------------------------------------ */

static int field_index(const sceplab_log *lg, const char *name)
{
  int i;
  for(i = 0; i < lg->nfields; i++)
    if(strcasecmp(lg->fields[i], name) == 0)
      return i;
  return -1;
}

static int field_index(const sceplab_log *lg, const char *name);

static void set_fields(sceplab_log *lg, const char *p, size_t n)
{
  int i;
  for(i = 0; i < lg->nfields; i++)
    free(lg->fields[i]);
  lg->nfields = 0;
  while(n && lg->nfields < MAX_FIELDS) {
    size_t k = 0;
    while(n && *p == ' ') { p++; n--; }
    while(k < n && p[k] != ' ')
      k++;
    if(k)
      lg->fields[lg->nfields++] = strndup(p, k);
    p += k;
    n -= k;
  }
  /* resolved once per directive, not once per line */
  lg->ix.date = field_index(lg, "date");
  lg->ix.time = field_index(lg, "time");
  lg->ix.method = field_index(lg, "cs-method");
  lg->ix.stem = field_index(lg, "cs-uri-stem");
  lg->ix.query = field_index(lg, "cs-uri-query");
  lg->ix.cip = field_index(lg, "c-ip");
  lg->ix.host = field_index(lg, "s-computername");
  lg->ix.sip = field_index(lg, "s-ip");
  lg->ix.status = field_index(lg, "sc-status");
  lg->ix.sub = field_index(lg, "sc-substatus");
  lg->ix.win32 = field_index(lg, "sc-win32-status");
  lg->ix.taken = field_index(lg, "time-taken");
  lg->ix.ua = field_index(lg, "cs(User-Agent)");
}

static sceplab_str tok_val(const sceplab_str *toks, int idx)
{
  sceplab_str s = {NULL, 0};
  if(idx >= 0 && !(toks[idx].n == 1 && toks[idx].p[0] == '-'))
    s = toks[idx];
  return s;
}

static int copy_view(sceplab_str v, char *out, size_t outlen);

static long tok_long(const sceplab_str *toks, int idx)
{
  char buf[24];
  if(!copy_view(tok_val(toks, idx), buf, sizeof(buf)))
    return -1;
  return strtol(buf, NULL, 10);
}

/* Length of the run before any of set, bounded by end (views are not NUL-terminated). */
static size_t span_until(const char *p, const char *end, const char *set)
{
  size_t k = 0;
  while(p + k < end && !strchr(set, p[k]))
    k++;
  return k;
}

/* Copies a view into a small NUL-terminated buffer; 0 when it does not fit. */
static int copy_view(sceplab_str v, char *out, size_t outlen)
{
  if(!v.p || v.n >= outlen)
    return 0;
  memcpy(out, v.p, v.n);
  out[v.n] = 0;
  return 1;
}

static const char *platform_of(const char *ua)
{
  if(strstr(ua, "NDES client") || strstr(ua, "NDES+client")) return "windows";
  if(strstr(ua, "NDES_Plugin")) return "ndes-plugin";
  if(strstr(ua, "Dalvik") || strstr(ua, "Android")) return "android";
  if(strstr(ua, "profiled") || strstr(ua, "Darwin") || strstr(ua, "iPhone") || strstr(ua, "iOS")) return "ios";
  return NULL;
}

static int parse_iis(sceplab_log *lg, const char *p, size_t n, sceplab_record *r)
{
  sceplab_str toks[MAX_FIELDS];
  int nt = 0, di, ti;
  size_t i = 0;
  int y, mo, d, h, mi, s;
  if(n && p[0] == '#') {
    if(n > 8 && strncmp(p, "#Fields:", 8) == 0)
      set_fields(lg, p + 8, n - 8);
    return 0;
  }
  if(lg->nfields == 0) {
    skip_line(lg, r->line, "data before any #Fields directive");
    return 0;
  }
  while(i < n) {
    size_t k = i;
    while(k < n && p[k] != ' ')
      k++;
    if(nt == MAX_FIELDS)
      break;
    toks[nt].p = p + i;
    toks[nt].n = k - i;
    nt++;
    i = k + 1;
  }
  if(nt != lg->nfields) {
    char why[96];
    snprintf(why, sizeof(why), "%d fields where #Fields declares %d", nt, lg->nfields);
    skip_line(lg, r->line, why);
    return 0;
  }
  di = lg->ix.date;
  ti = lg->ix.time;
  {
    char db[16], tb[24];
    if(di < 0 || ti < 0 || !copy_view(toks[di], db, sizeof(db)) || !copy_view(toks[ti], tb, sizeof(tb)) ||
       sscanf(db, "%4d-%2d-%2d", &y, &mo, &d) != 3 || sscanf(tb, "%2d:%2d:%2d", &h, &mi, &s) != 3)
      y = 0;
  }
  if(y == 0) {
    skip_line(lg, r->line, "no readable date and time");
    return 0;
  }
  r->time_us = make_time(y, mo, d, h, mi, s, 0);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    skip_line(lg, r->line, "date or time out of range");
    return 0;
  }
  r->time_text.p = toks[di].p;
  r->time_text.n = (size_t)(toks[ti].p + toks[ti].n - toks[di].p);
  r->utc_offset_min = 0; /* W3C extended logs are written in UTC */
  r->method = tok_val(toks, lg->ix.method);
  r->url = tok_val(toks, lg->ix.stem);
  r->query = tok_val(toks, lg->ix.query);
  r->client_ip = tok_val(toks, lg->ix.cip);
  r->host = tok_val(toks, lg->ix.host);
  if(!r->host.n)
    r->host = tok_val(toks, lg->ix.sip);
  r->http_status = tok_long(toks, lg->ix.status);
  r->http_substatus = tok_long(toks, lg->ix.sub);
  {
    char buf[24];
    if(copy_view(tok_val(toks, lg->ix.win32), buf, sizeof(buf))) {
      r->win32_status = strtoll(buf, NULL, 10);
      if(r->win32_status > 0)
        set_hresult(r, (uint32_t)r->win32_status);
    }
  }
  r->time_taken_ms = tok_long(toks, lg->ix.taken);
  {
    sceplab_str ua = tok_val(toks, lg->ix.ua);
    size_t k;
    for(k = 0; k < ua.n && k + 1 < sizeof(lg->ua); k++)
      lg->ua[k] = ua.p[k] == '+' ? ' ' : ua.p[k];
    lg->ua[k] = 0;
    r->user_agent.p = lg->ua;
    r->user_agent.n = k;
    if((r->platform.p = platform_of(lg->ua)))
      r->platform.n = strlen(r->platform.p);
  }
  if(r->url.n && sceplab_memcasestr(r->url.p, r->url.n, "mscep")) {
    r->step = 2;
    if(r->query.n) {
      const char *op = sceplab_memcasestr(r->query.p, r->query.n, "operation=");
      const char *msg = sceplab_memcasestr(r->query.p, r->query.n, "message=");
      const char *qend = r->query.p + r->query.n;
      if(op) {
        r->scep_operation.p = op + 10;
        r->scep_operation.n = span_until(op + 10, qend, "&");
      }
      if(msg) {
        r->scep_message.p = msg + 8;
        r->scep_message.n = span_until(msg + 8, qend, "&");
      }
    }
    else if(r->method.n == 4 && memcmp(r->method.p, "POST", 4) == 0) {
      r->scep_operation.p = "PKIOperation";
      r->scep_operation.n = 12;
    }
  }
  else if(r->url.n && sceplab_memcasestr(r->url.p, r->url.n, "CertificateRegistrationSvc")) {
    const char *slash = r->url.p + r->url.n;
    while(slash > r->url.p && slash[-1] != '/')
      slash--;
    r->step = 3;
    r->scep_operation.p = slash;
    r->scep_operation.n = (size_t)(r->url.p + r->url.n - slash);
  }
  r->level = r->http_status >= 500 ? SCEPLAB_LVL_ERROR : r->http_status >= 400 ? SCEPLAB_LVL_WARNING : SCEPLAB_LVL_INFO;
  return 1;
}


/* The IIS message is rendered only for records that passed the cheap filters. */
static void iis_message(sceplab_log *lg, sceplab_record *r)
{
  /* A readable message: "GET /certsrv/mscep/mscep.dll GetCACaps -> 200 0 0 (12 ms) windows" */
  {
    size_t o = 0, cap = sizeof(lg->scratch);
#define ADD(...) do { if(o < cap) o += (size_t)snprintf(lg->scratch + o, cap - o, __VA_ARGS__); } while(0)
    ADD("%.*s %.*s", (int)r->method.n, r->method.p ? r->method.p : "", (int)(r->url.n > 200 ? 200 : r->url.n),
        r->url.p ? r->url.p : "");
    if(r->step == 2 && r->scep_operation.n)
      ADD(" %.*s", (int)r->scep_operation.n, r->scep_operation.p);
    if(r->http_status >= 0)
      ADD(" -> %ld", r->http_status);
    if(r->http_substatus >= 0)
      ADD(" %ld", r->http_substatus);
    if(r->win32_status >= 0)
      ADD(" %lld", (long long)r->win32_status);
    if(r->time_taken_ms >= 0)
      ADD(" (%ld ms)", r->time_taken_ms);
    if(r->platform.n)
      ADD(" %s", r->platform.p);
#undef ADD
  }
  r->message.p = lg->scratch;
  r->message.n = strlen(lg->scratch);
}

/* ---- CMTrace ---------------------------------------------------------------------------------- */

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
    consumed += 1 + fraction_us(tb + consumed + 1, strlen(tb + consumed + 1), &us);
  sign = tb + consumed;
  if(*sign == '+' || *sign == '-') {
    long b = strtol(sign, NULL, 10);
    if(b < -MAX_OFFSET_MIN || b > MAX_OFFSET_MIN)
      return -1; /* "+99999": not a zone */
    bias = (int)b;
  }
  else
    r->zone_assumed = 1;
  if(lg->bias_set)
    bias = lg->bias;
  r->time_us = make_time(y, mo, day, h, mi, s, us);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN)
    return -1;
  r->time_us += (int64_t)bias * 60 * 1000000;
  r->utc_offset_min = -bias;
  r->time_text = t;
  return 0;
}

static int msg_append(sceplab_log *lg, size_t *len, const char *p, size_t n)
{
  if(*len + n + 2 > lg->msgcap) {
    size_t cap = lg->msgcap ? lg->msgcap * 2 : 4096;
    char *nm;
    while(cap < *len + n + 2)
      cap *= 2;
    if(cap > MAX_MESSAGE + 2) {
      n = MAX_MESSAGE > *len ? MAX_MESSAGE - *len : 0;
      cap = MAX_MESSAGE + 2;
    }
    nm = realloc(lg->msg, cap);
    if(!nm)
      return -1;
    lg->msg = nm;
    lg->msgcap = cap;
  }
  memcpy(lg->msg + *len, p, n);
  *len += n;
  return 0;
}

/* One CMTrace record, which may span lines: "<![LOG[message]LOG]!><time=... date=... component=...>". */
static int parse_cmtrace(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
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
        skip_line(lg, first, "not a CMTrace record");
      return 0;
    }
    c1 = dd + 3;
    c2 = memchr(c1, '>', n - (size_t)(c1 - p));
    t1 = c2 && c2 + 1 < p + n && c2[1] == '<' ? c2 + 2 : NULL;
    t2 = t1 ? memchr(t1, '>', n - (size_t)(t1 - p)) : NULL;
    sp = t1 && t2 ? memchr(t1, ' ', (size_t)(t2 - t1)) : NULL;
    if(!sp) {
      skip_line(lg, first, "CMTrace record without <date time>");
      return 0;
    }
    d.p = t1;
    d.n = (size_t)(sp - t1);
    t.p = sp + 1;
    t.n = (size_t)(t2 - sp - 1);
    if(cm_time(lg, t, d, r) != 0) {
      skip_line(lg, first, "unreadable CMTrace time");
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
        r->thread.n = span_until(th + 7, p + n, " >");
      }
    }
    {
      size_t mlen = (size_t)(dd - p);
      while(mlen && p[mlen - 1] == ' ')
        mlen--;
      if(msg_append(lg, &len, p, mlen) != 0)
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
      if(msg_append(lg, &len, body, (size_t)(close - body)) != 0)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
      break;
    }
    /* the message goes on: an HTML error page inside a message is real */
    if(msg_append(lg, &len, body, blen) != 0 || msg_append(lg, &len, "\n", 1) != 0)
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    {
      int rc = next_line(lg, &p, &n, err);
      if(rc < 0)
        return -1;
      if(rc == 0) {
        skip_line(lg, first, "CMTrace message never closed with ]LOG]!>");
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
      skip_line(lg, first, "unreadable time= or date= attribute");
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

/* ---- line formats without a zone or a date: Android, iOS, Event Viewer exports ------------------ */

static const char *month_names = "JanFebMarAprMayJunJulAugSepOctNovDec";

static sceplab_str arena_str(sceplab_log *lg, const char *s);

/* Applies the assumed zone to a local time. */
static void assume_zone(sceplab_log *lg, sceplab_record *r)
{
  r->zone_assumed = 1;
  r->utc_offset_min = lg->offset_set ? lg->offset_min : 0;
  r->time_us -= (int64_t)r->utc_offset_min * 60 * 1000000;
}

/* Next whitespace-separated token (spaces or tabs) within [*p, end). */
static sceplab_str next_tok(const char **p, const char *end)
{
  sceplab_str t = {NULL, 0};
  while(*p < end && (**p == ' ' || **p == '\t'))
    (*p)++;
  t.p = *p;
  while(*p < end && **p != ' ' && **p != '\t')
    (*p)++;
  t.n = (size_t)(*p - t.p);
  return t;
}

static void step_from_text(sceplab_record *r)
{
  const char *m = r->message.p;
  size_t n = r->message.n;
  if(!m)
    return;
  if(sceplab_memcasestr(m, n, "CERT_INSTALL_SUCCESS") || sceplab_memcasestr(m, n, "CERT_ACCESS_GRANTED") ||
     sceplab_memcasestr(m, n, "installed.") || sceplab_memcasestr(m, n, "installed successfully"))
    r->step = 5;
  else if(sceplab_memcasestr(m, n, "mscep") || sceplab_memcasestr(m, n, "pkiStatus="))
    r->step = 2;
}

/* "Received '503 Service Unavailable' when sending GetCACaps(ca) to URL" and "Sending GetCACert(ca) to URL" */
static void jscep_fields(sceplab_record *r)
{
  const char *m = r->message.p, *q, *end;
  if(!m)
    return;
  end = m + r->message.n;
  if((q = sceplab_memcasestr(m, r->message.n, "Received '"))) {
    char num[8];
    size_t k = 0;
    q += 10;
    while(q + k < end && k < 3 && isdigit((unsigned char)q[k]))
      k++;
    memcpy(num, q, k);
    num[k] = 0;
    if(k == 3)
      r->http_status = atol(num);
  }
  if((q = sceplab_memcasestr(m, r->message.n, "sending ")) || (q = sceplab_memcasestr(m, r->message.n, "Sending "))) {
    const char *op = q + 8, *par = op;
    while(par < end && isalpha((unsigned char)*par))
      par++;
    if(par < end && *par == '(' && par > op) {
      r->scep_operation.p = op;
      r->scep_operation.n = (size_t)(par - op);
    }
  }
  if((q = sceplab_memcasestr(m, r->message.n, "https://")) || (q = sceplab_memcasestr(m, r->message.n, "http://"))) {
    r->url.p = q;
    r->url.n = span_until(q, end, " '\\");
  }
}

static int parse_omadm(sceplab_log *lg, const char *p, size_t n, sceplab_record *r)
{
  const char *cur = p, *end = p + n;
  sceplab_str ts = next_tok(&cur, end), lvl = next_tok(&cur, end), ev = next_tok(&cur, end);
  sceplab_str logger = next_tok(&cur, end), pid = next_tok(&cur, end), tid = next_tok(&cur, end);
  char tb[40];
  int y, mo, d, h, mi, s, k = 0;
  long us = 0;
  (void)pid;
  if(!copy_view(ts, tb, sizeof(tb)) || sscanf(tb, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &k) != 6 ||
     !(ev.n == 5 && memcmp(ev.p, "Event", 5) == 0) || !tid.n) {
    if(n)
      skip_line(lg, r->line, "not an OMADM log line");
    return 0;
  }
  if(tb[k] == '.')
    fraction_us(tb + k + 1, strlen(tb + k + 1), &us);
  r->time_us = make_time(y, mo, d, h, mi, s, us);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    skip_line(lg, r->line, "date or time out of range");
    return 0;
  }
  assume_zone(lg, r);
  r->time_text = ts;
  r->component = logger;
  r->thread = tid;
  r->level = lvl.n >= 4 && strncmp(lvl.p, "VERB", 4) == 0 ? SCEPLAB_LVL_VERBOSE
           : lvl.n >= 4 && strncmp(lvl.p, "WARN", 4) == 0 ? SCEPLAB_LVL_WARNING
           : lvl.n >= 5 && (strncmp(lvl.p, "ERROR", 5) == 0 || strncmp(lvl.p, "SEVER", 5) == 0) ? SCEPLAB_LVL_ERROR
                                                                                          : SCEPLAB_LVL_INFO;
  while(cur < end && (*cur == ' ' || *cur == '\t'))
    cur++;
  r->message.p = cur;
  r->message.n = (size_t)(end - cur);
  jscep_fields(r);
  if(r->http_status >= 500 && r->level < SCEPLAB_LVL_ERROR)
    r->level = SCEPLAB_LVL_ERROR;
  step_from_text(r);
  if(logger.n && sceplab_memcasestr(logger.p, logger.n, "jscep"))
    r->step = r->step ? r->step : 2;
  return 1;
}

/* iOS Console copies saved through TextEdit keep RTF debris: a trailing backslash and \'93 \'94. */
static size_t clean_rtf(sceplab_log *lg, const char *p, size_t n)
{
  size_t len = 0, i = 0;
  while(n && (p[n - 1] == '\\' || p[n - 1] == ' '))
    n--;
  while(i < n) {
    if(p[i] == '\\' && i + 3 < n && p[i + 1] == '\'' && (memcmp(p + i + 2, "93", 2) == 0 || memcmp(p + i + 2, "94", 2) == 0)) {
      msg_append(lg, &len, "\"", 1);
      i += 4;
    }
    else {
      size_t k = i;
      while(k < n && !(p[k] == '\\' && k + 1 < n && p[k + 1] == '\''))
        k++;
      if(k == i)
        k = i + 1;
      msg_append(lg, &len, p + i, k - i);
      i = k;
    }
  }
  return len;
}

static int parse_ios(sceplab_log *lg, const char *p, size_t n, sceplab_record *r)
{
  const char *cur = p, *end = p + n;
  sceplab_str type = next_tok(&cur, end), t = next_tok(&cur, end), off = next_tok(&cur, end), proc = next_tok(&cur, end);
  char tb[24], ob[8];
  int h, mi, s, k = 0, oh, om;
  long us = 0;
  size_t len;
  if(!copy_view(t, tb, sizeof(tb)) || !copy_view(off, ob, sizeof(ob)) || sscanf(tb, "%2d:%2d:%2d%n", &h, &mi, &s, &k) != 3 ||
     (ob[0] != '+' && ob[0] != '-') || sscanf(ob + 1, "%2d%2d", &oh, &om) != 2 || !proc.n) {
    if(n)
      skip_line(lg, r->line, "not an iOS console line");
    return 0;
  }
  if(tb[k] == '.')
    fraction_us(tb + k + 1, strlen(tb + k + 1), &us);
  r->time_us = make_time(lg->year, lg->month, lg->day, h, mi, s, us);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    skip_line(lg, r->line, "time out of range");
    return 0;
  }
  r->date_assumed = 1;
  r->utc_offset_min = (ob[0] == '-' ? -1 : 1) * (oh * 60 + om);
  r->time_us -= (int64_t)r->utc_offset_min * 60 * 1000000;
  r->time_text.p = t.p;
  r->time_text.n = (size_t)(off.p + off.n - t.p);
  r->component = proc;
  r->level = type.n == 5 && memcmp(type.p, "Error", 5) == 0 ? SCEPLAB_LVL_ERROR
           : type.n == 5 && memcmp(type.p, "Fault", 5) == 0 ? SCEPLAB_LVL_CRITICAL
           : type.n == 5 && memcmp(type.p, "Debug", 5) == 0 ? SCEPLAB_LVL_VERBOSE : SCEPLAB_LVL_INFO;
  while(cur < end && *cur == ' ')
    cur++;
  len = clean_rtf(lg, cur, (size_t)(end - cur));
  r->message.p = lg->msg;
  r->message.n = len;
  jscep_fields(r);
  if(r->url.n) {
    const char *op = sceplab_memcasestr(r->url.p, r->url.n, "operation=");
    if(op) {
      r->scep_operation.p = op + 10;
      r->scep_operation.n = span_until(op + 10, r->url.p + r->url.n, "&");
    }
  }
  step_from_text(r);
  return 1;
}

static int parse_syslog(sceplab_log *lg, const char *p, size_t n, sceplab_record *r)
{
  char head[64], mon[4];
  const char *lt, *gt, *m, *mp;
  int d, h, mi, s, month;
  size_t hn = n < sizeof(head) - 1 ? n : sizeof(head) - 1, len;
  memcpy(head, p, hn);
  head[hn] = 0;
  if(sscanf(head, "%3s %2d %2d:%2d:%2d", mon, &d, &h, &mi, &s) != 5 || !(mp = strstr(month_names, mon)) ||
     !(lt = memchr(p, '<', n)) || !(gt = memchr(lt, '>', n - (size_t)(lt - p)))) {
    if(n)
      skip_line(lg, r->line, "not a syslog line");
    return 0;
  }
  month = (int)(mp - month_names) / 3 + 1;
  r->time_us = make_time(lg->year, month, d, h, mi, s, 0);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    skip_line(lg, r->line, "date out of range");
    return 0;
  }
  r->date_assumed = 1;
  assume_zone(lg, r);
  r->time_text.p = p;
  r->time_text.n = n < 15 ? n : 15;
  {
    const char *cur = p + r->time_text.n, *end = lt > cur ? lt : cur;
    sceplab_str host = next_tok(&cur, end), proc = next_tok(&cur, end);
    r->host = host;
    r->component.p = proc.p;
    r->component.n = span_until(proc.p, proc.p + proc.n, "[");
  }
  r->level = sceplab_memcasestr(lt, (size_t)(gt - lt), "Error") ? SCEPLAB_LVL_ERROR
           : sceplab_memcasestr(lt, (size_t)(gt - lt), "Warn") ? SCEPLAB_LVL_WARNING : SCEPLAB_LVL_INFO;
  m = gt + 1;
  while(m < p + n && (*m == ':' || *m == ' '))
    m++;
  len = clean_rtf(lg, m, (size_t)(p + n - m));
  r->message.p = lg->msg;
  r->message.n = len;
  jscep_fields(r);
  step_from_text(r);
  return 1;
}

/* Event Viewer "Save as" text (tab) and CSV (comma): Level, Date and Time, Source, Event ID, Task
 * Category, then the description, quoted (with "" inside) when it spans lines. */
static int parse_evtexport(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  char sep = lg->fmt == FMT_EVTTXT ? '\t' : ',';
  sceplab_str col[5];
  const char *cur = p, *end = p + n;
  size_t len = 0;
  int i, mo, d, y, h, mi, s, k = 0;
  char tb[48], ampm[3] = "";
  if(r->line == 1)
    return 0; /* the header */
  for(i = 0; i < 5; i++) {
    const char *st = cur;
    if(cur < end && *cur == '"') { /* a quoted column (CSV) */
      st = ++cur;
      while(cur < end && *cur != '"')
        cur++;
      col[i].p = st;
      col[i].n = (size_t)(cur - st);
      if(cur < end)
        cur++;
    }
    else {
      while(cur < end && *cur != sep)
        cur++;
      col[i].p = st;
      col[i].n = (size_t)(cur - st);
    }
    if(cur >= end || *cur != sep) {
      if(n)
        skip_line(lg, r->line, "fewer than six columns");
      return 0;
    }
    cur++;
  }
  if(!copy_view(col[1], tb, sizeof(tb)) || sscanf(tb, "%d/%d/%d %d:%d:%d%n", &mo, &d, &y, &h, &mi, &s, &k) != 6) {
    skip_line(lg, r->line, "unreadable Date and Time");
    return 0;
  }
  sscanf(tb + k, " %2s", ampm);
  if((ampm[0] == 'P' || ampm[0] == 'p') && h < 12)
    h += 12;
  else if((ampm[0] == 'A' || ampm[0] == 'a') && h == 12)
    h = 0;
  r->time_us = make_time(y, mo, d, h, mi, s, 0);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    skip_line(lg, r->line, "Date and Time out of range");
    return 0;
  }
  assume_zone(lg, r);
  r->level = col[0].n >= 5 && strncmp(col[0].p, "Error", 5) == 0 ? SCEPLAB_LVL_ERROR
           : col[0].n >= 4 && strncmp(col[0].p, "Warn", 4) == 0 ? SCEPLAB_LVL_WARNING
           : col[0].n >= 4 && strncmp(col[0].p, "Crit", 4) == 0 ? SCEPLAB_LVL_CRITICAL
           : col[0].n >= 4 && strncmp(col[0].p, "Verb", 4) == 0 ? SCEPLAB_LVL_VERBOSE : SCEPLAB_LVL_INFO;
  {
    char eid[16];
    if(copy_view(col[3], eid, sizeof(eid)))
      r->event_id = strtol(eid, NULL, 10);
  }
  /* the columns point into the line buffer, which the next line may move: keep copies */
  lg->arena_used = 0;
  r->time_text = col[1];
  {
    char tmp[512];
    if(copy_view(col[1], tmp, sizeof(tmp)))
      r->time_text = arena_str(lg, tmp);
    if(copy_view(col[2], tmp, sizeof(tmp)))
      r->component = arena_str(lg, tmp);
  }
  /* the description */
  if(cur < end && *cur == '"') {
    const char *q = cur + 1, *e;
    for(;;) {
      e = q;
      while(e < end) {
        if(*e == '"' && e + 1 < end && e[1] == '"') {
          msg_append(lg, &len, q, (size_t)(e - q) + 1);
          q = e += 2;
          continue;
        }
        if(*e == '"')
          break;
        e++;
      }
      msg_append(lg, &len, q, (size_t)(e - q));
      if(e < end)
        break;
      {
        int rc;
        msg_append(lg, &len, "\n", 1);
        rc = next_line(lg, &p, &n, err);
        if(rc < 0)
          return -1;
        if(rc == 0)
          break;
        q = p;
        end = p + n;
      }
    }
  }
  else
    msg_append(lg, &len, cur, (size_t)(end - cur));
  r->message.p = lg->msg;
  r->message.n = len;
  if(r->component.n) {
    if(sceplab_memcasestr(r->component.p, r->component.n, "DeviceManagement-Enterprise"))
      r->step = r->event_id == 39 ? 5 : 2;
    else if(sceplab_memcasestr(r->component.p, r->component.n, "NetworkDeviceEnrollment"))
      r->step = 3;
    else if(sceplab_memcasestr(r->component.p, r->component.n, "CertificationAuthority"))
      r->step = 4;
  }
  return 1;
}

/* ---- XML fragment formats: WCF .svclog and Windows event XML -------------------------------- */

#define MAX_FRAGMENT (4u << 20)

/* Copies a string into the per-record arena; the view lives until the next record. */
static sceplab_str arena_str(sceplab_log *lg, const char *s)
{
  sceplab_str v = {NULL, 0};
  size_t n = s ? strlen(s) : 0;
  if(!n)
    return v;
  if(lg->arena_used + n + 1 > sizeof(lg->arena))
    n = lg->arena_used + 1 < sizeof(lg->arena) ? sizeof(lg->arena) - lg->arena_used - 1 : 0;
  if(!n)
    return v;
  memcpy(lg->arena + lg->arena_used, s, n);
  lg->arena[lg->arena_used + n] = 0;
  v.p = lg->arena + lg->arena_used;
  v.n = n;
  lg->arena_used += n + 1;
  return v;
}

static char *xml_attr(const xmlNode *n, const char *name)
{
  return n ? (char *)xmlGetProp((xmlNode *)n, (const xmlChar *)name) : NULL;
}

/* The ISO 8601 SystemTime: "2020-05-24T10:16:06.1234567Z" or with an offset. */
static int iso_time(const char *t, sceplab_record *r)
{
  int y, mo, d, h, mi, s, consumed = 0;
  long us = 0;
  const char *z;
  if(!t || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6)
    return -1;
  z = t + consumed;
  if(*z == '.')
    z += 1 + fraction_us(z + 1, strlen(z + 1), &us);
  r->time_us = make_time(y, mo, d, h, mi, s, us);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN)
    return -1;
  if(*z == 'Z')
    r->utc_offset_min = 0;
  else if(*z == '+' || *z == '-') {
    int oh = 0, om = 0;
    if(sscanf(z + 1, "%2d:%2d", &oh, &om) < 1)
      return -1;
    r->utc_offset_min = (*z == '-' ? -1 : 1) * (oh * 60 + om);
    r->time_us -= (int64_t)r->utc_offset_min * 60 * 1000000;
  }
  else
    r->zone_assumed = 1;
  return 0;
}

/* UserData (CAPI2 and others) nests elements with attributes: "Name a=v b=w Child ... text". */
static void flatten(sceplab_log *lg, size_t *len, const xmlNode *n, int depth)
{
  const xmlNode *c;
  const xmlAttr *a;
  if(depth > 16 || *len > 8192)
    return;
  if(*len)
    msg_append(lg, len, " ", 1);
  msg_append(lg, len, (const char *)n->name, strlen((const char *)n->name));
  for(a = n->properties; a; a = a->next) {
    xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
    msg_append(lg, len, " ", 1);
    msg_append(lg, len, (const char *)a->name, strlen((const char *)a->name));
    msg_append(lg, len, "=", 1);
    if(v)
      msg_append(lg, len, (const char *)v, strlen((const char *)v));
    xmlFree(v);
  }
  for(c = n->children; c; c = c->next) {
    if(c->type == XML_ELEMENT_NODE)
      flatten(lg, len, c, depth + 1);
    else if(c->type == XML_TEXT_NODE && c->content) {
      const char *t = (const char *)c->content;
      size_t tl = strlen(t);
      while(tl && isspace((unsigned char)*t)) { t++; tl--; }
      while(tl && isspace((unsigned char)t[tl - 1]))
        tl--;
      if(tl) {
        msg_append(lg, len, " ", 1);
        msg_append(lg, len, t, tl);
      }
    }
  }
}

static int parse_fragment(sceplab_log *lg, const char *frag, size_t n, sceplab_record *r)
{
  xmlDoc *doc;
  xmlNode *root, *sys, *c;
  char *t;
  doc = xmlReadMemory(frag, (int)n, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  root = doc ? xmlDocGetRootElement(doc) : NULL;
  if(!root) {
    xmlFreeDoc(doc);
    skip_line(lg, r->line, lg->fmt == FMT_SVCLOG ? "E2ETraceEvent is not well-formed XML" : "Event is not well-formed XML");
    return 0;
  }
  sys = sceplab_xml_child(root, "System");
  t = xml_attr(sceplab_xml_child(sys, "TimeCreated"), "SystemTime");
  if(iso_time(t, r) != 0) {
    xmlFree(t);
    xmlFreeDoc(doc);
    skip_line(lg, r->line, "no readable TimeCreated SystemTime");
    return 0;
  }
  r->time_text = arena_str(lg, t);
  xmlFree(t);
  {
    char *comp = sceplab_xml_text(sceplab_xml_child(sys, "Computer"));
    r->host = arena_str(lg, comp);
    free(comp);
  }
  {
    xmlNode *ex = sceplab_xml_child(sys, "Execution");
    char *tid = xml_attr(ex, "ThreadID");
    r->thread = arena_str(lg, tid);
    xmlFree(tid);
  }
  if(lg->fmt == FMT_SVCLOG) {
    char *src = xml_attr(sceplab_xml_child(sys, "Source"), "Name");
    char *lvl = sceplab_xml_text(sceplab_xml_child(sys, "Level"));
    char *act = xml_attr(sceplab_xml_child(sys, "Correlation"), "ActivityID");
    char *msg = sceplab_xml_text(sceplab_xml_child(root, "ApplicationData"));
    int level = lvl ? atoi(lvl) : 0;
    r->component = arena_str(lg, src);
    r->context = arena_str(lg, act);
    r->level = level == 1 ? SCEPLAB_LVL_CRITICAL : level == 2 ? SCEPLAB_LVL_ERROR : level == 4 ? SCEPLAB_LVL_WARNING
             : level == 16 ? SCEPLAB_LVL_VERBOSE : SCEPLAB_LVL_INFO;
    if(msg) {
      size_t len = 0;
      msg_append(lg, &len, msg, strlen(msg));
      r->message.p = lg->msg;
      r->message.n = len;
    }
    if(src && (strstr(src, "CertificateRegistration") || strstr(src, "NDES")))
      r->step = strstr(src, "Connector") ? 6 : 3;
    xmlFree(src);
    free(lvl);
    xmlFree(act);
    free(msg);
  }
  else {
    char *prov = xml_attr(sceplab_xml_child(sys, "Provider"), "Name");
    char *eid = sceplab_xml_text(sceplab_xml_child(sys, "EventID"));
    char *lvl = sceplab_xml_text(sceplab_xml_child(sys, "Level"));
    xmlNode *ri = sceplab_xml_child(root, "RenderingInfo");
    char *rendered = ri ? sceplab_xml_text(sceplab_xml_child(ri, "Message")) : NULL;
    int level = lvl ? atoi(lvl) : 0;
    size_t len = 0;
    r->component = arena_str(lg, prov);
    r->event_id = eid && *eid ? strtol(eid, NULL, 10) : -1;
    r->level = level == 1 ? SCEPLAB_LVL_CRITICAL : level == 2 ? SCEPLAB_LVL_ERROR : level == 3 ? SCEPLAB_LVL_WARNING
             : level == 5 ? SCEPLAB_LVL_VERBOSE : SCEPLAB_LVL_INFO;
    if(rendered && *rendered)
      msg_append(lg, &len, rendered, strlen(rendered));
    else {
      /* /f:xml carries no text: the EventData values, named, stand in for it */
      xmlNode *ed = sceplab_xml_child(root, "EventData");
      xmlNode *ud = sceplab_xml_child(root, "UserData");
      for(c = ud && !ed ? ud->children : NULL; c; c = c->next)
        if(c->type == XML_ELEMENT_NODE)
          flatten(lg, &len, c, 0);
      for(c = ed ? ed->children : NULL; c; c = c->next) {
        char *name, *val;
        if(c->type != XML_ELEMENT_NODE)
          continue;
        name = xml_attr(c, "Name");
        val = sceplab_xml_text(c);
        if(len)
          msg_append(lg, &len, "; ", 2);
        if(name) {
          msg_append(lg, &len, name, strlen(name));
          msg_append(lg, &len, "=", 1);
        }
        if(val)
          msg_append(lg, &len, val, strlen(val));
        xmlFree(name);
        free(val);
      }
    }
    r->message.p = lg->msg;
    r->message.n = len;
    if(prov) {
      if(strstr(prov, "DeviceManagement-Enterprise-Diagnostics-Provider"))
        r->step = r->event_id == 39 ? 5 : 2;
      else if(strstr(prov, "NetworkDeviceEnrollmentService"))
        r->step = 3;
      else if(strstr(prov, "CertificationAuthority"))
        r->step = 4;
    }
    xmlFree(prov);
    free(eid);
    free(lvl);
    free(rendered);
  }
  xmlFreeDoc(doc);
  return 1;
}

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
static int parse_xml_record(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
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
        got = parse_fragment(lg, o, end - (size_t)(o - lg->pending), r);
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
        skip_line(lg, lg->pend_line, "record larger than 4 MiB");
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
      int rc = next_line(lg, &p, &n, err);
      if(rc <= 0) {
        if(rc == 0 && o)
          skip_line(lg, lg->pend_line, "record never closed at the end of the file");
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

/* ---- Windows Installer logs (SetupMsi.log) --------------------------------------------------- */

/* "=== Verbose logging started: 5/24/2020  16:12:58 ..." gives the date the MSI lines lack;
 * "MSI (c) (28:54) [16:13:11:905]: message" lines are the records; property dumps are not. */
static int parse_msi(sceplab_log *lg, const char *p, size_t n, sceplab_record *r)
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
    size_t tl = br ? span_until(br, p + n, "]") : 0;
    if(!br || br + tl >= p + n || tl + 1 >= sizeof(tb)) {
      skip_line(lg, r->line, "MSI line without [HH:MM:SS:mmm]");
      return 0;
    }
    memcpy(tb, br, tl + 1);
    tb[tl + 1] = 0;
    if(sscanf(tb, "[%d:%d:%d:%d]", &h, &mi, &s, &ms) != 4) {
      skip_line(lg, r->line, "MSI line without [HH:MM:SS:mmm]");
      return 0;
    }
  }
  r->time_us = make_time(lg->year, lg->month, lg->day, h, mi, s, ms * 1000L);
  if(r->time_us == SCEPLAB_TIME_UNKNOWN) {
    skip_line(lg, r->line, "time out of range");
    return 0;
  }
  assume_zone(lg, r);
  r->time_text.p = br;
  r->time_text.n = span_until(br, p + n, "]") + 1;
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
        set_hresult(r, (uint32_t)r->win32_status);
      }
    }
    if(sceplab_memcasestr(msg, r->message.n, "Installation failed") || sceplab_memcasestr(msg, r->message.n, "Return value 3"))
      r->level = SCEPLAB_LVL_ERROR;
  }
  return 1;
}

/* ---- registry exports (.reg) ------------------------------------------------------------------ */

/* One record per value: component is the key, message "name=value"; no times, so the file's. */
static int parse_reg(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  size_t len = 0;
  if(n && p[0] == '[') {
    snprintf(lg->regkey, sizeof(lg->regkey), "%.*s", (int)(n > 2 ? n - 2 : 0), p + 1);
    return 0;
  }
  if(!n || p[0] == ';' || (strncmp(p, "Windows Registry", 16) == 0) || strncmp(p, "REGEDIT4", 8) == 0)
    return 0;
  if(p[0] != '"' && p[0] != '@') {
    skip_line(lg, r->line, "not a registry value line");
    return 0;
  }
  msg_append(lg, &len, p, n);
  /* hex values continue with a trailing backslash */
  while(len && lg->msg[len - 1] == '\\') {
    int rc = next_line(lg, &p, &n, err);
    len--;
    if(rc < 0)
      return -1;
    if(rc == 0)
      break;
    while(n && (*p == ' ' || *p == '\t')) {
      p++;
      n--;
    }
    msg_append(lg, &len, p, n);
  }
  r->message.p = lg->msg;
  r->message.n = len;
  lg->arena_used = 0;
  r->component = arena_str(lg, lg->regkey);
  r->time_us = lg->mtime_us;
  r->time_text = arena_str(lg, "file modification time");
  r->level = SCEPLAB_LVL_INFO;
  return 1;
}

/* ---- CRS files: one record per file; the folder is the status ------------------------------- */

static int parse_crs_file(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
{
  sceplab_val *v;
  sceplab_error e;
  const char *slash, *prev, *folder = "", *f;
  size_t flen = 0, len = 0;
  char line[600];
  if(lg->done)
    return 0;
  lg->done = 1;
  while(!lg->eof && lg->end - lg->start < MAX_LINE) {
    int rc = refill(lg, err);
    if(rc < 0)
      return -1;
  }
  r->line = 1;
  if(!lg->buf || lg->end == lg->start) {
    skip_line(lg, 1, "empty file");
    return 0;
  }
  v = sceplab_crs_parse((const unsigned char *)lg->buf + lg->start, lg->end - lg->start, &e);
  if(!v) {
    skip_line(lg, 1, e.msg);
    return 0;
  }
  /* .../CertificateRequestStatus/<Folder>/<id>.CRS */
  slash = strrchr(lg->path, '/');
  if(slash && slash > lg->path) {
    for(prev = slash - 1; prev > lg->path && *prev != '/' && *prev != '!'; prev--)
      ;
    folder = (*prev == '/' || *prev == '!') ? prev + 1 : prev;
    flen = (size_t)(slash - folder);
  }
  lg->arena_used = 0;
  {
    char fb[64];
    snprintf(fb, sizeof(fb), "%.*s", (int)(flen < 60 ? flen : 60), folder);
    r->component = arena_str(lg, fb);
  }
  r->time_us = lg->mtime_us;
  r->time_text = arena_str(lg, "file modification time");
  r->step = 6;
  r->level = flen == 6 && strncasecmp(folder, "Failed", 6) == 0 ? SCEPLAB_LVL_ERROR
           : flen == 10 && strncasecmp(folder, "Processing", 10) == 0 ? SCEPLAB_LVL_WARNING : SCEPLAB_LVL_INFO;
  if((f = sceplab_obj_get_str(v, "hresult")) && strcmp(f, "0x00000000") != 0) {
    r->level = SCEPLAB_LVL_ERROR;
    snprintf(r->hresult, sizeof(r->hresult), "%s", f);
    r->hresult_name = sceplab_hresult_name((uint32_t)strtoul(f + 2, NULL, 16));
  }
  if((f = sceplab_path(v, "request.canonical") ? sceplab_path(v, "request.canonical")->u.s.p : NULL))
    snprintf(r->request_id, sizeof(r->request_id), "%s", f);
  if((f = sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "TransactionID")))
    snprintf(r->transaction_id, sizeof(r->transaction_id), "%.95s", f);
  if((f = sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "DeviceID")) && strlen(f) == 36)
    snprintf(r->device_id, sizeof(r->device_id), "%s", f);
  if((f = sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "UserID")) && strlen(f) == 36)
    snprintf(r->user_id, sizeof(r->user_id), "%s", f);
  if((f = sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "Thumbprint")) && (strlen(f) == 40 || strlen(f) == 64))
    snprintf(r->thumbprint, sizeof(r->thumbprint), "%s", f);
  snprintf(line, sizeof(line), "CRS in %.*s: Status=%s HResult=%s UploadStatus=%s Thumbprint=%s",
           (int)(flen < 60 ? flen : 60), folder, sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "Status") ? sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "Status") : "?",
           sceplab_obj_get_str(v, "hresult") ? sceplab_obj_get_str(v, "hresult") : "?",
           sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "UploadStatus") ? sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "UploadStatus") : "?",
           sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "Thumbprint") ? sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "Thumbprint") : "-");
  msg_append(lg, &len, line, strlen(line));
  r->message.p = lg->msg;
  r->message.n = len;
  sceplab_val_free(v);
  return 1;
}

/* ---- opening, detection, iteration ------------------------------------------------------------ */

static int detect(const char *p, size_t n, format *fmt, char *why, size_t whylen)
{
  if(sceplab_memcasestr(p, n < 200 ? n : 200, "#Software: Microsoft Internet Information Services") ||
     (n > 8 && strncmp(p, "#Fields:", 8) == 0) || sceplab_memcasestr(p, n, "\n#Fields: date time")) {
    *fmt = FMT_IIS;
    snprintf(why, whylen, "IIS W3C extended log (#Software/#Fields directives)");
    return 0;
  }
  if(n > 28 && (strncmp(p, "=== Verbose logging started:", 28) == 0 || strncmp(p, "=== Logging started:", 20) == 0 ||
                strncmp(p, "MSI (c) (", 9) == 0 || strncmp(p, "MSI (s) (", 9) == 0)) {
    *fmt = FMT_MSI;
    snprintf(why, whylen, "Windows Installer log (MSI (c)/(s) lines)");
    return 0;
  }
  if(n > 20 && (strncmp(p, "Windows Registry Editor Version", 31) == 0 || strncmp(p, "REGEDIT4", 8) == 0)) {
    *fmt = FMT_REG;
    snprintf(why, whylen, "registry export (.reg)");
    return 0;
  }
  if(sceplab_memcasestr(p, n < 4096 ? n : 4096, "<CertRequestStatus")) {
    *fmt = FMT_CRS;
    snprintf(why, whylen, "Intune connector CRS file (<CertRequestStatus>)");
    return 0;
  }
  if(sceplab_memcasestr(p, n, "<E2ETraceEvent")) {
    *fmt = FMT_SVCLOG;
    snprintf(why, whylen, "WCF trace (.svclog: <E2ETraceEvent> fragments)");
    return 0;
  }
  if(sceplab_memcasestr(p, n, "<Event xmlns=") || sceplab_memcasestr(p, n, "<Event xmlns:")) {
    *fmt = FMT_EVENTXML;
    snprintf(why, whylen, "Windows event XML (wevtutil qe /f:xml or /f:RenderedXml)");
    return 0;
  }
  if(n > 35 && strncmp(p, "Level\tDate and Time\tSource\tEvent ID", strlen("Level\tDate and Time\tSource\tEvent ID")) == 0) {
    *fmt = FMT_EVTTXT;
    snprintf(why, whylen, "Event Viewer text export (Level, Date and Time, Source, Event ID, Task Category)");
    return 0;
  }
  if(n > 35 && strncmp(p, "Level,Date and Time,Source,Event ID", strlen("Level,Date and Time,Source,Event ID")) == 0) {
    *fmt = FMT_EVTCSV;
    snprintf(why, whylen, "Event Viewer CSV export (Level,Date and Time,Source,Event ID,Task Category)");
    return 0;
  }
  {
    /* Android OMADM: "2018-02-27T04:50:52.1890000<ws>LEVEL<ws>Event<ws>logger<ws>pid<ws>tid<ws>message" */
    int y, mo, d, h, mi, sec, k = 0;
    char lvl[8] = "";
    char ev[8] = "";
    char head[128];
    size_t hn = n < sizeof(head) - 1 ? n : sizeof(head) - 1;
    memcpy(head, p, hn);
    head[hn] = 0;
    if(sscanf(head, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &k) == 6 && head[k] == '.' &&
       sscanf(head + k, "%*[.0-9]%*[ \t]%7s%*[ \t]%7s", lvl, ev) == 2 && strcmp(ev, "Event") == 0) {
      *fmt = FMT_OMADM;
      snprintf(why, whylen, "Android Company Portal OMADM log (timestamp, level, Event, logger, pid, tid)");
      return 0;
    }
    if(sscanf(head, "%*[A-Za-z] %2d:%2d:%2d.%*d %*[-+]%4d %n", &h, &mi, &sec, &y, &k) == 4 && k > 0 &&
       (strncmp(head, "Default ", 8) == 0 || strncmp(head, "Debug ", 6) == 0 || strncmp(head, "Info ", 5) == 0 ||
        strncmp(head, "Error ", 6) == 0 || strncmp(head, "Fault ", 6) == 0)) {
      *fmt = FMT_IOS;
      snprintf(why, whylen, "iOS console copy (type, time with offset, process, message)");
      return 0;
    }
    {
      char mon[4];
      if(sscanf(head, "%3s %2d %2d:%2d:%2d", mon, &d, &h, &mi, &sec) == 5 && strstr(head, "]: ") == NULL &&
         strstr(head, "[") && strstr(head, "> ") == NULL && strstr(head, ">: ")) {
        *fmt = FMT_SYSLOG;
        snprintf(why, whylen, "iOS syslog (Mon DD HH:MM:SS device process[pid] <Level>: message)");
        return 0;
      }
    }
  }
  if(sceplab_memcasestr(p, n, "<![LOG[")) {
    *fmt = FMT_CMTRACE;
    snprintf(why, whylen, "CMTrace log (<![LOG[...]LOG]!> records)");
    return 0;
  }
  if(sceplab_memcasestr(p, n, "$$<") && sceplab_memcasestr(p, n, "><thread=")) {
    *fmt = FMT_CMTRACE;
    snprintf(why, whylen, "CMTrace log, older form (message $$<component><time><thread=N>)");
    return 0;
  }
  return -1;
}

static sceplab_log *open_stream(FILE *f, const char *path, sceplab_error *err);

static sceplab_log *open_raw(const char *path, sceplab_error *err)
{
  FILE *f = fopen(path, "rb");
  if(!f) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: %s", path, strerror(errno));
    return NULL;
  }
  return open_stream(f, path, err);
}

/* A reader over any stream (a file, or a zip member through fopencookie); takes ownership of f. */
static sceplab_log *open_stream(FILE *f, const char *path, sceplab_error *err)
{
  sceplab_log *lg = calloc(1, sizeof(*lg));
  if(!lg) {
    fclose(f);
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  lg->f = f;
  lg->path = strdup(path);
  if(!lg->path) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    sceplab_log_close(lg);
    return NULL;
  }
  lg->line = 1;
  lg->last_time = SCEPLAB_TIME_UNKNOWN;
  /* the encoding, from the BOM or the shape of the first bytes */
  {
    unsigned char b[4];
    size_t got = fread(b, 1, 4, lg->f);
    size_t skip = 0;
    if(got >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) skip = 3;
    else if(got >= 2 && b[0] == 0xFF && b[1] == 0xFE) { lg->enc = ENC_UTF16LE; skip = 2; }
    else if(got >= 2 && b[0] == 0xFE && b[1] == 0xFF) { lg->enc = ENC_UTF16BE; skip = 2; }
    else if(got == 4 && b[0] && !b[1] && b[2] && !b[3]) lg->enc = ENC_UTF16LE;
    memcpy(lg->raw, b + skip, got - skip);
    lg->rawleft = got - skip;
    if(lg->enc == ENC_UTF8 && lg->rawleft) {
      /* hand the bytes to the decoder as if just read */
      lg->buf = malloc(CHUNK * 2);
      if(!lg->buf) {
        sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
        sceplab_log_close(lg);
        return NULL;
      }
      lg->cap = CHUNK * 2;
      memcpy(lg->buf, lg->raw, lg->rawleft);
      lg->end = lg->rawleft;
      lg->rawleft = 0;
    }
  }
  if(refill(lg, err) < 0) {
    sceplab_log_close(lg);
    return NULL;
  }
  return lg;
}

/* libevtx's error text, as one line, into err: "<path>: <what>: <libevtx's reason>". */
static int evtx_error(sceplab_error *err, libevtx_error_t *e, const char *what, const char *path)
{
  char msg[256] = "";
  if(e) {
    libevtx_error_sprint(e, msg, sizeof(msg));
    libevtx_error_free(&e);
  }
  return sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: %s: %s", path, what, msg);
}

static int evtx_open(sceplab_log *lg, const char *path, sceplab_error *err)
{
  libevtx_error_t *e = NULL;
  lg->fmt = FMT_EVTX;
  if(lg->f) {
    fclose(lg->f);
    lg->f = NULL;
  }
  if(sceplab_optlib_need(SCEPLAB_LIB_EVTX, err) != 0)
    return -1;
  if(libevtx_file_initialize(&lg->evtx, &e) != 1)
    return evtx_error(err, e, "cannot read EVTX", path);
  if(libevtx_file_open(lg->evtx, path, LIBEVTX_OPEN_READ, &e) != 1) {
    libevtx_file_free(&lg->evtx, NULL);
    return evtx_error(err, e, "cannot open EVTX", path);
  }
  if(libevtx_file_get_number_of_records(lg->evtx, &lg->evtx_count, &e) != 1)
    return evtx_error(err, e, "cannot count EVTX records", path);
  return 0;
}

/* The next EVTX record: its XML, parsed as a Windows event. 1, 0 at end. */
static int evtx_next(sceplab_log *lg, sceplab_record *r)
{
  while(lg->evtx_index < lg->evtx_count) {
    libevtx_record_t *rec = NULL;
    libevtx_error_t *e = NULL;
    size_t size = 0;
    int index = lg->evtx_index++, got;
    char why[200];
    r->line = (uint64_t)index + 1;
    if(libevtx_file_get_record_by_index(lg->evtx, index, &rec, &e) != 1 ||
       libevtx_record_get_utf8_xml_string_size(rec, &size, &e) != 1 || size == 0 || size > MAX_FRAGMENT) {
      char msg[160] = "no XML";
      if(e) {
        libevtx_error_sprint(e, msg, sizeof(msg));
        libevtx_error_free(&e);
      }
      snprintf(why, sizeof(why), "record unreadable (%s)", msg);
      skip_line(lg, r->line, why);
      libevtx_record_free(&rec, NULL);
      continue;
    }
    if(size > lg->xmlcap) {
      char *nx = realloc(lg->xml, size);
      if(!nx) {
        libevtx_record_free(&rec, NULL);
        return -1;
      }
      lg->xml = nx;
      lg->xmlcap = size;
    }
    got = libevtx_record_get_utf8_xml_string(rec, (uint8_t *)lg->xml, size, &e) == 1;
    libevtx_record_free(&rec, NULL);
    if(!got) {
      libevtx_error_free(&e);
      skip_line(lg, r->line, "record XML unreadable");
      continue;
    }
    lg->arena_used = 0;
    if(parse_fragment(lg, lg->xml, strlen(lg->xml), r))
      return 1;
  }
  return 0;
}

static sceplab_log *finish_open(sceplab_log *lg, const char *path, const sceplab_log_filter *filter,
                                const sceplab_log_opts *opts, int64_t mtime, sceplab_error *err);

sceplab_log *sceplab_log_open(const char *path, const sceplab_log_filter *filter, const sceplab_log_opts *opts,
                              sceplab_error *err)
{
  sceplab_log *lg = open_raw(path, err);
  struct stat st;
  if(!lg)
    return NULL;
  return finish_open(lg, path, filter, opts, stat(path, &st) == 0 ? (int64_t)st.st_mtime : -1, err);
}

/* ---- zip bundles ------------------------------------------------------------------------------ */

typedef struct member_cookie { struct archive *a; } member_cookie;

static ssize_t member_read(void *c, char *buf, size_t n)
{
  la_ssize_t r = archive_read_data(((member_cookie *)c)->a, buf, n);
  return r < 0 ? -1 : (ssize_t)r;
}

static int member_close(void *c)
{
  archive_read_free(((member_cookie *)c)->a);
  free(c);
  return 0;
}

/* An archive handle positioned at regular-file member index (or walking all when each is set). */
static struct archive *archive_at(const char *path, int index, void (*each)(void *, int, const char *), void *u,
                                  struct archive_entry **entry, int *count, sceplab_error *err)
{
  struct archive *a;
  struct archive_entry *e;
  int i = 0, rc;
  if(sceplab_optlib_need(SCEPLAB_LIB_ARCHIVE, err) != 0)
    return NULL;
  a = archive_read_new();
  if(!a) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  archive_read_support_format_zip(a);
  archive_read_support_filter_all(a);
  if(archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: not a zip archive (%s)", path, archive_error_string(a));
    archive_read_free(a);
    return NULL;
  }
  while((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    if(archive_entry_filetype(e) != AE_IFREG)
      continue;
    if(each)
      each(u, i, archive_entry_pathname(e));
    else if(i == index) {
      *entry = e;
      return a;
    }
    i++;
  }
  if(rc != ARCHIVE_EOF) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: damaged archive (%s)", path, archive_error_string(a));
    archive_read_free(a);
    return NULL;
  }
  if(count)
    *count = i;
  if(!each)
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: no member %d", path, index);
  archive_read_free(a);
  return NULL;
}

int sceplab_archive_members(const char *path, void (*each)(void *u, int index, const char *name), void *u,
                            sceplab_error *err)
{
  int count = 0;
  FILE *f = fopen(path, "rb");
  unsigned char magic[4];
  size_t got = f ? fread(magic, 1, 4, f) : 0;
  if(f)
    fclose(f);
  if(got != 4 || memcmp(magic, "PK\3\4", 4) != 0)
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: not a zip archive", path), -1;
  sceplab_err_clear(err);
  archive_at(path, -1, each, u, NULL, &count, err);
  return err && err->code != SCEPLAB_OK ? -1 : count;
}

sceplab_log *sceplab_log_open_member(const char *archive, int index, const sceplab_log_filter *filter,
                                     const sceplab_log_opts *opts, sceplab_error *err)
{
  struct archive_entry *e = NULL;
  struct archive *a = archive_at(archive, index, NULL, NULL, &e, NULL, err);
  member_cookie *c;
  cookie_io_functions_t io = {member_read, NULL, NULL, member_close};
  char name[2048];
  int64_t mtime;
  FILE *f;
  sceplab_log *lg;
  if(!a)
    return NULL;
  snprintf(name, sizeof(name), "%s!%s", archive, archive_entry_pathname(e));
  mtime = archive_entry_mtime_is_set(e) ? (int64_t)archive_entry_mtime(e) : -1;
  c = malloc(sizeof(*c));
  f = c ? fopencookie(c, "rb", io) : NULL;
  if(!f) {
    free(c);
    archive_read_free(a);
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  c->a = a;
  lg = open_stream(f, name, err);
  return lg ? finish_open(lg, name, filter, opts, mtime, err) : NULL;
}

static sceplab_log *finish_open(sceplab_log *lg, const char *path, const sceplab_log_filter *filter,
                                const sceplab_log_opts *opts, int64_t mtime, sceplab_error *err)
{
  char why[160];
  if(opts && opts->format) {
    size_t i;
    for(i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
      if(strcmp(opts->format, format_names[i]) == 0)
        break;
    if(i == sizeof(format_names) / sizeof(format_names[0]) || i == FMT_EVTX) {
      sceplab_err_set(err, SCEPLAB_E_USAGE, "format '%s' cannot be forced (one of iis, cmtrace, svclog, eventxml, "
                      "android, ios, syslog, eventtext, eventcsv, crs, msi, registry)", opts->format);
      sceplab_log_close(lg);
      return NULL;
    }
    lg->fmt = (format)i;
  }
  else if(lg->end >= 8 && memcmp(lg->buf, "ElfFile", 8) == 0) {
    if(evtx_open(lg, path, err) != 0) {
      sceplab_log_close(lg);
      return NULL;
    }
  }
  else if(detect(lg->buf ? lg->buf : "", lg->end, &lg->fmt, why, sizeof(why)) != 0) {
    size_t k = 0;
    while(k < lg->end && k < 60 && lg->buf[k] != '\n' && lg->buf[k] != '\r')
      k++;
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: log format not recognised (first line: \"%.*s\")", path, (int)k,
                    lg->buf ? lg->buf : "");
    sceplab_log_close(lg);
    return NULL;
  }
  if(opts && ((opts->has_bias && (opts->bias < -MAX_OFFSET_MIN || opts->bias > MAX_OFFSET_MIN)) ||
              (opts->has_offset && (opts->offset_min < -MAX_OFFSET_MIN || opts->offset_min > MAX_OFFSET_MIN)))) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "%s: bias and offset stay within %d minutes of UTC", path, MAX_OFFSET_MIN);
    sceplab_log_close(lg);
    return NULL;
  }
  if(opts && opts->date) {
    int y, m, d;
    char extra;
    if(sscanf(opts->date, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || make_time(y, m, d, 0, 0, 0, 0) == SCEPLAB_TIME_UNKNOWN) {
      sceplab_err_set(err, SCEPLAB_E_USAGE, "date '%.40s' is not a calendar date (YYYY-MM-DD, 1970-2200)", opts->date);
      sceplab_log_close(lg);
      return NULL;
    }
  }
  /* Formats of XML records need libxml2: said once, at open, rather than for every record. */
  if(lg->fmt == FMT_SVCLOG || lg->fmt == FMT_EVENTXML || lg->fmt == FMT_EVTX) {
    sceplab_error lib;
    if(sceplab_optlib_need(SCEPLAB_LIB_XML2, &lib) != 0) {
      sceplab_err_set(err, lib.code, "%s: %s", path, lib.msg);
      sceplab_log_close(lg);
      return NULL;
    }
  }
  if(filter)
    lg->filter = *filter;
  else
    lg->filter.since_us = lg->filter.until_us = SCEPLAB_TIME_UNKNOWN;
  index_needles(lg);
  if(opts && opts->has_bias) {
    lg->bias_set = 1;
    lg->bias = opts->bias;
  }
  if(opts && opts->has_offset) {
    lg->offset_set = 1;
    lg->offset_min = opts->offset_min;
  }
  if(opts && opts->progress) {
    lg->progress = opts->progress;
    lg->progress_ud = opts->progress_ud;
    if(lg->bytes_read) /* what format detection read already */
      lg->progress(lg->progress_ud, (size_t)lg->bytes_read);
  }
  lg->mtime_us = mtime >= 0 ? mtime * 1000000 : SCEPLAB_TIME_UNKNOWN;
  /* the date for date-less formats: given, else the file's modification date */
  if(opts && opts->date && sscanf(opts->date, "%4d-%2d-%2d", &lg->year, &lg->month, &lg->day) == 3)
    ;
  else {
    struct tm tm;
    time_t t = mtime >= 0 ? (time_t)mtime : time(NULL);
    gmtime_r(&t, &tm);
    lg->year = tm.tm_year + 1900;
    lg->month = tm.tm_mon + 1;
    lg->day = tm.tm_mday;
  }
  return lg;
}

/* Many needles (diagnose passes every playbook's substrings, ~50) made one memchr scan per needle
 * per record the main cost. Instead: one pass over the message, and at each byte only the needles
 * starting with that letter (case-folded, ASCII as strncasecmp in the C locale). */
static unsigned char fold(unsigned char c)
{
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static void index_needles(sceplab_log *lg)
{
  const sceplab_log_filter *f = &lg->filter;
  size_t i;
  lg->needles_indexed = 0;
  if(f->ncontains < 2 || f->ncontains > NEEDLES_MAX)
    return;
  for(i = 0; i < 256; i++)
    lg->needle_head[i] = -1;
  for(i = f->ncontains; i-- > 0;) {
    unsigned char c = fold((unsigned char)f->contains[i][0]);
    if(!f->contains[i][0])
      return; /* an empty needle matches everything: keep the simple path */
    lg->needle_len[i] = strlen(f->contains[i]);
    lg->needle_next[i] = lg->needle_head[c];
    lg->needle_head[c] = (short)i;
  }
  lg->needles_indexed = 1;
}

static int contains_any(const sceplab_log *lg, const char *m, size_t n)
{
  const char *const *needles = lg->filter.contains;
  size_t j;
  for(j = 0; j < n; j++) {
    short h = lg->needle_head[fold((unsigned char)m[j])];
    for(; h >= 0; h = lg->needle_next[h]) {
      size_t len = lg->needle_len[h];
      if(len <= n - j && strncasecmp(m + j, needles[h], len) == 0)
        return 1;
    }
  }
  return 0;
}

static int passes_contains(const sceplab_log *lg, const sceplab_record *r)
{
  const sceplab_log_filter *f = &lg->filter;
  size_t i;
  int ok;
  if(!f->ncontains)
    return 1;
  if(lg->needles_indexed)
    return r->message.n && contains_any(lg, r->message.p, r->message.n);
  for(ok = 0, i = 0; i < f->ncontains && !ok; i++)
    ok = r->message.n && sceplab_memcasestr(r->message.p, r->message.n, f->contains[i]) != NULL;
  return ok;
}

static int in_list(long v, const long *list, size_t n)
{
  size_t i;
  for(i = 0; i < n; i++)
    if(list[i] == v)
      return 1;
  return 0;
}

/* Everything but the message test, which needs the message rendered. In "any" mode: 1 when the
 * record passes without the message, 2 when only the message test can still let it through. */
static int passes(const sceplab_log *lg, const sceplab_record *r)
{
  const sceplab_log_filter *f = &lg->filter;
  size_t i;
  int ok;
  if(f->nsources) {
    for(ok = 0, i = 0; i < f->nsources && !ok; i++)
      ok = strcmp(f->sources[i], r->source) == 0;
    if(!ok)
      return 0;
  }
  if(f->since_us != SCEPLAB_TIME_UNKNOWN && (r->time_us == SCEPLAB_TIME_UNKNOWN || r->time_us < f->since_us))
    return 0;
  if(f->until_us != SCEPLAB_TIME_UNKNOWN && (r->time_us == SCEPLAB_TIME_UNKNOWN || r->time_us > f->until_us))
    return 0;
  if(f->any) {
    if((f->nstatuses && in_list(r->http_status, f->statuses, f->nstatuses)) ||
       (f->nevent_ids && in_list(r->event_id, f->event_ids, f->nevent_ids)) ||
       (f->min_level && r->level >= f->min_level))
      return 1;
    return f->ncontains ? 2 : 0;
  }
  if(f->min_level && r->level < f->min_level)
    return 0;
  if(f->nstatuses && !in_list(r->http_status, f->statuses, f->nstatuses))
    return 0;
  if(f->nevent_ids && !in_list(r->event_id, f->event_ids, f->nevent_ids))
    return 0;
  return 1;
}

static void count_step(sceplab_log *lg, const sceplab_record *r)
{
  if(r->step >= 1 && r->step <= 6)
    lg->steps[r->step]++;
}

int sceplab_log_next(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
{
  if(lg->fmt == FMT_SVCLOG || lg->fmt == FMT_EVENTXML || lg->fmt == FMT_EVTX || lg->fmt == FMT_CRS) {
    for(;;) {
      int rc;
      memset(r, 0, sizeof(*r));
      r->time_us = SCEPLAB_TIME_UNKNOWN;
      r->event_id = -1;
      r->http_status = r->http_substatus = -1;
      r->win32_status = -1;
      r->time_taken_ms = -1;
      r->source = format_names[lg->fmt];
      rc = lg->fmt == FMT_EVTX ? evtx_next(lg, r) : lg->fmt == FMT_CRS ? parse_crs_file(lg, r, err)
         : parse_xml_record(lg, r, err);
      if(rc < 0)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
      if(rc <= 0)
        return rc;
      lg->records++;
      count_step(lg, r);
      lg->last_time = r->time_us;
      {
        int pass = passes(lg, r);
        if(!pass || ((pass == 2 || !lg->filter.any) && !passes_contains(lg, r)))
          continue;
      }
      extract_from_message(r); /* only for records that will be returned */
      return 1;
    }
  }
  for(;;) {
    const char *p;
    size_t n;
    uint64_t offset;
    int rc = next_line(lg, &p, &n, err), got;
    if(rc <= 0)
      return rc;
    offset = lg->line_start;
    memset(r, 0, sizeof(*r));
    r->time_us = SCEPLAB_TIME_UNKNOWN;
    r->event_id = -1;
    r->http_status = r->http_substatus = -1;
    r->win32_status = -1;
    r->time_taken_ms = -1;
    r->line = lg->line - 1;
    r->offset = offset;
    if(lg->line_cut) {
      skip_line(lg, r->line, "line longer than 1 MiB");
      continue;
    }
    r->source = format_names[lg->fmt];
    switch(lg->fmt) {
    case FMT_IIS: got = parse_iis(lg, p, n, r); break;
    case FMT_OMADM: got = parse_omadm(lg, p, n, r); break;
    case FMT_IOS: got = parse_ios(lg, p, n, r); break;
    case FMT_SYSLOG: got = parse_syslog(lg, p, n, r); break;
    case FMT_EVTTXT:
    case FMT_EVTCSV: got = parse_evtexport(lg, p, n, r, err); break;
    case FMT_MSI: got = parse_msi(lg, p, n, r); break;
    case FMT_REG: got = parse_reg(lg, p, n, r, err); break;
    default: got = parse_cmtrace(lg, p, n, r, err); break;
    }
    if(got < 0)
      return -1;
    if(!got)
      continue;
    lg->records++;
    count_step(lg, r);
    if(r->time_us != SCEPLAB_TIME_UNKNOWN && !r->time_inferred)
      lg->last_time = r->time_us;
    {
      int pass = passes(lg, r);
      if(!pass)
        continue;
      if(lg->fmt == FMT_IIS)
        iis_message(lg, r); /* its fields were extracted while parsing */
      if((pass == 2 || !lg->filter.any) && !passes_contains(lg, r))
        continue;
    }
    if(lg->fmt != FMT_IIS)
      extract_from_message(r); /* only for records that will be returned */
    return 1;
  }
}

void sceplab_log_close(sceplab_log *lg)
{
  int i;
  if(!lg)
    return;
  if(lg->f)
    fclose(lg->f);
  for(i = 0; i < lg->nfields; i++)
    free(lg->fields[i]);
  free(lg->path);
  free(lg->buf);
  free(lg->msg);
  free(lg->pending);
  free(lg->xml);
  if(lg->evtx) {
    libevtx_file_close(lg->evtx, NULL);
    libevtx_file_free(&lg->evtx, NULL);
  }
  free(lg);
}

const char *sceplab_log_format(const sceplab_log *lg) { return format_names[lg->fmt]; }
const char *sceplab_log_path(const sceplab_log *lg) { return lg->path; }
uint64_t sceplab_log_records(const sceplab_log *lg) { return lg->records; }
uint64_t sceplab_log_skipped(const sceplab_log *lg) { return lg->skipped; }
uint64_t sceplab_log_step_records(const sceplab_log *lg, int step)
{
  return step >= 1 && step <= 6 ? lg->steps[step] : 0;
}

const char *sceplab_log_skip_example(const sceplab_log *lg, int i)
{
  return i >= 0 && (uint64_t)i < lg->skipped && i < 3 ? lg->examples[i] : NULL;
}

int sceplab_log_explain(const char *path, char *out, size_t outlen, sceplab_error *err)
{
  sceplab_log *lg = open_raw(path, err);
  format fmt;
  char why[160];
  if(!lg)
    return err ? (int)err->code : SCEPLAB_E_INPUT;
  if(lg->end >= 8 && memcmp(lg->buf, "ElfFile", 8) == 0) {
    snprintf(out, outlen, "evtx: binary Windows event log (ElfFile signature), read with libevtx");
    sceplab_log_close(lg);
    return 0;
  }
  if(detect(lg->buf ? lg->buf : "", lg->end, &fmt, why, sizeof(why)) != 0) {
    size_t seen = lg->end;
    sceplab_log_close(lg);
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: no known log format in the first %zu bytes", path, seen);
  }
  snprintf(out, outlen, "%s: %s%s", format_names[fmt], why,
           lg->enc == ENC_UTF16LE ? ", UTF-16LE" : lg->enc == ENC_UTF16BE ? ", UTF-16BE" : "");
  sceplab_log_close(lg);
  return 0;
}
