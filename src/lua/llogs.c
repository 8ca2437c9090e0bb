/* sceplab.core.logs: log files as iterators, one at a time (open) or merged in time order (merge).
 * The filter runs in C; a record becomes a Lua table only when it passes. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "llogs.h"


typedef struct lprogress { uint64_t bytes, next, step, total; int shown; } lprogress; /* see progress_cb */
static lprogress *progress_state(lua_State *L);
static void progress_cb(void *ud, size_t n);

/* Reads the options table at idx (nil: defaults). Strings stay on the caller's stack.
 * opts: {bias = minutes, offset = minutes east, zone = "Europe/London", date = "YYYY-MM-DD", format = name,
 *        progress} */
void llogs_read_opts(lua_State *L, int idx, sceplab_log_opts *o)
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
  llogs_read_filter(L, 2, &l->fs, &f);
  llogs_read_opts(L, 3, &o);
  sceplab_err_clear(&err);
  l->lg = member ? sceplab_log_open_member(path, index, &f, &o, &err) : sceplab_log_open(path, &f, &o, &err);
  if(!l->lg) {
    if(err.code == SCEPLAB_E_USAGE)
      return luaL_argerror(L, 3, err.msg);
    return llogs_logs_fail(L, &err);
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
  llogs_push_utf8(L, name, strlen(name));
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
    return llogs_logs_fail(L, &err);
  return 1;
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
    return llogs_logs_fail(L, &err);
  if(rc == 0) {
    lua_pushnil(L);
    return 1;
  }
  llogs_push_record(L, sceplab_log_path(l->lg), &r);
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
  llogs_push_examples(L, ex, 3);
  for(i = 0; i <= 6; i++)
    steps[i] = sceplab_log_step_records(l->lg, i);
  llogs_push_steps(L, steps);
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
    return llogs_logs_fail(L, &err);
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


static const luaL_Reg methods[] = {
  {"next", m_next}, {"records", m_records}, {"stats", m_stats}, {"close", m_close}, {NULL, NULL}
};
static const luaL_Reg meta[] = {
  {"__gc", m_close}, {"__close", m_close}, {"__tostring", m_tostring}, {NULL, NULL}
};
/* zip_dir(dir, zip_path) -> true | nil, message, code: a bundle folder written as a zip */
static int l_zip_dir(lua_State *L)
{
  const char *dir = luaL_checkstring(L, 1), *zip = luaL_checkstring(L, 2);
  sceplab_error err;
  sceplab_err_clear(&err);
  if(sceplab_zip_dir(dir, zip, &err) != 0)
    return llogs_logs_fail(L, &err);
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
  {"open_member", l_open_member}, {"members", l_members}, {"merge", llogs_l_merge}, {"explain", l_explain}, {"zone", l_zone},
  {"progress_end", l_progress_end}, {"progress_total", l_progress_total}, {"formats", l_formats}, {"filter", llogs_l_filter},
  {NULL, NULL}
};

int luaopen_sceplab_core_logs(lua_State *L)
{
  sceplab_lua_newclass(L, LOG_MT, meta, methods);
  llogs_merge_class(L);
  llogs_filter_class(L);
  luaL_newlib(L, funcs);
  return 1;
}
