/* Shared helpers of the Lua bindings. */
#ifndef SCEPLAB_LUTIL_H
#define SCEPLAB_LUTIL_H

#include <lua.h>
#include <lauxlib.h>

#include "sceplab/sceplab.h"

#define SCEPLAB_LUA_ARRAY_MT "sceplab.array"

/* Pushes a document tree as nested tables (null becomes nil, so the key is absent). */
void sceplab_lua_push_val(lua_State *L, const sceplab_val *v);

/* The expected-failure convention: pushes nil, message, code name; returns 3. */
int sceplab_lua_fail(lua_State *L, const sceplab_error *err);

/* Pushes the tree (freeing it) or the failure triple; returns the number of results. */
int sceplab_lua_result(lua_State *L, sceplab_val *v, const sceplab_error *err);

/* Reads an optional options table at index idx: key, key_pass, show_secrets. The key string stays
 * owned by the Lua stack, so the table must stay there while opts is used. */
void sceplab_lua_decode_opts(lua_State *L, int idx, sceplab_decode_opts *opts);

/* Declares a binding for a decoder of the form fn(buf, n, opts, err). */
#define SCEPLAB_LUA_DECODER(name, call)                                      \
  static int name(lua_State *L)                                              \
  {                                                                          \
    size_t n;                                                                \
    const char *s = luaL_checklstring(L, 1, &n);                             \
    sceplab_decode_opts opts;                                                \
    sceplab_error err;                                                       \
    sceplab_val *v;                                                          \
    sceplab_lua_decode_opts(L, 2, &opts);                                    \
    sceplab_err_clear(&err);                                                 \
    v = call((const unsigned char *)s, n, &opts, &err);                      \
    return sceplab_lua_result(L, v, &err);                                   \
  }

int luaopen_sceplab_core(lua_State *L);
int luaopen_sceplab_core_codec(lua_State *L);
int luaopen_sceplab_core_decode(lua_State *L);
int luaopen_sceplab_core_intuneid(lua_State *L);
int luaopen_sceplab_core_syncml(lua_State *L);
int luaopen_sceplab_core_token(lua_State *L);
int luaopen_sceplab_core_x509(lua_State *L);
int luaopen_sceplab_core_pkimsg(lua_State *L);
int luaopen_sceplab_core_crs(lua_State *L);
int luaopen_sceplab_core_plist(lua_State *L);
int luaopen_sceplab_core_pkey(lua_State *L);
int luaopen_sceplab_core_scep(lua_State *L);
int luaopen_sceplab_core_http(lua_State *L);
int luaopen_sceplab_core_sys(lua_State *L);
int luaopen_sceplab_core_logs(lua_State *L);
int luaopen_sceplab_core_serve(lua_State *L);
int luaopen_sceplab_core_artifacts(lua_State *L);

/* Pushes the metatable every array of a document shares (JSON output tells an empty array from an
 * empty object by it). Scripts see it as the string "sceplab.array" (its __metatable), so none
 * can change it for the host. */
void sceplab_lua_push_array_mt(lua_State *L);

/* Registers a userdata class: metatable `name` with the metamethods `meta` and the methods as
 * __index; getmetatable() on an instance answers false, so a script cannot replace the methods
 * other code uses. Does nothing when the metatable exists already. */
void sceplab_lua_newclass(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods);

/* The sceplab.pkey at idx (raises when it is not one, or closed). */
EVP_PKEY *sceplab_lua_checkpkey(lua_State *L, int idx);

#endif
