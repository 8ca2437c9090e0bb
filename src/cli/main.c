/* sceplab: boots the Lua engine and hands it argv; everything else lives in lua/sceplab/cli/init.lua. */
#include <stdlib.h>

#include "engine.h"

/* Debian's libcurl pulls in GnuTLS (through librtmp and libldap), whose constructor initialises
 * it in every process that loads it. sceplab restricts libcurl to http and https over OpenSSL and
 * never calls GnuTLS, so it opts out with the hook GnuTLS documents for such programs
 * (GNUTLS_SKIP_GLOBAL_INIT in gnutls.h), which is this definition. libcurl is opened on first use
 * (core/optlib.c), so the linker is told to export it (src/CMakeLists.txt). */
int _gnutls_global_init_skip(void);
int _gnutls_global_init_skip(void)
{
  return 1;
}

int main(int argc, char **argv)
{
  sceplab_engine *e = sceplab_engine_new();
  int code;
  if(!e)
    return SCEPLAB_EXIT_INTERNAL;
  code = sceplab_engine_run_cli(e, argc, argv);
  sceplab_engine_free(e);
  return code;
}
