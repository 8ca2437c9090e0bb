/* Optional libraries opened on first use: see optlib.h for why. */
#define SCEPLAB_OPTLIB_IMPL
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include <archive.h>
#include <archive_entry.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <sqlite3.h>
#include <libevtx.h>
#include <libxml/parser.h>

#include "internal.h"
#include "optlib.h"

#define SCEPLAB_OPTLIB_DEFINE(f) __typeof__(f) *sceplab_optlib_##f;
SCEPLAB_XML2_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_ARCHIVE_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_EVTX_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_SQLITE_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_EVENT_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_EVENT_SSL_FUNCS(SCEPLAB_OPTLIB_DEFINE)
xmlFreeFunc *sceplab_optlib_xmlFree;

typedef struct {
  const char *soname;  /* the file name the build linked against, from its SONAME */
  int tried;           /* opened (or failed to) since the start or the last forget */
  void *handle;        /* kept across sceplab_optlib_forget */
  char why[256];       /* empty when open */
} optlib_state;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static optlib_state libs[SCEPLAB_LIB_COUNT] = {
  {SCEPLAB_XML2_SONAME, 0, NULL, ""},
  {SCEPLAB_ARCHIVE_SONAME, 0, NULL, ""},
  {SCEPLAB_EVTX_SONAME, 0, NULL, ""},
  {SCEPLAB_SQLITE_SONAME, 0, NULL, ""},
  {SCEPLAB_EVENT_SONAME, 0, NULL, ""},
  {SCEPLAB_EVENT_SSL_SONAME, 0, NULL, ""},
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
  if(!st->handle)
    st->handle = dlopen(st->soname, RTLD_NOW | RTLD_LOCAL);
  if(!st->handle) {
    const char *e = dlerror();
    snprintf(st->why, sizeof(st->why), "%s", e ? e : st->soname);
  }
  return st->handle;
}

#define SCEPLAB_OPTLIB_RESOLVE(f) resolve(h, st, #f, (void **)&sceplab_optlib_##f);

/* Opens lib and resolves every function its list names. */
static void open_one(sceplab_optlib lib)
{
  optlib_state *st = &libs[lib];
  void *h = open_lib(st);
  if(!h)
    return;
  switch(lib) {
  case SCEPLAB_LIB_XML2:
    SCEPLAB_XML2_FUNCS(SCEPLAB_OPTLIB_RESOLVE)
    resolve(h, st, "xmlFree", (void **)&sceplab_optlib_xmlFree);
    break;
  case SCEPLAB_LIB_ARCHIVE: SCEPLAB_ARCHIVE_FUNCS(SCEPLAB_OPTLIB_RESOLVE) break;
  case SCEPLAB_LIB_EVTX: SCEPLAB_EVTX_FUNCS(SCEPLAB_OPTLIB_RESOLVE) break;
  case SCEPLAB_LIB_SQLITE: SCEPLAB_SQLITE_FUNCS(SCEPLAB_OPTLIB_RESOLVE) break;
  case SCEPLAB_LIB_EVENT: SCEPLAB_EVENT_FUNCS(SCEPLAB_OPTLIB_RESOLVE) break;
  case SCEPLAB_LIB_EVENT_SSL: SCEPLAB_EVENT_SSL_FUNCS(SCEPLAB_OPTLIB_RESOLVE) break;
  default: break;
  }
}

int sceplab_optlib_need(sceplab_optlib lib, sceplab_error *err)
{
  optlib_state *st;
  if((unsigned)lib >= SCEPLAB_LIB_COUNT) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "unknown optional library %d", (int)lib);
    return -1;
  }
  st = &libs[lib];
  pthread_mutex_lock(&lock);
  if(!st->tried) {
    st->why[0] = '\0';
    open_one(lib);
    st->tried = 1;
  }
  pthread_mutex_unlock(&lock);
  if(st->why[0]) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "cannot load %s: %s", st->soname, st->why);
    return -1;
  }
  return 0;
}

#define SCEPLAB_OPTLIB_CLEAR(f) sceplab_optlib_##f = NULL;

void sceplab_optlib_forget(void)
{
  int i;
  pthread_mutex_lock(&lock);
  SCEPLAB_XML2_FUNCS(SCEPLAB_OPTLIB_CLEAR)
  SCEPLAB_ARCHIVE_FUNCS(SCEPLAB_OPTLIB_CLEAR)
  SCEPLAB_EVTX_FUNCS(SCEPLAB_OPTLIB_CLEAR)
  SCEPLAB_SQLITE_FUNCS(SCEPLAB_OPTLIB_CLEAR)
  SCEPLAB_EVENT_FUNCS(SCEPLAB_OPTLIB_CLEAR)
  SCEPLAB_EVENT_SSL_FUNCS(SCEPLAB_OPTLIB_CLEAR)
  sceplab_optlib_xmlFree = NULL;
  for(i = 0; i < SCEPLAB_LIB_COUNT; i++)
    libs[i].tried = 0;
  pthread_mutex_unlock(&lock);
}
