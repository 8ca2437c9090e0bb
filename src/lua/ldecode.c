/* sceplab.core.decode: content detection and the dispatcher. */
#include <string.h>

#include "lutil.h"

/* decode(bytes [, opts [, kind]]) -> table | nil, message, code */
static int l_decode(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *kname = luaL_optstring(L, 3, NULL);
  sceplab_kind kind = SCEPLAB_KIND_UNKNOWN;
  sceplab_decode_opts opts;
  sceplab_error err;
  sceplab_lua_decode_opts(L, 2, &opts);
  if(kname && (kind = sceplab_kind_from_name(kname)) == SCEPLAB_KIND_UNKNOWN)
    return luaL_argerror(L, 3, lua_pushfstring(L, "unknown kind '%s'", kname));
  sceplab_err_clear(&err);
  return sceplab_lua_result(L, sceplab_decode_as(kind, (const unsigned char *)s, n, &opts, &err), &err);
}

/* detect(bytes) -> {kind, layers, why, data} | nil, message, code */
static int l_detect(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  sceplab_detected d;
  sceplab_error err;
  sceplab_err_clear(&err);
  if(sceplab_detect((const unsigned char *)s, n, &d, &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, sceplab_kind_name(d.kind));
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, d.layers);
  lua_setfield(L, -2, "layers");
  lua_pushstring(L, d.why);
  lua_setfield(L, -2, "why");
  lua_pushlstring(L, (const char *)d.data, d.len);
  lua_setfield(L, -2, "data");
  sceplab_detected_free(&d);
  return 1;
}

static int l_kinds(lua_State *L)
{
  int k;
  lua_newtable(L);
  for(k = SCEPLAB_KIND_SYNCML; k <= SCEPLAB_KIND_MOBILECONFIG; k++) {
    lua_pushstring(L, sceplab_kind_name((sceplab_kind)k));
    lua_rawseti(L, -2, k);
  }
  return 1;
}

static const luaL_Reg funcs[] = {
  {"decode", l_decode}, {"detect", l_detect}, {"kinds", l_kinds}, {NULL, NULL}
};

int luaopen_sceplab_core_decode(lua_State *L)
{
  luaL_newlib(L, funcs);
  lua_pushinteger(L, SCEPLAB_DECODE_MAX_INPUT);
  lua_setfield(L, -2, "max_input");
  return 1;
}
