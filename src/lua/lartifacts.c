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
#include <time.h>

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

static const char *opt_field(lua_State *L, int t, const char *k)
{
  const char *v = NULL;
  if(lua_getfield(L, t, k) != LUA_TNIL)
    v = luaL_tolstring(L, -1, NULL); /* left on the stack, alive until the call returns */
  return v;
}

/* api_line{time, transaction_id, client_request_id, endpoint, attempt, status, code, ms, message}
 * -> the line of serve's Intune API call log (the intune-api format) */
static int l_api_line(lua_State *L)
{
  sceplab_api_call c;
  sceplab_error err;
  char *line;
  memset(&c, 0, sizeof(c));
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_getfield(L, 1, "time");
  c.time = luaL_checknumber(L, -1);
  lua_getfield(L, 1, "attempt");
  c.attempt = (int)luaL_optinteger(L, -1, 1);
  lua_getfield(L, 1, "status");
  c.status = (int)luaL_optinteger(L, -1, 0);
  lua_getfield(L, 1, "ms");
  c.duration_ms = (long)luaL_optinteger(L, -1, 0);
  lua_settop(L, 1);
  c.transaction_id = opt_field(L, 1, "transaction_id");
  c.client_request_id = opt_field(L, 1, "client_request_id");
  c.endpoint = opt_field(L, 1, "endpoint");
  c.code = opt_field(L, 1, "code");
  c.message = opt_field(L, 1, "message");
  sceplab_err_clear(&err);
  if(!(line = sceplab_api_log_line(&c, &err)))
    return luaL_argerror(L, 1, err.msg);
  lua_pushstring(L, line);
  free(line);
  return 1;
}

static int l_api_header(lua_State *L)
{
  lua_pushstring(L, sceplab_api_log_header());
  return 1;
}

/* wall_clock() -> Unix seconds with their fraction (a log line's milliseconds) */
static int l_wall_clock(lua_State *L)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

static const luaL_Reg funcs[] = {{"device_line", l_device_line}, {"device_file", l_device_file},
                                 {"api_line", l_api_line}, {"api_header", l_api_header},
                                 {"wall_clock", l_wall_clock}, {NULL, NULL}};

int luaopen_sceplab_core_artifacts(lua_State *L)
{
  luaL_newlib(L, funcs);
  return 1;
}
