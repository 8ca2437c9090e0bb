/* sceplab.core.plist: Apple configuration profiles. */
#include "lutil.h"

SCEPLAB_LUA_DECODER(l_parse, sceplab_mobileconfig_parse)

static const luaL_Reg funcs[] = {{"parse", l_parse}, {NULL, NULL}};

int luaopen_sceplab_core_plist(lua_State *L)
{
  luaL_newlib(L, funcs);
  return 1;
}
