/* sceplab: the document tree every decoder returns.
 *
 * Decoders describe what they read as a small JSON-like tree (null, bool, integer, string, array,
 * object with ordered keys). The Lua bindings turn it into tables with one generic function and the
 * CLI prints it as JSON, so adding a field to a decoder needs no binding code. Strings are
 * length-counted and always valid UTF-8 text: binary values are stored as hex. */
#ifndef SCEPLAB_VALUE_H
#define SCEPLAB_VALUE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sceplab_vtype {
  SCEPLAB_VNULL, SCEPLAB_VBOOL, SCEPLAB_VINT, SCEPLAB_VSTR, SCEPLAB_VARR, SCEPLAB_VOBJ
} sceplab_vtype;

typedef struct sceplab_val sceplab_val;

struct sceplab_val {
  sceplab_vtype type;
  int failed;                 /* set when a child could not be allocated; propagates upward */
  union {
    int b;
    int64_t i;
    struct { char *p; size_t n; } s;
    /* keys NULL for arrays; objects with many keys also get a hash index of them (ix, ixcap: slots
     * holding an item's position + 1), so a document with 80,000 keys builds in linear time */
    struct { sceplab_val **items; char **keys; size_t n, cap; uint32_t *ix; size_t ixcap; } c;
  } u;
};

sceplab_val *sceplab_val_null(void);
sceplab_val *sceplab_val_bool(int b);
sceplab_val *sceplab_val_int(int64_t i);
sceplab_val *sceplab_val_str(const char *s);             /* NULL s gives a null value */
sceplab_val *sceplab_val_strn(const char *s, size_t n);
sceplab_val *sceplab_val_hex(const unsigned char *p, size_t n, int upper);
sceplab_val *sceplab_val_arr(void);
sceplab_val *sceplab_val_obj(void);
void sceplab_val_free(sceplab_val *v);
sceplab_val *sceplab_val_copy(const sceplab_val *v);   /* deep copy; NULL on failure */

/* Insertion keeps order. A NULL child (allocation failure) marks the container failed.
 * Setting an existing key replaces its value. Return 0, or -1 on failure. */
int sceplab_obj_set(sceplab_val *obj, const char *key, sceplab_val *child);
int sceplab_obj_set_str(sceplab_val *obj, const char *key, const char *s);
int sceplab_obj_set_strn(sceplab_val *obj, const char *key, const char *s, size_t n);
int sceplab_obj_set_int(sceplab_val *obj, const char *key, int64_t i);
int sceplab_obj_set_bool(sceplab_val *obj, const char *key, int b);
int sceplab_arr_push(sceplab_val *arr, sceplab_val *child);
int sceplab_arr_push_str(sceplab_val *arr, const char *s);

/* Detach and return a child (the caller owns it); NULL when absent. */
sceplab_val *sceplab_obj_take(sceplab_val *obj, const char *key);
sceplab_val *sceplab_arr_take(sceplab_val *arr, size_t idx);

/* Lookups: NULL when absent or of another type. */
const sceplab_val *sceplab_obj_get(const sceplab_val *obj, const char *key);
const char *sceplab_obj_get_str(const sceplab_val *obj, const char *key);
const sceplab_val *sceplab_path(const sceplab_val *v, const char *dotted); /* "a.b.0.c" */

/* True when the tree, or any part of it, failed to allocate. */
int sceplab_val_failed(const sceplab_val *v);

/* Add a human-readable warning to obj's "warnings" array (created on first use). */
void sceplab_warn(sceplab_val *obj, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

#ifdef __cplusplus
}
#endif
#endif
