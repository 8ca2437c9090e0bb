/* sceplab: boots the Lua engine and hands it argv; everything else lives in lua/sceplab/cli.lua. */
#include <stdlib.h>

#include "engine.h"

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
