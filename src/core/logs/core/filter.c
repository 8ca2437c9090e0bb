/* The filter, evaluated in C before a record reaches Lua: cheap fields first, the message last.
 * Part of the log reader's core (src/core/logs/core/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/core/logs_int.h"

/* Many needles (diagnose passes every playbook's substrings, ~100) made one memchr scan per needle
 * per record the main cost. Instead: one pass over the message, and at each byte only the needles
 * starting with that letter (case-folded, ASCII as strncasecmp in the C locale). */
static unsigned char fold(unsigned char c)
{
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int has_quote(const char *s);

/* ---- numbers as whole tokens ----
 * A playbook's "12175" must not match a transaction id that happens to hold those digits: real
 * logs are full of hex ids, thumbprints and base64. */
static int tok_char(unsigned char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int joiner(unsigned char c)
{
  return c == '.' || c == '-' || c == '+' || c == '/';
}

static int hex_val(unsigned char c)
{
  if(c >= '0' && c <= '9')
    return c - '0';
  c = fold(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* p[0..n) as hex digits (at most 16): 1 with *v */
static int parse_hex(const unsigned char *p, size_t n, uint64_t *v)
{
  size_t i;
  if(n == 0 || n > 16)
    return 0;
  for(*v = 0, i = 0; i < n; i++) {
    int d = hex_val(p[i]);
    if(d < 0)
      return 0;
    *v = *v << 4 | (uint64_t)d;
  }
  return 1;
}

/* p[0..n) as decimal digits (at most 19): 1 with *v */
static int parse_dec(const unsigned char *p, size_t n, uint64_t *v)
{
  size_t i;
  if(n == 0 || n > 19)
    return 0;
  for(*v = 0, i = 0; i < n; i++) {
    if(p[i] < '0' || p[i] > '9')
      return 0;
    *v = *v * 10 + (uint64_t)(p[i] - '0');
  }
  return 1;
}

/* Is the token p[0..n) (after a minus sign when neg) value in one of the spellings? */
static int token_is(const unsigned char *p, size_t n, int neg, int64_t value, unsigned how)
{
  uint64_t v;
  uint32_t hr = (uint32_t)value;
  if(n > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
    return !neg && (how & (SCEPLAB_CODE_HEX | SCEPLAB_CODE_HRESULT)) && parse_hex(p + 2, n - 2, &v) &&
           (how & SCEPLAB_CODE_HRESULT ? v == hr : v == (uint64_t)value);
  if((how & SCEPLAB_CODE_HRESULT) && !neg && n == 8 && parse_hex(p, n, &v) && v == hr)
    return 1;
  if(!parse_dec(p, n, &v))
    return 0;
  if(how & SCEPLAB_CODE_HRESULT)
    return neg ? v == (uint64_t)(-(int64_t)(int32_t)hr) && (int32_t)hr < 0 : v == hr;
  if(!(how & SCEPLAB_CODE_DEC))
    return 0;
  return neg ? value < 0 && v == (uint64_t)(-(value + 1)) + 1 : value >= 0 && v == (uint64_t)value;
}

/* Does text hold, as a whole token, one of k numbers (value[idx[i]] in spelling[idx[i]])? One pass
 * over the text however many numbers a filter has. */
static int has_codes(const char *text, size_t n, const int64_t *value, const unsigned char *spelling,
                     const short *idx, size_t k)
{
  const unsigned char *m = (const unsigned char *)text;
  size_t i = 0, c;
  while(i < n) {
    size_t s, e;
    int neg = 0, joined = 0;
    if(!tok_char(m[i])) {
      /* a minus sign: not joined to what is before it (that would have continued the token) */
      if(m[i] != '-' || i + 1 >= n || m[i + 1] < '0' || m[i + 1] > '9') {
        i++;
        continue;
      }
      neg = 1;
    }
    s = e = i + (size_t)neg;
    for(;;) {
      while(e < n && tok_char(m[e]))
        e++;
      if(e + 1 < n && joiner(m[e]) && tok_char(m[e + 1])) {
        joined = 1;
        e++;
        continue;
      }
      break;
    }
    /* a number starts with a digit (a bare-hex HRESULT may start with a letter: 8-F) */
    if(!joined && (hex_val(m[s]) >= 0))
      for(c = 0; c < k; c++) {
        size_t h = idx ? (size_t)idx[c] : c;
        if(token_is(m + s, e - s, neg, value[h], spelling[h]))
          return 1;
      }
    i = e;
  }
  return 0;
}

int sceplab_text_has_code(const char *text, size_t n, int64_t value, unsigned how)
{
  unsigned char sp = (unsigned char)how;
  return has_codes(text, n, &value, &sp, NULL, 1);
}

int sceplab_code_spelling(const char *s, size_t n, int64_t *value, unsigned *spelling)
{
  const unsigned char *p = (const unsigned char *)s;
  uint64_t v;
  if(n > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    if(!parse_hex(p + 2, n - 2, &v) || v > (uint64_t)INT64_MAX)
      return 0;
    *value = (int64_t)v;
    *spelling = SCEPLAB_CODE_HEX;
    return 1;
  }
  if(n > 1 && p[0] == '-') {
    if(!parse_dec(p + 1, n - 1, &v) || v > (uint64_t)INT64_MAX)
      return 0;
    *value = -(int64_t)v;
  } else {
    if(!parse_dec(p, n, &v) || v > (uint64_t)INT64_MAX)
      return 0;
    *value = (int64_t)v;
  }
  *spelling = SCEPLAB_CODE_DEC;
  return 1;
}

void logs_index_needles(const sceplab_log_filter *f, logs_needles *ix)
{
  size_t i;
  ix->indexed = 0;
  ix->nnumbers = 0;
  if(f->ncontains < 2 || f->ncontains > NEEDLES_MAX)
    return;
  for(i = 0; i < 256; i++)
    ix->head[i] = -1;
  for(i = f->ncontains; i-- > 0;) {
    unsigned char c = fold((unsigned char)f->contains[i][0]);
    int64_t v;
    unsigned how;
    if(!f->contains[i][0])
      return; /* an empty needle matches everything: keep the simple path */
    ix->spelling[i] = 0;
    if(f->whole_numbers && sceplab_code_spelling(f->contains[i], strlen(f->contains[i]), &v, &how)) {
      ix->value[i] = v;
      ix->spelling[i] = (unsigned char)how;
      ix->numbers[ix->nnumbers++] = (short)i;
      continue;
    }
    ix->len[i] = strlen(f->contains[i]);
    ix->quoted[i] = (char)(has_quote(f->contains[i]) != 0);
    ix->second[i] = ix->len[i] > 1 && f->contains[i][1] != '\'' && f->contains[i][1] != '"'
                    ? fold((unsigned char)f->contains[i][1]) : 0;
    ix->next[i] = ix->head[c];
    ix->head[c] = (short)i;
  }
  ix->indexed = 1;
}

/* A needle with an apostrophe or a quote matches the text's forms of it too ("Authority's" finds
 * "Authority’s"): the slower comparison, for those needles only. */
static int has_quote(const char *s)
{
  return strchr(s, '\'') || strchr(s, '"');
}

static int contains_any(const sceplab_log_filter *f, const logs_needles *ix, const char *m, size_t n)
{
  size_t j;
  if(ix->nnumbers && has_codes(m, n, ix->value, ix->spelling, ix->numbers, ix->nnumbers))
    return 1;
  for(j = 0; j < n; j++) {
    short h = ix->head[fold((unsigned char)m[j])];
    for(; h >= 0; h = ix->next[h]) {
      size_t len = ix->len[h];
      if(ix->second[h] && (j + 1 >= n || fold((unsigned char)m[j + 1]) != ix->second[h]))
        continue;
      if(ix->quoted[h] ? sceplab_match_text(m + j, n - j, f->contains[h]) != 0
                       : len <= n - j && strncasecmp(m + j, f->contains[h], len) == 0)
        return 1;
    }
  }
  return 0;
}

static int contains_one(const sceplab_log_filter *f, const char *m, size_t n, const char *needle)
{
  size_t j;
  int64_t v;
  unsigned how;
  if(f->whole_numbers && sceplab_code_spelling(needle, strlen(needle), &v, &how))
    return sceplab_text_has_code(m, n, v, how);
  if(!has_quote(needle))
    return sceplab_memcasestr(m, n, needle) != NULL;
  for(j = 0; j < n; j++)
    if(sceplab_match_text(m + j, n - j, needle))
      return 1;
  return 0;
}

int logs_filter_message(const sceplab_log_filter *f, const logs_needles *ix, const sceplab_record *r)
{
  size_t i;
  int ok;
  for(i = 0; i < f->ncontains_all; i++)
    if(!r->message.n || !contains_one(f, r->message.p, r->message.n, f->contains_all[i]))
      return 0;
  if(!f->ncontains)
    return 1;
  if(ix && ix->indexed)
    return r->message.n && contains_any(f, ix, r->message.p, r->message.n);
  for(ok = 0, i = 0; i < f->ncontains && !ok; i++)
    ok = r->message.n && contains_one(f, r->message.p, r->message.n, f->contains[i]);
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

static int hresult_in(const sceplab_record *r, const long *list, size_t n)
{
  size_t i;
  uint32_t v;
  if(!r->hresult[0])
    return 0;
  v = (uint32_t)strtoul(r->hresult + 2, NULL, 16);
  for(i = 0; i < n; i++)
    if((uint32_t)list[i] == v)
      return 1;
  return 0;
}

/* Everything but the message test, which needs the message rendered. In "any" mode: 1 when the
 * record passes without the message, 2 when only the message test can still let it through.
 * sources, operations and components always restrict; the others are alternatives in "any" mode
 * and restrictions otherwise. */
int logs_filter_fields(const sceplab_log_filter *f, const sceplab_record *r)
{
  size_t i;
  int ok;
  if(f->nsources) {
    for(ok = 0, i = 0; i < f->nsources && !ok; i++)
      ok = strcmp(f->sources[i], r->source) == 0;
    if(!ok)
      return 0;
  }
  if(f->noperations) {
    for(ok = 0, i = 0; i < f->noperations && !ok; i++)
      ok = r->scep_operation.n == strlen(f->operations[i]) &&
           strncasecmp(r->scep_operation.p, f->operations[i], r->scep_operation.n) == 0;
    if(!ok)
      return 0;
  }
  if(f->ncomponents) {
    for(ok = 0, i = 0; i < f->ncomponents && !ok; i++)
      ok = r->component.n && sceplab_memcasestr(r->component.p, r->component.n, f->components[i]) != NULL;
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
       (f->nhresults && hresult_in(r, f->hresults, f->nhresults)) || (f->min_level && r->level >= f->min_level))
      return 1;
    return f->ncontains ? 2 : 0;
  }
  if(f->min_level && r->level < f->min_level)
    return 0;
  if(f->nstatuses && !in_list(r->http_status, f->statuses, f->nstatuses))
    return 0;
  if(f->nevent_ids && !in_list(r->event_id, f->event_ids, f->nevent_ids))
    return 0;
  if(f->nhresults && !hresult_in(r, f->hresults, f->nhresults))
    return 0;
  return 1;
}
