/* Shared helpers of the Lua bindings: one generic tree-to-table conversion serves every decoder. */
#include <string.h>

#include "lutil.h"

void sceplab_lua_push_val(lua_State *L, const sceplab_val *v)
{
  size_t i;
  luaL_checkstack(L, 4, "document too deeply nested");
  if(!v) {
    lua_pushnil(L);
    return;
  }
  switch(v->type) {
  case SCEPLAB_VNULL: lua_pushnil(L); break;
  case SCEPLAB_VBOOL: lua_pushboolean(L, v->u.b); break;
  case SCEPLAB_VINT: lua_pushinteger(L, (lua_Integer)v->u.i); break;
  case SCEPLAB_VSTR: lua_pushlstring(L, v->u.s.p, v->u.s.n); break;
  case SCEPLAB_VARR:
    lua_createtable(L, (int)v->u.c.n, 0);
    for(i = 0; i < v->u.c.n; i++) {
      sceplab_lua_push_val(L, v->u.c.items[i]);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    sceplab_lua_push_array_mt(L);
    lua_setmetatable(L, -2);
    break;
  case SCEPLAB_VOBJ:
    lua_createtable(L, 0, (int)v->u.c.n);
    for(i = 0; i < v->u.c.n; i++) {
      sceplab_lua_push_val(L, v->u.c.items[i]);
      lua_setfield(L, -2, v->u.c.keys[i]);
    }
    break;
  }
}

void sceplab_lua_push_array_mt(lua_State *L)
{
  if(luaL_newmetatable(L, SCEPLAB_LUA_ARRAY_MT)) {
    lua_pushliteral(L, "array");
    lua_setfield(L, -2, "__name");
    lua_pushliteral(L, SCEPLAB_LUA_ARRAY_MT);
    lua_setfield(L, -2, "__metatable");
  }
}

void sceplab_lua_newclass(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods)
{
  if(luaL_newmetatable(L, name)) {
    luaL_setfuncs(L, meta, 0);
    if(methods) {
      lua_newtable(L);
      luaL_setfuncs(L, methods, 0);
      lua_setfield(L, -2, "__index");
    }
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
}

int sceplab_lua_fail(lua_State *L, const sceplab_error *err)
{
  lua_pushnil(L);
  lua_pushstring(L, err->msg[0] ? err->msg : "failed");
  lua_pushstring(L, sceplab_code_name(err->code));
  return 3;
}

int sceplab_lua_result(lua_State *L, sceplab_val *v, const sceplab_error *err)
{
  if(!v)
    return sceplab_lua_fail(L, err);
  sceplab_lua_push_val(L, v);
  sceplab_val_free(v);
  return 1;
}

void sceplab_lua_decode_opts(lua_State *L, int idx, sceplab_decode_opts *opts)
{
  memset(opts, 0, sizeof(*opts));
  if(lua_isnoneornil(L, idx))
    return;
  luaL_checktype(L, idx, LUA_TTABLE);
  if(lua_getfield(L, idx, "key") != LUA_TNIL) {
    if(!lua_isstring(L, -1))
      luaL_argerror(L, idx, "field 'key' must be a string (PEM or DER private key)");
    opts->key = (const unsigned char *)lua_tolstring(L, -1, &opts->keylen);
  }
  lua_pop(L, 1);
  if(lua_getfield(L, idx, "key_pass") != LUA_TNIL) {
    if(!lua_isstring(L, -1))
      luaL_argerror(L, idx, "field 'key_pass' must be a string");
    opts->key_pass = lua_tostring(L, -1);
  }
  lua_pop(L, 1);
  lua_getfield(L, idx, "show_secrets");
  opts->show_secrets = lua_toboolean(L, -1);
  lua_pop(L, 1);
  /* The strings are owned by the options table, which stays at idx during the call. */
}
