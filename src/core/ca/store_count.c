/* What every backend counts of its database (store.h): on the store for db_stats, and in the
 * tally serve's /metrics reads across its workers. A file of its own: the backends call it, and
 * store.c calls the backends. */
#include "ca/store.h"
#include "base/base_int.h"

void sceplab_store_failed(sceplab_store *s)
{
  s->errors++;
  sceplab_tally(SCEPLAB_TALLY_DB_ERROR);
}

void sceplab_store_reconnected(sceplab_store *s)
{
  s->reconnects++;
  sceplab_tally(SCEPLAB_TALLY_DB_RECONNECT);
}
