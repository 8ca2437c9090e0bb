/* The CA's storage seam: requests, certificates, revocations, one-time challenges, used Intune
 * tokens and the current CRL, behind a table of functions, one file per backend, as curl's vtls
 * is one TLS layer with a file per library (store_sqlite.c, store_pg.c; store.c picks one).
 * Nothing above this header knows which database holds the CA's records: all SQL is in the
 * backend's file.
 *
 * Every call can fail and says why. A lookup answers STORE_FOUND, STORE_NOT_FOUND or STORE_ERROR
 * (err set): a database that cannot answer is never taken for an answer of "none", since the CA
 * would then run a request's policy and issuance again for a transaction it answered before.
 * Writes answer 0 or STORE_ERROR. Several processes (and, with a server database, several
 * machines) may share one store: writers that could meet take turns (a bounded wait, then an
 * error), and a write inside begin/commit is all or nothing.
 *
 * The schema carries a version (in meta); a backend brings it up to date at open with numbered
 * migrations that each run once, under the write lock, whichever process opens it first. */
#ifndef SCEPLAB_CA_STORE_H
#define SCEPLAB_CA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "sceplab/ca.h"
#include "sceplab/error.h"

enum { STORE_ERROR = -1, STORE_NOT_FOUND = 0, STORE_FOUND = 1 };

typedef struct sceplab_store sceplab_store;

/* A request as stored. Strings and blobs a lookup returns are malloc'd (store_request_free). */
typedef struct store_request {
  int64_t row;                  /* its number (#N in `sceplab ca list`) */
  char *transaction_id;
  char *message_type;           /* NULL: a row from before requests had an identity */
  char key_id[65], csr_id[65], signer_id[65];
  sceplab_req_state state;
  char *subject;                /* RFC 4514, as the decoder shows it */
  unsigned char *csr;           /* DER */
  size_t csr_len;
  char *serial;                 /* issued: the certificate's serial (hex) */
  char *why;                    /* rejected: why */
  int64_t created, updated;
  unsigned char *cert;          /* issued: the certificate (DER), when the lookup joins it */
  size_t cert_len;
  /* listings only: the certificate's expiry and revocation */
  int has_cert;
  int64_t not_after, revoked_at;
  int revoked, reason;
} store_request;

/* An issued certificate. */
typedef struct store_cert {
  const char *serial;           /* upper-case hex, as sceplab_serial_hex writes it */
  const char *subject;
  int64_t not_before, not_after;
  const unsigned char *der;
  size_t der_len;
  const char *transaction_id;
} store_cert;

/* The current CRL and what it was made from. */
typedef struct store_crl {
  int64_t number;
  unsigned char *der;           /* malloc'd by crl_get */
  size_t der_len;
  int64_t this_update, next_update;
  int64_t revoked;              /* how many revocations it lists */
  char issuer[72];              /* the issuing CA's SHA-1 thumbprint */
} store_crl;

/* request_update's conditions */
#define STORE_UNLESS_ISSUED 1u  /* leave a request issued meanwhile as it is */
#define STORE_IF_PENDING 2u     /* change it only while it is pending */

typedef struct sceplab_store_ops {
  const char *name;
  void (*close)(sceplab_store *s);
  /* A write transaction. Writers that could meet take turns across every process sharing the
   * store: SQLite lets one writer in at a time (at begin); a server database locks, inside the
   * transaction and until it ends, what a call reads in order to change it: request_find's
   * transaction ID and row, request_get's row, the CRL at crl_number_next. */
  int (*begin)(sceplab_store *s, sceplab_error *err);
  int (*commit)(sceplab_store *s, sceplab_error *err);
  void (*rollback)(sceplab_store *s);

  /* Requests. find: the request id names (a resend of it: the same transaction ID, message type,
   * CSR and signer; rows from before requests had an identity match any type and signer), its
   * certificate when issued. poll: the latest request of transaction_id whose CSR's key or
   * signer is key_id, its certificate when issued. get: by row, pending ones only when
   * pending_only. pending: the rows of the pending requests carrying transaction_id (at most
   * max, *n all of them). */
  int (*request_find)(sceplab_store *s, const sceplab_req_id *id, store_request *out, sceplab_error *err);
  int (*request_poll)(sceplab_store *s, const char *transaction_id, const char *key_id, store_request *out,
                      sceplab_error *err);
  int (*request_get)(sceplab_store *s, int64_t row, int pending_only, store_request *out, sceplab_error *err);
  int (*request_pending)(sceplab_store *s, const char *transaction_id, int64_t *rows, size_t max, size_t *n,
                         sceplab_error *err);
  /* A new request (r's identity, state, subject, CSR, serial and why): its row in *row. The
   * pending requests of the same transaction ID and key it supersedes are rejected. */
  int (*request_insert)(sceplab_store *s, const store_request *r, int64_t now, int64_t *row, sceplab_error *err);
  /* A request's state, serial and why: STORE_FOUND when changed, STORE_NOT_FOUND when the row or
   * its condition (STORE_UNLESS_ISSUED, STORE_IF_PENDING) did not hold. */
  int (*request_update)(sceplab_store *s, int64_t row, sceplab_req_state state, const char *serial, const char *why,
                        int64_t now, unsigned cond, sceplab_error *err);
  /* Every request in order of arrival, with its certificate's expiry and revocation; each may stop
   * the walk by returning non-zero (then that is returned). */
  int (*request_list)(sceplab_store *s, int (*each)(void *ud, const store_request *r), void *ud, sceplab_error *err);

  /* Certificates by serial; revocations. find: its DER (when der) and whether it is revoked.
   * revoke: STORE_NOT_FOUND when no valid certificate has the serial. revocations: each revoked
   * certificate; STORE_ERROR when the walk failed part-way (a CRL is then not made). */
  int (*cert_insert)(sceplab_store *s, const store_cert *c, sceplab_error *err);
  int (*cert_find)(sceplab_store *s, const char *serial, unsigned char **der, size_t *len, int *revoked,
                   sceplab_error *err);
  int (*cert_revoke)(sceplab_store *s, const char *serial, int64_t when, int reason, sceplab_error *err);
  int (*revocations)(sceplab_store *s, int (*each)(void *ud, const char *serial, int64_t when, int reason), void *ud,
                     sceplab_error *err);
  int (*revoked_count)(sceplab_store *s, int64_t *n, sceplab_error *err);

  /* One-time challenges, by digest (never the password itself). use: STORE_FOUND when it was
   * valid and is now used, STORE_NOT_FOUND when unknown, used or expired; one statement, so two
   * requests racing with the same password cannot both use it. */
  int (*challenge_add)(sceplab_store *s, const char *digest, int64_t created, int64_t expires, sceplab_error *err);
  int (*challenge_use)(sceplab_store *s, const char *digest, int64_t now, sceplab_error *err);
  int (*challenge_outstanding)(sceplab_store *s, int64_t now, int64_t *n, sceplab_error *err);

  /* Intune tokens: a request ID gives one certificate. used: STORE_FOUND with its serial. */
  int (*token_used)(sceplab_store *s, const char *request_id, char **serial, sceplab_error *err);
  int (*token_use)(sceplab_store *s, const char *request_id, const char *transaction_id, const char *serial,
                   int64_t now, sceplab_error *err);

  /* The CRL. number_next (inside a transaction): the next CRL number, taken (the same number is
   * never given twice). put: it becomes the current CRL. get: the current one. */
  int (*crl_number_next)(sceplab_store *s, int64_t *n, sceplab_error *err);
  int (*crl_put)(sceplab_store *s, const store_crl *c, sceplab_error *err);
  int (*crl_get)(sceplab_store *s, store_crl *c, sceplab_error *err);

  /* A store shared by machines is one CA's: bind records value under key (the root's digest) when
   * nothing is recorded yet, and answers STORE_FOUND when the value recorded is value,
   * STORE_NOT_FOUND with *other (malloc'd) when it is another CA's. NULL for a store kept beside
   * the keys (SQLite's ca.db). */
  int (*bind)(sceplab_store *s, const char *key, const char *value, char **other, sceplab_error *err);

  /* Commits synced behind the caller's loop; NULL for a backend whose COMMIT returns once the
   * transaction is durable (a server database). behind: from now on COMMIT returns once the
   * transaction is written, and a thread syncs it, writing to notify_fd (an eventfd) after each
   * sync; durable: 1 when the first n commits (sceplab_store.commits) are on disk, 0 not yet, -1
   * when a sync failed (then none after it is taken as durable either); inline: what is left is
   * synced, the thread stops, and COMMIT syncs again. */
  int (*sync_behind)(sceplab_store *s, int notify_fd, sceplab_error *err);
  int (*durable)(sceplab_store *s, uint64_t n);
  void (*sync_inline)(sceplab_store *s);
} sceplab_store_ops;

/* Every backend's store starts with this. */
struct sceplab_store {
  const sceplab_store_ops *ops;
  unsigned commit_delay_ms;     /* test knob (sceplab_store_commit) */
  /* set by a call that failed because the database cannot be reached (a server database down,
   * restarting, refusing connections), cleared by the next call that reached it: serve then
   * answers 503 with Retry-After, as NDES does while its CA is down, instead of 500 */
  int unavailable;
  /* since open, for metrics: calls the database failed, and connections made again */
  uint64_t errors, reconnects;
  uint64_t commits;             /* write transactions committed since open (the backend counts) */
};

/* A backend's call the database failed, a connection made again: counted on the store (db_stats)
 * and for serve's /metrics (every worker's), in one place. */
void sceplab_store_failed(sceplab_store *s);
void sceplab_store_reconnected(sceplab_store *s);
/* A sync behind serve's loop that covered commits, in us microseconds (any thread). */
void sceplab_store_synced(uint64_t commits, uint64_t us);

/* The store of a CA's state directory (create: a new one): SQLite's ca.db in dir, or the server
 * database db names (a postgresql:// URL; NULL or "" for SQLite). The database is brought up to
 * the current schema version. NULL with err. */
sceplab_store *sceplab_store_open(const char *dir, const char *db, int create, sceplab_error *err);
void sceplab_store_close(sceplab_store *s);
/* Before a new CA is made in dir: 0 when the backend can be used (its library loads), with
 * *exists set when dir holds a store already; -1 with err. */
int sceplab_store_check(const char *dir, const char *db, int *exists, sceplab_error *err);
/* Whether db names a server database (postgresql:// or postgres://). */
int sceplab_store_is_server(const char *db);

/* begin, commit (after the test knob's delay), rollback. The knob: `serve --ca-latency MS` makes
 * each write transaction wait MS milliseconds after its writes, before COMMIT, so that a crash
 * test can kill the server inside that window; nothing else waits there. */
int sceplab_store_begin(sceplab_store *s, sceplab_error *err);
int sceplab_store_commit(sceplab_store *s, sceplab_error *err);
void sceplab_store_rollback(sceplab_store *s);

void store_request_free(store_request *r);

/* Backends */
sceplab_store *sceplab_store_sqlite_open(const char *dir, int create, sceplab_error *err);
int sceplab_store_sqlite_check(const char *dir, int *exists, sceplab_error *err);
sceplab_store *sceplab_store_pg_open(const char *url, int create, sceplab_error *err);
int sceplab_store_pg_check(const char *url, sceplab_error *err);

#endif
