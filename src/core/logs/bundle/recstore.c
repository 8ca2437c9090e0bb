/* Records kept in a compact form: an input read whole (small, or written newest first) keeps its
 * passing records as one buffer of packed records, sorted by time then line when it must be.
 * Part of the log bundle (src/core/logs/bundle/): see bundle.h. */
#include <stdlib.h>
#include <string.h>

#include "logs/bundle/bundle.h"

/* The numbers of a record, as stored; the strings follow as (u32 length, bytes) in VIEWS then
 * ARRAYS order. */
typedef struct packed_head {
  int64_t time_us, win32_status;
  uint64_t line, offset, scep_message_length;
  long event_id, http_status, http_substatus, time_taken_ms;
  const char *source, *hresult_name, *date_source, *offset_source;
  int utc_offset_min, step;
  unsigned char zone_assumed, time_inferred, date_assumed, level;
} packed_head;

#define VIEWS(X) X(time_text) X(host) X(component) X(message) X(method) X(url) X(query) X(client_ip) \
  X(user_agent) X(scep_operation) X(platform) X(thread) X(context) X(file_attr) X(origin)
#define ARRAYS(X) X(hresult) X(request_id) X(transaction_id) X(device_id) X(user_id) X(thumbprint)

static int store_grow(rec_store *s, size_t need)
{
  if(s->len + need > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    unsigned char *d;
    while(cap < s->len + need)
      cap *= 2;
    if(!(d = realloc(s->data, cap)))
      return -1;
    s->data = d;
    s->cap = cap;
  }
  return 0;
}

static size_t packed_size(const sceplab_record *r)
{
  size_t n = sizeof(packed_head);
#define VLEN(f) n += 4 + r->f.n;
#define ALEN(f) n += 4 + strlen(r->f);
  VIEWS(VLEN) ARRAYS(ALEN)
#undef VLEN
#undef ALEN
  return n;
}

static void put_bytes(unsigned char **o, const char *p, size_t n)
{
  uint32_t len = (uint32_t)n;
  memcpy(*o, &len, 4);
  if(n)
    memcpy(*o + 4, p, n);
  *o += 4 + n;
}

int logs_store_add(rec_store *s, const sceplab_record *r)
{
  size_t need = packed_size(r);
  packed_head h;
  unsigned char *o;
  if(need > UINT32_MAX || store_grow(s, need) != 0)
    return -1;
  if(s->n == s->ncap) {
    size_t cap = s->ncap ? s->ncap * 2 : 64;
    size_t *at = realloc(s->at, cap * sizeof(*at));
    if(!at)
      return -1;
    s->at = at;
    s->ncap = cap;
  }
  memset(&h, 0, sizeof(h));
  h.time_us = r->time_us;
  h.win32_status = r->win32_status;
  h.line = r->line;
  h.offset = r->offset;
  h.scep_message_length = r->scep_message_length;
  h.event_id = r->event_id;
  h.http_status = r->http_status;
  h.http_substatus = r->http_substatus;
  h.time_taken_ms = r->time_taken_ms;
  h.source = r->source;
  h.hresult_name = r->hresult_name;
  h.date_source = r->date_source;
  h.offset_source = r->offset_source;
  h.utc_offset_min = r->utc_offset_min;
  h.step = r->step;
  h.zone_assumed = (unsigned char)r->zone_assumed;
  h.time_inferred = (unsigned char)r->time_inferred;
  h.date_assumed = (unsigned char)r->date_assumed;
  h.level = (unsigned char)r->level;
  s->at[s->n++] = s->len;
  o = s->data + s->len;
  memcpy(o, &h, sizeof(h));
  o += sizeof(h);
#define VPUT(f) put_bytes(&o, r->f.p, r->f.n);
#define APUT(f) put_bytes(&o, r->f, strlen(r->f));
  VIEWS(VPUT) ARRAYS(APUT)
#undef VPUT
#undef APUT
  s->len += need;
  return 0;
}

/* The record at position i, its strings pointing into the store. */
void logs_store_get(const rec_store *s, size_t i, sceplab_record *r)
{
  const unsigned char *p = s->data + s->at[i];
  packed_head h;
  uint32_t len;
  memcpy(&h, p, sizeof(h));
  p += sizeof(h);
  memset(r, 0, sizeof(*r));
  r->time_us = h.time_us;
  r->win32_status = h.win32_status;
  r->line = h.line;
  r->offset = h.offset;
  r->scep_message_length = (size_t)h.scep_message_length;
  r->event_id = h.event_id;
  r->http_status = h.http_status;
  r->http_substatus = h.http_substatus;
  r->time_taken_ms = h.time_taken_ms;
  r->source = h.source;
  r->hresult_name = h.hresult_name;
  r->date_source = h.date_source;
  r->offset_source = h.offset_source;
  r->utc_offset_min = h.utc_offset_min;
  r->step = h.step;
  r->zone_assumed = h.zone_assumed;
  r->time_inferred = h.time_inferred;
  r->date_assumed = h.date_assumed;
  r->level = (sceplab_level)h.level;
#define VGET(f) memcpy(&len, p, 4); r->f.p = len ? (const char *)p + 4 : NULL; r->f.n = len; p += 4 + len;
#define AGET(f) memcpy(&len, p, 4); if(len >= sizeof(r->f)) len = sizeof(r->f) - 1; \
                memcpy(r->f, p + 4, len); r->f[len] = '\0'; memcpy(&len, p, 4); p += 4 + len;
  VIEWS(VGET) ARRAYS(AGET)
#undef VGET
#undef AGET
}

void logs_store_free(rec_store *s)
{
  free(s->data);
  free(s->at);
  memset(s, 0, sizeof(*s));
}

/* Records with no time sort first, as they keep their place at the start of their file. */
int64_t logs_sort_time(int64_t t)
{
  return t == SCEPLAB_TIME_UNKNOWN ? INT64_MIN : t;
}

int logs_by_time_then_line(const void *a, const void *b, void *store)
{
  const rec_store *sorting = store;
  const unsigned char *pa = sorting->data + *(const size_t *)a, *pb = sorting->data + *(const size_t *)b;
  packed_head ha, hb;
  int64_t ta, tb;
  memcpy(&ha, pa, sizeof(ha));
  memcpy(&hb, pb, sizeof(hb));
  ta = logs_sort_time(ha.time_us);
  tb = logs_sort_time(hb.time_us);
  if(ta != tb)
    return ta < tb ? -1 : 1;
  return ha.line < hb.line ? -1 : ha.line > hb.line;
}
