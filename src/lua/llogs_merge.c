/* sceplab.core.logs (llogs.c): logs merged in time order (logs.merge), their inputs and counts. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "llogs.h"

/* merge(paths [, filter [, opts]]) -> merge | nil, message, code. Inputs that cannot be read are
 * not errors here: merge:inputs() says which and why. */
int llogs_l_merge(lua_State *L)
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
  llogs_read_filter(L, 2, &lm->fs, &f);
  llogs_read_opts(L, 3, &o);
  /* opts.counters: filters whose records are counted by key instead of returned (merge:counts()) */
  if(lua_istable(L, 3) && lua_getfield(L, 3, "counters") == LUA_TTABLE) {
    size_t nc = lua_rawlen(L, -1), c;
    lfilter *cfs = lua_newuserdatauv(L, (nc ? nc : 1) * (sizeof(lfilter) + sizeof(sceplab_log_filter)), 0);
    sceplab_log_filter *cf = (sceplab_log_filter *)(void *)(cfs + (nc ? nc : 1));
    lua_setiuservalue(L, 4, 3);
    for(c = 0; c < nc; c++) {
      lua_rawgeti(L, -1, (lua_Integer)c + 1);
      llogs_read_filter(L, lua_gettop(L), &cfs[c], &cf[c]);
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
    return llogs_logs_fail(L, &err);
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
  llogs_push_record(L, file, r);
  return 1;
}

/* What timeline.group needs of a record, for --attempts: ids, time, where, step, level. */
static void push_keys(lua_State *L, const char *file, const sceplab_record *r)
{
  char iso[64];
  lua_createtable(L, 0, 9);
  if(r->time_us != SCEPLAB_TIME_UNKNOWN) {
    llogs_iso_time(r->time_us, iso, sizeof(iso));
    lua_pushstring(L, iso);
    lua_setfield(L, -2, "time");
    lua_pushinteger(L, (lua_Integer)r->time_us);
    lua_setfield(L, -2, "time_us");
  }
  if(r->origin.n)
    llogs_set_str(L, "file", r->origin);
  else
    llogs_set_cstr(L, "file", file);
  llogs_set_cstr(L, "source", r->source);
  llogs_set_cstr(L, "level", sceplab_level_name(r->level));
  if(r->step) {
    lua_pushinteger(L, r->step);
    lua_setfield(L, -2, "step");
  }
  llogs_set_cstr(L, "request_id", r->request_id);
  llogs_set_cstr(L, "transaction_id", r->transaction_id);
  llogs_set_cstr(L, "device_id", r->device_id);
}

/* merge:write(format [, tz [, keys [, colour]]]) -> records written [, nil, keys] | nil, message:
 * every record left, written to standard output in C as "text", "jsonl" or "ecs" (tz, text only:
 * "UTC", "local", "+HH:MM"); with keys true, also the list of what --attempts groups by, one small
 * table each; colour (text only) colours levels with ANSI sequences. */
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
  int failed = 0, keys = lua_toboolean(L, 4), colour = lua_toboolean(L, 5);
  lua_settop(L, 3);
  if(keys)
    lua_newtable(L); /* index 4 */
  fflush(stdout); /* what Lua wrote before comes first */
  sceplab_err_clear(&err);
  w = sceplab_writer_new(stdout, fmt == 0 ? SCEPLAB_WRITE_TEXT : fmt == 1 ? SCEPLAB_WRITE_JSONL : SCEPLAB_WRITE_ECS, tz, &err);
  if(!w)
    return luaL_argerror(L, 3, err.msg);
  sceplab_writer_colour(w, colour && fmt == 0);
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
      llogs_push_examples(L, in->examples, 3);
      llogs_push_steps(L, in->steps);
      if(in->out_of_order) {
        lua_pushinteger(L, (lua_Integer)in->out_of_order);
        lua_setfield(L, -2, "out_of_order");
      }
      if(in->sorted || in->partly_sorted) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, in->sorted ? "sorted" : "partly_sorted");
      }
      /* where the records without their own date or offset got them, and why */
      llogs_set_cstr(L, "date_source", in->times.date_source);
      llogs_set_cstr(L, "offset_source", in->times.offset_source);
      llogs_set_cstr(L, "date_note", in->times.date_note);
      llogs_set_cstr(L, "offset_note", in->times.offset_note);
      llogs_set_cstr(L, "order_note", in->times.order_note);
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
    llogs_iso_time(s->time_us, iso, sizeof(iso));
    lua_pushstring(L, iso);
    lua_setfield(L, -2, "time");
    lua_pushinteger(L, (lua_Integer)s->time_us);
    lua_setfield(L, -2, "time_us");
  }
  llogs_set_cstr(L, "file", s->file);
  lua_pushinteger(L, (lua_Integer)s->line);
  lua_setfield(L, -2, "line");
  llogs_set_cstr(L, "text", s->text);
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

static const luaL_Reg merge_methods[] = {
  {"next", mm_next}, {"records", mm_records}, {"inputs", mm_inputs}, {"write", mm_write}, {"counts", mm_counts},
  {"close", mm_close},
  {NULL, NULL}
};

static const luaL_Reg merge_meta[] = {
  {"__gc", mm_close}, {"__close", mm_close}, {"__tostring", mm_tostring}, {NULL, NULL}
};

void llogs_merge_class(lua_State *L)
{
  sceplab_lua_newclass(L, MERGE_MT, merge_meta, merge_methods);
}
