/* The store's backend chosen at open, and what every backend shares (store.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "ca/store.h"

int sceplab_store_is_server(const char *db)
{
  return db && (!strncmp(db, "postgresql://", 13) || !strncmp(db, "postgres://", 11));
}

/* A db given must name a backend: a typo never falls back to a fresh SQLite file. */
static int known(const char *db, sceplab_error *err)
{
  if(!db || !*db || sceplab_store_is_server(db))
    return 1;
  sceplab_err_set(err, SCEPLAB_E_USAGE, "--db: expected a postgresql:// URL (or none, for the state directory's ca.db)");
  return 0;
}

sceplab_store *sceplab_store_open(const char *dir, const char *db, int create, sceplab_error *err)
{
  if(!known(db, err))
    return NULL;
  if(sceplab_store_is_server(db))
    return sceplab_store_pg_open(db, create, err);
  return sceplab_store_sqlite_open(dir, create, err);
}

int sceplab_store_check(const char *dir, const char *db, int *exists, sceplab_error *err)
{
  if(!known(db, err))
    return -1;
  if(sceplab_store_is_server(db)) {
    /* the server database is shared: the state directory's keys say whether a CA is there */
    *exists = 0;
    return sceplab_store_pg_check(db, err);
  }
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
