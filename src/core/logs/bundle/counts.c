/* What counter filters count (opts.counters), by request or transaction id, else by time bucket:
 * bounded whatever the log's length or rate. Part of the log bundle (src/core/logs/bundle/): see
 * bundle.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logs/bundle/bundle.h"

static uint32_t count_hash(size_t counter, const char *key)
{
  uint32_t h = 2166136261u ^ (uint32_t)counter;
  for(; *key; key++)
    h = (h ^ (unsigned char)*key) * 16777619u;
  return h;
}

/* The slots for the entries as they are, in a table of nslots (a power of two). */
static int count_rehash(count_table *t, size_t nslots)
{
  size_t i;
  uint32_t *slot = calloc(nslots, sizeof(*slot));
  if(!slot)
    return -1;
  for(i = 0; i < t->n; i++) {
    size_t j = count_hash(t->e[i].counter, t->e[i].key) & (nslots - 1);
    while(slot[j])
      j = (j + 1) & (nslots - 1);
    slot[j] = (uint32_t)i + 1;
  }
  free(t->slot);
  t->slot = slot;
  t->nslots = nslots;
  return 0;
}

static sceplab_count *count_find(const count_table *t, size_t counter, const char *key)
{
  size_t j;
  if(!t->nslots)
    return NULL;
  for(j = count_hash(counter, key) & (t->nslots - 1); t->slot[j]; j = (j + 1) & (t->nslots - 1)) {
    sceplab_count *c = &t->e[t->slot[j] - 1];
    if(c->counter == counter && strcmp(c->key, key) == 0)
      return c;
  }
  return NULL;
}

static void seen_set(sceplab_count_seen *s, const sceplab_record *r, const char *path)
{
  size_t n = r->message.n < sizeof(s->text) - 1 ? r->message.n : sizeof(s->text) - 1;
  const char *file = r->origin.n ? NULL : path;
  s->time_us = r->time_us;
  s->line = r->line;
  if(!s->file || strcmp(s->file, file ? file : "") != 0) {
    free(s->file);
    s->file = file ? strdup(file) : strndup(r->origin.p, r->origin.n);
  }
  if(n)
    memcpy(s->text, r->message.p, n);
  s->text[n] = '\0';
}

static void seen_free(sceplab_count_seen *s)
{
  free(s->file);
  s->file = NULL;
}

static void time_key(char *key, size_t len, int64_t bucket, int shift)
{
  snprintf(key, len, "minutes:%lld+%d", (long long)bucket << shift, 1 << shift);
}

/* Halves the number of a counter's time buckets: each pair of neighbours becomes one entry, with
 * the earlier first record, the later last one and both counts. */
static int count_widen(count_table *t, size_t counter)
{
  size_t i, kept = 0;
  int shift = ++t->shift[counter];
  for(i = 0; i < t->n; i++) {
    sceplab_count *c = &t->e[i];
    if(c->counter == counter && c->timed) {
      char key[64];
      c->bucket >>= 1; /* floor: an arithmetic shift, as time buckets before 1970 need */
      time_key(key, sizeof(key), c->bucket, shift);
      free(c->key);
      if(!(c->key = strdup(key)))
        return -1;
    }
  }
  /* the slots rebuilt entry by entry: an entry whose key is already there merges into that one */
  memset(t->slot, 0, t->nslots * sizeof(*t->slot));
  t->nbuckets[counter] = 0;
  for(i = 0; i < t->n; i++) {
    sceplab_count *c = &t->e[i], *into = c->counter == counter && c->timed ? count_find(t, counter, c->key) : NULL;
    size_t j;
    if(into) {
      into->count += c->count;
      if(c->first.time_us < into->first.time_us) {
        seen_free(&into->first);
        into->first = c->first;
      }
      else
        seen_free(&c->first);
      if(c->last.time_us >= into->last.time_us) {
        seen_free(&into->last);
        into->last = c->last;
      }
      else
        seen_free(&c->last);
      free(c->key);
      continue;
    }
    if(c->counter == counter && c->timed)
      t->nbuckets[counter]++;
    if(kept != i)
      t->e[kept] = *c;
    for(j = count_hash(t->e[kept].counter, t->e[kept].key) & (t->nslots - 1); t->slot[j]; j = (j + 1) & (t->nslots - 1))
      ;
    t->slot[j] = (uint32_t)++kept;
  }
  t->n = kept;
  return 0;
}

/* The counters' callback: one more record for (counter, key). */
void logs_counted(void *ud, size_t counter, const sceplab_record *r, const char *path)
{
  count_table *t = ud;
  char key[300];
  sceplab_count *e;
  int timed = 0;
  int64_t bucket = 0;
  if(counter >= t->ncounters)
    return;
  key[0] = '\0';
  if(r->request_id[0])
    snprintf(key, sizeof(key), "request:%s", r->request_id);
  else if(r->transaction_id[0])
    snprintf(key, sizeof(key), "transaction:%s", r->transaction_id);
  if(key[0] && !(e = count_find(t, counter, key)) && t->nids >= COUNT_IDS_MAX)
    key[0] = '\0'; /* too many ids: counted by time */
  if(!key[0]) {
    timed = 1;
    if(r->time_us == SCEPLAB_TIME_UNKNOWN)
      bucket = INT64_MIN >> 20;
    else {
      int64_t min = r->time_us / 60000000 - (r->time_us % 60000000 < 0);
      bucket = min >> t->shift[counter];
    }
    time_key(key, sizeof(key), bucket, t->shift[counter]);
  }
  e = count_find(t, counter, key);
  if(!e && timed && t->nbuckets[counter] >= COUNT_BUCKETS_MAX) {
    if(count_widen(t, counter) != 0)
      return;
    bucket >>= 1;
    time_key(key, sizeof(key), bucket, t->shift[counter]);
    e = count_find(t, counter, key);
  }
  if(!e) {
    size_t j;
    if(t->n == t->cap) {
      size_t cap = t->cap ? t->cap * 2 : 64;
      sceplab_count *ne = realloc(t->e, cap * sizeof(*ne));
      if(!ne)
        return;
      t->e = ne;
      t->cap = cap;
    }
    if((t->n + 1) * 2 > t->nslots && count_rehash(t, t->nslots ? t->nslots * 2 : 1024) != 0)
      return;
    e = &t->e[t->n];
    memset(e, 0, sizeof(*e));
    e->counter = counter;
    e->timed = timed;
    e->bucket = bucket;
    if(!(e->key = strdup(key)))
      return;
    for(j = count_hash(counter, key) & (t->nslots - 1); t->slot[j]; j = (j + 1) & (t->nslots - 1))
      ;
    t->slot[j] = (uint32_t)++t->n;
    if(timed)
      t->nbuckets[counter]++;
    else
      t->nids++;
    seen_set(&e->first, r, path);
  }
  e->count++;
  seen_set(&e->last, r, path);
}

size_t sceplab_merge_counts(const sceplab_merge *m)
{
  return m->counts.n;
}

const sceplab_count *sceplab_merge_count_at(const sceplab_merge *m, size_t i)
{
  return i < m->counts.n ? &m->counts.e[i] : NULL;
}
