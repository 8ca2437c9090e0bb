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

void sceplab_store_synced(uint64_t commits, uint64_t us)
{
  sceplab_tally(SCEPLAB_TALLY_DB_SYNC);
  sceplab_tally_add(SCEPLAB_TALLY_DB_SYNC_COMMITS, commits);
  sceplab_tally_add(SCEPLAB_TALLY_DB_SYNC_US, us);
}
