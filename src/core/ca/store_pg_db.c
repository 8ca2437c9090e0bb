/* The PostgreSQL database under the store (store_pg.c): the connection (made at open, made again
 * by the first call after it was lost, at most once a second, never inside a transaction), the
 * statements' helpers, and the schema with its migrations: the version in meta, one row per
 * migration applied in schema_migrations, and numbered steps that run in one transaction under an
 * advisory lock, the version read again once the lock is held, so that any number of processes
 * (serve instances, `sceplab ca init`) opening a new or old database at once run each step once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/store_pg.h"

static double mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Whether a failure means the server cannot be reached now (down, starting, shutting down, full),
 * rather than a statement it refused. */
static int unreachable(pg *s, PGresult *res)
{
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if(!s->conn || PQstatus(s->conn) != CONNECTION_OK)
    return 1;
  if(!state)
    return res == NULL;
  return !strncmp(state, "08", 2) || !strcmp(state, "57P01") || !strcmp(state, "57P02") || !strcmp(state, "57P03") ||
         !strcmp(state, "53300");
}

int pg_fail(pg *s, sceplab_error *err, const char *what, PGresult *res)
{
  const char *msg = res ? PQresultErrorMessage(res) : NULL;
  char one[256];
  size_t i;
  if(!msg || !*msg)
    msg = s->conn ? PQerrorMessage(s->conn) : "no connection";
  /* PostgreSQL's messages run over lines (DETAIL, HINT): the first says what happened */
  snprintf(one, sizeof(one), "%s", msg && *msg ? msg : "unknown error");
  for(i = 0; one[i]; i++)
    if(one[i] == '\n' || one[i] == '\r') {
      one[i] = '\0';
      break;
    }
  s->base.unavailable = unreachable(s, res);
  sceplab_store_failed(&s->base);
  sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s: %s", s->where, what, one);
  return STORE_ERROR;
}

static void quiet(void *arg, const char *message)
{
  (void)arg;
  (void)message; /* NOTICEs (an object that exists already) are not the user's business */
}

/* The session's settings: waits are bounded (begin's lock, any statement), notices kept quiet. */
static int session(pg *s, sceplab_error *err)
{
  PGresult *r = PQexec(s->conn, "SET lock_timeout = '10s'; SET statement_timeout = '60s';"
                                " SET client_min_messages = warning");
  int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
  if(!ok)
    pg_fail(s, err, "setting up the session", r);
  PQclear(r);
  return ok ? 0 : STORE_ERROR;
}

int pg_connect(pg *s, sceplab_error *err)
{
  /* connect_timeout first: the URL may set its own, which then wins */
  const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
  const char *const vals[] = {"3", "sceplab", s->url, NULL};
  if(sceplab_optlib_need(SCEPLAB_LIB_PQ, err) != 0)
    return STORE_ERROR;
  s->conn = PQconnectdbParams(keys, vals, 1);
  if(!s->conn)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), STORE_ERROR;
  PQsetNoticeProcessor(s->conn, quiet, NULL);
  if(PQstatus(s->conn) != CONNECTION_OK) {
    s->retry_at = mono() + 1;
    return pg_fail(s, err, "connecting", NULL);
  }
  return session(s, err);
}

int pg_ready(pg *s, sceplab_error *err, const char *what)
{
  double now;
  if(s->conn && PQstatus(s->conn) == CONNECTION_OK)
    return 0;
  if(s->in_tx) {
    /* the transaction went with the connection: it fails whole, nothing runs outside it */
    s->base.unavailable = 1;
    sceplab_store_failed(&s->base);
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s: the connection was lost inside a transaction", s->where,
                           what), STORE_ERROR;
  }
  if((now = mono()) < s->retry_at) {
    s->base.unavailable = 1;
    sceplab_store_failed(&s->base);
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s: the database cannot be reached (trying again shortly)",
                           s->where, what), STORE_ERROR;
  }
  if(!s->conn)
    return pg_connect(s, err);
  PQreset(s->conn);
  if(PQstatus(s->conn) != CONNECTION_OK) {
    s->retry_at = now + 1;
    return pg_fail(s, err, what, NULL);
  }
  sceplab_store_reconnected(&s->base);
  return session(s, err);
}

/* A connection found dead by a statement that changes nothing (a read, or a transaction's BEGIN
 * and lock), outside a transaction: the server restarted while this one was idle. Connected again
 * (once), the statement runs again, so the first request after a restart is served. A write is
 * never run twice: it may have been done before the connection broke. */
static int again(pg *s, const char *sql)
{
  if(s->in_tx || !s->conn || PQstatus(s->conn) == CONNECTION_OK || (strncmp(sql, "SELECT", 6) && strncmp(sql, "BEGIN", 5)))
    return 0;
  PQreset(s->conn);
  if(PQstatus(s->conn) != CONNECTION_OK) {
    s->retry_at = mono() + 1;
    return 0;
  }
  sceplab_store_reconnected(&s->base);
  return session(s, NULL) == 0;
}

PGresult *pg_run(pg *s, sceplab_error *err, const char *what, const char *sql, int n, const char *const *params,
                 int bin_at, const unsigned char *bin, size_t bin_len)
{
  const char *vals[16];
  int lens[16], fmts[16], i;
  PGresult *r;
  ExecStatusType st;
  if(n > 16)
    return (void)sceplab_err_set(err, SCEPLAB_E_USAGE, "too many parameters"), NULL;
  if(pg_ready(s, err, what) != 0)
    return NULL;
  for(i = 0; i < n; i++) {
    vals[i] = params[i];
    lens[i] = 0;
    fmts[i] = 0;
  }
  if(bin_at >= 0 && bin_at < n) {
    vals[bin_at] = (const char *)bin;
    lens[bin_at] = (int)bin_len;
    fmts[bin_at] = 1;
  }
  r = PQexecParams(s->conn, sql, n, NULL, n ? vals : NULL, n ? lens : NULL, n ? fmts : NULL, 0);
  st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if(st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && again(s, sql)) {
    PQclear(r);
    r = PQexecParams(s->conn, sql, n, NULL, n ? vals : NULL, n ? lens : NULL, n ? fmts : NULL, 0);
    st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  }
  if(st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    pg_fail(s, err, what, r);
    PQclear(r);
    return NULL;
  }
  s->base.unavailable = 0;
  return r;
}

int pg_exec(pg *s, sceplab_error *err, const char *what, const char *sql)
{
  PGresult *r;
  ExecStatusType st;
  if(pg_ready(s, err, what) != 0)
    return STORE_ERROR;
  /* the simple protocol: sql may be several statements */
  r = PQexec(s->conn, sql);
  st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if(st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && again(s, sql)) {
    PQclear(r);
    r = PQexec(s->conn, sql);
    st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  }
  if(st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    pg_fail(s, err, what, r);
    PQclear(r);
    return STORE_ERROR;
  }
  s->base.unavailable = 0;
  PQclear(r);
  return 0;
}

unsigned char *pg_bytea(PGresult *r, int row, int col, size_t *len)
{
  size_t n = 0;
  unsigned char *u, *out;
  if(PQgetisnull(r, row, col))
    return NULL;
  if(!(u = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n)))
    return NULL;
  out = n ? malloc(n) : NULL;
  if(out) {
    memcpy(out, u, n);
    *len = n;
  }
  PQfreemem(u);
  return out;
}

char *pg_text(PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

/* ---- migrations --------------------------------------------------------------------------- */

/* 1: the tables. Every constraint the CA's correctness across instances rests on is here: a
 * serial is one certificate (primary key) and one request (unique); a request's identity
 * (transaction ID, message type, CSR, signer) is one row, so a resend racing its original on
 * another instance cannot become a second certificate; an issued request has its certificate. */
static const char m1_tables[] =
  "CREATE TABLE meta(key text PRIMARY KEY, value text NOT NULL);"
  "CREATE TABLE schema_migrations(version integer PRIMARY KEY, applied bigint NOT NULL);"
  "CREATE TABLE certificates(serial text PRIMARY KEY, subject text NOT NULL, not_before bigint, not_after bigint,"
  " der bytea NOT NULL, transaction_id text, revoked_at bigint, reason integer);"
  "CREATE TABLE requests(id bigserial PRIMARY KEY, transaction_id text NOT NULL, message_type text NOT NULL DEFAULT '',"
  " key_id text NOT NULL, csr_id text NOT NULL, signer_id text NOT NULL,"
  " state text NOT NULL CHECK (state IN ('pending', 'issued', 'rejected')), subject text, csr bytea,"
  " serial text UNIQUE REFERENCES certificates(serial), why text, created bigint NOT NULL, updated bigint NOT NULL,"
  " CHECK (state <> 'issued' OR serial IS NOT NULL));"
  "CREATE UNIQUE INDEX requests_identity ON requests(transaction_id, message_type, csr_id, signer_id);"
  "CREATE TABLE challenges(value text PRIMARY KEY, created bigint NOT NULL, expires bigint NOT NULL, used bigint);"
  "CREATE TABLE used_tokens(request_id text PRIMARY KEY, transaction_id text NOT NULL, serial text NOT NULL,"
  " used bigint NOT NULL);"
  "CREATE TABLE crl(id integer PRIMARY KEY CHECK (id = 1), number bigint NOT NULL, der bytea NOT NULL,"
  " this_update bigint NOT NULL, next_update bigint NOT NULL, revoked bigint NOT NULL, issuer text NOT NULL);"
  /* a sequence: a number taken is gone, even when its transaction rolls back */
  "CREATE SEQUENCE crl_number;";

/* 2: the lookups by transaction ID (CertPoll, approve) and of revocations (the CRL). */
static const char m2_indexes[] =
  "CREATE INDEX requests_transaction ON requests(transaction_id, id);"
  "CREATE INDEX certificates_revoked ON certificates(serial) WHERE revoked_at IS NOT NULL;";

static const struct {
  int version;
  const char *sql;
} migrations[] = {
  {1, m1_tables},
  {2, m2_indexes},
};
#define PG_SCHEMA_VERSION 2

/* The schema version: 0 for an empty database. */
static int schema_version(pg *s, int *version, sceplab_error *err)
{
  /* pg_class read with this statement's snapshot (taken after the lock), not through the
   * catalog cache, which may not have seen another process's CREATE TABLE yet */
  PGresult *r = pg_run(s, err, "reading the schema version", "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN"
                       " pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'meta' AND"
                       " n.nspname = current_schema())", 0, NULL, -1, NULL, 0);
  int has = r && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
  *version = 0;
  if(!r)
    return STORE_ERROR;
  PQclear(r);
  if(!has)
    return 0;
  if(!(r = pg_run(s, err, "reading the schema version", "SELECT value FROM meta WHERE key = 'schema_version'", 0, NULL,
                  -1, NULL, 0)))
    return STORE_ERROR;
  if(PQntuples(r) == 1)
    *version = atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  return 0;
}

int pg_migrate(pg *s, sceplab_error *err)
{
  int version;
  size_t k;
  if(schema_version(s, &version, err) != 0)
    return STORE_ERROR;
  if(version == PG_SCHEMA_VERSION)
    return 0; /* the usual case: no lock taken */
  if(version > PG_SCHEMA_VERSION)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: schema version %d, newer than this sceplab knows (%d): use a "
                           "newer sceplab", s->where, version, PG_SCHEMA_VERSION), STORE_ERROR;
  if(pg_exec(s, err, "migrating the schema", "BEGIN") != 0)
    return STORE_ERROR;
  /* another process may have migrated while this one waited: the version read again under the lock */
  if(pg_exec(s, err, "migrating the schema", PG_LOCK_MIGRATE) != 0 || schema_version(s, &version, err) != 0)
    goto fail;
  for(k = 0; k < sizeof(migrations) / sizeof(migrations[0]); k++) {
    char v[16];
    const char *p[1];
    if(migrations[k].version <= version)
      continue;
    snprintf(v, sizeof(v), "%d", migrations[k].version);
    p[0] = v;
    if(pg_exec(s, err, "migrating the schema", migrations[k].sql) != 0)
      goto fail;
    {
      PGresult *r = pg_run(s, err, "migrating the schema",
                           "INSERT INTO schema_migrations(version, applied) VALUES($1::integer, extract(epoch FROM now())::bigint)",
                           1, p, -1, NULL, 0);
      PQclear(r);
      if(!r)
        goto fail;
      r = pg_run(s, err, "migrating the schema", "INSERT INTO meta(key, value) VALUES('schema_version', $1) ON CONFLICT(key)"
                 " DO UPDATE SET value = excluded.value", 1, p, -1, NULL, 0);
      PQclear(r);
      if(!r)
        goto fail;
    }
  }
  if(pg_exec(s, err, "migrating the schema", "COMMIT") != 0)
    goto fail;
  return 0;
fail:
  if(s->conn && PQstatus(s->conn) == CONNECTION_OK) {
    PGresult *r = PQexec(s->conn, "ROLLBACK");
    PQclear(r);
  }
  return STORE_ERROR;
}
