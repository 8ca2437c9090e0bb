/* The CA's store in PostgreSQL (`--db postgresql://...`): any number of serve instances, on any
 * number of machines, share one database (store.h says what each call promises). One connection
 * per open CA. Writers take turns only where they could meet, so that issuance (signing inside
 * the transaction) runs in parallel across instances instead of one at a time as with SQLite's
 * BEGIN IMMEDIATE: inside a transaction, a request looked up by identity locks its transaction ID
 * (an advisory lock) and its row (FOR UPDATE), a request looked up by row locks the row, and the
 * CRL's number locks the CRL, each until commit (a bounded wait: lock_timeout). So a resend
 * racing its original on another instance waits and finds its certificate, an approval and a
 * resend of one request cannot both issue, and CRLs are made one at a time in the order of their
 * numbers. The constraints of the schema (store_pg_db.c) hold whatever a writer does. A lost connection fails the call with base.unavailable set, and the next call
 * outside a transaction connects again. CA keys and certificates stay in the state directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca_int.h"
#include "ca/store_pg.h"

static const char *state_name(sceplab_req_state st)
{
  return st == SCEPLAB_REQ_ISSUED ? "issued" : st == SCEPLAB_REQ_PENDING ? "pending" : "rejected";
}

static sceplab_req_state state_of(const char *s)
{
  return !strcmp(s, "issued") ? SCEPLAB_REQ_ISSUED : !strcmp(s, "pending") ? SCEPLAB_REQ_PENDING : SCEPLAB_REQ_REJECTED;
}

static int64_t int_at(PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? 0 : (int64_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* How many rows a statement changed. */
static int changed(PGresult *r)
{
  const char *n = PQcmdTuples(r);
  return n && *n ? atoi(n) : 0;
}

#define NUM(buf, v) snprintf(buf, sizeof(buf), "%lld", (long long)(v))

/* ---- open, transactions ------------------------------------------------------------------- */

static void p_close(sceplab_store *st)
{
  pg *s = (pg *)st;
  PQfinish(s->conn);
  free(s->url);
  free(s);
}

static int p_begin(sceplab_store *st, sceplab_error *err)
{
  pg *s = (pg *)st;
  if(pg_exec(s, err, "starting a transaction", "BEGIN") != 0) {
    if(s->conn && PQstatus(s->conn) == CONNECTION_OK) {
      PGresult *r = PQexec(s->conn, "ROLLBACK");
      PQclear(r);
    }
    return STORE_ERROR;
  }
  s->in_tx = 1;
  return 0;
}

static int p_commit(sceplab_store *st, sceplab_error *err)
{
  pg *s = (pg *)st;
  int rc;
  /* COMMIT of a failed transaction answers "ROLLBACK" without an error: it is one here */
  if(s->conn && PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_INTRANS) {
    s->in_tx = 0;
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: committing: the transaction failed", s->where), STORE_ERROR;
  }
  rc = pg_exec(s, err, "committing", "COMMIT");
  s->in_tx = 0;
  return rc;
}

static void p_rollback(sceplab_store *st)
{
  pg *s = (pg *)st;
  if(s->conn && PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
    PGresult *r = PQexec(s->conn, "ROLLBACK"); /* PQclear's macro evaluates its argument twice */
    PQclear(r);
  }
  s->in_tx = 0;
}

/* ---- requests ----------------------------------------------------------------------------- */

static int p_request_find(sceplab_store *st, const sceplab_req_id *id, store_request *out, sceplab_error *err)
{
  pg *s = (pg *)st;
  const char *p[4] = {id->transaction_id, id->csr, id->message_type ? id->message_type : "", id->signer};
  PGresult *r = NULL;
  int rc;
  memset(out, 0, sizeof(*out));
  /* in a transaction (about to issue or record it): the transaction ID's requests are this
   * writer's until commit; the row read again once the lock is held */
  if(s->in_tx && !(r = pg_run(s, err, "locking the transaction", PG_LOCK_TRANSACTION, 1, p, -1, NULL, 0)))
    return STORE_ERROR;
  PQclear(r);
  r = pg_run(s, err, "reading a request", s->in_tx ?
             "SELECT r.id, r.state, c.der, r.why FROM requests r LEFT JOIN certificates c ON c.serial = r.serial"
             " WHERE r.transaction_id = $1 AND r.csr_id = $2 AND r.message_type = $3 AND r.signer_id = $4"
             " ORDER BY r.id DESC LIMIT 1 FOR UPDATE OF r"
             : "SELECT r.id, r.state, c.der, r.why FROM requests r LEFT JOIN certificates c ON c.serial = r.serial"
             " WHERE r.transaction_id = $1 AND r.csr_id = $2 AND r.message_type = $3 AND r.signer_id = $4"
             " ORDER BY r.id DESC LIMIT 1", 4, p, -1, NULL, 0);
  if(!r)
    return STORE_ERROR;
  if((rc = PQntuples(r) > 0 ? STORE_FOUND : STORE_NOT_FOUND) == STORE_FOUND) {
    out->row = int_at(r, 0, 0);
    out->state = state_of(PQgetvalue(r, 0, 1));
    if(out->state == SCEPLAB_REQ_ISSUED)
      out->cert = pg_bytea(r, 0, 2, &out->cert_len);
    if(out->state == SCEPLAB_REQ_REJECTED)
      out->why = pg_text(r, 0, 3);
  }
  PQclear(r);
  return rc;
}

static int p_request_poll(sceplab_store *st, const char *txid, const char *key_id, store_request *out,
                          sceplab_error *err)
{
  pg *s = (pg *)st;
  const char *p[2] = {txid, key_id};
  PGresult *r = pg_run(s, err, "reading a request", "SELECT r.id, r.state, c.der FROM requests r LEFT JOIN certificates c"
                       " ON c.serial = r.serial WHERE r.transaction_id = $1 AND (r.key_id = $2 OR r.signer_id = $2)"
                       " ORDER BY r.id DESC LIMIT 1", 2, p, -1, NULL, 0);
  int rc;
  memset(out, 0, sizeof(*out));
  if(!r)
    return STORE_ERROR;
  if((rc = PQntuples(r) > 0 ? STORE_FOUND : STORE_NOT_FOUND) == STORE_FOUND) {
    out->row = int_at(r, 0, 0);
    out->state = state_of(PQgetvalue(r, 0, 1));
    if(out->state == SCEPLAB_REQ_ISSUED)
      out->cert = pg_bytea(r, 0, 2, &out->cert_len);
  }
  PQclear(r);
  return rc;
}

static int p_request_get(sceplab_store *st, int64_t row, int pending_only, store_request *out, sceplab_error *err)
{
  pg *s = (pg *)st;
  char n[24];
  const char *p[1] = {n};
  PGresult *r;
  int rc;
  NUM(n, row);
  /* in a transaction (an approval about to issue it): the row is this writer's until commit, and
   * read again once its lock is held (a resend issued meanwhile leaves it no longer pending) */
  r = pg_run(s, err, "reading a request", pending_only ?
             (s->in_tx ? "SELECT id, transaction_id, csr, state FROM requests WHERE id = $1 AND state = 'pending' FOR UPDATE"
                       : "SELECT id, transaction_id, csr, state FROM requests WHERE id = $1 AND state = 'pending'")
             : (s->in_tx ? "SELECT id, transaction_id, csr, state FROM requests WHERE id = $1 FOR UPDATE"
                         : "SELECT id, transaction_id, csr, state FROM requests WHERE id = $1"), 1, p, -1, NULL, 0);
  memset(out, 0, sizeof(*out));
  if(!r)
    return STORE_ERROR;
  if((rc = PQntuples(r) > 0 ? STORE_FOUND : STORE_NOT_FOUND) == STORE_FOUND) {
    out->row = int_at(r, 0, 0);
    out->transaction_id = pg_text(r, 0, 1);
    out->csr = pg_bytea(r, 0, 2, &out->csr_len);
    out->state = state_of(PQgetvalue(r, 0, 3));
  }
  PQclear(r);
  return rc;
}

static int p_request_pending(sceplab_store *st, const char *txid, int64_t *rows, size_t max, size_t *n,
                             sceplab_error *err)
{
  pg *s = (pg *)st;
  const char *p[1] = {txid};
  PGresult *r = pg_run(s, err, "reading a request", "SELECT id FROM requests WHERE transaction_id = $1 AND state = 'pending'"
                       " ORDER BY id", 1, p, -1, NULL, 0);
  int i;
  *n = 0;
  if(!r)
    return STORE_ERROR;
  for(i = 0; i < PQntuples(r); i++) {
    if(*n < max)
      rows[*n] = int_at(r, i, 0);
    (*n)++;
  }
  PQclear(r);
  return 0;
}

static int p_request_insert(sceplab_store *st, const store_request *q, int64_t now, int64_t *row, sceplab_error *err)
{
  pg *s = (pg *)st;
  char t[24], id[24];
  const char *p[11];
  PGresult *r;
  NUM(t, now);
  p[0] = q->transaction_id;
  p[1] = q->message_type ? q->message_type : "";
  p[2] = q->key_id;
  p[3] = q->csr_id;
  p[4] = q->signer_id;
  p[5] = state_name(q->state);
  p[6] = q->subject;
  p[7] = NULL; /* the CSR: binary, below */
  p[8] = q->serial;
  p[9] = q->why;
  p[10] = t;
  r = pg_run(s, err, "recording the request", "INSERT INTO requests(transaction_id, message_type, key_id, csr_id, signer_id,"
             " state, subject, csr, serial, why, created, updated) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)"
             " RETURNING id", 11, p, q->csr ? 7 : -1, q->csr, q->csr_len);
  if(!r)
    return STORE_ERROR;
  *row = PQntuples(r) == 1 ? int_at(r, 0, 0) : 0;
  PQclear(r);
  if(*row <= 0)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: recording the request: no row", s->where), STORE_ERROR;
  NUM(id, *row);
  p[0] = q->transaction_id;
  p[1] = q->key_id;
  p[2] = t;
  p[3] = id;
  r = pg_run(s, err, "recording the request", "UPDATE requests SET state = 'rejected', why = 'superseded by a later request"
             " of the same transaction ID and key', updated = $3 WHERE transaction_id = $1 AND key_id = $2 AND"
             " state = 'pending' AND id <> $4", 4, p, -1, NULL, 0);
  PQclear(r);
  return r ? 0 : STORE_ERROR;
}

static int p_request_update(sceplab_store *st, int64_t row, sceplab_req_state state, const char *serial,
                            const char *why, int64_t now, unsigned cond, sceplab_error *err)
{
  pg *s = (pg *)st;
  char id[24], t[24];
  const char *p[5] = {id, state_name(state), serial, why, t};
  PGresult *r;
  int n;
  NUM(id, row);
  NUM(t, now);
  r = pg_run(s, err, "recording the request", (cond & STORE_IF_PENDING) ?
             "UPDATE requests SET state = $2, serial = $3, why = $4, updated = $5 WHERE id = $1 AND state = 'pending'"
             : (cond & STORE_UNLESS_ISSUED) ?
             "UPDATE requests SET state = $2, serial = $3, why = $4, updated = $5 WHERE id = $1 AND state <> 'issued'"
             : "UPDATE requests SET state = $2, serial = $3, why = $4, updated = $5 WHERE id = $1", 5, p, -1, NULL, 0);
  if(!r)
    return STORE_ERROR;
  n = changed(r);
  PQclear(r);
  return n > 0 ? STORE_FOUND : STORE_NOT_FOUND;
}

static int p_request_list(sceplab_store *st, int (*each)(void *ud, const store_request *r), void *ud,
                          sceplab_error *err)
{
  pg *s = (pg *)st;
  PGresult *r = pg_run(s, err, "listing", "SELECT r.transaction_id, r.state, r.subject, r.serial, r.why, r.created,"
                       " r.updated, c.not_after, c.revoked_at, c.reason, r.id, r.message_type FROM requests r"
                       " LEFT JOIN certificates c ON c.serial = r.serial ORDER BY r.created, r.id", 0, NULL, -1, NULL, 0);
  int i, stop = 0;
  if(!r)
    return STORE_ERROR;
  for(i = 0; i < PQntuples(r) && !stop; i++) {
    store_request q;
    memset(&q, 0, sizeof(q));
    q.transaction_id = PQgetvalue(r, i, 0);
    q.state = state_of(PQgetvalue(r, i, 1));
    q.subject = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2);
    q.serial = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
    q.why = PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4);
    q.created = int_at(r, i, 5);
    q.updated = int_at(r, i, 6);
    if((q.has_cert = !PQgetisnull(r, i, 7)))
      q.not_after = int_at(r, i, 7);
    if((q.revoked = !PQgetisnull(r, i, 8))) {
      q.revoked_at = int_at(r, i, 8);
      q.reason = (int)int_at(r, i, 9);
    }
    q.row = int_at(r, i, 10);
    if(!PQgetisnull(r, i, 11) && PQgetlength(r, i, 11) > 0)
      q.message_type = PQgetvalue(r, i, 11);
    stop = each(ud, &q);
  }
  PQclear(r);
  return stop;
}

/* ---- certificates and revocations --------------------------------------------------------- */

static int p_cert_insert(sceplab_store *st, const store_cert *c, sceplab_error *err)
{
  pg *s = (pg *)st;
  char nb[24], na[24];
  const char *p[6] = {c->serial, c->subject ? c->subject : "", nb, na, NULL, c->transaction_id};
  PGresult *r;
  NUM(nb, c->not_before);
  NUM(na, c->not_after);
  r = pg_run(s, err, "recording the certificate", "INSERT INTO certificates(serial, subject, not_before, not_after, der,"
             " transaction_id) VALUES($1, $2, $3, $4, $5, $6)", 6, p, 4, c->der, c->der_len);
  PQclear(r);
  return r ? 0 : STORE_ERROR;
}

static int p_cert_find(sceplab_store *st, const char *serial, unsigned char **der, size_t *len, int *revoked,
                       sceplab_error *err)
{
  pg *s = (pg *)st;
  const char *p[1] = {serial};
  PGresult *r = pg_run(s, err, "reading a certificate", "SELECT der, revoked_at FROM certificates WHERE serial = $1", 1, p,
                       -1, NULL, 0);
  int rc;
  if(der)
    *der = NULL;
  if(!r)
    return STORE_ERROR;
  if((rc = PQntuples(r) > 0 ? STORE_FOUND : STORE_NOT_FOUND) == STORE_FOUND) {
    if(der && !(*der = pg_bytea(r, 0, 0, len))) {
      sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
      rc = STORE_ERROR;
    }
    if(revoked)
      *revoked = !PQgetisnull(r, 0, 1);
  }
  PQclear(r);
  return rc;
}

static int p_cert_revoke(sceplab_store *st, const char *serial, int64_t when, int reason, sceplab_error *err)
{
  pg *s = (pg *)st;
  char w[24], why[24];
  const char *p[3] = {w, why, serial};
  PGresult *r;
  int n;
  NUM(w, when);
  NUM(why, reason);
  r = pg_run(s, err, "revoking", "UPDATE certificates SET revoked_at = $1, reason = $2 WHERE serial = $3 AND"
             " revoked_at IS NULL", 3, p, -1, NULL, 0);
  if(!r)
    return STORE_ERROR;
  n = changed(r);
  PQclear(r);
  return n > 0 ? STORE_FOUND : STORE_NOT_FOUND;
}

static int p_revocations(sceplab_store *st, int (*each)(void *ud, const char *serial, int64_t when, int reason),
                         void *ud, sceplab_error *err)
{
  pg *s = (pg *)st;
  PGresult *r = pg_run(s, err, "reading the revocations", "SELECT serial, revoked_at, reason FROM certificates WHERE"
                       " revoked_at IS NOT NULL ORDER BY serial", 0, NULL, -1, NULL, 0);
  int i, stop = 0;
  if(!r)
    return STORE_ERROR;
  for(i = 0; i < PQntuples(r) && !stop; i++)
    stop = each(ud, PQgetvalue(r, i, 0), int_at(r, i, 1), (int)int_at(r, i, 2));
  PQclear(r);
  return stop;
}

/* One count: 0 with *n, or STORE_ERROR. */
static int count_of(pg *s, sceplab_error *err, const char *what, const char *sql, int np, const char *const *p,
                    int64_t *n)
{
  PGresult *r = pg_run(s, err, what, sql, np, p, -1, NULL, 0);
  if(!r)
    return STORE_ERROR;
  *n = PQntuples(r) == 1 ? int_at(r, 0, 0) : 0;
  PQclear(r);
  return 0;
}

static int p_revoked_count(sceplab_store *st, int64_t *n, sceplab_error *err)
{
  return count_of((pg *)st, err, "counting the revocations", "SELECT count(*) FROM certificates WHERE revoked_at IS NOT NULL",
                  0, NULL, n);
}

/* ---- one-time challenges and used tokens -------------------------------------------------- */

static int p_challenge_add(sceplab_store *st, const char *digest, int64_t created, int64_t expires, sceplab_error *err)
{
  pg *s = (pg *)st;
  char c[24], e[24];
  const char *p[3] = {digest, c, e};
  PGresult *r;
  NUM(c, created);
  NUM(e, expires);
  r = pg_run(s, err, "recording a challenge", "INSERT INTO challenges(value, created, expires) VALUES($1, $2, $3)", 3, p,
             -1, NULL, 0);
  PQclear(r);
  return r ? 0 : STORE_ERROR;
}

/* One statement: of several instances given the same password at once, one row comes back. */
static int p_challenge_use(sceplab_store *st, const char *digest, int64_t now, sceplab_error *err)
{
  pg *s = (pg *)st;
  char t[24];
  const char *p[2] = {t, digest};
  PGresult *r;
  int n;
  NUM(t, now);
  r = pg_run(s, err, "checking a challenge", "UPDATE challenges SET used = $1 WHERE value = $2 AND used IS NULL AND"
             " expires >= $1 RETURNING value", 2, p, -1, NULL, 0);
  if(!r)
    return STORE_ERROR;
  n = PQntuples(r);
  PQclear(r);
  return n > 0 ? STORE_FOUND : STORE_NOT_FOUND;
}

static int p_challenge_outstanding(sceplab_store *st, int64_t now, int64_t *n, sceplab_error *err)
{
  char t[24];
  const char *p[1] = {t};
  NUM(t, now);
  return count_of((pg *)st, err, "counting challenges", "SELECT count(*) FROM challenges WHERE used IS NULL AND"
                  " expires >= $1", 1, p, n);
}

static int p_token_used(sceplab_store *st, const char *request_id, char **serial, sceplab_error *err)
{
  pg *s = (pg *)st;
  const char *p[1] = {request_id};
  PGresult *r = pg_run(s, err, "reading the used challenges", "SELECT serial FROM used_tokens WHERE request_id = $1", 1, p,
                       -1, NULL, 0);
  int rc;
  if(serial)
    *serial = NULL;
  if(!r)
    return STORE_ERROR;
  if((rc = PQntuples(r) > 0 ? STORE_FOUND : STORE_NOT_FOUND) == STORE_FOUND && serial)
    *serial = pg_text(r, 0, 0);
  PQclear(r);
  return rc;
}

static int p_token_use(sceplab_store *st, const char *request_id, const char *txid, const char *serial, int64_t now,
                       sceplab_error *err)
{
  pg *s = (pg *)st;
  char t[24];
  const char *p[4] = {request_id, txid, serial, t};
  PGresult *r;
  NUM(t, now);
  r = pg_run(s, err, "recording the challenge as used", "INSERT INTO used_tokens(request_id, transaction_id, serial, used)"
             " VALUES($1, $2, $3, $4)", 4, p, -1, NULL, 0);
  PQclear(r);
  return r ? 0 : STORE_ERROR;
}

/* ---- the CRL ------------------------------------------------------------------------------ */

/* From a sequence: a number is never given twice, whichever instance asks, rolled back or not.
 * The CRL is locked first, so CRLs are made and kept as current in the order of their numbers. */
static int p_crl_number_next(sceplab_store *st, int64_t *n, sceplab_error *err)
{
  pg *s = (pg *)st;
  if(s->in_tx && pg_exec(s, err, "locking the CRL", PG_LOCK_CRL) != 0)
    return STORE_ERROR;
  return count_of(s, err, "numbering the CRL", "SELECT nextval('crl_number')", 0, NULL, n);
}

static int p_crl_put(sceplab_store *st, const store_crl *c, sceplab_error *err)
{
  pg *s = (pg *)st;
  char num[24], tu[24], nu[24], rv[24];
  const char *p[6] = {num, NULL, tu, nu, rv, c->issuer};
  PGresult *r;
  NUM(num, c->number);
  NUM(tu, c->this_update);
  NUM(nu, c->next_update);
  NUM(rv, c->revoked);
  r = pg_run(s, err, "recording the CRL", "INSERT INTO crl(id, number, der, this_update, next_update, revoked, issuer)"
             " VALUES(1, $1, $2, $3, $4, $5, $6) ON CONFLICT(id) DO UPDATE SET number = excluded.number, der = excluded.der,"
             " this_update = excluded.this_update, next_update = excluded.next_update, revoked = excluded.revoked,"
             " issuer = excluded.issuer WHERE crl.number < excluded.number", 6, p, 1, c->der, c->der_len);
  PQclear(r);
  return r ? 0 : STORE_ERROR;
}

static int p_crl_get(sceplab_store *st, store_crl *c, sceplab_error *err)
{
  pg *s = (pg *)st;
  PGresult *r = pg_run(s, err, "reading the CRL", "SELECT number, der, this_update, next_update, revoked, issuer FROM crl"
                       " WHERE id = 1", 0, NULL, -1, NULL, 0);
  int rc;
  memset(c, 0, sizeof(*c));
  if(!r)
    return STORE_ERROR;
  if((rc = PQntuples(r) > 0 ? STORE_FOUND : STORE_NOT_FOUND) == STORE_FOUND) {
    c->number = int_at(r, 0, 0);
    c->this_update = int_at(r, 0, 2);
    c->next_update = int_at(r, 0, 3);
    c->revoked = int_at(r, 0, 4);
    snprintf(c->issuer, sizeof(c->issuer), "%s", PQgetvalue(r, 0, 5));
    if(!(c->der = pg_bytea(r, 0, 1, &c->der_len))) {
      sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
      rc = STORE_ERROR;
    }
  }
  PQclear(r);
  return rc;
}

static int p_bind(sceplab_store *st, const char *key, const char *value, char **other, sceplab_error *err)
{
  pg *s = (pg *)st;
  const char *p[2] = {key, value};
  PGresult *r = pg_run(s, err, "reading the CA's identity", "INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT(key)"
                       " DO NOTHING", 2, p, -1, NULL, 0);
  int rc;
  *other = NULL;
  PQclear(r);
  if(!r || !(r = pg_run(s, err, "reading the CA's identity", "SELECT value FROM meta WHERE key = $1", 1, p, -1, NULL, 0)))
    return STORE_ERROR;
  rc = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), value) ? STORE_FOUND : STORE_NOT_FOUND;
  if(rc == STORE_NOT_FOUND && PQntuples(r) == 1)
    *other = pg_text(r, 0, 0);
  PQclear(r);
  return rc;
}

static const sceplab_store_ops pg_ops = {
  "postgresql", p_close, p_begin, p_commit, p_rollback,
  p_request_find, p_request_poll, p_request_get, p_request_pending, p_request_insert, p_request_update,
  p_request_list,
  p_cert_insert, p_cert_find, p_cert_revoke, p_revocations, p_revoked_count,
  p_challenge_add, p_challenge_use, p_challenge_outstanding,
  p_token_used, p_token_use,
  p_crl_number_next, p_crl_put, p_crl_get,
  p_bind,
  NULL, NULL, NULL, /* sync_behind, durable, sync_inline: COMMIT returns once the server has it on disk */
};

/* What errors name: the URL without its user, password and parameters. */
static void where_of(pg *s)
{
  const char *u = s->url, *scheme_end = strstr(u, "://"), *auth, *end, *at;
  size_t i;
  auth = scheme_end ? scheme_end + 3 : u;
  end = auth + strcspn(auth, "/?");
  for(at = NULL, i = 0; auth + i < end; i++)
    if(auth[i] == '@')
      at = auth + i;
  if(at)
    auth = at + 1;
  end = end + strcspn(end, "?");
  snprintf(s->where, sizeof(s->where), "postgresql://%.*s", (int)(end - auth), auth);
}

sceplab_store *sceplab_store_pg_open(const char *url, int create, sceplab_error *err)
{
  pg *s = calloc(1, sizeof(*s));
  (void)create; /* the schema is made by whichever process opens an empty database first */
  if(!s || !(s->url = strdup(url))) {
    free(s);
    return (void)sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  }
  s->base.ops = &pg_ops;
  where_of(s);
  if(pg_connect(s, err) != 0 || pg_migrate(s, err) != 0) {
    p_close(&s->base);
    return NULL;
  }
  return &s->base;
}

int sceplab_store_pg_check(const char *url, sceplab_error *err)
{
  (void)url;
  return sceplab_optlib_need(SCEPLAB_LIB_PQ, err);
}
