/* Optional libraries opened on first use: see optlib.h for why. */
#define SCEPLAB_OPTLIB_IMPL
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
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
#include <libpq-fe.h>

#include "base/base_int.h"
#include "base/optlib.h"
#include "sceplab/version.h"

#define SCEPLAB_OPTLIB_DEFINE(f) __typeof__(f) *sceplab_optlib_##f;
SCEPLAB_XML2_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_ARCHIVE_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_EVTX_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_SQLITE_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_EVENT_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_EVENT_SSL_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_CURL_FUNCS(SCEPLAB_OPTLIB_DEFINE)
SCEPLAB_PQ_FUNCS(SCEPLAB_OPTLIB_DEFINE)
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
  {SCEPLAB_CURL_SONAME, 0, NULL, ""},
  {SCEPLAB_PQ_SONAME, 0, NULL, ""},
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
    st->handle = dlopen(st->soname, RTLD_LAZY | RTLD_LOCAL);
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
  case SCEPLAB_LIB_CURL: SCEPLAB_CURL_FUNCS(SCEPLAB_OPTLIB_RESOLVE) break;
  case SCEPLAB_LIB_PQ: SCEPLAB_PQ_FUNCS(SCEPLAB_OPTLIB_RESOLVE) break;
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
  SCEPLAB_CURL_FUNCS(SCEPLAB_OPTLIB_CLEAR)
  SCEPLAB_PQ_FUNCS(SCEPLAB_OPTLIB_CLEAR)
  sceplab_optlib_xmlFree = NULL;
  for(i = 0; i < SCEPLAB_LIB_COUNT; i++)
    libs[i].tried = 0;
  pthread_mutex_unlock(&lock);
}

/* The version string a library reports at run time, formatted into out; opens the library. */
static int lib_version(sceplab_optlib lib, char *out, size_t n, sceplab_error *err)
{
  optlib_state *st = &libs[lib];
  void *sym;
  if(sceplab_optlib_need(lib, err) != 0)
    return -1;
  switch(lib) {
  case SCEPLAB_LIB_XML2: {
    /* xmlParserVersion is a per-thread global in libxml2 2.9 ("20914"), read through its accessor */
    const char **(*accessor)(void);
    const char **v = NULL;
    *(void **)&accessor = dlsym(st->handle, "__xmlParserVersion");
    if(accessor)
      v = accessor();
    else
      v = dlsym(st->handle, "xmlParserVersion");
    if(v && *v && strlen(*v) == 5) {
      long num = strtol(*v, NULL, 10);
      snprintf(out, n, "%ld.%ld.%ld", num / 10000, num / 100 % 100, num % 100);
    } else
      snprintf(out, n, "%s", v && *v ? *v : "?");
    return 0;
  }
  case SCEPLAB_LIB_CURL: {
    curl_version_info_data *d = sceplab_optlib_curl_version_info(CURLVERSION_NOW);
    snprintf(out, n, "%s", d && d->version ? d->version : "?");
    return 0;
  }
  case SCEPLAB_LIB_SQLITE: sym = dlsym(st->handle, "sqlite3_libversion"); break;
  case SCEPLAB_LIB_EVENT: sym = dlsym(st->handle, "event_get_version"); break;
  case SCEPLAB_LIB_ARCHIVE: sym = dlsym(st->handle, "archive_version_string"); break;
  case SCEPLAB_LIB_EVTX: sym = dlsym(st->handle, "libevtx_get_version"); break;
  default: sym = NULL; break;
  }
  if(!sym)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s reports no version", st->soname), -1;
  {
    const char *(*fn)(void);
    const char *v;
    *(void **)&fn = sym;
    v = fn();
    /* libarchive says "libarchive 3.6.2": the name is the key already */
    if(v && strncmp(v, "libarchive ", 11) == 0)
      v += 11;
    snprintf(out, n, "%s", v ? v : "?");
  }
  return 0;
}

sceplab_val *sceplab_versions(void)
{
  static const struct { const char *name; sceplab_optlib lib; } opt[] = {
    {"libcurl", SCEPLAB_LIB_CURL}, {"libxml2", SCEPLAB_LIB_XML2}, {"sqlite", SCEPLAB_LIB_SQLITE},
    {"libevent", SCEPLAB_LIB_EVENT}, {"libarchive", SCEPLAB_LIB_ARCHIVE}, {"libevtx", SCEPLAB_LIB_EVTX},
  };
  sceplab_val *o = sceplab_val_obj(), *missing = sceplab_val_obj();
  size_t i;
  char v[128];
  sceplab_obj_set_str(o, "openssl", OpenSSL_version(OPENSSL_VERSION_STRING));
  for(i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
    sceplab_error err;
    sceplab_err_clear(&err);
    if(lib_version(opt[i].lib, v, sizeof(v), &err) == 0)
      sceplab_obj_set_str(o, opt[i].name, v);
    else
      sceplab_obj_set_str(missing, opt[i].name, err.msg);
  }
  sceplab_obj_set(o, "unavailable", missing);
  if(sceplab_val_failed(o)) {
    sceplab_val_free(o);
    return NULL;
  }
  return o;
}
