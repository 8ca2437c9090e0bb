/* The store's backend chosen at open, and what every backend shares (store.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "ca/store.h"

sceplab_store *sceplab_store_open(const char *dir, int create, sceplab_error *err)
{
  /* the one backend today; a server database (issue: PostgreSQL) is chosen here by its URL */
  return sceplab_store_sqlite_open(dir, create, err);
}

int sceplab_store_check(const char *dir, int *exists, sceplab_error *err)
{
  return sceplab_store_sqlite_check(dir, exists, err);
}

void sceplab_store_close(sceplab_store *s)
{
  if(s)
    s->ops->close(s);
}

int sceplab_store_begin(sceplab_store *s, sceplab_error *err)
{
  return s->ops->begin(s, err);
}

int sceplab_store_commit(sceplab_store *s, sceplab_error *err)
{
  if(s->commit_delay_ms) {
    /* the test knob: the writes are made, not committed; a crash now must lose them whole */
    struct timespec ts = {s->commit_delay_ms / 1000, (long)(s->commit_delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  return s->ops->commit(s, err);
}

void sceplab_store_rollback(sceplab_store *s)
{
  s->ops->rollback(s);
}

void store_request_free(store_request *r)
{
  free(r->transaction_id);
  free(r->message_type);
  free(r->subject);
  free(r->csr);
  free(r->serial);
  free(r->why);
  free(r->cert);
  memset(r, 0, sizeof(*r));
}
