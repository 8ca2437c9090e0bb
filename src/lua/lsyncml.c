/* sceplab.core.syncml: OMA-DM SyncML 1.2 and the CSPs it carries. */
#include "lutil.h"

SCEPLAB_LUA_DECODER(l_parse, sceplab_syncml_parse)

static const luaL_Reg funcs[] = {{"parse", l_parse}, {NULL, NULL}};

int luaopen_sceplab_core_syncml(lua_State *L)
{
  luaL_newlib(L, funcs);
  return 1;
}
