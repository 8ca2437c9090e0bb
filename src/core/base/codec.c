/* Text codecs. Written by hand because every input here is hostile: base64 with line breaks and
 * no padding, URL-encoded GET parameters, UTF-16 exports from Windows tools. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base_int.h"

static int b64val(unsigned char c)
{
  if(c >= 'A' && c <= 'Z') return c - 'A';
  if(c >= 'a' && c <= 'z') return c - 'a' + 26;
  if(c >= '0' && c <= '9') return c - '0' + 52;
  if(c == '+' || c == '-') return 62;
  if(c == '/' || c == '_') return 63;
  return -1;
}

static int is_space(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

unsigned char *sceplab_b64_decode(const char *in, size_t n, size_t *outlen, size_t *bad_at)
{
  unsigned char *out = malloc(n / 4 * 3 + 4);
  size_t i, o = 0;
  uint32_t acc = 0;
  int bits = 0, pad = 0;
  if(!out)
    return NULL;
  for(i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    int v;
    if(is_space(c))
      continue;
    if(c == '=') {
      pad++;
      continue;
    }
    v = b64val(c);
    if(v < 0 || pad) {          /* data after padding is not base64 either */
      if(bad_at)
        *bad_at = i;
      free(out);
      return NULL;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if(bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  if(bits >= 6 || pad > 2) {  /* a lone trailing sextet cannot encode a byte */
    if(bad_at)
      *bad_at = n;
    free(out);
    return NULL;
  }
  out[o] = '\0';
  *outlen = o;
  return out;
}

char *sceplab_b64_encode(const unsigned char *in, size_t n)
{
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = malloc((n + 2) / 3 * 4 + 1);
  size_t i, o = 0;
  if(!out)
    return NULL;
  for(i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = tbl[v >> 18];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = tbl[(v >> 6) & 63];
    out[o++] = tbl[v & 63];
  }
  if(i < n) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = tbl[v >> 18];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return out;
}

int sceplab_looks_b64(const char *in, size_t n, size_t min)
{
  size_t i, count = 0;
  for(i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if(is_space(c) || c == '=')
      continue;
    if(b64val(c) < 0)
      return 0;
    count++;
  }
  return count >= min;
}

char *sceplab_hex_encode(const unsigned char *in, size_t n, int upper)
{
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char *out = malloc(n * 2 + 1);
  size_t i;
  if(!out)
    return NULL;
  for(i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
  return out;
}

static int hexval(unsigned char c)
{
  if(c >= '0' && c <= '9') return c - '0';
  if(c >= 'a' && c <= 'f') return c - 'a' + 10;
  if(c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

unsigned char *sceplab_hex_decode(const char *in, size_t n, size_t *outlen)
{
  unsigned char *out = malloc(n / 2 + 1);
  size_t i, o = 0;
  int hi = -1;
  if(!out)
    return NULL;
  for(i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    int v;
    if(is_space(c) || c == ':')
      continue;
    v = hexval(c);
    if(v < 0) {
      free(out);
      return NULL;
    }
    if(hi < 0)
      hi = v;
    else {
      out[o++] = (unsigned char)(hi << 4 | v);
      hi = -1;
    }
  }
  if(hi >= 0) {
    free(out);
    return NULL;
  }
  out[o] = 0;
  *outlen = o;
  return out;
}

char *sceplab_url_decode(const char *in, size_t n, size_t *outlen, int plus_is_space)
{
  char *out = malloc(n + 1);
  size_t i, o = 0;
  if(!out)
    return NULL;
  for(i = 0; i < n; i++) {
    if(in[i] == '%' && i + 2 < n &&
       hexval((unsigned char)in[i + 1]) >= 0 && hexval((unsigned char)in[i + 2]) >= 0) {
      out[o++] = (char)(hexval((unsigned char)in[i + 1]) << 4 | hexval((unsigned char)in[i + 2]));
      i += 2;
    }
    else if(in[i] == '+' && plus_is_space)
      out[o++] = ' ';
    else
      out[o++] = in[i];
  }
  out[o] = '\0';
  if(outlen)
    *outlen = o;
  return out;
}

/* Append one code point as UTF-8. */
static size_t put_utf8(unsigned char *o, uint32_t cp)
{
  if(cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
  if(cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 63)); return 2; }
  if(cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | cp >> 12); o[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
    o[2] = (unsigned char)(0x80 | (cp & 63)); return 3;
  }
  o[0] = (unsigned char)(0xF0 | cp >> 18); o[1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)); o[3] = (unsigned char)(0x80 | (cp & 63));
  return 4;
}

unsigned char *sceplab_to_utf8(const unsigned char *buf, size_t n, size_t *outlen, size_t *skip)
{
  int le;
  size_t i = 0, o = 0;
  unsigned char *out;
  *skip = 0;
  if(n >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF) {
    *skip = 3;
    return NULL;
  }
  if(n >= 2 && buf[0] == 0xFF && buf[1] == 0xFE) { le = 1; i = 2; }
  else if(n >= 2 && buf[0] == 0xFE && buf[1] == 0xFF) { le = 0; i = 2; }
  else if(n >= 4 && buf[0] && !buf[1] && buf[2] && !buf[3] && buf[0] < 0x80 && buf[2] < 0x80) le = 1;
  else return NULL;
  out = malloc((n - i) / 2 * 3 + 4);
  if(!out)
    return NULL;
  for(; i + 1 < n; i += 2) {
    uint32_t u = le ? (uint32_t)(buf[i] | buf[i + 1] << 8) : (uint32_t)(buf[i] << 8 | buf[i + 1]);
    if(u >= 0xD800 && u < 0xDC00 && i + 3 < n) {
      uint32_t lo = le ? (uint32_t)(buf[i + 2] | buf[i + 3] << 8) : (uint32_t)(buf[i + 2] << 8 | buf[i + 3]);
      if(lo >= 0xDC00 && lo < 0xE000) {
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        i += 2;
      }
      else
        u = 0xFFFD;
    }
    else if(u >= 0xD800 && u < 0xE000)
      u = 0xFFFD;
    o += put_utf8(out + o, u);
  }
  out[o] = '\0';
  *outlen = o;
  return out;
}

const char *sceplab_memcasestr(const char *hay, size_t n, const char *needle)
{
  size_t m = strlen(needle);
  unsigned char lo, up;
  const char *p, *end;
  if(m == 0)
    return hay;
  if(m > n)
    return NULL;
  /* memchr (vectorised) finds candidates for the first character in either case */
  lo = (unsigned char)tolower((unsigned char)needle[0]);
  up = (unsigned char)toupper((unsigned char)needle[0]);
  p = hay;
  end = hay + (n - m + 1); /* m <= n: compute the offset, then the pointer */
  while(p < end) {
    const char *a = memchr(p, lo, (size_t)(end - p));
    const char *b = up != lo ? memchr(p, up, (size_t)((a ? a : end) - p)) : NULL;
    const char *q = b ? b : a;
    if(!q)
      return NULL;
    if(m == 1 || strncasecmp(q + 1, needle + 1, m - 1) == 0)
      return q;
    p = q + 1;
  }
  return NULL;
}

static const char *const apostrophes[] = {
  "'", "`", "\xC2\xB4", "\xE2\x80\x98", "\xE2\x80\x99", "\xE2\x80\xB2", "\xC3\xA2\xE2\x82\xAC\xE2\x84\xA2",
  "\xC3\xA2\xE2\x82\xAC\xCB\x9C", "&#39;", "&apos;", "&#x27;", "&rsquo;", "&lsquo;", "&#8217;", "&#x2019;",
  /* escapes left in text pasted out of JSON, C# strings and RTF: "Authority\u2019s", "Authority\'92s" */
  "\\u2019", "\\u2018", "\\u0027", "\\'92", "\\'91", NULL};
static const char *const quotes[] = {
  "\"", "\xE2\x80\x9C", "\xE2\x80\x9D", "\xC3\xA2\xE2\x82\xAC\xC5\x93", "\xC3\xA2\xE2\x82\xAC\xC2\x9D", "&quot;", NULL};

/* The length of the valid UTF-8 character at p, or 1 (ASCII, or a byte that starts none). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
  size_t len = sceplab_utf8_char((const char *)p, n);
  return len ? len : 1;
}

size_t sceplab_quote_at(const char *p, size_t n, char q)
{
  const char *const *forms = q == '\'' ? apostrophes : q == '"' ? quotes : NULL;
  size_t i;
  if(!forms || !n)
    return 0;
  /* the common case first: the ASCII character, or a byte no form starts with */
  if(*p == q)
    return 1;
  /* a text saved as Windows-1252 ("ANSI"): its curly quotes are single bytes that are no UTF-8 */
  if(q == '\'' ? ((unsigned char)*p == 0x91 || (unsigned char)*p == 0x92)
                : ((unsigned char)*p == 0x93 || (unsigned char)*p == 0x94))
    return 1;
  if(*p != '`' && *p != '&' && *p != '\\' && (unsigned char)*p != 0xC2 && (unsigned char)*p != 0xC3 &&
     (unsigned char)*p != 0xE2)
    return 0;
  for(i = 0; forms[i]; i++) {
    size_t len = strlen(forms[i]);
    if(len <= n && memcmp(p, forms[i], len) == 0)
      return len;
  }
  return 0;
}

size_t sceplab_normalize_quotes(const char *in, size_t n, char *out)
{
  size_t i = 0, o = 0, k;
  while(i < n) {
    if((k = sceplab_quote_at(in + i, n - i, '\'')) > 0) {
      out[o++] = '\'';
      i += k;
    }
    else if((k = sceplab_quote_at(in + i, n - i, '"')) > 0) {
      out[o++] = '"';
      i += k;
    }
    else {
      /* a whole UTF-8 character is copied whole: its continuation bytes are never quotes */
      size_t len = utf8_len((const unsigned char *)in + i, n - i);
      memcpy(out + o, in + i, len);
      o += len;
      i += len;
    }
  }
  return o;
}

static int ascii_letter(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* An apostrophe as pasted text mangles it: a run of one to three characters that are no letters
 * ("Authority...s", "Authority?s", "Authority\xEF\xBF\xBDs"), on one line, not white space alone.
 * The length of the run at p, or 0. A character is a whole UTF-8 sequence, or one byte that
 * starts none. */
size_t sceplab_mangled_apostrophe(const char *p, size_t n)
{
  size_t i = 0, chars = 0;
  int visible = 0;
  while(i < n && chars < 3 && !ascii_letter(p[i]) && p[i] != '\n' && p[i] != '\r') {
    size_t len = utf8_len((const unsigned char *)p + i, n - i);
    visible = visible || (p[i] != ' ' && p[i] != '\t');
    i += len;
    chars++;
  }
  /* the run must end where the word goes on, at a letter; white space alone is a word break */
  return visible && i < n && ascii_letter(p[i]) ? i : 0;
}

size_t sceplab_match_text(const char *p, size_t n, const char *needle)
{
  size_t i = 0, k;
  const char *start = needle;
  for(; *needle; needle++) {
    if(*needle == '\'' || *needle == '"') {
      k = sceplab_quote_at(p + i, n - i, *needle);
      /* an apostrophe inside a word ("Authority's"): whatever a paste left in its place */
      if(!k && *needle == '\'' && needle > start && ascii_letter(needle[-1]) && ascii_letter(needle[1]))
        k = sceplab_mangled_apostrophe(p + i, n - i);
      if(!k)
        return 0;
      i += k;
    }
    else {
      if(i >= n || tolower((unsigned char)p[i]) != tolower((unsigned char)*needle))
        return 0;
      i++;
    }
  }
  return i;
}

int sceplab_parse_i64(const char *s, int64_t *out)
{
  char *end;
  long long v;
  if(!s || !*s)
    return -1;
  errno = 0;
  v = strtoll(s, &end, 10);
  if(errno || *end)
    return -1;
  *out = v;
  return 0;
}
