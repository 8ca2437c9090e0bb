/* The SQLite database under the store (store_sqlite.c): the statements' helpers, and the schema
 * with its migrations: a schema version in meta, and numbered steps
 * that each run once, in order, under SQLite's write lock (BEGIN IMMEDIATE) with the version read
 * again once the lock is held, so two processes opening an old database at once run each step
 * once between them. The in-place conversions of earlier releases (hashed one-time passwords,
 * requests with an identity) are steps 2 and 3. The writers' queue and a commit's sync are here
 * too (sq_writer_lock, sq_wal_committed, and the sync behind serve's loop: sq_sync_behind). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ca/ca_int.h"
#include "ca/store_sqlite.h"

/* ---- writers and commits ------------------------------------------------------------------ */

/* Writers (serve's workers, ca commands) queue on a flock of the state directory before SQLite's
 * write lock: one that finds SQLite's lock taken would sleep in the busy handler by steps of 1, 2,
 * 5, 10 ms..., where a try every 0.2 ms takes the flock soon after the other commits. SQLite's lock
 * stays the guard; this only orders the waits (a lock a dead process held is released with it).
 * The wait is bounded as SQLite's is (five seconds): a writer stopped inside its transaction
 * (SIGSTOP, a debugger) makes the others fail as before, never hang; past the bound the writer goes
 * on to BEGIN IMMEDIATE and SQLite's own busy timeout decides. */
#define WRITER_WAIT_NS 5000000000LL
#define WRITER_TRY_NS 200000L

void sq_writer_lock(sq *s, int op)
{
  struct timespec step = {0, WRITER_TRY_NS};
  long long waited = 0;
  if(s->writer_fd < 0)
    return;
  if(op == LOCK_UN) {
    if(s->writer_locked) /* a commit's WAL hook lets it go before COMMIT returns */
      flock(s->writer_fd, LOCK_UN);
    s->writer_locked = 0;
    return;
  }
  while(flock(s->writer_fd, LOCK_EX | LOCK_NB) != 0) {
    if((errno != EWOULDBLOCK && errno != EINTR) || waited >= WRITER_WAIT_NS)
      return;
    nanosleep(&step, NULL);
    waited += WRITER_TRY_NS;
  }
  s->writer_locked = 1;
}

/* A commit reaches the disk outside the writers' queue. The connection runs synchronous=NORMAL, so
 * COMMIT appends to the WAL without syncing it; SQLite then calls this (its WAL hook) with its write
 * lock released, and the flock is let go before the WAL is synced: the next writer appends its
 * transaction while this one's sync runs, and one flush of the file system's journal often covers
 * both. COMMIT returns after the sync, so a reply still follows a commit that is on disk, as with
 * synchronous=FULL (the WAL is appended to in order: a sync covers every commit before it). The
 * hook takes the place of SQLite's automatic checkpoint, which runs here as SQLite runs it. Under
 * serve, a thread syncs instead and the answer waits for it (sq_sync_behind, below). */
#define SQ_CHECKPOINT_PAGES 1000

int sq_wal_sync(sqlite3 *db, const char *name)
{
  sqlite3_file *wal = NULL;
  return sqlite3_file_control(db, name, SQLITE_FCNTL_JOURNAL_POINTER, &wal) == SQLITE_OK && wal && wal->pMethods &&
         wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) == SQLITE_OK ? 0 : -1;
}

/* Commits synced behind serve's loop (store.h's sync_behind). Synced in the WAL hook, each commit
 * stopped the loop for a flush of the disk (fdatasync, 0.3-3 ms here and far more on a busy
 * disk) while requests waited to be read: one SQLite worker kept 0.7 of a core busy. Now COMMIT
 * returns once the transaction is in the WAL, a thread syncs it, and the loop goes on parsing and
 * signing; the answer of a request that committed waits until a sync covers its commit (the loop
 * asks sq_durable), so no answer leaves before what it says is on disk. Commits made while a sync
 * runs share the next one: a group commit. The thread syncs the WAL through a descriptor of its own
 * (Linux syncs the file whichever descriptor wrote it); the WAL carries no lock of SQLite's, so
 * opening and closing it cannot drop one (POSIX drops a process's fcntl locks on a file with any
 * of its descriptors closed). A failed sync is not retried: the kernel may have dropped the pages
 * it could not write, so a later sync proves nothing about them (PostgreSQL stops for the same
 * reason); every commit from then on reports -1 and its answer is an error. */
typedef struct sq_behind {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t committed, synced; /* commits written; synced up to */
  int failed, stop, notify_fd, wal_fd;
  dev_t dev;
  ino_t ino;
  char *wal, *dir;
} sq_behind;

static void behind_committed(sq_behind *b, uint64_t n)
{
  pthread_mutex_lock(&b->mu);
  b->committed = n;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

/* The WAL synced through the thread's descriptor, opened again when SQLite made a new file (its
 * directory entry synced then too, as SQLite syncs a new journal's directory): 0, or -1. */
static int behind_sync(sq_behind *b)
{
  struct stat st;
  if(stat(b->wal, &st) != 0)
    return errno == ENOENT ? 0 : -1; /* no WAL: the last connection checkpointed it into ca.db and synced */
  if(b->wal_fd >= 0 && (st.st_dev != b->dev || st.st_ino != b->ino)) {
    close(b->wal_fd);
    b->wal_fd = -1;
  }
  if(b->wal_fd < 0) {
    int dfd;
    if((b->wal_fd = open(b->wal, O_RDONLY | O_CLOEXEC)) < 0)
      return -1;
    b->dev = st.st_dev;
    b->ino = st.st_ino;
    if((dfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
      return -1;
    if(fsync(dfd) != 0) {
      close(dfd);
      return -1;
    }
    close(dfd);
  }
  return fdatasync(b->wal_fd) == 0 ? 0 : -1;
}

static void *behind_run(void *arg)
{
  sq_behind *b = arg;
  uint64_t one = 1;
  pthread_mutex_lock(&b->mu);
  for(;;) {
    uint64_t target;
    struct timespec t0, t1;
    int ok;
    while(!b->stop && (b->failed || b->synced >= b->committed))
      pthread_cond_wait(&b->cv, &b->mu);
    if(b->failed || b->synced >= b->committed)
      break; /* stopping, with nothing left to sync */
    target = b->committed;
    pthread_mutex_unlock(&b->mu);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ok = behind_sync(b) == 0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_mutex_lock(&b->mu);
    if(ok) {
      /* for /metrics: how often, how many commits each, how long the disk took */
      sceplab_store_synced(target - b->synced,
                           (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000));
      b->synced = target;
    }
    else
      b->failed = 1;
    if(b->notify_fd >= 0 && write(b->notify_fd, &one, sizeof(one)) < 0) {
      /* an eventfd does not refuse a write; the loop asks sq_durable whenever it is woken */
    }
  }
  pthread_mutex_unlock(&b->mu);
  return NULL;
}

int sq_sync_behind(sceplab_store *st, int notify_fd, sceplab_error *err)
{
  sq *s = (sq *)st;
  sq_behind *b;
  if(s->behind)
    return 0;
  if(!(b = calloc(1, sizeof(*b))) || !(b->wal = ca_path(s->dir, "ca", ".db-wal")) || !(b->dir = strdup(s->dir))) {
    if(b)
      free(b->wal);
    free(b);
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  }
  b->notify_fd = notify_fd;
  b->wal_fd = -1;
  b->committed = b->synced = s->base.commits; /* each synced in its hook */
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
  if(pthread_create(&b->thread, NULL, behind_run, b) != 0) {
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b->wal);
    free(b->dir);
    free(b);
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "cannot start the thread that syncs ca.db's commits"), -1;
  }
  s->behind = b;
  return 0;
}

int sq_durable(sceplab_store *st, uint64_t n)
{
  sq_behind *b = ((sq *)st)->behind;
  int rc;
  if(!b)
    return 1; /* each commit synced before COMMIT returned */
  pthread_mutex_lock(&b->mu);
  rc = b->failed ? -1 : b->synced >= n;
  pthread_mutex_unlock(&b->mu);
  return rc;
}

void sq_sync_inline(sceplab_store *st)
{
  sq *s = (sq *)st;
  sq_behind *b = s->behind;
  if(!b)
    return;
  pthread_mutex_lock(&b->mu);
  b->stop = 1;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
  pthread_join(b->thread, NULL); /* it syncs what was committed before it stops */
  s->behind = NULL;
  if(b->wal_fd >= 0)
    close(b->wal_fd);
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->mu);
  free(b->wal);
  free(b->dir);
  free(b);
}

int sq_wal_committed(void *ud, sqlite3 *db, const char *name, int pages)
{
  sq *s = ud;
  sq_writer_lock(s, LOCK_UN);
  s->base.commits++;
  if(s->behind)
    behind_committed(s->behind, s->base.commits);
  else if(sq_wal_sync(db, name) != 0)
    return SQLITE_IOERR_FSYNC; /* committed, not known to be on disk: the caller answers an error */
  if(pages >= SQ_CHECKPOINT_PAGES)
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  return SQLITE_OK;
}

/* ---- statements ----------------------------------------------------------------------------- */

/* STORE_ERROR, with err naming the database, what was being done and SQLite's message. */
int sq_fail(sq *s, sceplab_error *err, const char *what)
{
  sceplab_err_set(err, SCEPLAB_E_FAILED, "%s/ca.db: %s: %s", s->dir, what, sqlite3_errmsg(s->db));
  sceplab_store_failed(&s->base);
  return STORE_ERROR;
}

int sq_exec_simple(sq *s, const char *sql)
{
  return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

sqlite3_stmt *sq_prepare(sq *s, const char *sql)
{
  sqlite3_stmt *st = NULL;
  size_t i;
  for(i = 0; i < SQ_CACHE; i++)
    if(s->idle[i] && !strcmp(sqlite3_sql(s->idle[i]), sql)) {
      st = s->idle[i];
      s->idle[i] = NULL; /* in use: never handed out twice */
      return st;
    }
  if(sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    return NULL;
  }
  return st;
}

void sq_release(sq *s, sqlite3_stmt *st)
{
  size_t i;
  if(!st)
    return;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  for(i = 0; i < SQ_CACHE; i++)
    if(!s->idle[i]) {
      s->idle[i] = st;
      return;
    }
  sqlite3_finalize(st);
}

void sq_release_all(sq *s)
{
  size_t i;
  for(i = 0; i < SQ_CACHE; i++) {
    sqlite3_finalize(s->idle[i]);
    s->idle[i] = NULL;
  }
}

int sq_first_row(sq *s, sqlite3_stmt *st, sceplab_error *err, const char *what)
{
  int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
  if(rc == SQLITE_ROW)
    return STORE_FOUND;
  if(rc == SQLITE_DONE)
    return STORE_NOT_FOUND;
  return sq_fail(s, err, what);
}

unsigned char *sq_blob_copy(sqlite3_stmt *st, int col, size_t *len)
{
  const void *b = sqlite3_column_blob(st, col);
  int n = sqlite3_column_bytes(st, col);
  unsigned char *out = b && n > 0 ? malloc((size_t)n) : NULL;
  if(out) {
    memcpy(out, b, (size_t)n);
    *len = (size_t)n;
  }
  return out;
}

char *sq_text_copy(sqlite3_stmt *st, int col)
{
  const unsigned char *t = sqlite3_column_text(st, col);
  return t ? strdup((const char *)t) : NULL;
}

/* ---- migrations --------------------------------------------------------------------------- */

/* The schema version in meta: 0 for a database from before it was kept (or a new one). */
static int schema_version(sq *s, int *version, sceplab_error *err)
{
  sqlite3_stmt *st = sq_prepare(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
  int rc = sq_first_row(s, st, err, "reading the schema version");
  *version = 0;
  if(rc == STORE_FOUND && sqlite3_column_int(st, 0) > 0) {
    sq_release(s, st);
    st = sq_prepare(s, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'");
    rc = sq_first_row(s, st, err, "reading the schema version");
    if(rc == STORE_FOUND)
      *version = sqlite3_column_int(st, 0);
  }
  sq_release(s, st);
  return rc == STORE_ERROR ? -1 : 0;
}

/* 1: the tables (a database from before the version was kept has some of them already). */
static int m1_tables(sq *s, int *checkpoint, sceplab_error *err)
{
  static const char tables[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS requests(" REQUESTS_COLUMNS ");"
    "CREATE TABLE IF NOT EXISTS certificates(serial TEXT PRIMARY KEY, subject TEXT NOT NULL, not_before INTEGER,"
    " not_after INTEGER, der BLOB NOT NULL, transaction_id TEXT, revoked_at INTEGER, reason INTEGER);"
    "CREATE TABLE IF NOT EXISTS challenges(value TEXT PRIMARY KEY, created INTEGER NOT NULL, expires INTEGER NOT NULL,"
    " used INTEGER);"
    /* the current CRL (one row): GetCRL answers it until a revocation, a new issuing CA or half
     * its validity calls for a new one */
    "CREATE TABLE IF NOT EXISTS crl(id INTEGER PRIMARY KEY CHECK(id = 1), number INTEGER NOT NULL, der BLOB NOT NULL,"
    " this_update INTEGER NOT NULL, next_update INTEGER NOT NULL, revoked INTEGER NOT NULL, issuer TEXT NOT NULL);";
  (void)checkpoint;
  return sq_exec_simple(s, tables) == 0 ? 0 : sq_fail(s, err, "creating the tables");
}

/* 2: one-time passwords from before they were hashed: each kept in clear is replaced by its
 * digest; the WAL is then checkpointed and truncated so no clear copy stays there either (and
 * secure_delete zeroes the old cells). */
static int m2_hash_challenges(sq *s, int *checkpoint, sceplab_error *err)
{
  sqlite3_stmt *st = sq_prepare(s, "SELECT value FROM challenges WHERE value NOT LIKE '" CA_CHALLENGE_PREFIX "%'");
  sqlite3_stmt *up = sq_prepare(s, "UPDATE challenges SET value = ?1 WHERE value = ?2");
  int rc = -1, step;
  char **clear = NULL;
  size_t n = 0, cap = 0, i;
  if(!st || !up)
    goto out;
  /* read first, then write: a table is not changed under a statement reading it */
  while((step = sqlite3_step(st)) == SQLITE_ROW) {
    if(n == cap) {
      char **more = realloc(clear, (cap = cap ? 2 * cap : 16) * sizeof(*clear));
      if(!more)
        goto out;
      clear = more;
    }
    if(!(clear[n] = sq_text_copy(st, 0)))
      goto out;
    n++;
  }
  if(step != SQLITE_DONE)
    goto out;
  for(i = 0; i < n; i++) {
    char digest[CA_CHALLENGE_DIGEST_LEN];
    ca_challenge_digest(clear[i], digest);
    sqlite3_bind_text(up, 1, digest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(up, 2, clear[i], -1, SQLITE_TRANSIENT);
    if(sqlite3_step(up) != SQLITE_DONE)
      goto out;
    sqlite3_reset(up);
  }
  *checkpoint = n > 0;
  rc = 0;
out:
  if(rc != 0)
    sq_fail(s, err, "hashing one-time passwords");
  for(i = 0; i < n; i++) {
    OPENSSL_cleanse(clear[i], strlen(clear[i]));
    free(clear[i]);
  }
  free(clear);
  sq_release(s, st);
  sq_release(s, up);
  return rc;
}

/* 3: requests with an identity of their own. A table from before (the transaction ID was its key)
 * is rebuilt with its rows kept and their CSRs' digests filled in; then the index and the table of
 * used Intune tokens. */
static int m3_request_identity(sq *s, int *checkpoint, sceplab_error *err)
{
  sqlite3_stmt *st = sq_prepare(s, "SELECT count(*) FROM pragma_table_info('requests') WHERE name = 'csr_id'"), *up = NULL;
  int rc = -1, present = -1, step;
  (void)checkpoint;
  if(sq_first_row(s, st, err, "reading the schema") == STORE_FOUND)
    present = sqlite3_column_int(st, 0);
  sq_release(s, st);
  st = NULL;
  if(present < 0)
    return -1;
  if(!present) {
    if(sq_exec_simple(s, "CREATE TABLE requests_new(" REQUESTS_COLUMNS ");"
                      "INSERT INTO requests_new(transaction_id, state, subject, csr, serial, why, created, updated)"
                      " SELECT transaction_id, state, subject, csr, serial, why, created, updated FROM requests"
                      " ORDER BY created, rowid;"
                      "DROP TABLE requests; ALTER TABLE requests_new RENAME TO requests;") != 0 ||
       !(st = sq_prepare(s, "SELECT id, csr FROM requests WHERE csr IS NOT NULL")) ||
       !(up = sq_prepare(s, "UPDATE requests SET key_id = ?2, csr_id = ?3 WHERE id = ?1")))
      goto out;
    while((step = sqlite3_step(st)) == SQLITE_ROW) {
      size_t n = 0;
      unsigned char *csr = sq_blob_copy(st, 1, &n);
      char key[65], cid[65];
      /* a CSR that does not parse keeps no identity: it matches no resend */
      if(csr && ca_csr_ids(csr, n, key, cid) == 0) {
        sqlite3_bind_int64(up, 1, sqlite3_column_int64(st, 0));
        sqlite3_bind_text(up, 2, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(up, 3, cid, -1, SQLITE_TRANSIENT);
        if(sqlite3_step(up) != SQLITE_DONE) {
          free(csr);
          goto out;
        }
        sqlite3_reset(up);
      }
      free(csr);
    }
    if(step != SQLITE_DONE)
      goto out;
  }
  rc = sq_exec_simple(s, "CREATE INDEX IF NOT EXISTS requests_transaction ON requests(transaction_id);"
                      "CREATE TABLE IF NOT EXISTS used_tokens(request_id TEXT PRIMARY KEY, transaction_id TEXT NOT NULL,"
                      " serial TEXT NOT NULL, used INTEGER NOT NULL);");
out:
  if(rc != 0)
    sq_fail(s, err, "migrating the requests");
  sq_release(s, st);
  sq_release(s, up);
  return rc;
}

/* The migrations in order; a database at version N runs those above N, each once. */
static const struct {
  int version;
  int (*run)(sq *s, int *checkpoint, sceplab_error *err);
} migrations[] = {
  {1, m1_tables},
  {2, m2_hash_challenges},
  {3, m3_request_identity},
};
#define SCHEMA_VERSION 3

/* Each migration in its own write transaction, the version checked again once the lock is held:
 * two processes opening an old database at once run each step once between them. */
int sq_migrate(sq *s, sceplab_error *err)
{
  int version, i;
  if(schema_version(s, &version, err) != 0)
    return -1;
  if(version > SCHEMA_VERSION)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s/ca.db: schema version %d, newer than this sceplab knows (%d): "
                           "use a newer sceplab", s->dir, version, SCHEMA_VERSION), -1;
  for(i = 0; i < (int)(sizeof(migrations) / sizeof(migrations[0])); i++) {
    int checkpoint = 0, now;
    char sql[96];
    if(migrations[i].version <= version)
      continue;
    if(sq_exec_simple(s, "BEGIN IMMEDIATE") != 0)
      return sq_fail(s, err, "migrating the schema");
    if(schema_version(s, &now, err) != 0)
      goto fail;
    if(now < migrations[i].version) {
      if(migrations[i].run(s, &checkpoint, err) != 0)
        goto fail;
      snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', '%d')",
               migrations[i].version);
      if(sq_exec_simple(s, sql) != 0) {
        sq_fail(s, err, "migrating the schema");
        goto fail;
      }
    }
    if(sq_exec_simple(s, "COMMIT") != 0) {
      sq_fail(s, err, "migrating the schema");
      goto fail;
    }
    if(checkpoint)
      sq_exec_simple(s, "PRAGMA wal_checkpoint(TRUNCATE)");
    version = migrations[i].version;
  }
  return 0;
fail:
  sq_exec_simple(s, "ROLLBACK");
  return -1;
}

