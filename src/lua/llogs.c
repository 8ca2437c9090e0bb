/* sceplab.core.logs: log files as iterators, one at a time (open) or merged in time order (merge).
 * The filter runs in C; a record becomes a Lua table only when it passes. */
#include <stdio.h>
#include <string.h>
#include <time.h>

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

static void push_utf8(lua_State *L, const char *p, size_t n);

/* nil, message, code: the message as UTF-8 (it may quote a path or a first line as the input had them) */
static int logs_fail(lua_State *L, const sceplab_error *err)
{
  int n = sceplab_lua_fail(L, err);
  if(err->msg[0]) {
    push_utf8(L, err->msg, strlen(err->msg));
    lua_replace(L, -3);
  }
  return n;
}

static size_t string_list(lua_State *L, int t, const char *field, const char **out, size_t max)
{
  size_t n = 0, i, len;
  if(lua_getfield(L, t, field) == LUA_TTABLE) {
    len = lua_rawlen(L, -1);
    if(len > max)
      luaL_error(L, "filter field '%s': at most %d entries", field, (int)max);
    for(i = 1; i <= len; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i);
      if(!lua_isstring(L, -1))
        luaL_error(L, "filter field '%s' entry %d must be a string", field, (int)i);
      out[n++] = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return n;
}

static size_t number_list(lua_State *L, int t, const char *field, long *out, size_t max)
{
  size_t n = 0, i, len;
  if(lua_getfield(L, t, field) == LUA_TTABLE) {
    len = lua_rawlen(L, -1);
    if(len > max)
      luaL_error(L, "filter field '%s': at most %d entries", field, (int)max);
    for(i = 1; i <= len; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i);
      out[n++] = (long)luaL_checkinteger(L, -1);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return n;
}

static sceplab_level level_named(const char *s)
{
  int l;
  for(l = SCEPLAB_LVL_VERBOSE; l <= SCEPLAB_LVL_CRITICAL; l++)
    if(strcmp(sceplab_level_name((sceplab_level)l), s) == 0)
      return (sceplab_level)l;
  return SCEPLAB_LVL_UNKNOWN;
}

/* Reads the filter table at idx (nil: no filter) into f, its arrays into fs. The caller keeps the
 * table (and so its strings) alive as long as f is used.
 * filter: {sources, contains, statuses, event_ids, hresults, operations, components, min_level,
 *          since, until (epoch seconds), any, whole_numbers, request_id, device_id} */
static void read_filter(lua_State *L, int idx, lfilter *fs, sceplab_log_filter *f)
{
  memset(f, 0, sizeof(*f));
  f->since_us = f->until_us = SCEPLAB_TIME_UNKNOWN;
  if(lua_isnoneornil(L, idx))
    return;
  luaL_checktype(L, idx, LUA_TTABLE);
  f->sources = fs->sources;
  f->nsources = string_list(L, idx, "sources", fs->sources, 16);
  f->contains = fs->contains;
  f->ncontains = string_list(L, idx, "contains", fs->contains, sizeof fs->contains / sizeof fs->contains[0]);
  f->statuses = fs->statuses;
  f->nstatuses = number_list(L, idx, "statuses", fs->statuses, 32);
  f->event_ids = fs->event_ids;
  f->nevent_ids = number_list(L, idx, "event_ids", fs->event_ids, 64);
  f->operations = fs->operations;
  f->noperations = string_list(L, idx, "operations", fs->operations, 16);
  f->components = fs->components;
  f->ncomponents = string_list(L, idx, "components", fs->components, 16);
  f->contains_all = fs->contains_all;
  f->ncontains_all = string_list(L, idx, "contains_all", fs->contains_all, 16);
  f->hresults = fs->hresults;
  f->nhresults = number_list(L, idx, "hresults", fs->hresults, 64);
  if(lua_getfield(L, idx, "min_level") == LUA_TSTRING) {
    f->min_level = level_named(lua_tostring(L, -1));
    if(f->min_level == SCEPLAB_LVL_UNKNOWN)
      luaL_argerror(L, idx, "min_level must be verbose, info, warning, error or critical");
  }
  lua_pop(L, 1);
  lua_getfield(L, idx, "any");
  f->any = lua_toboolean(L, -1);
  lua_getfield(L, idx, "whole_numbers");
  f->whole_numbers = lua_toboolean(L, -1);
  lua_pop(L, 2);
  if(lua_getfield(L, idx, "since") != LUA_TNIL)
    f->since_us = (int64_t)(luaL_checknumber(L, -1) * 1e6);
  if(lua_getfield(L, idx, "until") != LUA_TNIL)
    f->until_us = (int64_t)(luaL_checknumber(L, -1) * 1e6);
  lua_pop(L, 2);
  /* the strings stay alive in the filter table, which the userdata keeps */
  if(lua_getfield(L, idx, "request_id") != LUA_TNIL)
    f->request_id = luaL_checkstring(L, -1);
  if(lua_getfield(L, idx, "device_id") != LUA_TNIL)
    f->device_id = luaL_checkstring(L, -1);
  lua_pop(L, 2);
}

typedef struct lprogress { uint64_t bytes, next, step, total; int shown; } lprogress; /* see progress_cb */
static lprogress *progress_state(lua_State *L);
static void progress_cb(void *ud, size_t n);

/* Reads the options table at idx (nil: defaults). Strings stay on the caller's stack.
 * opts: {bias = minutes, offset = minutes east, zone = "Europe/London", date = "YYYY-MM-DD", format = name,
 *        progress} */
static void read_opts(lua_State *L, int idx, sceplab_log_opts *o)
{
  memset(o, 0, sizeof(*o));
  if(!lua_istable(L, idx))
    return;
  if(lua_getfield(L, idx, "bias") != LUA_TNIL) {
    lua_Integer b = luaL_checkinteger(L, -1);
    luaL_argcheck(L, b >= -18 * 60 && b <= 18 * 60, idx, "field 'bias' must be minutes within 18 hours (-1080..1080)");
    o->bias = (int)b;
    o->has_bias = 1;
  }
  if(lua_getfield(L, idx, "offset") != LUA_TNIL) {
    lua_Integer off = luaL_checkinteger(L, -1);
    luaL_argcheck(L, off >= -18 * 60 && off <= 18 * 60, idx,
                  "field 'offset' must be minutes east of UTC within 18 hours (-1080..1080), not seconds");
    o->offset_min = (int)off;
    o->has_offset = 1;
  }
  if(lua_getfield(L, idx, "zone") != LUA_TNIL)
    o->zone = luaL_checkstring(L, -1);
  if(lua_getfield(L, idx, "date") != LUA_TNIL)
    o->date = luaL_checkstring(L, -1);
  if(lua_getfield(L, idx, "format") != LUA_TNIL)
    o->format = luaL_checkstring(L, -1);
  if(lua_getfield(L, idx, "archive_depth") != LUA_TNIL) {
    lua_Integer d = luaL_checkinteger(L, -1);
    luaL_argcheck(L, d >= 1 && d <= 16, idx, "field 'archive_depth' must be 1..16 levels");
    o->archive_depth = (int)d;
  }
  if(lua_getfield(L, idx, "archive_budget") != LUA_TNIL) {
    lua_Integer b = luaL_checkinteger(L, -1);
    luaL_argcheck(L, b > 0, idx, "field 'archive_budget' must be a positive number of bytes");
    o->archive_budget = (uint64_t)b;
  }
  lua_pop(L, 2);
  if(lua_getfield(L, idx, "progress"), lua_toboolean(L, -1)) {
    lprogress *p = progress_state(L);
    /* true: every 64 MB; a number: every that many bytes */
    if(lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) {
      p->step = (uint64_t)lua_tointeger(L, -1);
      if(p->bytes == 0)
        p->next = p->step;
    }
    o->progress = progress_cb;
    o->progress_ud = p;
  }
  /* the strings (zone, date, format) are kept in the options table, which the caller holds */
  lua_pop(L, 6);
}

/* open(path [, filter [, opts]]) -> log | nil, message, code */
static int open_common(lua_State *L, int member)
{
  const char *path = luaL_checkstring(L, 1);
  int index = member ? (int)luaL_checkinteger(L, 2) : 0;
  sceplab_log_filter f;
  sceplab_log_opts o;
  sceplab_error err;
  llog *l;
  if(member)
    lua_remove(L, 2); /* the index: filter and opts move to 2 and 3 as for open() */
  lua_settop(L, 3);
  /* created closed, before the file is opened */
  l = lua_newuserdatauv(L, sizeof(*l), 1);
  memset(l, 0, sizeof(*l));
  luaL_setmetatable(L, LOG_MT);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 4, 1); /* the filter's strings live as long as the log */
  read_filter(L, 2, &l->fs, &f);
  read_opts(L, 3, &o);
  sceplab_err_clear(&err);
  l->lg = member ? sceplab_log_open_member(path, index, &f, &o, &err) : sceplab_log_open(path, &f, &o, &err);
  if(!l->lg) {
    if(err.code == SCEPLAB_E_USAGE)
      return luaL_argerror(L, 3, err.msg);
    return logs_fail(L, &err);
  }
  return 1;
}

/* Progress on stderr for long reads: one state per Lua state, in the registry. The front end asks
 * for it (opts.progress) only when stderr is a terminal; logs.progress_end() clears the line. */
#define PROGRESS_KEY "sceplab.logs.progress"
#define PROGRESS_STEP (64u << 20)

static lprogress *progress_state(lua_State *L)
{
  lprogress *p;
  if(lua_getfield(L, LUA_REGISTRYINDEX, PROGRESS_KEY) == LUA_TUSERDATA) {
    p = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return p;
  }
  lua_pop(L, 1);
  p = lua_newuserdatauv(L, sizeof(*p), 0);
  memset(p, 0, sizeof(*p));
  p->next = p->step = PROGRESS_STEP;
  lua_setfield(L, LUA_REGISTRYINDEX, PROGRESS_KEY);
  return p;
}

static void progress_cb(void *ud, size_t n)
{
  lprogress *p = ud;
  p->bytes += n;
  if(p->bytes >= p->next) {
    /* with the total the front end gave (logs.progress_total), how far: a total that turns out
     * short (a file grew) is no promise, so the percentage stops at 99 until the end */
    if(p->total > 0)
      fprintf(stderr, "\rsceplab: %llu of %llu MB read (%u%%)", (unsigned long long)(p->bytes >> 20),
              (unsigned long long)(p->total >> 20), (unsigned)(p->bytes >= p->total ? 99 : p->bytes * 100 / p->total));
    else
      fprintf(stderr, "\rsceplab: %llu MB read", (unsigned long long)(p->bytes >> 20));
    fflush(stderr);
    p->shown = 1;
    p->next = p->bytes + p->step;
  }
}

/* progress_total(bytes): what the next read will read in all, for the percentage (0: unknown). */
static int l_progress_total(lua_State *L)
{
  lua_Integer t = luaL_checkinteger(L, 1);
  progress_state(L)->total = t > 0 ? (uint64_t)t : 0;
  return 0;
}

static int l_progress_end(lua_State *L)
{
  lprogress *p = progress_state(L);
  if(p->shown)
    fputs("\r\033[K", stderr);
  p->total = 0;
  p->bytes = 0;
  p->next = p->step = PROGRESS_STEP;
  p->shown = 0;
  return 0;
}

static int l_open(lua_State *L)
{
  return open_common(L, 0);
}

/* open_member(zip, index [, filter [, opts]]): one member of a zip bundle, read in place */
static int l_open_member(lua_State *L)
{
  return open_common(L, 1);
}

static void add_member(void *u, int index, const char *name)
{
  lua_State *L = u;
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, index);
  lua_setfield(L, -2, "index");
  push_utf8(L, name, strlen(name));
  lua_setfield(L, -2, "name");
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

/* members(path) -> {{index, name}...} | nil, message, code (not a zip) */
static int l_members(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  sceplab_error err;
  lua_newtable(L);
  if(sceplab_archive_members(path, add_member, L, &err) < 0)
    return logs_fail(L, &err);
  return 1;
}

/* Pushes text as valid UTF-8: the readers repair what they decode, but a field cut to fit a
 * buffer may end in half a character, and a report must never carry one. */
static void push_utf8(lua_State *L, const char *p, size_t n)
{
  if(sceplab_utf8_valid(p, n) == n)
    lua_pushlstring(L, p, n);
  else {
    luaL_Buffer b;
    char *o = luaL_buffinitsize(L, &b, 3 * n);
    luaL_pushresultsize(&b, sceplab_utf8_repair(p, n, o));
  }
}

static void set_str(lua_State *L, const char *key, sceplab_str s)
{
  if(s.p && s.n) {
    push_utf8(L, s.p, s.n);
    lua_setfield(L, -2, key);
  }
}

static void set_cstr(lua_State *L, const char *key, const char *s)
{
  if(s && *s) {
    push_utf8(L, s, strlen(s));
    lua_setfield(L, -2, key);
  }
}

static void set_int(lua_State *L, const char *key, long long v)
{
  if(v >= 0) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, key);
  }
}

static void iso_time(int64_t us, char *out, size_t outlen)
{
  time_t secs = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
  long frac = (long)(us - (int64_t)secs * 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  if(frac)
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  else
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
}

/* A record as a table; file is where it was read (a re-read JSONL export names its origin). */
static void push_record(lua_State *L, const char *file, const sceplab_record *r)
{
  lua_createtable(L, 0, 24);
  if(r->time_us != SCEPLAB_TIME_UNKNOWN) {
    char iso[64];
    iso_time(r->time_us, iso, sizeof(iso));
    lua_pushstring(L, iso);
    lua_setfield(L, -2, "time");
    lua_pushinteger(L, (lua_Integer)r->time_us);
    lua_setfield(L, -2, "time_us");
    lua_pushinteger(L, r->utc_offset_min);
    lua_setfield(L, -2, "utc_offset");
    set_cstr(L, "date_source", r->date_source);
    set_cstr(L, "offset_source", r->offset_source);
  }
  if(r->zone_assumed) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "zone_assumed");
  }
  if(r->time_inferred) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "time_inferred");
  }
  if(r->date_assumed) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "date_assumed");
  }
  set_str(L, "time_text", r->time_text);
  set_cstr(L, "source", r->source);
  if(r->origin.n)
    set_str(L, "file", r->origin);
  else
    set_cstr(L, "file", file);
  lua_pushinteger(L, (lua_Integer)r->line);
  lua_setfield(L, -2, "line");
  lua_pushinteger(L, (lua_Integer)r->offset);
  lua_setfield(L, -2, "offset");
  set_cstr(L, "level", sceplab_level_name(r->level));
  if(r->step) {
    lua_pushinteger(L, r->step);
    lua_setfield(L, -2, "step");
  }
  set_str(L, "message", r->message);
  set_str(L, "host", r->host);
  set_str(L, "component", r->component);
  set_int(L, "event_id", r->event_id);
  set_str(L, "method", r->method);
  set_str(L, "url", r->url);
  set_str(L, "client_ip", r->client_ip);
  set_str(L, "user_agent", r->user_agent);
  set_str(L, "platform", r->platform);
  set_str(L, "scep_operation", r->scep_operation);
  if(r->scep_message_length) {
    lua_pushinteger(L, (lua_Integer)r->scep_message_length);
    lua_setfield(L, -2, "scep_message_length");
  }
  set_int(L, "http_status", r->http_status);
  set_int(L, "http_substatus", r->http_substatus);
  set_int(L, "win32_status", r->win32_status);
  set_cstr(L, "hresult", r->hresult);
  set_cstr(L, "hresult_name", r->hresult_name);
  set_int(L, "time_taken_ms", r->time_taken_ms);
  set_str(L, "thread", r->thread);
  set_str(L, "context", r->context);
  set_cstr(L, "request_id", r->request_id);
  set_cstr(L, "transaction_id", r->transaction_id);
  set_cstr(L, "device_id", r->device_id);
  set_cstr(L, "user_id", r->user_id);
  set_cstr(L, "thumbprint", r->thumbprint);
}

static void push_examples(lua_State *L, const char *const *ex, size_t n)
{
  size_t i;
  lua_newtable(L);
  for(i = 0; i < n && ex[i]; i++) {
    lua_pushstring(L, ex[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  sceplab_lua_push_array_mt(L);
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "examples");
}

static void push_steps(lua_State *L, const uint64_t *steps)
{
  int i;
  lua_createtable(L, 6, 0);
  for(i = 1; i <= 6; i++) {
    lua_pushinteger(L, (lua_Integer)steps[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setfield(L, -2, "steps");
}

/* ---- one log --------------------------------------------------------------------------------- */

static llog *check_log(lua_State *L, int idx)
{
  llog *l = luaL_checkudata(L, idx, LOG_MT);
  if(!l->lg)
    luaL_argerror(L, idx, "log is closed");
  return l;
}

/* log:next() -> record | nil at the end | nil, message, code on a read error */
static int m_next(lua_State *L)
{
  llog *l = check_log(L, 1);
  sceplab_record r;
  sceplab_error err;
  int rc;
  sceplab_err_clear(&err);
  rc = sceplab_log_next(l->lg, &r, &err);
  if(rc < 0)
    return logs_fail(L, &err);
  if(rc == 0) {
    lua_pushnil(L);
    return 1;
  }
  push_record(L, sceplab_log_path(l->lg), &r);
  return 1;
}

/* The records() iterator raises on a read error, as liolib's lines() does: a generic for cannot
 * see a second result, and a read error in the middle of a file must not look like its end. */
static int iter(lua_State *L)
{
  int n = m_next(L);
  if(n == 3)
    return luaL_error(L, "%s", lua_tostring(L, -2));
  return n;
}

/* for rec in log:records() do ... end */
static int m_records(lua_State *L)
{
  check_log(L, 1);
  lua_pushcfunction(L, iter);
  lua_pushvalue(L, 1);
  return 2;
}

static int m_stats(lua_State *L)
{
  llog *l = check_log(L, 1);
  const char *ex[3];
  uint64_t steps[7];
  int i;
  lua_createtable(L, 0, 6);
  lua_pushstring(L, sceplab_log_path(l->lg));
  lua_setfield(L, -2, "file");
  lua_pushstring(L, sceplab_log_format(l->lg));
  lua_setfield(L, -2, "format");
  lua_pushinteger(L, (lua_Integer)sceplab_log_records(l->lg));
  lua_setfield(L, -2, "records");
  lua_pushinteger(L, (lua_Integer)sceplab_log_skipped(l->lg));
  lua_setfield(L, -2, "skipped");
  for(i = 0; i < 3; i++)
    ex[i] = sceplab_log_skip_example(l->lg, i);
  push_examples(L, ex, 3);
  for(i = 0; i <= 6; i++)
    steps[i] = sceplab_log_step_records(l->lg, i);
  push_steps(L, steps);
  return 1;
}

static int m_close(lua_State *L)
{
  llog *l = luaL_checkudata(L, 1, LOG_MT);
  sceplab_log_close(l->lg);
  l->lg = NULL;
  return 0;
}

static int m_tostring(lua_State *L)
{
  llog *l = luaL_checkudata(L, 1, LOG_MT);
  if(l->lg)
    lua_pushfstring(L, "sceplab.log (%s, %s)", sceplab_log_format(l->lg), sceplab_log_path(l->lg));
  else
    lua_pushliteral(L, "sceplab.log (closed)");
  return 1;
}

/* ---- merged logs ------------------------------------------------------------------------------ */

/* merge(paths [, filter [, opts]]) -> merge | nil, message, code. Inputs that cannot be read are
 * not errors here: merge:inputs() says which and why. */
static int l_merge(lua_State *L)
{
  sceplab_log_filter f;
  sceplab_log_opts o;
  sceplab_error err;
  const char **paths;
  size_t n, i;
  lmerge *lm;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 3);
  n = lua_rawlen(L, 1);
  lm = lua_newuserdatauv(L, sizeof(*lm), 3); /* created closed, before anything is opened */
  memset(lm, 0, sizeof(*lm));
  luaL_setmetatable(L, MERGE_MT);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 4, 1); /* the filter's and the counters' strings live as long as the merge */
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, 4, 2);
  read_filter(L, 2, &lm->fs, &f);
  read_opts(L, 3, &o);
  /* opts.counters: filters whose records are counted by key instead of returned (merge:counts()) */
  if(lua_istable(L, 3) && lua_getfield(L, 3, "counters") == LUA_TTABLE) {
    size_t nc = lua_rawlen(L, -1), c;
    lfilter *cfs = lua_newuserdatauv(L, (nc ? nc : 1) * (sizeof(lfilter) + sizeof(sceplab_log_filter)), 0);
    sceplab_log_filter *cf = (sceplab_log_filter *)(void *)(cfs + (nc ? nc : 1));
    lua_setiuservalue(L, 4, 3);
    for(c = 0; c < nc; c++) {
      lua_rawgeti(L, -1, (lua_Integer)c + 1);
      read_filter(L, lua_gettop(L), &cfs[c], &cf[c]);
      lua_pop(L, 1);
    }
    o.counters = cf;
    o.ncounters = nc;
    lm->ncounters = nc;
  }
  lua_settop(L, 4);
  paths = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*paths), 0);
  for(i = 0; i < n; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i + 1);
    paths[i] = lua_tostring(L, -1);
    if(!paths[i])
      return luaL_argerror(L, 1, "paths must be strings");
    lua_pop(L, 1); /* the string stays alive in the table */
  }
  sceplab_err_clear(&err);
  lm->m = sceplab_merge_open(paths, n, &f, &o, &err);
  lua_pop(L, 1);
  if(!lm->m) {
    if(err.code == SCEPLAB_E_USAGE)
      return luaL_argerror(L, 3, err.msg);
    return logs_fail(L, &err);
  }
  return 1;
}

static lmerge *check_merge(lua_State *L, int idx)
{
  lmerge *lm = luaL_checkudata(L, idx, MERGE_MT);
  if(!lm->m)
    luaL_argerror(L, idx, "merge is closed");
  return lm;
}

/* merge:next() -> record | nil at the end */
static int mm_next(lua_State *L)
{
  lmerge *lm = check_merge(L, 1);
  const sceplab_record *r;
  const char *file;
  sceplab_error err;
  sceplab_err_clear(&err);
  if(sceplab_merge_next(lm->m, &r, &file, &err) <= 0) {
    lua_pushnil(L);
    return 1;
  }
  push_record(L, file, r);
  return 1;
}

/* What timeline.group needs of a record, for --attempts: ids, time, where, step, level. */
static void push_keys(lua_State *L, const char *file, const sceplab_record *r)
{
  char iso[64];
  lua_createtable(L, 0, 9);
  if(r->time_us != SCEPLAB_TIME_UNKNOWN) {
    iso_time(r->time_us, iso, sizeof(iso));
    lua_pushstring(L, iso);
    lua_setfield(L, -2, "time");
    lua_pushinteger(L, (lua_Integer)r->time_us);
    lua_setfield(L, -2, "time_us");
  }
  if(r->origin.n)
    set_str(L, "file", r->origin);
  else
    set_cstr(L, "file", file);
  set_cstr(L, "source", r->source);
  set_cstr(L, "level", sceplab_level_name(r->level));
  if(r->step) {
    lua_pushinteger(L, r->step);
    lua_setfield(L, -2, "step");
  }
  set_cstr(L, "request_id", r->request_id);
  set_cstr(L, "transaction_id", r->transaction_id);
  set_cstr(L, "device_id", r->device_id);
}

/* merge:write(format [, tz [, keys]]) -> records written [, nil, keys] | nil, message: every record
 * left, written to standard output in C as "text", "jsonl" or "ecs" (tz, text only: "UTC", "local",
 * "+HH:MM"); with keys true, also the list of what --attempts groups by, one small table each. */
static int mm_write(lua_State *L)
{
  static const char *const names[] = {"text", "jsonl", "ecs", NULL};
  lmerge *lm = check_merge(L, 1);
  int fmt = luaL_checkoption(L, 2, NULL, names);
  const char *tz = luaL_optstring(L, 3, "UTC");
  const sceplab_record *r;
  const char *file;
  sceplab_error err;
  sceplab_writer *w;
  lua_Integer n = 0;
  int failed = 0, keys = lua_toboolean(L, 4);
  lua_settop(L, 3);
  if(keys)
    lua_newtable(L); /* index 4 */
  fflush(stdout); /* what Lua wrote before comes first */
  sceplab_err_clear(&err);
  w = sceplab_writer_new(stdout, fmt == 0 ? SCEPLAB_WRITE_TEXT : fmt == 1 ? SCEPLAB_WRITE_JSONL : SCEPLAB_WRITE_ECS, tz, &err);
  if(!w)
    return luaL_argerror(L, 3, err.msg);
  while(!failed && sceplab_merge_next(lm->m, &r, &file, &err) > 0) {
    failed = sceplab_writer_put(w, r, file) != 0;
    n++;
    if(keys) {
      push_keys(L, file, r);
      lua_rawseti(L, 4, n);
    }
  }
  if(sceplab_writer_close(w) != 0 || failed) {
    lua_pushnil(L);
    lua_pushstring(L, "standard output: cannot write");
    return 2;
  }
  lua_pushinteger(L, n);
  if(!keys)
    return 1;
  lua_pushnil(L);
  lua_pushvalue(L, 4);
  return 3;
}

static int mm_records(lua_State *L)
{
  check_merge(L, 1);
  lua_pushcfunction(L, mm_next);
  lua_pushvalue(L, 1);
  return 2;
}

/* merge:inputs() -> {{file, format, records, skipped, examples, steps, out_of_order?, sorted?, date_source?,
 *                      offset_source?, date_note?, offset_note?, order_note?} |
 *                     {file, error, fatal}...}; an input that stopped in the middle has both. */
static int mm_inputs(lua_State *L)
{
  lmerge *lm = check_merge(L, 1);
  size_t i, n = sceplab_merge_count(lm->m);
  lua_createtable(L, (int)n, 0);
  for(i = 0; i < n; i++) {
    const sceplab_merge_input *in = sceplab_merge_input_at(lm->m, i);
    lua_createtable(L, 0, 8);
    lua_pushstring(L, in->path);
    lua_setfield(L, -2, "file");
    if(in->format) {
      lua_pushstring(L, in->format);
      lua_setfield(L, -2, "format");
      if(in->why) {
        lua_pushstring(L, in->why);
        lua_setfield(L, -2, "why");
      }
      lua_pushinteger(L, (lua_Integer)in->records);
      lua_setfield(L, -2, "records");
      lua_pushinteger(L, (lua_Integer)in->skipped);
      lua_setfield(L, -2, "skipped");
      push_examples(L, in->examples, 3);
      push_steps(L, in->steps);
      if(in->out_of_order) {
        lua_pushinteger(L, (lua_Integer)in->out_of_order);
        lua_setfield(L, -2, "out_of_order");
      }
      if(in->sorted || in->partly_sorted) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, in->sorted ? "sorted" : "partly_sorted");
      }
      /* where the records without their own date or offset got them, and why */
      set_cstr(L, "date_source", in->times.date_source);
      set_cstr(L, "offset_source", in->times.offset_source);
      set_cstr(L, "date_note", in->times.date_note);
      set_cstr(L, "offset_note", in->times.offset_note);
      set_cstr(L, "order_note", in->times.order_note);
    }
    if(in->binary || in->refused) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, in->binary ? "binary" : "refused");
    }
    if(in->error) {
      lua_pushstring(L, in->error);
      lua_setfield(L, -2, "error");
      lua_pushboolean(L, in->named && !in->format);
      lua_setfield(L, -2, "fatal");
      if(in->read_error) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "stopped");
      }
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* merge:counts() -> {{counter, key, count, first = {time, time_us, file, line, text}, last}...} */
static void push_seen(lua_State *L, const sceplab_count_seen *s)
{
  char iso[64];
  lua_createtable(L, 0, 5);
  if(s->time_us != SCEPLAB_TIME_UNKNOWN) {
    iso_time(s->time_us, iso, sizeof(iso));
    lua_pushstring(L, iso);
    lua_setfield(L, -2, "time");
    lua_pushinteger(L, (lua_Integer)s->time_us);
    lua_setfield(L, -2, "time_us");
  }
  set_cstr(L, "file", s->file);
  lua_pushinteger(L, (lua_Integer)s->line);
  lua_setfield(L, -2, "line");
  set_cstr(L, "text", s->text);
}

static int mm_counts(lua_State *L)
{
  lmerge *lm = check_merge(L, 1);
  size_t i, n = sceplab_merge_counts(lm->m);
  lua_createtable(L, (int)n, 0);
  for(i = 0; i < n; i++) {
    const sceplab_count *c = sceplab_merge_count_at(lm->m, i);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)c->counter + 1);
    lua_setfield(L, -2, "counter");
    lua_pushstring(L, c->key);
    lua_setfield(L, -2, "key");
    lua_pushinteger(L, (lua_Integer)c->count);
    lua_setfield(L, -2, "count");
    push_seen(L, &c->first);
    lua_setfield(L, -2, "first");
    push_seen(L, &c->last);
    lua_setfield(L, -2, "last");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int mm_close(lua_State *L)
{
  lmerge *lm = luaL_checkudata(L, 1, MERGE_MT);
  sceplab_merge_close(lm->m);
  lm->m = NULL;
  return 0;
}

static int mm_tostring(lua_State *L)
{
  lmerge *lm = luaL_checkudata(L, 1, MERGE_MT);
  if(lm->m)
    lua_pushfstring(L, "sceplab.merge (%d inputs)", (int)sceplab_merge_count(lm->m));
  else
    lua_pushliteral(L, "sceplab.merge (closed)");
  return 1;
}

/* zone(name) -> true | nil, message: whether the time zone database has the zone (--assume-offset). */
static int l_zone(lua_State *L)
{
  sceplab_error err;
  sceplab_err_clear(&err);
  if(sceplab_log_zone_check(luaL_checkstring(L, 1), &err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_explain(lua_State *L)
{
  char out[256];
  sceplab_error err;
  sceplab_err_clear(&err);
  if(sceplab_log_explain(luaL_checkstring(L, 1), out, sizeof(out), &err) != 0)
    return logs_fail(L, &err);
  lua_pushstring(L, out);
  return 1;
}

/* formats() -> {{name, forceable}...}: the formats read, in detection order (one table in C) */
static int l_formats(lua_State *L)
{
  size_t i;
  const char *name;
  lua_newtable(L);
  for(i = 0; (name = sceplab_log_format_name(i)) != NULL; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    lua_pushboolean(L, sceplab_log_format_forceable(i));
    lua_setfield(L, -2, "forceable");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* A filter on its own: the readers' test for records already in Lua. */
typedef struct lfilterud {
  lfilter fs;
  sceplab_log_filter f;
} lfilterud;

/* A shallow copy of the table at idx whose list fields are copied too: the filter points into its
 * strings, so later changes to the caller's table cannot free them. */
static void copy_spec(lua_State *L, int idx)
{
  lua_newtable(L);
  lua_pushnil(L);
  while(lua_next(L, idx)) {
    if(lua_type(L, -1) == LUA_TTABLE) {
      lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
      lua_createtable(L, (int)n, 0);
      for(i = 1; i <= n; i++) {
        lua_rawgeti(L, -2, i);
        lua_rawseti(L, -2, i);
      }
      lua_replace(L, -2);
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, -4);
  }
}

/* filter(spec) -> filter: the filter a reader would apply, as a value (see read_filter). */
static int l_filter(lua_State *L)
{
  lfilterud *u;
  luaL_checktype(L, 1, LUA_TTABLE);
  copy_spec(L, 1);                                             /* 2: the copy */
  u = lua_newuserdatauv(L, sizeof(*u), 1);                     /* 3 */
  memset(u, 0, sizeof(*u));
  luaL_setmetatable(L, FILTER_MT);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 3, 1);
  read_filter(L, 2, &u->fs, &u->f);
  return 1;
}

static sceplab_str field_str(lua_State *L, int t, const char *name)
{
  sceplab_str s = {NULL, 0};
  if(lua_getfield(L, t, name) == LUA_TSTRING)
    s.p = lua_tolstring(L, -1, &s.n); /* the record table keeps it alive during the test */
  lua_pop(L, 1);
  return s;
}

static long field_long(lua_State *L, int t, const char *name, long dflt)
{
  long v = dflt;
  if(lua_getfield(L, t, name) == LUA_TNUMBER)
    v = (long)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

static void field_copy(lua_State *L, int t, const char *name, char *out, size_t outlen)
{
  sceplab_str s = field_str(L, t, name);
  if(s.p && s.n < outlen) {
    memcpy(out, s.p, s.n);
    out[s.n] = '\0';
  }
}

/* filter:test(record) -> boolean, record a table as readers return them. */
static int f_test(lua_State *L)
{
  lfilterud *u = luaL_checkudata(L, 1, FILTER_MT);
  sceplab_record r;
  sceplab_str s;
  luaL_checktype(L, 2, LUA_TTABLE);
  memset(&r, 0, sizeof(r));
  s = field_str(L, 2, "source");
  r.source = s.p ? s.p : "";
  r.message = field_str(L, 2, "message");
  r.component = field_str(L, 2, "component");
  r.scep_operation = field_str(L, 2, "scep_operation");
  r.http_status = field_long(L, 2, "http_status", -1);
  r.event_id = field_long(L, 2, "event_id", -1);
  s = field_str(L, 2, "level");
  r.level = s.p ? level_named(s.p) : SCEPLAB_LVL_UNKNOWN;
  r.time_us = SCEPLAB_TIME_UNKNOWN;
  if(lua_getfield(L, 2, "time_us") == LUA_TNUMBER)
    r.time_us = (int64_t)lua_tointeger(L, -1);
  lua_pop(L, 1);
  field_copy(L, 2, "hresult", r.hresult, sizeof(r.hresult));
  field_copy(L, 2, "request_id", r.request_id, sizeof(r.request_id));
  field_copy(L, 2, "device_id", r.device_id, sizeof(r.device_id));
  lua_pushboolean(L, sceplab_log_filter_test(&u->f, &r));
  return 1;
}

static int f_tostring(lua_State *L)
{
  luaL_checkudata(L, 1, FILTER_MT);
  lua_pushliteral(L, "sceplab.filter");
  return 1;
}

static const luaL_Reg filter_methods[] = {{"test", f_test}, {NULL, NULL}};
static const luaL_Reg filter_meta[] = {{"__tostring", f_tostring}, {NULL, NULL}};

static const luaL_Reg methods[] = {
  {"next", m_next}, {"records", m_records}, {"stats", m_stats}, {"close", m_close}, {NULL, NULL}
};
static const luaL_Reg meta[] = {
  {"__gc", m_close}, {"__close", m_close}, {"__tostring", m_tostring}, {NULL, NULL}
};
static const luaL_Reg merge_methods[] = {
  {"next", mm_next}, {"records", mm_records}, {"inputs", mm_inputs}, {"write", mm_write}, {"counts", mm_counts},
  {"close", mm_close},
  {NULL, NULL}
};
static const luaL_Reg merge_meta[] = {
  {"__gc", mm_close}, {"__close", mm_close}, {"__tostring", mm_tostring}, {NULL, NULL}
};
/* zip_dir(dir, zip_path) -> true | nil, message, code: a bundle folder written as a zip */
static int l_zip_dir(lua_State *L)
{
  const char *dir = luaL_checkstring(L, 1), *zip = luaL_checkstring(L, 2);
  sceplab_error err;
  sceplab_err_clear(&err);
  if(sceplab_zip_dir(dir, zip, &err) != 0)
    return logs_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* find_text(text, needle [, init]) -> start, end | nil: the readers' text search (filter.contains,
 * the playbooks' match.contains): case-insensitive, any form of an apostrophe or a quote in the
 * needle matches, and an apostrophe inside a word also matches what a paste left in its place (a
 * run of one to three non-letters: "Authority...s", "Authority?s"). */
static int l_find_text(lua_State *L)
{
  size_t n, k;
  const char *text = luaL_checklstring(L, 1, &n), *needle = luaL_checkstring(L, 2);
  lua_Integer init = luaL_optinteger(L, 3, 1);
  size_t i = init > 0 ? (size_t)init - 1 : 0;
  if(!*needle) {
    lua_pushinteger(L, (lua_Integer)i + 1);
    lua_pushinteger(L, (lua_Integer)i);
    return 2;
  }
  for(; i < n; i++)
    if((k = sceplab_match_text(text + i, n - i, needle)) > 0) {
      lua_pushinteger(L, (lua_Integer)i + 1);
      lua_pushinteger(L, (lua_Integer)(i + k));
      return 2;
    }
  lua_pushnil(L);
  return 1;
}

/* has_code(text, code) -> boolean: does text hold the number as a whole token? code is an integer
 * (found in decimal or 0x hex, and as an HRESULT, 0x80000000 to 0xFFFFFFFF, also in bare 8-digit hex
 * and signed decimal) or a string spelling ("12175", "-1004", "0x409": that spelling only). */
static int l_has_code(lua_State *L)
{
  size_t n, sn;
  const char *text = luaL_checklstring(L, 1, &n);
  int64_t v;
  unsigned how;
  if(lua_isinteger(L, 2)) {
    lua_Integer c = lua_tointeger(L, 2);
    v = (int64_t)c;
    how = SCEPLAB_CODE_DEC | SCEPLAB_CODE_HEX;
    if(c >= 0x80000000LL && c <= 0xFFFFFFFFLL)
      how |= SCEPLAB_CODE_HRESULT;
  } else {
    const char *s = luaL_checklstring(L, 2, &sn);
    if(lua_type(L, 2) != LUA_TSTRING || !sceplab_code_spelling(s, sn, &v, &how))
      return luaL_argerror(L, 2, "a code is an integer or a number as logs write it (\"12175\", \"-1004\", \"0x409\")");
  }
  lua_pushboolean(L, sceplab_text_has_code(text, n, v, how));
  return 1;
}

static const luaL_Reg funcs[] = {
  {"find_text", l_find_text}, {"has_code", l_has_code}, {"zip_dir", l_zip_dir}, {"open", l_open},
  {"open_member", l_open_member}, {"members", l_members}, {"merge", l_merge}, {"explain", l_explain}, {"zone", l_zone},
  {"progress_end", l_progress_end}, {"progress_total", l_progress_total}, {"formats", l_formats}, {"filter", l_filter},
  {NULL, NULL}
};

int luaopen_sceplab_core_logs(lua_State *L)
{
  sceplab_lua_newclass(L, LOG_MT, meta, methods);
  sceplab_lua_newclass(L, MERGE_MT, merge_meta, merge_methods);
  sceplab_lua_newclass(L, FILTER_MT, filter_meta, filter_methods);
  luaL_newlib(L, funcs);
  return 1;
}
