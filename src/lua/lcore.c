/* sceplab.core: registers every C module in package.preload, so `require "sceplab.core.x509"`
 * works the same in the embedded engine and in a stock lua5.4 that loaded this module. */
#include "lutil.h"

static const luaL_Reg modules[] = {
  {"sceplab.core.codec", luaopen_sceplab_core_codec},
  {"sceplab.core.decode", luaopen_sceplab_core_decode},
  {"sceplab.core.intuneid", luaopen_sceplab_core_intuneid},
  {"sceplab.core.syncml", luaopen_sceplab_core_syncml},
  {"sceplab.core.token", luaopen_sceplab_core_token},
  {"sceplab.core.x509", luaopen_sceplab_core_x509},
  {"sceplab.core.pkimsg", luaopen_sceplab_core_pkimsg},
  {"sceplab.core.crs", luaopen_sceplab_core_crs},
  {"sceplab.core.plist", luaopen_sceplab_core_plist},
  {"sceplab.core.pkey", luaopen_sceplab_core_pkey},
  {"sceplab.core.scep", luaopen_sceplab_core_scep},
  {"sceplab.core.http", luaopen_sceplab_core_http},
  {"sceplab.core.sys", luaopen_sceplab_core_sys},
  {"sceplab.core.logs", luaopen_sceplab_core_logs},
  {"sceplab.core.serve", luaopen_sceplab_core_serve},
  {"sceplab.core.artifacts", luaopen_sceplab_core_artifacts},
  {NULL, NULL}
};

/* core.versions() -> {openssl, libcurl, ..., lua, unavailable = {name: why}}: opens the libraries
 * that are otherwise opened on first use, so only for --version. */
static int versions(lua_State *L)
{
  sceplab_val *v = sceplab_versions();
  if(!v)
    return luaL_error(L, "out of memory");
  sceplab_lua_push_val(L, v);
  sceplab_val_free(v);
  lua_pushstring(L, LUA_RELEASE);
  lua_setfield(L, -2, "lua");
  return 1;
}

int luaopen_sceplab_core(lua_State *L)
{
  const luaL_Reg *m;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for(m = modules; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushstring(L, SCEPLAB_API_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushcfunction(L, versions);
  lua_setfield(L, -2, "versions");
  lua_newtable(L);
  for(m = modules; m->name; m++) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, m->name + sizeof("sceplab.core.") - 1);
  }
  lua_setfield(L, -2, "modules");
  sceplab_lua_push_array_mt(L);
  lua_setfield(L, -2, "array_mt");
  return 1;
}
