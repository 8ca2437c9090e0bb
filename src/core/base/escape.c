/* Escaping for each output format sceplab writes and for the terminal (codec.h):
 * one UTF-8 decoder, one loop, and a rule per format saying what each character becomes. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sceplab/codec.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* Length of the UTF-8 sequence at p (1..4) when it is well formed, else 0. */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
  size_t len, i;
  uint32_t c;
  if(p[0] < 0x80) { *cp = p[0]; return 1; }
  if(p[0] >= 0xC2 && p[0] <= 0xDF) { len = 2; c = p[0] & 0x1F; }
  else if(p[0] >= 0xE0 && p[0] <= 0xEF) { len = 3; c = p[0] & 0x0F; }
  else if(p[0] >= 0xF0 && p[0] <= 0xF4) { len = 4; c = p[0] & 0x07; }
  else return 0;
  if(n < len)
    return 0;
  for(i = 1; i < len; i++) {
    if((p[i] & 0xC0) != 0x80)
      return 0;
    c = c << 6 | (p[i] & 0x3F);
  }
  if((len == 3 && (c < 0x800 || (c >= 0xD800 && c < 0xE000))) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)))
    return 0;
  *cp = c;
  return len;
}

static int noncharacter(uint32_t c) { return (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE; }

static int c1(uint32_t c) { return c >= 0x80 && c <= 0x9F; }

/* Controls that make text display in another order than it reads: overrides and isolates. */
static int bidi(uint32_t c) { return (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069); }

/* A format: the printable ASCII bytes copied as they are (the common case, tested inline), and
 * for every other character at p (n bytes left) what to write instead: NULL to copy it, else the
 * replacement; *len is the input it stands for. */
typedef struct esc_format {
  uint64_t special[2]; /* printable ASCII that goes to the rule, a bit per byte (a timeline writes
                          millions of lines through the terminal's: no call for the common case) */
  const char *(*rule)(const unsigned char *p, size_t n, size_t *len, char buf[16]);
} esc_format;

#define BIT(c) ((uint64_t)1 << ((c) & 63))

static int plain(const esc_format *f, unsigned char c)
{
  return c >= 0x20 && c < 0x7F && !(f->special[c >> 6] & BIT(c));
}

static size_t escape(const esc_format *f, const char *in, size_t n, char *out, size_t outlen, size_t *consumed)
{
  const unsigned char *p = (const unsigned char *)in;
  size_t i = 0, o = 0, len;
  char buf[16];
  if(!outlen) {
    *consumed = 0;
    return 0;
  }
  while(i < n) {
    const char *e;
    size_t elen;
    if(plain(f, p[i])) {
      if(o + 1 >= outlen)
        break;
      out[o++] = (char)p[i++];
      continue;
    }
    e = f->rule(p + i, n - i, &len, buf);
    elen = e ? strlen(e) : len;
    if(o + elen >= outlen)
      break;
    memcpy(out + o, e ? e : (const char *)p + i, elen);
    o += elen;
    i += len;
  }
  out[o] = '\0';
  *consumed = i;
  return o;
}

/* The bytes the escaped text needs (without the NUL), 0 when it is the text itself. */
static size_t escaped_len(const esc_format *f, const char *in, size_t n)
{
  const unsigned char *p = (const unsigned char *)in;
  size_t i = 0, total = 0, len;
  int changed = 0;
  char buf[16];
  while(i < n) {
    const char *e;
    if(plain(f, p[i])) {
      i++;
      total++;
      continue;
    }
    e = f->rule(p + i, n - i, &len, buf);
    if(e) {
      total += strlen(e);
      changed = 1;
    }
    else
      total += len;
    i += len;
  }
  return changed ? total : 0;
}

/* Terminal: escapes shown as text. */
static const char *terminal(const unsigned char *p, size_t n, size_t *len, char buf[16], int one_line)
{
  uint32_t cp = 0;
  *len = utf8_seq(p, n, &cp);
  if(*len == 0) {
    *len = 1;
    snprintf(buf, 16, "\\x%02X", p[0]);
    return buf;
  }
  if((cp < 0x20 && (one_line || (cp != '\t' && cp != '\n'))) || cp == 0x7F) {
    snprintf(buf, 16, "\\x%02X", (unsigned)cp);
    return buf;
  }
  if(c1(cp) || bidi(cp)) {
    snprintf(buf, 16, "\\u%04X", (unsigned)cp);
    return buf;
  }
  return NULL;
}

static const char *terminal_text(const unsigned char *p, size_t n, size_t *len, char buf[16])
{
  return terminal(p, n, len, buf, 0);
}

static const char *terminal_line(const unsigned char *p, size_t n, size_t *len, char buf[16])
{
  return terminal(p, n, len, buf, 1);
}

static const esc_format fmt_terminal = {{0, 0}, terminal_text}, fmt_terminal_line = {{0, 0}, terminal_line};

size_t sceplab_visible(const char *in, size_t n, char *out, size_t outlen, size_t *consumed)
{
  return escape(&fmt_terminal, in, n, out, outlen, consumed);
}

size_t sceplab_visible_len(const char *in, size_t n) { return escaped_len(&fmt_terminal, in, n); }

size_t sceplab_visible_line(const char *in, size_t n, char *out, size_t outlen, size_t *consumed)
{
  return escape(&fmt_terminal_line, in, n, out, outlen, consumed);
}

size_t sceplab_visible_line_len(const char *in, size_t n) { return escaped_len(&fmt_terminal_line, in, n); }

/* CMTrace. The terminator is matched ahead (the rest of the input is there, whatever the size of
 * out), and replaced whole, so no '>' that follows "]LOG]!" is ever copied. */
static const char *cmtrace(const unsigned char *p, size_t n, size_t *len, char buf[16])
{
  uint32_t cp = 0;
  *len = 1;
  if(p[0] == ']') {
    if(n >= 7 && strncasecmp((const char *)p + 1, "LOG]!>", 6) == 0) {
      *len = 7;
      memcpy(buf, p, 6);
      memcpy(buf + 6, REPLACEMENT, sizeof(REPLACEMENT));
      return buf;
    }
    return NULL;
  }
  if(p[0] < 0x20)
    return " ";
  if(!(*len = utf8_seq(p, n, &cp))) {
    *len = 1;
    return REPLACEMENT;
  }
  return cp == 0x7F || c1(cp) || noncharacter(cp) ? REPLACEMENT : NULL;
}

static const esc_format fmt_cmtrace = {{0, BIT(']')}, cmtrace};

size_t sceplab_esc_cmtrace(const char *in, size_t n, char *out, size_t outlen, size_t *consumed)
{
  return escape(&fmt_cmtrace, in, n, out, outlen, consumed);
}

/* W3C: the bytes of what cannot stand in a field, percent-encoded. */
static const char *w3c(const unsigned char *p, size_t n, size_t *len, char buf[16])
{
  uint32_t cp = 0;
  size_t i;
  if(p[0] == ' ') {
    *len = 1;
    return "+";
  }
  *len = utf8_seq(p, n, &cp);
  if(*len && cp >= 0x20 && cp != 0x7F && !c1(cp) && !bidi(cp) && !noncharacter(cp))
    return NULL;
  if(!*len)
    *len = 1;
  for(i = 0; i < *len; i++)
    snprintf(buf + 3 * i, 4, "%%%02X", p[i]);
  return buf;
}

static const esc_format fmt_w3c = {{BIT(' '), 0}, w3c};

size_t sceplab_esc_w3c(const char *in, size_t n, char *out, size_t outlen, size_t *consumed)
{
  if(n == 0 && outlen >= 2) {
    /* IIS's empty field */
    memcpy(out, "-", 2);
    *consumed = 0;
    return 1;
  }
  return escape(&fmt_w3c, in, n, out, outlen, consumed);
}

/* XML 1.0: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]. */
static const char *xml(const unsigned char *p, size_t n, size_t *len, char buf[16])
{
  uint32_t cp = 0;
  (void)buf;
  *len = 1;
  switch(p[0]) {
  case '<': return "&lt;";
  case '>': return "&gt;";
  case '&': return "&amp;";
  case '"': return "&quot;";
  case '\'': return "&apos;";
  case '\t': return "&#9;";
  case '\n': return "&#10;";
  case '\r': return "&#13;";
  }
  if(p[0] < 0x20)
    return REPLACEMENT;
  if(!(*len = utf8_seq(p, n, &cp))) {
    *len = 1;
    return REPLACEMENT;
  }
  return cp == 0x7F || c1(cp) || noncharacter(cp) ? REPLACEMENT : NULL;
}

static const esc_format fmt_xml = {{BIT('<') | BIT('>') | BIT('&') | BIT('"') | BIT('\''), 0}, xml};

size_t sceplab_esc_xml(const char *in, size_t n, char *out, size_t outlen, size_t *consumed)
{
  return escape(&fmt_xml, in, n, out, outlen, consumed);
}

void sceplab_esc_put(sceplab_escaper esc, const char *s, void (*put)(void *ud, const char *p, size_t n), void *ud)
{
  char buf[512];
  size_t n = s ? strlen(s) : 0, used = 0, w;
  while(n) {
    w = esc(s, n, buf, sizeof(buf), &used);
    if(!used)
      break; /* cannot happen: no escape is near 512 bytes */
    put(ud, buf, w);
    s += used;
    n -= used;
  }
}

static void put_file(void *f, const char *p, size_t n) { fwrite(p, 1, n, f); }

void sceplab_esc_fputs(FILE *f, sceplab_escaper esc, const char *s) { sceplab_esc_put(esc, s, put_file, f); }

size_t sceplab_utf8_char(const char *p, size_t n)
{
  uint32_t cp;
  return n ? utf8_seq((const unsigned char *)p, n, &cp) : 0;
}

/* ---- repair: ill-formed UTF-8 to U+FFFD, where records are read ---------------------------- */

/* The start of the ill-formed sequence at p to replace with one U+FFFD: its maximal subpart (the
 * longest start of a well-formed sequence, as Unicode recommends), at least one byte. *cut is set
 * when those bytes are a well-formed start that the end of the buffer cut short. */
static size_t utf8_bad_len(const unsigned char *p, size_t n, int *cut)
{
  size_t len, k;
  unsigned char lo = 0x80, hi = 0xBF;
  *cut = 0;
  if(p[0] >= 0xC2 && p[0] <= 0xDF) len = 2;
  else if(p[0] >= 0xE0 && p[0] <= 0xEF) len = 3;
  else if(p[0] >= 0xF0 && p[0] <= 0xF4) len = 4;
  else return 1;
  if(p[0] == 0xE0) lo = 0xA0;
  else if(p[0] == 0xED) hi = 0x9F;
  else if(p[0] == 0xF0) lo = 0x90;
  else if(p[0] == 0xF4) hi = 0x8F;
  for(k = 1; k < len && k < n; k++) {
    unsigned char lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
    if(p[k] < lo_k || p[k] > hi_k)
      return k;
  }
  *cut = k < len; /* every byte there was right: the buffer ended first */
  return k;
}

size_t sceplab_utf8_valid(const char *in, size_t n)
{
  const unsigned char *p = (const unsigned char *)in;
  size_t i = 0, len;
  uint32_t cp;
  while(i < n) {
    /* logs are mostly ASCII: eight bytes at a time while no byte has its high bit set */
    while(i + 8 <= n) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if(w & 0x8080808080808080ull)
        break;
      i += 8;
    }
    if(i >= n)
      break;
    if(p[i] < 0x80) {
      i++;
      continue;
    }
    if(!(len = utf8_seq(p + i, n - i, &cp)))
      return i;
    i += len;
  }
  return n;
}

size_t sceplab_utf8_cut_tail(const char *in, size_t n)
{
  size_t start = sceplab_utf8_valid(in, n);
  int cut;
  while(start < n) {
    size_t k = utf8_bad_len((const unsigned char *)in + start, n - start, &cut);
    if(cut && start + k == n)
      return k;
    start += k;
    start += sceplab_utf8_valid(in + start, n - start);
  }
  return 0;
}

size_t sceplab_utf8_repair(const char *in, size_t n, char *out)
{
  size_t i = 0, o = 0;
  while(i < n) {
    size_t good = sceplab_utf8_valid(in + i, n - i), k;
    int cut;
    memmove(out + o, in + i, good); /* in and out may be the same buffer when nothing was bad yet */
    o += good;
    i += good;
    if(i >= n)
      break;
    k = utf8_bad_len((const unsigned char *)in + i, n - i, &cut);
    memcpy(out + o, "\xEF\xBF\xBD", 3);
    o += 3;
    i += k;
  }
  return o;
}

size_t sceplab_utf8_boundary(const char *in, size_t n, size_t max)
{
  size_t i = 0, len;
  uint32_t cp;
  if(n <= max)
    return n;
  while(i < max) {
    len = utf8_seq((const unsigned char *)in + i, n - i, &cp);
    if(!len)
      len = 1;
    if(i + len > max)
      break;
    i += len;
  }
  return i;
}
