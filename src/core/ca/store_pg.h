/* The PostgreSQL store's private header: store_pg.c (the store's operations) and store_pg_db.c
 * (the connection underneath: connecting, reconnecting, running a statement, the schema and its
 * migrations) share it. */
#ifndef SCEPLAB_CA_STORE_PG_H
#define SCEPLAB_CA_STORE_PG_H

#include <libpq-fe.h>

#include "base/optlib.h"
#include "ca/store.h"

/* Advisory locks, held until the transaction ends. ('SCEP', 1): migrations; ('SCEP', 2): the CRL;
 * ('SCEQ', hash of a transaction ID): the requests of one transaction ID. */
#define PG_LOCK_MIGRATE "SELECT pg_advisory_xact_lock(1396917584, 1)"
#define PG_LOCK_CRL "SELECT pg_advisory_xact_lock(1396917584, 2)"
#define PG_LOCK_TRANSACTION "SELECT pg_advisory_xact_lock(1396917585, hashtext($1))"

typedef struct pg {
  sceplab_store base;
  PGconn *conn;
  char *url;                    /* as given (it may hold a password: never shown) */
  char where[160];              /* what errors name: postgresql://host:port/dbname, no credentials */
  int in_tx;                    /* inside begin/commit: a lost connection is not silently replaced */
  double retry_at;              /* after a failed connection: no new attempt before this (monotonic s) */
} pg;

/* STORE_ERROR, with err naming the database, what was being done and PostgreSQL's message; sets
 * base.unavailable when the server could not be reached. res may be NULL (then the connection's
 * message). */
int pg_fail(pg *s, sceplab_error *err, const char *what, PGresult *res);
/* The connection, made again when it was lost (outside a transaction, at most once a second): 0,
 * or STORE_ERROR with base.unavailable set. */
int pg_ready(pg *s, sceplab_error *err, const char *what);
/* A statement with text parameters (NULL: SQL NULL) and at most one bytea parameter (index
 * bin_at, binary, bin/bin_len; -1 for none). The result when it succeeded (PGRES_COMMAND_OK or
 * TUPLES_OK; PQclear it), else NULL with err. */
PGresult *pg_run(pg *s, sceplab_error *err, const char *what, const char *sql, int n, const char *const *params,
                 int bin_at, const unsigned char *bin, size_t bin_len);
/* Statements without parameters (the simple protocol: several may be given): 0, or STORE_ERROR. */
int pg_exec(pg *s, sceplab_error *err, const char *what, const char *sql);
/* A bytea column copied (malloc'd), or NULL. */
unsigned char *pg_bytea(PGresult *r, int row, int col, size_t *len);
char *pg_text(PGresult *r, int row, int col);
/* Connects and brings the schema up to date (migrations, each once, under an advisory lock). */
int pg_connect(pg *s, sceplab_error *err);
int pg_migrate(pg *s, sceplab_error *err);

#endif
