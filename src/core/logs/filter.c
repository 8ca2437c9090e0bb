/* The filter, evaluated in C before a record reaches Lua: cheap fields first, the message last.
 * Part of the log reader (src/core/logs/): see logs_int.h for how the pieces fit. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs_int.h"

/* Many needles (diagnose logs_passes every playbook's substrings, ~50) made one memchr scan per needle
 * per record the main cost. Instead: one pass over the message, and at each byte only the needles
 * starting with that letter (case-folded, ASCII as strncasecmp in the C locale). */
static unsigned char fold(unsigned char c)
{
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

void logs_index_needles(sceplab_log *lg)
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

int logs_passes_contains(const sceplab_log *lg, const sceplab_record *r)
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
 * record logs_passes without the message, 2 when only the message test can still let it through. */
int logs_passes(const sceplab_log *lg, const sceplab_record *r)
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
