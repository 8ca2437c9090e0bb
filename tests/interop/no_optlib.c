/* LD_PRELOAD shim for the specs: dlopen of the library named in SCEPLAB_TEST_HIDE fails, as on a
 * machine without that package, so the spec can check what sceplab says then. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

void *dlopen(const char *file, int mode)
{
  static void *(*real)(const char *, int);
  const char *hide = getenv("SCEPLAB_TEST_HIDE");
  if(file && hide && *hide && strstr(file, hide))
    return NULL;
  if(!real)
    real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
  return real(file, mode);
}
