/* LD_PRELOAD shim for the specs: dlopen of the library named in SCEPLAB_TEST_HIDE fails, as on a
 * machine without that package, so the spec can check what sceplab says then; with
 * SCEPLAB_TEST_FAIL_SYNC set, fdatasync fails with EIO on every thread but the main one (serve's
 * thread that syncs ca.db's commits), as a disk that cannot write makes it fail. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int fdatasync(int fd)
{
  static int (*real)(int);
  if(getenv("SCEPLAB_TEST_FAIL_SYNC") && gettid() != getpid()) {
    errno = EIO;
    return -1;
  }
  if(!real)
    real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return real(fd);
}
