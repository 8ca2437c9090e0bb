/* The CA's store in SQLite: ca.db (WAL) in the state directory. Every SQL statement of the CA is
 * here (store.h says what each call promises). One connection per open CA; writers take SQLite's
 * write lock with BEGIN IMMEDIATE, queued on a flock of the state directory (sq_writer_lock), and a
 * process that does not queue there (the sqlite3 shell) is waited for up to five seconds (busy
 * timeout), so several processes can share the file. A statement that does not step to its end is
 * an error, never "no row". The statements' helpers, the schema and its migrations are
 * store_sqlite_db.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <sqlite3.h>

#include "ca/ca_int.h"
#include "ca/store_sqlite.h"

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
  if(v)
    sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(st, i);
}

/* Runs a statement that returns no row: 0, or STORE_ERROR. */
static int run(sq *s, sqlite3_stmt *st, sceplab_error *err, const char *what)
{
  int rc = st && sqlite3_step(st) == SQLITE_DONE ? 0 : sq_fail(s, err, what);
  sq_release(s, st);
  return rc;
}

static sceplab_req_state state_of(const char *s)
{
  return !s ? SCEPLAB_REQ_NONE : !strcmp(s, "issued") ? SCEPLAB_REQ_ISSUED : !strcmp(s, "pending") ? SCEPLAB_REQ_PENDING
       : SCEPLAB_REQ_REJECTED;
}

static const char *state_name(sceplab_req_state st)
{
  return st == SCEPLAB_REQ_ISSUED ? "issued" : st == SCEPLAB_REQ_PENDING ? "pending" : "rejected";
}

/* ---- open, transactions ------------------------------------------------------------------- */

static void sq_close(sceplab_store *st)
{
  sq *s = (sq *)st;
  sq_sync_inline(st);
  sq_release_all(s);
  if(s->db)
    sqlite3_close(s->db);
  if(s->writer_fd >= 0)
    close(s->writer_fd);
  free(s->dir);
  free(s);
}

static int sq_begin(sceplab_store *st, sceplab_error *err)
{
  sq *s = (sq *)st;
  sq_writer_lock(s, LOCK_EX);
  if(sq_exec_simple(s, "BEGIN IMMEDIATE") == 0)
    return 0;
  sq_writer_lock(s, LOCK_UN);
  return sq_fail(s, err, "starting a transaction");
}

static int sq_commit(sceplab_store *st, sceplab_error *err)
{
  sq *s = (sq *)st;
  int rc = sq_exec_simple(s, "COMMIT") == 0 ? 0 : sq_fail(s, err, "committing");
  if(rc == 0)
    sq_writer_lock(s, LOCK_UN); /* a failed COMMIT is rolled back next (store.h), and unlocks there */
  return rc;
}

static void sq_rollback(sceplab_store *st)
{
  sq_exec_simple((sq *)st, "ROLLBACK");
  sq_writer_lock((sq *)st, LOCK_UN);
}

/* ca.db and the -wal and -shm files SQLite makes beside it with ca.db's mode: 0600, whatever
 * the umask, and narrowed in a directory made before. */
static int db_modes(const char *dir, sceplab_error *err)
{
  static const char *const ext[] = {".db", ".db-wal", ".db-shm"};
  size_t i;
  int rc = 0;
  for(i = 0; i < 3 && rc == 0; i++) {
    char *p = ca_path(dir, "ca", ext[i]);
    rc = p ? ca_narrow_mode(p, 0600, err) : (sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1);
    free(p);
  }
  return rc;
}

/* ---- requests ----------------------------------------------------------------------------- */

/* Another process's commit is visible from the moment SQLite lets its lock go, a moment before that
 * process's sync (sq_wal_committed) returns: a certificate read here is synced before it is handed out
 * (a resend, CertPoll, GetCert), so none leaves that a power cut could take back. Cheap when the
 * WAL holds nothing unsynced. */
static int handed_out(sq *s, int rc, sceplab_error *err)
{
  if(rc == STORE_FOUND && sq_wal_sync(s->db, "main") != 0)
    return sq_fail(s, err, "syncing the write-ahead log");
  return rc;
}

static int sq_request_find(sceplab_store *st, const sceplab_req_id *id, store_request *out, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "SELECT r.id, r.state, c.der, r.why FROM requests r LEFT JOIN certificates c ON"
                               " c.serial = r.serial WHERE r.transaction_id = ?1 AND r.csr_id = ?2 AND (r.message_type = ?3"
                               " OR r.message_type IS NULL) AND (r.signer_id = ?4 OR r.signer_id IS NULL)"
                               " ORDER BY r.id DESC LIMIT 1");
  int rc;
  memset(out, 0, sizeof(*out));
  if(q) {
    sqlite3_bind_text(q, 1, id->transaction_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, id->csr, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, id->message_type ? id->message_type : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, id->signer, -1, SQLITE_TRANSIENT);
  }
  if((rc = sq_first_row(s, q, err, "reading a request")) == STORE_FOUND) {
    out->row = sqlite3_column_int64(q, 0);
    out->state = state_of((const char *)sqlite3_column_text(q, 1));
    if(out->state == SCEPLAB_REQ_ISSUED)
      out->cert = sq_blob_copy(q, 2, &out->cert_len);
    if(out->state == SCEPLAB_REQ_REJECTED)
      out->why = sq_text_copy(q, 3);
  }
  sq_release(s, q);
  return out->cert ? handed_out(s, rc, err) : rc;
}

static int sq_request_poll(sceplab_store *st, const char *txid, const char *key_id, store_request *out,
                           sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "SELECT r.id, r.state, c.der FROM requests r LEFT JOIN certificates c ON c.serial = r.serial"
                               " WHERE r.transaction_id = ?1 AND (r.key_id = ?2 OR r.signer_id = ?2) ORDER BY r.id DESC LIMIT 1");
  int rc;
  memset(out, 0, sizeof(*out));
  if(q) {
    sqlite3_bind_text(q, 1, txid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, key_id, -1, SQLITE_TRANSIENT);
  }
  if((rc = sq_first_row(s, q, err, "reading a request")) == STORE_FOUND) {
    out->row = sqlite3_column_int64(q, 0);
    out->state = state_of((const char *)sqlite3_column_text(q, 1));
    if(out->state == SCEPLAB_REQ_ISSUED)
      out->cert = sq_blob_copy(q, 2, &out->cert_len);
  }
  sq_release(s, q);
  return out->cert ? handed_out(s, rc, err) : rc;
}

static int sq_request_get(sceplab_store *st, int64_t row, int pending_only, store_request *out, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, pending_only ? "SELECT id, transaction_id, csr, state FROM requests WHERE id = ?1 AND state = 'pending'"
                                            : "SELECT id, transaction_id, csr, state FROM requests WHERE id = ?1");
  int rc;
  memset(out, 0, sizeof(*out));
  if(q)
    sqlite3_bind_int64(q, 1, (sqlite3_int64)row);
  if((rc = sq_first_row(s, q, err, "reading a request")) == STORE_FOUND) {
    out->row = sqlite3_column_int64(q, 0);
    out->transaction_id = sq_text_copy(q, 1);
    out->csr = sq_blob_copy(q, 2, &out->csr_len);
    out->state = state_of((const char *)sqlite3_column_text(q, 3));
  }
  sq_release(s, q);
  return rc;
}

static int sq_request_pending(sceplab_store *st, const char *txid, int64_t *rows, size_t max, size_t *n,
                              sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "SELECT id FROM requests WHERE transaction_id = ?1 AND state = 'pending' ORDER BY id");
  int step = SQLITE_ERROR;
  *n = 0;
  if(q) {
    sqlite3_bind_text(q, 1, txid, -1, SQLITE_TRANSIENT);
    while((step = sqlite3_step(q)) == SQLITE_ROW) {
      if(*n < max)
        rows[*n] = sqlite3_column_int64(q, 0);
      (*n)++;
    }
  }
  if(step != SQLITE_DONE) {
    sq_fail(s, err, "reading a request");
    sq_release(s, q);
    return STORE_ERROR;
  }
  sq_release(s, q);
  return 0;
}

static int sq_request_insert(sceplab_store *st, const store_request *r, int64_t now, int64_t *row, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "INSERT INTO requests(transaction_id, message_type, key_id, csr_id, signer_id, state,"
                               " subject, csr, serial, why, created, updated) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)");
  if(q) {
    sqlite3_bind_text(q, 1, r->transaction_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, r->message_type ? r->message_type : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, r->key_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, r->csr_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, r->signer_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, state_name(r->state), -1, SQLITE_STATIC);
    bind_text(q, 7, r->subject);
    if(r->csr)
      sqlite3_bind_blob(q, 8, r->csr, (int)r->csr_len, SQLITE_TRANSIENT);
    bind_text(q, 9, r->serial);
    bind_text(q, 10, r->why);
    sqlite3_bind_int64(q, 11, (sqlite3_int64)now);
  }
  if(run(s, q, err, "recording the request") != 0)
    return STORE_ERROR;
  if((*row = (int64_t)sqlite3_last_insert_rowid(s->db)) <= 0)
    return sq_fail(s, err, "recording the request");
  q = sq_prepare(s, "UPDATE requests SET state = 'rejected', why = 'superseded by a later request of the same transaction"
                 " ID and key', updated = ?3 WHERE transaction_id = ?1 AND key_id = ?2 AND state = 'pending' AND id <> ?4");
  if(q) {
    sqlite3_bind_text(q, 1, r->transaction_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, r->key_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)now);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)*row);
  }
  return run(s, q, err, "recording the request");
}

static int sq_request_update(sceplab_store *st, int64_t row, sceplab_req_state state, const char *serial,
                             const char *why, int64_t now, unsigned cond, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, (cond & STORE_IF_PENDING) ?
                                 "UPDATE requests SET state = ?2, serial = ?3, why = ?4, updated = ?5 WHERE id = ?1 AND state = 'pending'"
                               : (cond & STORE_UNLESS_ISSUED) ?
                                 "UPDATE requests SET state = ?2, serial = ?3, why = ?4, updated = ?5 WHERE id = ?1 AND state <> 'issued'"
                               : "UPDATE requests SET state = ?2, serial = ?3, why = ?4, updated = ?5 WHERE id = ?1");
  if(q) {
    sqlite3_bind_int64(q, 1, (sqlite3_int64)row);
    sqlite3_bind_text(q, 2, state_name(state), -1, SQLITE_STATIC);
    bind_text(q, 3, serial);
    bind_text(q, 4, why);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)now);
  }
  if(run(s, q, err, "recording the request") != 0)
    return STORE_ERROR;
  return sqlite3_changes(s->db) > 0 ? STORE_FOUND : STORE_NOT_FOUND;
}

static int sq_request_list(sceplab_store *st, int (*each)(void *ud, const store_request *r), void *ud,
                           sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "SELECT r.transaction_id, r.state, r.subject, r.serial, r.why, r.created, r.updated,"
                               " c.not_after, c.revoked_at, c.reason, r.id, r.message_type FROM requests r"
                               " LEFT JOIN certificates c ON c.serial = r.serial ORDER BY r.created, r.id");
  int step = SQLITE_ERROR, stop = 0;
  while(q && !stop && (step = sqlite3_step(q)) == SQLITE_ROW) {
    store_request r;
    memset(&r, 0, sizeof(r));
    r.transaction_id = (char *)sqlite3_column_text(q, 0);
    r.state = state_of((const char *)sqlite3_column_text(q, 1));
    r.subject = (char *)sqlite3_column_text(q, 2);
    r.serial = (char *)sqlite3_column_text(q, 3);
    r.why = (char *)sqlite3_column_text(q, 4);
    r.created = sqlite3_column_int64(q, 5);
    r.updated = sqlite3_column_int64(q, 6);
    if((r.has_cert = sqlite3_column_type(q, 7) != SQLITE_NULL))
      r.not_after = sqlite3_column_int64(q, 7);
    if((r.revoked = sqlite3_column_type(q, 8) != SQLITE_NULL)) {
      r.revoked_at = sqlite3_column_int64(q, 8);
      r.reason = sqlite3_column_int(q, 9);
    }
    r.row = sqlite3_column_int64(q, 10);
    if(sqlite3_column_type(q, 11) == SQLITE_TEXT && sqlite3_column_bytes(q, 11) > 0)
      r.message_type = (char *)sqlite3_column_text(q, 11);
    stop = each(ud, &r);
  }
  if(!stop && step != SQLITE_DONE)
    sq_fail(s, err, "listing");
  sq_release(s, q);
  return stop ? stop : step == SQLITE_DONE ? 0 : STORE_ERROR;
}

/* ---- certificates and revocations --------------------------------------------------------- */

static int sq_cert_insert(sceplab_store *st, const store_cert *c, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "INSERT INTO certificates(serial, subject, not_before, not_after, der, transaction_id)"
                               " VALUES(?, ?, ?, ?, ?, ?)");
  if(q) {
    sqlite3_bind_text(q, 1, c->serial, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, c->subject ? c->subject : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)c->not_before);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)c->not_after);
    sqlite3_bind_blob(q, 5, c->der, (int)c->der_len, SQLITE_TRANSIENT);
    bind_text(q, 6, c->transaction_id);
  }
  return run(s, q, err, "recording the certificate");
}

static int sq_cert_find(sceplab_store *st, const char *serial, unsigned char **der, size_t *len, int *revoked,
                        sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "SELECT der, revoked_at FROM certificates WHERE serial = ?");
  int rc;
  if(der)
    *der = NULL;
  if(q)
    sqlite3_bind_text(q, 1, serial, -1, SQLITE_TRANSIENT);
  if((rc = sq_first_row(s, q, err, "reading a certificate")) == STORE_FOUND) {
    if(der && !(*der = sq_blob_copy(q, 0, len))) {
      sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
      rc = STORE_ERROR;
    }
    if(revoked)
      *revoked = sqlite3_column_type(q, 1) != SQLITE_NULL;
  }
  sq_release(s, q);
  return der && *der ? handed_out(s, rc, err) : rc;
}

static int sq_cert_revoke(sceplab_store *st, const char *serial, int64_t when, int reason, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "UPDATE certificates SET revoked_at = ?, reason = ? WHERE serial = ? AND revoked_at IS NULL");
  if(q) {
    sqlite3_bind_int64(q, 1, (sqlite3_int64)when);
    sqlite3_bind_int(q, 2, reason);
    sqlite3_bind_text(q, 3, serial, -1, SQLITE_TRANSIENT);
  }
  if(run(s, q, err, "revoking") != 0)
    return STORE_ERROR;
  return sqlite3_changes(s->db) > 0 ? STORE_FOUND : STORE_NOT_FOUND;
}

static int sq_revocations(sceplab_store *st, int (*each)(void *ud, const char *serial, int64_t when, int reason),
                          void *ud, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "SELECT serial, revoked_at, reason FROM certificates WHERE revoked_at IS NOT NULL");
  int step = SQLITE_ERROR, stop = 0;
  while(q && !stop && (step = sqlite3_step(q)) == SQLITE_ROW)
    stop = each(ud, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1), sqlite3_column_int(q, 2));
  if(!stop && step != SQLITE_DONE)
    sq_fail(s, err, "reading the revocations");
  sq_release(s, q);
  return stop ? stop : step == SQLITE_DONE ? 0 : STORE_ERROR;
}

static int sq_revoked_count(sceplab_store *st, int64_t *n, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "SELECT count(*) FROM certificates WHERE revoked_at IS NOT NULL");
  int rc = sq_first_row(s, q, err, "counting the revocations");
  if(rc == STORE_FOUND)
    *n = sqlite3_column_int64(q, 0);
  sq_release(s, q);
  return rc == STORE_FOUND ? 0 : rc == STORE_ERROR ? STORE_ERROR : sq_fail(s, err, "counting the revocations");
}

/* ---- one-time challenges and used tokens -------------------------------------------------- */

static int sq_challenge_add(sceplab_store *st, const char *digest, int64_t created, int64_t expires, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "INSERT INTO challenges(value, created, expires) VALUES(?, ?, ?)");
  if(q) {
    sqlite3_bind_text(q, 1, digest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)created);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)expires);
  }
  return run(s, q, err, "recording a challenge");
}

static int sq_challenge_use(sceplab_store *st, const char *digest, int64_t now, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "UPDATE challenges SET used = ?1 WHERE value = ?2 AND used IS NULL AND expires >= ?1");
  if(q) {
    sqlite3_bind_int64(q, 1, (sqlite3_int64)now);
    sqlite3_bind_text(q, 2, digest, -1, SQLITE_TRANSIENT);
  }
  if(run(s, q, err, "checking a challenge") != 0)
    return STORE_ERROR;
  return sqlite3_changes(s->db) > 0 ? STORE_FOUND : STORE_NOT_FOUND;
}

static int sq_challenge_outstanding(sceplab_store *st, int64_t now, int64_t *n, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "SELECT count(*) FROM challenges WHERE used IS NULL AND expires >= ?");
  int rc;
  if(q)
    sqlite3_bind_int64(q, 1, (sqlite3_int64)now);
  if((rc = sq_first_row(s, q, err, "counting challenges")) == STORE_FOUND)
    *n = sqlite3_column_int64(q, 0);
  sq_release(s, q);
  return rc == STORE_FOUND ? 0 : rc == STORE_ERROR ? STORE_ERROR : sq_fail(s, err, "counting challenges");
}

static int sq_token_used(sceplab_store *st, const char *request_id, char **serial, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "SELECT serial FROM used_tokens WHERE request_id = ?");
  int rc;
  if(serial)
    *serial = NULL;
  if(q)
    sqlite3_bind_text(q, 1, request_id, -1, SQLITE_TRANSIENT);
  if((rc = sq_first_row(s, q, err, "reading the used challenges")) == STORE_FOUND && serial)
    *serial = sq_text_copy(q, 0);
  sq_release(s, q);
  return rc;
}

static int sq_token_use(sceplab_store *st, const char *request_id, const char *txid, const char *serial, int64_t now,
                        sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "INSERT INTO used_tokens(request_id, transaction_id, serial, used) VALUES(?, ?, ?, ?)");
  if(q) {
    sqlite3_bind_text(q, 1, request_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, txid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, serial, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)now);
  }
  return run(s, q, err, "recording the challenge as used");
}

/* ---- the CRL ------------------------------------------------------------------------------ */

static int sq_crl_number_next(sceplab_store *st, int64_t *n, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q;
  int rc;
  if(sq_exec_simple(s, "INSERT INTO meta(key, value) VALUES('crl_number', '1') ON CONFLICT(key) DO UPDATE SET"
                    " value = CAST(value AS INTEGER) + 1") != 0)
    return sq_fail(s, err, "numbering the CRL");
  q = sq_prepare(s, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'crl_number'");
  if((rc = sq_first_row(s, q, err, "numbering the CRL")) == STORE_FOUND)
    *n = sqlite3_column_int64(q, 0);
  sq_release(s, q);
  return rc == STORE_FOUND ? 0 : rc == STORE_ERROR ? STORE_ERROR : sq_fail(s, err, "numbering the CRL");
}

static int sq_crl_put(sceplab_store *st, const store_crl *c, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "INSERT OR REPLACE INTO crl(id, number, der, this_update, next_update, revoked, issuer)"
                               " VALUES(1, ?, ?, ?, ?, ?, ?)");
  if(q) {
    sqlite3_bind_int64(q, 1, (sqlite3_int64)c->number);
    sqlite3_bind_blob(q, 2, c->der, (int)c->der_len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)c->this_update);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)c->next_update);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)c->revoked);
    sqlite3_bind_text(q, 6, c->issuer, -1, SQLITE_TRANSIENT);
  }
  return run(s, q, err, "recording the CRL");
}

static int sq_crl_get(sceplab_store *st, store_crl *c, sceplab_error *err)
{
  sq *s = (sq *)st;
  sqlite3_stmt *q = sq_prepare(s, "SELECT number, der, this_update, next_update, revoked, issuer FROM crl WHERE id = 1");
  int rc;
  memset(c, 0, sizeof(*c));
  if((rc = sq_first_row(s, q, err, "reading the CRL")) == STORE_FOUND) {
    c->number = sqlite3_column_int64(q, 0);
    c->this_update = sqlite3_column_int64(q, 2);
    c->next_update = sqlite3_column_int64(q, 3);
    c->revoked = sqlite3_column_int64(q, 4);
    snprintf(c->issuer, sizeof(c->issuer), "%s", sqlite3_column_text(q, 5) ? (const char *)sqlite3_column_text(q, 5) : "");
    if(!(c->der = sq_blob_copy(q, 1, &c->der_len))) {
      sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
      rc = STORE_ERROR;
    }
  }
  sq_release(s, q);
  return rc;
}

static const sceplab_store_ops sqlite_ops = {
  "sqlite", sq_close, sq_begin, sq_commit, sq_rollback,
  sq_request_find, sq_request_poll, sq_request_get, sq_request_pending, sq_request_insert, sq_request_update,
  sq_request_list,
  sq_cert_insert, sq_cert_find, sq_cert_revoke, sq_revocations, sq_revoked_count,
  sq_challenge_add, sq_challenge_use, sq_challenge_outstanding,
  sq_token_used, sq_token_use,
  sq_crl_number_next, sq_crl_put, sq_crl_get,
  NULL, /* bind: ca.db lives beside its CA's keys */
  sq_sync_behind, sq_durable, sq_sync_inline,
};

sceplab_store *sceplab_store_sqlite_open(const char *dir, int create, sceplab_error *err)
{
  sq *s = calloc(1, sizeof(*s));
  char *p = ca_path(dir, "ca", ".db");
  int rc;
  if(s)
    s->writer_fd = -1;
  if(!s || !p || !(s->dir = strdup(dir))) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    goto fail;
  }
  s->base.ops = &sqlite_ops;
  if(sceplab_optlib_need(SCEPLAB_LIB_SQLITE, err) != 0)
    goto fail;
  if(create) {
    /* SQLite would make it 0644 (umask permitting): made here first, 0600, and the -wal and
     * -shm files SQLite adds later take its mode */
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if(fd < 0 || fchmod(fd, 0600) != 0) {
      sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", p, strerror(errno));
      if(fd >= 0)
        close(fd);
      goto fail;
    }
    close(fd);
  }
  if(db_modes(dir, err) != 0)
    goto fail;
  rc = sqlite3_open_v2(p, &s->db, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX,
                       NULL);
  if(rc != SQLITE_OK) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", p, s->db ? sqlite3_errmsg(s->db) : "cannot open");
    goto fail;
  }
  sqlite3_busy_timeout(s->db, 5000);
  s->writer_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* -1: writers wait as SQLite makes them */
  /* a deleted or replaced password leaves no copy in the database's free pages */
  if(sq_exec_simple(s, "PRAGMA journal_mode=WAL") != 0 || sq_exec_simple(s, "PRAGMA secure_delete=ON") != 0 ||
     sq_exec_simple(s, "PRAGMA synchronous=NORMAL") != 0) {
    sq_fail(s, err, "schema");
    goto fail;
  }
  sqlite3_wal_hook(s->db, sq_wal_committed, s); /* the commit's sync, with synchronous=NORMAL */
  if(sq_migrate(s, err) != 0)
    goto fail;
  free(p);
  return &s->base;
fail:
  free(p);
  if(s)
    sq_close(&s->base);
  return NULL;
}

int sceplab_store_sqlite_check(const char *dir, int *exists, sceplab_error *err)
{
  char *p = ca_path(dir, "ca", ".db");
  struct stat st;
  if(!p)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  *exists = stat(p, &st) == 0;
  free(p);
  return sceplab_optlib_need(SCEPLAB_LIB_SQLITE, err);
}
