/* Reading: the streaming reader (BOM, UTF-16, CRLF, bounded lines) and per-record scratch space.
 * Part of the log reader's core (src/core/logs/core/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logs/core/logs_int.h"

void logs_skip(sceplab_log *lg, uint64_t line, const char *why)
{
  if(lg->skipped < 3)
    snprintf(lg->examples[lg->skipped], sizeof(lg->examples[0]), "line %llu: %.200s", (unsigned long long)line, why);
  lg->skipped++;
}

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

static int grow(sceplab_log *lg, size_t need)
{
  size_t cap = lg->cap ? lg->cap : CHUNK * 2;
  char *nb;
  while(cap < need)
    cap *= 2;
  nb = realloc(lg->buf, cap);
  if(!nb)
    return -1;
  lg->buf = nb;
  lg->cap = cap;
  return 0;
}

/* Windows-1252 ("ANSI", what Notepad saves): 0x80-0x9F as Unicode (0: undefined there), 0xA0-0xFF
 * are Latin-1. */
static const unsigned short cp1252[32] = {
  0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
  0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178};

static size_t from_cp1252(const unsigned char *in, size_t n, char *out)
{
  size_t i, o = 0;
  for(i = 0; i < n; i++) {
    uint32_t cp = in[i] < 0x80 || in[i] >= 0xA0 ? in[i] : cp1252[in[i] - 0x80];
    o += put_utf8(out + o, cp ? cp : 0xFFFD);
  }
  return o;
}

/* Text saved as Windows-1252: not UTF-8, no well-formed UTF-8 sequence at all, and the bytes a
 * Windows editor writes for typographic quotes, dashes or an ellipsis ("Authority\x92s"), none
 * that Windows-1252 leaves undefined. A stray byte in UTF-8 text is not enough: it becomes U+FFFD. */
static int looks_cp1252(const unsigned char *p, size_t n)
{
  size_t i;
  int typographic = 0;
  for(i = 0; i < n; i++) {
    if(p[i] < 0x80)
      continue;
    if(p[i] == 0x81 || p[i] == 0x8D || p[i] == 0x8F || p[i] == 0x90 || p[i] == 0x9D)
      return 0;
    if(p[i] == 0x80 || p[i] == 0x85 || (p[i] >= 0x91 && p[i] <= 0x94) || p[i] == 0x96 || p[i] == 0x97)
      typographic = 1;
    if(p[i] >= 0xC2 && p[i] <= 0xF4 && sceplab_utf8_valid((const char *)p + i, n - i > 4 ? 4 : n - i) > 0)
      return 0; /* a well-formed sequence: UTF-8 with some damage, not ANSI */
  }
  return typographic;
}

/* From now on the text handed to parsers is valid UTF-8: what was read already is repaired in
 * place (a character cut by the end of the chunk goes back to wait for the rest), and every
 * later chunk as it is decoded. Text saved as Windows-1252 is decoded as such instead. Called
 * once the format is known: detection (and .evtx, which is binary) sees the bytes as they are. */
int logs_repair_utf8(sceplab_log *lg, sceplab_error *err)
{
  size_t n = lg->end - lg->start, good, hold;
  if(lg->repair || lg->enc != ENC_UTF8)
    return 0;
  lg->repair = 1;
  if(!lg->buf || !n)
    return 0; /* an empty file: nothing read yet */
  good = sceplab_utf8_valid(lg->buf + lg->start, n);
  if(good < n && looks_cp1252((const unsigned char *)lg->buf + lg->start, n)) {
    char *fixed = malloc(3 * n + 1);
    size_t len;
    if(!fixed)
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    len = from_cp1252((const unsigned char *)lg->buf + lg->start, n, fixed);
    if(lg->start + len + 1 > lg->cap && grow(lg, lg->start + len + 1) != 0) {
      free(fixed);
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    }
    memcpy(lg->buf + lg->start, fixed, len);
    lg->end = lg->start + len;
    free(fixed);
    lg->enc = ENC_CP1252;
    return 0;
  }
  hold = lg->eof ? 0 : sceplab_utf8_cut_tail(lg->buf + lg->start + good, n - good);
  if(good == n)
    return 0;
  if(hold) {
    memcpy(lg->raw, lg->buf + lg->end - hold, hold);
    lg->rawleft = hold;
    lg->end -= hold;
    n -= hold;
  }
  if(good < n) {
    char *fixed = malloc(3 * n + 1);
    size_t len;
    if(!fixed)
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    len = sceplab_utf8_repair(lg->buf + lg->start, n, fixed);
    if(lg->start + len + 1 > lg->cap && grow(lg, lg->start + len + 1) != 0) {
      free(fixed);
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    }
    memcpy(lg->buf + lg->start, fixed, len);
    lg->end = lg->start + len;
    free(fixed);
  }
  return 0;
}

char *logs_utf8_dup(const char *s)
{
  size_t n = strlen(s);
  char *out = malloc(3 * n + 1);
  if(out)
    out[sceplab_utf8_repair(s, n, out)] = '\0';
  return out;
}

int logs_tmpfd(const char *what, sceplab_error *err)
{
  const char *dir = getenv("TMPDIR");
  char path[4096];
  int fd;
  snprintf(path, sizeof(path), "%.4000s/sceplab-member-XXXXXX", dir && *dir ? dir : "/tmp");
  fd = mkstemp(path);
  if(fd < 0)
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: cannot spool to %s: %s", what, dir && *dir ? dir : "/tmp",
                           strerror(errno)), -1;
  unlink(path);
  return fd;
}

/* Appends decoded bytes to buf; returns 0 at end of file, -1 on error. */
int logs_refill(sceplab_log *lg, sceplab_error *err)
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
    if(lg->enc == ENC_UTF8 && lg->rawleft) {
      /* a sequence the end of the file cut short: U+FFFD, as any other ill-formed one */
      if(lg->end + 3 * lg->rawleft + 1 > lg->cap && grow(lg, lg->end + 3 * lg->rawleft + 1) != 0)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
      lg->end += sceplab_utf8_repair((const char *)lg->raw, lg->rawleft, lg->buf + lg->end);
      lg->rawleft = 0;
      return 1;
    }
    return 0;
  }
  lg->bytes_read += n;
  if(lg->progress)
    lg->progress(lg->progress_ud, n);
  n += lg->rawleft;
  lg->rawleft = 0;
  need = lg->end + (lg->enc == ENC_UTF8 ? (lg->repair ? 3 * n : n) : lg->enc == ENC_CP1252 ? 3 * n : n / 2 * 3 + 4) + 1;
  if(need > lg->cap && grow(lg, need) != 0)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  if(lg->enc == ENC_UTF8 && !lg->repair) {
    memcpy(lg->buf + lg->end, lg->raw, n);
    lg->end += n;
  }
  else if(lg->enc == ENC_CP1252) {
    lg->end += from_cp1252(lg->raw, n, lg->buf + lg->end);
    lg->rawleft = 0;
  }
  else if(lg->enc == ENC_UTF8) {
    /* text is UTF-8 from here on: a character cut by the chunk's end waits for the next read */
    size_t hold = sceplab_utf8_cut_tail((const char *)lg->raw, n);
    lg->end += sceplab_utf8_repair((const char *)lg->raw, n - hold, lg->buf + lg->end);
    memmove(lg->raw, lg->raw + n - hold, hold);
    lg->rawleft = hold;
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

/* Gives back the line logs_next_line just returned (p its view), so the next call returns it again:
 * a format whose records span lines reads one line past a record to find where it ends. */
void logs_unread_line(sceplab_log *lg, const char *p)
{
  lg->start = (size_t)(p - lg->buf);
  lg->offset = lg->line_start;
  lg->line--;
}

/* The next line (CR/LF stripped), as a view valid until the next call; 0 at end, -1 on error. */
int logs_next_line(sceplab_log *lg, const char **p, size_t *n, sceplab_error *err)
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
        if(logs_refill(lg, err) <= 0)
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
      int r = logs_refill(lg, err);
      if(r < 0)
        return -1;
    }
  }
}

int logs_msg_append(sceplab_log *lg, size_t *len, const char *p, size_t n)
{
  if(*len + n + 2 > lg->msgcap) {
    size_t cap = lg->msgcap ? lg->msgcap * 2 : 4096;
    char *nm;
    while(cap < *len + n + 2)
      cap *= 2;
    if(cap > MAX_MESSAGE + 2) {
      n = sceplab_utf8_boundary(p, n, MAX_MESSAGE > *len ? MAX_MESSAGE - *len : 0); /* between characters */
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

/* Copies a string into the per-record arena; the view lives until the next record. */
sceplab_str logs_arena_str(sceplab_log *lg, const char *s)
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

sceplab_log *logs_open_raw(const char *path, sceplab_error *err)
{
  FILE *f = fopen(path, "rb");
  if(!f) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: %s", path, strerror(errno));
    return NULL;
  }
  return logs_open_stream(f, path, err);
}

/* A reader over any stream (a file, or a zip member through fopencookie); takes ownership of f. */
sceplab_log *logs_open_stream(FILE *f, const char *path, sceplab_error *err)
{
  sceplab_log *lg = calloc(1, sizeof(*lg));
  if(!lg) {
    fclose(f);
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  lg->f = f;
  lg->path = logs_utf8_dup(path); /* a name is shown, never opened, from here: as UTF-8 */
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
  if(logs_refill(lg, err) < 0) {
    sceplab_log_close(lg);
    return NULL;
  }
  return lg;
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
  free(lg->held);
  free(lg->pending);
  free(lg->xml);
  if(lg->ft && lg->ft->close)
    lg->ft->close(lg);
  logs_clock_free(&lg->clock);
  free(lg);
}
