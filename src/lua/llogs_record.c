/* sceplab.core.logs (llogs.c): records as Lua tables, and the filter, read from its table and
 * tested against a record (logs.filter(spec):test(rec)), as the readers run it in C. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "llogs.h"

typedef struct lfilterud {
  lfilter fs;
  sceplab_log_filter f;
} lfilterud;

/* nil, message, code: the message as UTF-8 (it may quote a path or a first line as the input had them) */
int llogs_logs_fail(lua_State *L, const sceplab_error *err)
{
  int n = sceplab_lua_fail(L, err);
  if(err->msg[0]) {
    llogs_push_utf8(L, err->msg, strlen(err->msg));
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
void llogs_read_filter(lua_State *L, int idx, lfilter *fs, sceplab_log_filter *f)
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

/* Pushes text as valid UTF-8: the readers repair what they decode, but a field cut to fit a
 * buffer may end in half a character, and a report must never carry one. */
void llogs_push_utf8(lua_State *L, const char *p, size_t n)
{
  if(sceplab_utf8_valid(p, n) == n)
    lua_pushlstring(L, p, n);
  else {
    luaL_Buffer b;
    char *o = luaL_buffinitsize(L, &b, 3 * n);
    luaL_pushresultsize(&b, sceplab_utf8_repair(p, n, o));
  }
}

void llogs_set_str(lua_State *L, const char *key, sceplab_str s)
{
  if(s.p && s.n) {
    llogs_push_utf8(L, s.p, s.n);
    lua_setfield(L, -2, key);
  }
}

void llogs_set_cstr(lua_State *L, const char *key, const char *s)
{
  if(s && *s) {
    llogs_push_utf8(L, s, strlen(s));
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

void llogs_iso_time(int64_t us, char *out, size_t outlen)
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
void llogs_push_record(lua_State *L, const char *file, const sceplab_record *r)
{
  lua_createtable(L, 0, 24);
  if(r->time_us != SCEPLAB_TIME_UNKNOWN) {
    char iso[64];
    llogs_iso_time(r->time_us, iso, sizeof(iso));
    lua_pushstring(L, iso);
    lua_setfield(L, -2, "time");
    lua_pushinteger(L, (lua_Integer)r->time_us);
    lua_setfield(L, -2, "time_us");
    lua_pushinteger(L, r->utc_offset_min);
    lua_setfield(L, -2, "utc_offset");
    llogs_set_cstr(L, "date_source", r->date_source);
    llogs_set_cstr(L, "offset_source", r->offset_source);
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
  llogs_set_str(L, "time_text", r->time_text);
  llogs_set_cstr(L, "source", r->source);
  if(r->origin.n)
    llogs_set_str(L, "file", r->origin);
  else
    llogs_set_cstr(L, "file", file);
  lua_pushinteger(L, (lua_Integer)r->line);
  lua_setfield(L, -2, "line");
  lua_pushinteger(L, (lua_Integer)r->offset);
  lua_setfield(L, -2, "offset");
  llogs_set_cstr(L, "level", sceplab_level_name(r->level));
  if(r->step) {
    lua_pushinteger(L, r->step);
    lua_setfield(L, -2, "step");
  }
  llogs_set_str(L, "message", r->message);
  llogs_set_str(L, "host", r->host);
  llogs_set_str(L, "component", r->component);
  set_int(L, "event_id", r->event_id);
  llogs_set_str(L, "method", r->method);
  llogs_set_str(L, "url", r->url);
  llogs_set_str(L, "client_ip", r->client_ip);
  llogs_set_str(L, "user_agent", r->user_agent);
  llogs_set_str(L, "platform", r->platform);
  llogs_set_str(L, "scep_operation", r->scep_operation);
  if(r->scep_message_length) {
    lua_pushinteger(L, (lua_Integer)r->scep_message_length);
    lua_setfield(L, -2, "scep_message_length");
  }
  set_int(L, "http_status", r->http_status);
  set_int(L, "http_substatus", r->http_substatus);
  set_int(L, "win32_status", r->win32_status);
  llogs_set_cstr(L, "hresult", r->hresult);
  llogs_set_cstr(L, "hresult_name", r->hresult_name);
  set_int(L, "time_taken_ms", r->time_taken_ms);
  llogs_set_str(L, "thread", r->thread);
  llogs_set_str(L, "context", r->context);
  llogs_set_cstr(L, "request_id", r->request_id);
  llogs_set_cstr(L, "transaction_id", r->transaction_id);
  llogs_set_cstr(L, "device_id", r->device_id);
  llogs_set_cstr(L, "user_id", r->user_id);
  llogs_set_cstr(L, "thumbprint", r->thumbprint);
}

void llogs_push_examples(lua_State *L, const char *const *ex, size_t n)
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

void llogs_push_steps(lua_State *L, const uint64_t *steps)
{
  int i;
  lua_createtable(L, 6, 0);
  for(i = 1; i <= 6; i++) {
    lua_pushinteger(L, (lua_Integer)steps[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setfield(L, -2, "steps");
}

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
int llogs_l_filter(lua_State *L)
{
  lfilterud *u;
  luaL_checktype(L, 1, LUA_TTABLE);
  copy_spec(L, 1);                                             /* 2: the copy */
  u = lua_newuserdatauv(L, sizeof(*u), 1);                     /* 3 */
  memset(u, 0, sizeof(*u));
  luaL_setmetatable(L, FILTER_MT);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 3, 1);
  llogs_read_filter(L, 2, &u->fs, &u->f);
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

void llogs_filter_class(lua_State *L)
{
  sceplab_lua_newclass(L, FILTER_MT, filter_meta, filter_methods);
}
