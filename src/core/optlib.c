/* Optional libraries opened on first use: see optlib.h for why. */
#define SCEPLAB_OPTLIB_IMPL
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include <archive.h>
#include <archive_entry.h>
#include <libevtx.h>
#include <libxml/parser.h>

#include "internal.h"
#include "optlib.h"

#define SCEPLAB_OPTLIB_DEFINE(f) __typeof__(f) *sceplab_optlib_##f;
SCEPLAB_XML2_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_ARCHIVE_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_EVTX_FUNCS(SCEPLAB_OPTLIB_DEFINE)
xmlFreeFunc *sceplab_optlib_xmlFree;

typedef struct {
  const char *soname;  /* the file name the build linked against, from its SONAME */
  pthread_once_t once;
  char why[256];       /* empty when open */
} optlib_state;

static optlib_state libs[SCEPLAB_LIB_COUNT] = {
  {SCEPLAB_XML2_SONAME, PTHREAD_ONCE_INIT, ""},
  {SCEPLAB_ARCHIVE_SONAME, PTHREAD_ONCE_INIT, ""},
  {SCEPLAB_EVTX_SONAME, PTHREAD_ONCE_INIT, ""},
};

/* Resolves one symbol into *slot; on the first failure records why. */
static void resolve(void *h, optlib_state *st, const char *name, void **slot)
{
  *slot = dlsym(h, name);
  if(!*slot && !st->why[0])
    snprintf(st->why, sizeof(st->why), "%s has no symbol %s", st->soname, name);
}

static void *open_lib(optlib_state *st)
{
  /* RTLD_LOCAL: the library's symbols stay out of the global scope, so nothing else binds to them. */
  void *h = dlopen(st->soname, RTLD_NOW | RTLD_LOCAL);
  if(!h) {
    const char *e = dlerror();
    snprintf(st->why, sizeof(st->why), "%s", e ? e : st->soname);
  }
  return h;
}

#define SCEPLAB_OPTLIB_RESOLVE(f) resolve(h, st, #f, (void **)&sceplab_optlib_##f);

static void open_xml2(void)
{
  optlib_state *st = &libs[SCEPLAB_LIB_XML2];
  void *h = open_lib(st);
  if(!h)
    return;
  SCEPLAB_XML2_FUNCS(SCEPLAB_OPTLIB_RESOLVE)
  resolve(h, st, "xmlFree", (void **)&sceplab_optlib_xmlFree);
}

static void open_archive(void)
{
  optlib_state *st = &libs[SCEPLAB_LIB_ARCHIVE];
  void *h = open_lib(st);
  if(!h)
    return;
  SCEPLAB_ARCHIVE_FUNCS(SCEPLAB_OPTLIB_RESOLVE)
}

static void open_evtx(void)
{
  optlib_state *st = &libs[SCEPLAB_LIB_EVTX];
  void *h = open_lib(st);
  if(!h)
    return;
  SCEPLAB_EVTX_FUNCS(SCEPLAB_OPTLIB_RESOLVE)
}

int sceplab_optlib_need(sceplab_optlib lib, sceplab_error *err)
{
  static void (*const openers[SCEPLAB_LIB_COUNT])(void) = {open_xml2, open_archive, open_evtx};
  optlib_state *st;
  if((unsigned)lib >= SCEPLAB_LIB_COUNT) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "unknown optional library %d", (int)lib);
    return -1;
  }
  st = &libs[lib];
  pthread_once(&st->once, openers[lib]);
  if(st->why[0]) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "cannot load %s: %s", st->soname, st->why);
    return -1;
  }
  return 0;
}
