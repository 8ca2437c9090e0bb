/* sceplab.core.crs: CertRequestStatus files of the Intune connector. */
#include "lutil.h"

static sceplab_val *crs(const unsigned char *p, size_t n, const sceplab_decode_opts *o, sceplab_error *e)
{
  (void)o;
  return sceplab_crs_parse(p, n, e);
}

SCEPLAB_LUA_DECODER(l_parse, crs)

static const luaL_Reg funcs[] = {{"parse", l_parse}, {NULL, NULL}};

int luaopen_sceplab_core_crs(lua_State *L)
{
  luaL_newlib(L, funcs);
  return 1;
}
