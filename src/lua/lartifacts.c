/* sceplab.core.artifacts: the logs a device writes, from the same event model as the server's
 * (sceplab/artifacts.h), so that `sceplab replay`'s device simulators write through the C writer
 * that sits beside each format's reader.
 *   device_line(platform, time, event) -> the line the platform's log writes for event:
 *     platform "windows" | "android" | "ios"; time Unix seconds (a fraction kept);
 *     event {id = n (Windows), level = 2|3|4 (Windows) or "VERB"/"default"/... (Android, iOS),
 *            component = "..." (Android), text = "..."}
 *   device_file(platform) -> the name of the platform's log file in a bundle */
#include <stdlib.h>
#include <string.h>

#include "lutil.h"
#include "sceplab/artifacts.h"

static sceplab_device check_platform(lua_State *L, int idx)
{
  sceplab_device d;
  const char *name = luaL_checkstring(L, idx);
  if(sceplab_device_named(name, &d) != 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "platform '%s': expected windows, android or ios", name));
  return d;
}

static int l_device_file(lua_State *L)
{
  lua_pushstring(L, sceplab_device_log_file(check_platform(L, 1)));
  return 1;
}

static int l_device_line(lua_State *L)
{
  sceplab_device d = check_platform(L, 1);
  sceplab_device_event e;
  sceplab_error err;
  char *line;
  memset(&e, 0, sizeof(e));
  e.time = (double)luaL_checknumber(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  if(lua_getfield(L, 3, "id") != LUA_TNIL)
    e.id = (int)luaL_checkinteger(L, -1);
  if(lua_getfield(L, 3, "level") == LUA_TNUMBER)
    e.level = (int)luaL_checkinteger(L, -1);
  else if(lua_type(L, -1) == LUA_TSTRING)
    e.severity = lua_tostring(L, -1);
  if(lua_getfield(L, 3, "component") != LUA_TNIL)
    e.component = luaL_checkstring(L, -1);
  if(lua_getfield(L, 3, "text") != LUA_TNIL)
    e.text = luaL_tolstring(L, -1, NULL); /* a number or a message object as replay passes it */
  sceplab_err_clear(&err);
  if(!(line = sceplab_device_log_line(d, &e, &err)))
    return luaL_argerror(L, 3, err.msg); /* an event the format cannot write: the caller's mistake */
  lua_pushstring(L, line);
  free(line);
  return 1;
}

static const luaL_Reg funcs[] = {{"device_line", l_device_line}, {"device_file", l_device_file}, {NULL, NULL}};

int luaopen_sceplab_core_artifacts(lua_State *L)
{
  luaL_newlib(L, funcs);
  return 1;
}
