/* sceplab.core.x509: certificates (PEM, DER, PKCS#7 chains) and certification requests. */
#include "lutil.h"

static sceplab_val *certs(const unsigned char *p, size_t n, const sceplab_decode_opts *o, sceplab_error *e)
{
  (void)o;
  return sceplab_certs_parse(p, n, e);
}

SCEPLAB_LUA_DECODER(l_certs, certs)
SCEPLAB_LUA_DECODER(l_csr, sceplab_csr_parse)

static const luaL_Reg funcs[] = {{"certs", l_certs}, {"csr", l_csr}, {NULL, NULL}};

int luaopen_sceplab_core_x509(lua_State *L)
{
  luaL_newlib(L, funcs);
  return 1;
}
