/* The decoders' document tree. Allocation failures do not abort: they mark the container failed,
 * the mark propagates to the root as children are attached, and the decoder reports "out of
 * memory" instead of returning a partial document. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_int.h"

static sceplab_val *vnew(sceplab_vtype t)
{
  sceplab_val *v = calloc(1, sizeof(*v));
  if(v)
    v->type = t;
  return v;
}

sceplab_val *sceplab_val_null(void) { return vnew(SCEPLAB_VNULL); }

sceplab_val *sceplab_val_bool(int b)
{
  sceplab_val *v = vnew(SCEPLAB_VBOOL);
  if(v)
    v->u.b = b ? 1 : 0;
  return v;
}

sceplab_val *sceplab_val_int(int64_t i)
{
  sceplab_val *v = vnew(SCEPLAB_VINT);
  if(v)
    v->u.i = i;
  return v;
}

sceplab_val *sceplab_val_strn(const char *s, size_t n)
{
  sceplab_val *v;
  if(!s)
    return sceplab_val_null();
  v = vnew(SCEPLAB_VSTR);
  if(!v)
    return NULL;
  v->u.s.p = malloc(n + 1);
  if(!v->u.s.p) {
    free(v);
    return NULL;
  }
  if(n)
    memcpy(v->u.s.p, s, n);
  v->u.s.p[n] = '\0';
  v->u.s.n = n;
  return v;
}

sceplab_val *sceplab_val_str(const char *s)
{
  return s ? sceplab_val_strn(s, strlen(s)) : sceplab_val_null();
}

sceplab_val *sceplab_val_hex(const unsigned char *p, size_t n, int upper)
{
  char *h = sceplab_hex_encode(p, n, upper);
  sceplab_val *v;
  if(!h)
    return NULL;
  v = sceplab_val_str(h);
  free(h);
  return v;
}

sceplab_val *sceplab_val_arr(void) { return vnew(SCEPLAB_VARR); }
sceplab_val *sceplab_val_obj(void) { return vnew(SCEPLAB_VOBJ); }

void sceplab_val_free(sceplab_val *v)
{
  size_t i;
  if(!v)
    return;
  if(v->type == SCEPLAB_VSTR)
    free(v->u.s.p);
  else if(v->type == SCEPLAB_VARR || v->type == SCEPLAB_VOBJ) {
    for(i = 0; i < v->u.c.n; i++) {
      sceplab_val_free(v->u.c.items[i]);
      if(v->u.c.keys)
        free(v->u.c.keys[i]);
    }
    free(v->u.c.items);
    free(v->u.c.keys);
    free(v->u.c.ix);
  }
  free(v);
}

/* ---- key index of large objects ---------------------------------------------------------------
 * Below INDEX_FROM keys a linear scan is as fast; from there an open-addressing table of positions
 * (FNV-1a, load at most one half) answers obj_get and obj_set's duplicate check. A failed index
 * allocation only means linear scans. */
#define INDEX_FROM 16

static uint32_t key_hash(const char *k)
{
  uint32_t h = 2166136261u;
  for(; *k; k++)
    h = (h ^ (unsigned char)*k) * 16777619u;
  return h;
}

static void index_put(sceplab_val *obj, size_t pos)
{
  size_t mask = obj->u.c.ixcap - 1, i = key_hash(obj->u.c.keys[pos]) & mask;
  while(obj->u.c.ix[i])
    i = (i + 1) & mask;
  obj->u.c.ix[i] = (uint32_t)pos + 1;
}

/* Makes room in the index for n keys (rebuilding it), or drops it when memory runs out. */
static void index_reserve(sceplab_val *obj, size_t n)
{
  size_t cap = 64, i;
  if(n < INDEX_FROM || n > UINT32_MAX - 1 || (obj->u.c.ix && n * 2 <= obj->u.c.ixcap))
    return;
  while(cap < n * 4)
    cap *= 2;
  free(obj->u.c.ix);
  obj->u.c.ix = calloc(cap, sizeof(*obj->u.c.ix));
  obj->u.c.ixcap = obj->u.c.ix ? cap : 0;
  for(i = 0; obj->u.c.ix && i < obj->u.c.n; i++)
    index_put(obj, i);
}

/* Position of key in obj, or -1. */
static long find_key(const sceplab_val *obj, const char *key)
{
  size_t i;
  if(obj->u.c.ix) {
    size_t mask = obj->u.c.ixcap - 1;
    for(i = key_hash(key) & mask; obj->u.c.ix[i]; i = (i + 1) & mask)
      if(strcmp(obj->u.c.keys[obj->u.c.ix[i] - 1], key) == 0)
        return (long)obj->u.c.ix[i] - 1;
    return -1;
  }
  for(i = 0; i < obj->u.c.n; i++)
    if(strcmp(obj->u.c.keys[i], key) == 0)
      return (long)i;
  return -1;
}

sceplab_val *sceplab_val_copy(const sceplab_val *v)
{
  sceplab_val *c;
  size_t i;
  if(!v)
    return NULL;
  switch(v->type) {
  case SCEPLAB_VNULL: return sceplab_val_null();
  case SCEPLAB_VBOOL: return sceplab_val_bool(v->u.b);
  case SCEPLAB_VINT: return sceplab_val_int(v->u.i);
  case SCEPLAB_VSTR: return sceplab_val_strn(v->u.s.p, v->u.s.n);
  case SCEPLAB_VARR:
    c = sceplab_val_arr();
    for(i = 0; c && i < v->u.c.n; i++)
      sceplab_arr_push(c, sceplab_val_copy(v->u.c.items[i]));
    break;
  default:
    c = sceplab_val_obj();
    for(i = 0; c && i < v->u.c.n; i++)
      sceplab_obj_set(c, v->u.c.keys[i], sceplab_val_copy(v->u.c.items[i]));
    break;
  }
  if(c && c->failed) {
    sceplab_val_free(c);
    return NULL;
  }
  return c;
}

static int grow(sceplab_val *c)
{
  size_t cap;
  sceplab_val **items;
  if(c->u.c.n < c->u.c.cap)
    return 0;
  cap = c->u.c.cap ? c->u.c.cap * 2 : 8;
  items = realloc(c->u.c.items, cap * sizeof(*items));
  if(!items)
    return -1;
  c->u.c.items = items;
  if(c->type == SCEPLAB_VOBJ) {
    char **keys = realloc(c->u.c.keys, cap * sizeof(*keys));
    if(!keys)
      return -1;
    c->u.c.keys = keys;
  }
  c->u.c.cap = cap;
  return 0;
}

static int attach_failed(sceplab_val *parent, sceplab_val *child)
{
  if(parent)
    parent->failed = 1;
  sceplab_val_free(child);
  return -1;
}

int sceplab_obj_set(sceplab_val *obj, const char *key, sceplab_val *child)
{
  long at;
  char *k;
  if(!obj || obj->type != SCEPLAB_VOBJ || !child)
    return attach_failed(obj, child);
  if(child->failed)
    obj->failed = 1;
  if((at = find_key(obj, key)) >= 0) {
    sceplab_val_free(obj->u.c.items[at]);
    obj->u.c.items[at] = child;
    return 0;
  }
  k = strdup(key);
  if(!k || grow(obj) != 0) {
    free(k);
    return attach_failed(obj, child);
  }
  obj->u.c.keys[obj->u.c.n] = k;
  obj->u.c.items[obj->u.c.n++] = child;
  if(obj->u.c.ix && obj->u.c.n * 2 <= obj->u.c.ixcap)
    index_put(obj, obj->u.c.n - 1);
  else
    index_reserve(obj, obj->u.c.n);
  return 0;
}

int sceplab_obj_set_str(sceplab_val *obj, const char *key, const char *s)
{
  return sceplab_obj_set(obj, key, sceplab_val_str(s));
}

int sceplab_obj_set_strn(sceplab_val *obj, const char *key, const char *s, size_t n)
{
  return sceplab_obj_set(obj, key, sceplab_val_strn(s, n));
}

int sceplab_obj_set_int(sceplab_val *obj, const char *key, int64_t i)
{
  return sceplab_obj_set(obj, key, sceplab_val_int(i));
}

int sceplab_obj_set_bool(sceplab_val *obj, const char *key, int b)
{
  return sceplab_obj_set(obj, key, sceplab_val_bool(b));
}

int sceplab_arr_push(sceplab_val *arr, sceplab_val *child)
{
  if(!arr || arr->type != SCEPLAB_VARR || !child || grow(arr) != 0)
    return attach_failed(arr, child);
  if(child->failed)
    arr->failed = 1;
  arr->u.c.items[arr->u.c.n++] = child;
  return 0;
}

int sceplab_arr_push_str(sceplab_val *arr, const char *s)
{
  return sceplab_arr_push(arr, sceplab_val_str(s));
}

sceplab_val *sceplab_obj_take(sceplab_val *obj, const char *key)
{
  if(!obj || obj->type != SCEPLAB_VOBJ)
    return NULL;
  {
    long at = find_key(obj, key);
    size_t i = (size_t)at;
    sceplab_val *child;
    if(at < 0)
      return NULL;
    child = obj->u.c.items[i];
    free(obj->u.c.keys[i]);
    memmove(obj->u.c.items + i, obj->u.c.items + i + 1, (obj->u.c.n - i - 1) * sizeof(*obj->u.c.items));
    memmove(obj->u.c.keys + i, obj->u.c.keys + i + 1, (obj->u.c.n - i - 1) * sizeof(*obj->u.c.keys));
    obj->u.c.n--;
    /* positions moved: rebuild the index (or drop it below the size that wants one) */
    free(obj->u.c.ix);
    obj->u.c.ix = NULL;
    obj->u.c.ixcap = 0;
    index_reserve(obj, obj->u.c.n);
    return child;
  }
}

sceplab_val *sceplab_arr_take(sceplab_val *arr, size_t idx)
{
  sceplab_val *child;
  if(!arr || arr->type != SCEPLAB_VARR || idx >= arr->u.c.n)
    return NULL;
  child = arr->u.c.items[idx];
  memmove(arr->u.c.items + idx, arr->u.c.items + idx + 1, (arr->u.c.n - idx - 1) * sizeof(*arr->u.c.items));
  arr->u.c.n--;
  return child;
}

const sceplab_val *sceplab_obj_get(const sceplab_val *obj, const char *key)
{
  long at;
  if(!obj || obj->type != SCEPLAB_VOBJ)
    return NULL;
  at = find_key(obj, key);
  return at >= 0 ? obj->u.c.items[at] : NULL;
}

const char *sceplab_obj_get_str(const sceplab_val *obj, const char *key)
{
  const sceplab_val *v = sceplab_obj_get(obj, key);
  return (v && v->type == SCEPLAB_VSTR) ? v->u.s.p : NULL;
}

const sceplab_val *sceplab_path(const sceplab_val *v, const char *dotted)
{
  char part[128];
  const char *p = dotted;
  while(v && *p) {
    size_t n = strcspn(p, ".");
    if(n >= sizeof(part))
      return NULL;
    memcpy(part, p, n);
    part[n] = '\0';
    p += n;
    if(*p == '.')
      p++;
    if(v->type == SCEPLAB_VARR) {
      char *end;
      unsigned long idx = strtoul(part, &end, 10);
      if(*end || idx >= v->u.c.n)
        return NULL;
      v = v->u.c.items[idx];
    }
    else
      v = sceplab_obj_get(v, part);
  }
  return v;
}

int sceplab_val_failed(const sceplab_val *v)
{
  return !v || v->failed;
}

void sceplab_warn(sceplab_val *obj, const char *fmt, ...)
{
  char buf[512];
  sceplab_val *w;
  va_list ap;
  if(!obj || obj->type != SCEPLAB_VOBJ)
    return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  w = (sceplab_val *)sceplab_obj_get(obj, "warnings");
  if(!w) {
    w = sceplab_val_arr();
    if(sceplab_obj_set(obj, "warnings", w) != 0)
      return;
  }
  if(sceplab_arr_push_str(w, buf) != 0)
    obj->failed = 1;
}

sceplab_val *sceplab_done(sceplab_val *v, sceplab_error *err)
{
  if(sceplab_val_failed(v)) {
    sceplab_val_free(v);
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  return v;
}

sceplab_val *sceplab_secret_val(const char *s, size_t n, int show)
{
  char buf[64];
  if(show)
    return sceplab_val_strn(s, n);
  snprintf(buf, sizeof(buf), "(redacted, %zu characters)", n);
  return sceplab_val_str(buf);
}
