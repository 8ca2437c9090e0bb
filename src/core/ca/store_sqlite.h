/* The SQLite store's private header: store_sqlite.c (the store's operations) and store_sqlite_db.c
 * (the database underneath: statements, schema, migrations) share it. */
#ifndef SCEPLAB_CA_STORE_SQLITE_H
#define SCEPLAB_CA_STORE_SQLITE_H

#include <sqlite3.h>

#include "base/optlib.h"
#include "ca/store.h"

#define SQ_CACHE 24

typedef struct sq {
  sceplab_store base;
  sqlite3 *db;
  char *dir;
  sqlite3_stmt *idle[SQ_CACHE]; /* prepared statements kept between uses (sq_prepare, sq_release) */
  int writer_fd;                /* the state directory, flock()ed around a write transaction (-1: not) */
  int writer_locked;            /* it is, now */
  struct sq_behind *behind;     /* commits synced by a thread (sq_sync_behind), or NULL: by COMMIT */
} sq;

/* One row per request: a transaction ID may carry several (one key's renewal, a new subject, a
 * corrected challenge), told apart by what sceplab_req_id holds. */
#define REQUESTS_COLUMNS                                                                                   \
  "id INTEGER PRIMARY KEY, transaction_id TEXT NOT NULL, message_type TEXT, key_id TEXT, csr_id TEXT,"    \
  " signer_id TEXT, state TEXT NOT NULL, subject TEXT, csr BLOB, serial TEXT, why TEXT,"                  \
  " created INTEGER NOT NULL, updated INTEGER NOT NULL"

/* Writers queue on a flock of the state directory (op LOCK_EX: bounded wait; LOCK_UN). */
void sq_writer_lock(sq *s, int op);
/* The WAL synced: 0, or -1. */
int sq_wal_sync(sqlite3 *db, const char *name);
/* SQLite's WAL hook: the queue let go, then the commit's sync (synchronous=NORMAL), then the
 * automatic checkpoint SQLite would run. */
int sq_wal_committed(void *ud, sqlite3 *db, const char *name, int pages);
/* The store's sync_behind, durable and sync_inline (store.h). */
int sq_sync_behind(sceplab_store *st, int notify_fd, sceplab_error *err);
int sq_durable(sceplab_store *st, uint64_t n);
void sq_sync_inline(sceplab_store *st);

/* STORE_ERROR, with err naming the database, what was being done and SQLite's message. */
int sq_fail(sq *s, sceplab_error *err, const char *what);
int sq_exec_simple(sq *s, const char *sql);
/* A statement for sql: one kept from an earlier use (reset, its bindings cleared) or prepared now;
 * NULL when it does not prepare. sq_release gives it back (reset) to be kept, or finalizes it;
 * sq_release_all finalizes those kept (before the database closes). Parsing the same statements
 * on every request was a twentieth of an enrollment's CPU. */
sqlite3_stmt *sq_prepare(sq *s, const char *sql);
void sq_release(sq *s, sqlite3_stmt *st);
void sq_release_all(sq *s);
/* Steps to the first row: STORE_FOUND (the row is there to read), STORE_NOT_FOUND, STORE_ERROR. */
int sq_first_row(sq *s, sqlite3_stmt *st, sceplab_error *err, const char *what);
unsigned char *sq_blob_copy(sqlite3_stmt *st, int col, size_t *len);
char *sq_text_copy(sqlite3_stmt *st, int col);
/* the schema brought to this version, each migration once: 0, or -1. */
int sq_migrate(sq *s, sceplab_error *err);

#endif
