/* sceplab.core.pkimsg: SCEP pkiMessages. */
#include "lutil.h"

SCEPLAB_LUA_DECODER(l_parse, sceplab_pkimsg_parse)

static const luaL_Reg funcs[] = {{"parse", l_parse}, {NULL, NULL}};

int luaopen_sceplab_core_pkimsg(lua_State *L)
{
  luaL_newlib(L, funcs);
  return 1;
}
