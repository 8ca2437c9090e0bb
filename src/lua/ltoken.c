/* sceplab.core.token: the Intune CertEnrollToken challenge. */
#include "lutil.h"

SCEPLAB_LUA_DECODER(l_parse, sceplab_token_parse)

static const luaL_Reg funcs[] = {{"parse", l_parse}, {NULL, NULL}};

int luaopen_sceplab_core_token(lua_State *L)
{
  luaL_newlib(L, funcs);
  return 1;
}
