/* Not installed: a program that links every function sceplab opens on first use (the lists of
 * src/core/optlib.h), so that dpkg-shlibdeps, run on it when the .deb is made, gives the packages
 * and minimal versions the dlopen'ed libraries need, as it does for the linked ones. */
#include <archive.h>
#include <archive_entry.h>
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <libevtx.h>
#include <libxml/parser.h>
#include <sqlite3.h>
#include <libpq-fe.h>

#define SCEPLAB_OPTLIB_IMPL /* the lists only, no redirection */
#include "optlib.h"

#define SCEPLAB_DEPS_USE(f) (void (*)(void))f,
static void (*const used[])(void) = {
  SCEPLAB_XML2_FUNCS(SCEPLAB_DEPS_USE) SCEPLAB_ARCHIVE_FUNCS(SCEPLAB_DEPS_USE) SCEPLAB_EVTX_FUNCS(SCEPLAB_DEPS_USE)
  SCEPLAB_SQLITE_FUNCS(SCEPLAB_DEPS_USE) SCEPLAB_EVENT_FUNCS(SCEPLAB_DEPS_USE) SCEPLAB_EVENT_SSL_FUNCS(SCEPLAB_DEPS_USE)
  SCEPLAB_CURL_FUNCS(SCEPLAB_DEPS_USE) SCEPLAB_PQ_FUNCS(SCEPLAB_DEPS_USE)
};

int main(int argc, char **argv)
{
  (void)argv;
  /* an index the compiler cannot know keeps every reference */
  return used[(unsigned)argc % (sizeof(used) / sizeof(used[0]))] == 0;
}
