/* sceplab.core.intuneid: Intune request identifiers in every platform's spelling. */
#include "lutil.h"

/* parse(text) -> table | nil, message, code */
static int l_parse(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  sceplab_error err;
  sceplab_err_clear(&err);
  return sceplab_lua_result(L, sceplab_intune_id_parse(s, n, &err), &err);
}

/* scan(text [, init]) -> table, start, end | nil : the first identifier at or after init */
static int l_scan(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_Integer init = luaL_optinteger(L, 2, 1);
  sceplab_intune_id id;
  sceplab_val *v;
  if(init < 1 || (size_t)init > n + 1)
    return luaL_argerror(L, 2, "out of range");
  if(!sceplab_intune_id_scan(s + init - 1, n - (size_t)(init - 1), &id)) {
    lua_pushnil(L);
    return 1;
  }
  v = sceplab_intune_id_to_val(&id);
  sceplab_lua_push_val(L, v);
  sceplab_val_free(v);
  lua_pushinteger(L, init + (lua_Integer)id.start);
  lua_pushinteger(L, init + (lua_Integer)id.end - 1);
  return 3;
}

static const luaL_Reg funcs[] = {{"parse", l_parse}, {"scan", l_scan}, {NULL, NULL}};

int luaopen_sceplab_core_intuneid(lua_State *L)
{
  luaL_newlib(L, funcs);
  return 1;
}
