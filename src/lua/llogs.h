/* The sceplab.core.logs binding's private header: llogs.c (the module, one log), llogs_merge.c
 * (merged logs) and llogs_record.c (records as tables, the filter) share it. */
#ifndef SCEPLAB_LLOGS_H
#define SCEPLAB_LLOGS_H

#include "lutil.h"

#define LOG_MT "sceplab.log"
#define MERGE_MT "sceplab.merge"
#define FILTER_MT "sceplab.filter"

/* The filter's arrays, kept in the userdata; its strings stay referenced from the uservalue. */
typedef struct lfilter {
  const char *sources[16];
  const char *contains[256];  /* diagnose passes the union of every playbook's substrings */
  long statuses[32];
  long event_ids[64];
  const char *operations[16];
  const char *components[16];
  const char *contains_all[16];
  long hresults[64];
} lfilter;

typedef struct llog {
  sceplab_log *lg;
  lfilter fs;
} llog;

typedef struct lmerge {
  sceplab_merge *m;
  lfilter fs;
  size_t ncounters;
} lmerge;

/* llogs.c: the options table at idx (nil: defaults); its strings stay on the caller's stack. */
void llogs_read_opts(lua_State *L, int idx, sceplab_log_opts *o);

/* llogs_record.c */
/* nil, message, code: the message as UTF-8 (it may quote a path or a first line as the input had them) */
int llogs_logs_fail(lua_State *L, const sceplab_error *err);
/* The filter table at idx into f, its arrays in fs (its strings stay referenced by the caller). */
void llogs_read_filter(lua_State *L, int idx, lfilter *fs, sceplab_log_filter *f);
void llogs_push_utf8(lua_State *L, const char *p, size_t n);
void llogs_set_str(lua_State *L, const char *key, sceplab_str s);
void llogs_set_cstr(lua_State *L, const char *key, const char *s);
void llogs_iso_time(int64_t us, char *out, size_t outlen);
/* A record as a table (file: the input it came from, or NULL). */
void llogs_push_record(lua_State *L, const char *file, const sceplab_record *r);
void llogs_push_examples(lua_State *L, const char *const *ex, size_t n);
void llogs_push_steps(lua_State *L, const uint64_t *steps);
int llogs_l_filter(lua_State *L);
void llogs_filter_class(lua_State *L);

/* llogs_merge.c */
int llogs_l_merge(lua_State *L);
void llogs_merge_class(lua_State *L);

#endif
