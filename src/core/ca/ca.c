/* The embedded CA of `sceplab serve`: keys and certificates as PEM files in a state directory,
 * requests, certificates, revocations and one-time challenges in ca.db (SQLite, WAL). See ca.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "internal.h"
#include "optlib.h"
#include "sceplab/ca.h"
#include "sceplab/scep.h"

struct sceplab_ca {
  char *dir;
  sqlite3 *db;
  X509 *cert[SCEPLAB_CA_TIERS];
  EVP_PKEY *key[SCEPLAB_CA_TIERS];
  X509 *next;                   /* the rollover issuing CA (next-ca.pem), or NULL */
  EVP_PKEY *next_key;
};

static const char *const tier_file[SCEPLAB_CA_TIERS] = {"root", "ca", "ra-sign", "ra-encrypt", "intune-sign"};

/* One row per request: a transaction ID may carry several (one key's renewal, a new subject, a
 * corrected challenge), told apart by what sceplab_req_id holds. */
#define REQUESTS_COLUMNS                                                                                   \
  "id INTEGER PRIMARY KEY, transaction_id TEXT NOT NULL, message_type TEXT, key_id TEXT, csr_id TEXT,"    \
  " signer_id TEXT, state TEXT NOT NULL, subject TEXT, csr BLOB, serial TEXT, why TEXT,"                  \
  " created INTEGER NOT NULL, updated INTEGER NOT NULL"

static const char schema[] =
  "PRAGMA journal_mode=WAL;"
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

#define CHALLENGE_PREFIX "sha256:"

static int exec_simple(sceplab_ca *ca, const char *sql);

/* -1, with err naming the database, what was being done and SQLite's message. */
static int db_fail(sceplab_ca *ca, sceplab_error *err, const char *what)
{
  sceplab_err_set(err, SCEPLAB_E_FAILED, "%s/ca.db: %s: %s", ca->dir, what, sqlite3_errmsg(ca->db));
  return -1;
}

static char *path_of(const char *dir, const char *name, const char *ext)
{
  size_t n = strlen(dir) + strlen(name) + strlen(ext) + 3;
  char *p = malloc(n);
  if(p)
    snprintf(p, n, "%s/%s%s", dir, name, ext);
  return p;
}

/* Writes a new file (never over an existing one) with mode. */
static int write_new(const char *path, const char *data, size_t n, mode_t mode, sceplab_error *err)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  size_t off = 0;
  if(fd < 0) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno));
    return -1;
  }
  while(off < n) {
    ssize_t w = write(fd, data + off, n - off);
    if(w < 0 && errno == EINTR)
      continue;
    if(w <= 0) {
      int e = errno;
      close(fd);
      sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(e));
      return -1;
    }
    off += (size_t)w;
  }
  if(fsync(fd) != 0 || close(fd) != 0) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

static void random_serial(ASN1_INTEGER *serial)
{
  unsigned char b[16];
  BIGNUM *bn;
  RAND_bytes(b, sizeof(b));
  b[0] &= 0x7f; /* positive */
  b[0] |= 0x01; /* and 16 bytes long: never zero, never shorter */
  bn = BN_bin2bn(b, sizeof(b), NULL);
  BN_to_ASN1_INTEGER(bn, serial);
  BN_free(bn);
}

char *sceplab_serial_hex(const ASN1_INTEGER *s)
{
  BIGNUM *bn = ASN1_INTEGER_to_BN(s, NULL);
  char *h = bn ? BN_bn2hex(bn) : NULL, *out = h ? strdup(h) : NULL;
  OPENSSL_free(h);
  BN_free(bn);
  return out;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX ctx;
  X509_EXTENSION *e;
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
  e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if(!e)
    return -1;
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
  return 0;
}

/* The Microsoft certificate template name extension (1.3.6.1.4.1.311.20.2), a BMPString. */
static int add_template_name(X509 *x, const char *name)
{
  ASN1_BMPSTRING *bmp = ASN1_BMPSTRING_new();
  ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.311.20.2", 1);
  unsigned char *der = NULL, *u = NULL;
  int len, ulen = 0, ok = -1;
  ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
  X509_EXTENSION *e = NULL;
  if(bmp && oid && os && OPENSSL_utf82uni(name, (int)strlen(name), &u, &ulen) &&
     ASN1_STRING_set(bmp, u, ulen - 2) && (len = i2d_ASN1_BMPSTRING(bmp, &der)) > 0 &&
     ASN1_OCTET_STRING_set(os, der, len) && (e = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os)) != NULL)
    ok = X509_add_ext(x, e, -1) ? 0 : -1;
  OPENSSL_free(der);
  OPENSSL_free(u);
  X509_EXTENSION_free(e);
  ASN1_OCTET_STRING_free(os);
  ASN1_OBJECT_free(oid);
  ASN1_BMPSTRING_free(bmp);
  return ok;
}

/* A certificate for key under subject, signed by issuer (NULL: self-signed with key), with SANs
 * when san is given (OpenSSL's "DNS:x,IP:y" form), valid from `from` (0: five minutes ago) for days. */
static X509 *make_cert_san(const X509_NAME *subject, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int days,
                           const char *basic, const char *usage, const char *eku, const char *template_name,
                           const char *san, time_t from)
{
  X509 *x = X509_new();
  int ok = x != NULL;
  ok = ok && X509_set_version(x, 2) && X509_set_subject_name(x, subject) &&
       X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) && X509_set_pubkey(x, key);
  if(ok) {
    random_serial(X509_get_serialNumber(x));
    /* five minutes back: a device whose clock is a little behind still accepts it */
    time_t t = from ? from : time(NULL) - 300;
    ok = X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &t) &&
         X509_time_adj_ex(X509_getm_notAfter(x), days, from ? 0 : 300, &t);
  }
  ok = ok && add_ext(x, issuer, NID_basic_constraints, basic) == 0 && add_ext(x, issuer, NID_key_usage, usage) == 0 &&
       add_ext(x, issuer, NID_subject_key_identifier, "hash") == 0;
  if(ok && issuer)
    ok = add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") == 0;
  if(ok && eku)
    ok = add_ext(x, issuer, NID_ext_key_usage, eku) == 0;
  if(ok && template_name)
    ok = add_template_name(x, template_name) == 0;
  if(ok && san)
    ok = add_ext(x, issuer, NID_subject_alt_name, san) == 0;
  ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
  if(!ok) {
    X509_free(x);
    return NULL;
  }
  return x;
}

static X509 *make_cert(const X509_NAME *subject, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int days,
                       const char *basic, const char *usage, const char *eku, const char *template_name)
{
  return make_cert_san(subject, key, issuer, issuer_key, days, basic, usage, eku, template_name, NULL, 0);
}

static int save_pair(const char *dir, const char *name, X509 *x, EVP_PKEY *k, sceplab_error *err)
{
  char *cp = path_of(dir, name, ".pem"), *kp = path_of(dir, name, ".key");
  char *pem = sceplab_cert_pem(x);
  size_t klen = 0;
  char *kpem = sceplab_key_pem(k, 0, &klen);
  int rc = -1;
  if(cp && kp && pem && kpem && write_new(kp, kpem, klen, 0600, err) == 0 && write_new(cp, pem, strlen(pem), 0644, err) == 0)
    rc = 0;
  else if(!err->msg[0])
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
  if(kpem)
    OPENSSL_cleanse(kpem, klen);
  free(kpem);
  free(pem);
  free(cp);
  free(kp);
  return rc;
}

static int migrate_requests(sceplab_ca *ca, sceplab_error *err);

/* Takes from path's mode whatever keep does not allow (an owned file or directory; a missing
 * one is fine): the state directory and ca.db hold keys and unused passwords. */
static int narrow_mode(const char *path, mode_t keep, sceplab_error *err)
{
  struct stat st;
  if(lstat(path, &st) != 0 || S_ISLNK(st.st_mode) || st.st_uid != geteuid() || !(st.st_mode & 07777 & ~keep))
    return 0;
  if(chmod(path, st.st_mode & keep) != 0)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno)), -1;
  return 0;
}

/* ca.db and the -wal and -shm files SQLite makes beside it with ca.db's mode: 0600, whatever
 * the umask, and narrowed in a directory made before. */
static int db_modes(const char *dir, sceplab_error *err)
{
  static const char *const ext[] = {".db", ".db-wal", ".db-shm"};
  size_t i;
  int rc = 0;
  for(i = 0; i < 3 && rc == 0; i++) {
    char *p = path_of(dir, "ca", ext[i]);
    rc = p ? narrow_mode(p, 0600, err) : (sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1);
    free(p);
  }
  return rc;
}

/* "sha256:" and the hex SHA-256 of a one-time password, as ca.db keeps it. */
static void challenge_digest(const char *pw, char out[72])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0, i;
  EVP_Digest(pw, strlen(pw), md, &len, EVP_sha256(), NULL);
  snprintf(out, 72, CHALLENGE_PREFIX);
  for(i = 0; i < len && i < 32; i++)
    snprintf(out + strlen(CHALLENGE_PREFIX) + 2 * i, 3, "%02x", md[i]);
  OPENSSL_cleanse(md, sizeof(md));
}

/* A database from before one-time passwords were hashed: each kept in clear is replaced by its
 * digest, then the WAL is checkpointed and truncated so no clear copy stays there either (and
 * secure_delete zeroes the old cells). Does nothing, and writes nothing, when none is left. */
static int hash_old_challenges(sceplab_ca *ca, sceplab_error *err)
{
  static const char find[] = "SELECT value FROM challenges WHERE value NOT LIKE '" CHALLENGE_PREFIX "%' LIMIT 1";
  sqlite3_stmt *st = NULL, *up = NULL;
  int rc = -1, more;
  if(sqlite3_prepare_v2(ca->db, find, -1, &st, NULL) != SQLITE_OK)
    return db_fail(ca, err, "reading one-time passwords");
  more = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  st = NULL;
  if(!more)
    return 0;
  if(exec_simple(ca, "BEGIN IMMEDIATE") != 0)
    return db_fail(ca, err, "hashing one-time passwords");
  if(sqlite3_prepare_v2(ca->db, find, -1, &st, NULL) != SQLITE_OK ||
     sqlite3_prepare_v2(ca->db, "UPDATE challenges SET value = ?1 WHERE value = ?2", -1, &up, NULL) != SQLITE_OK)
    goto out;
  while(sqlite3_step(st) == SQLITE_ROW) {
    char digest[72];
    const char *v = (const char *)sqlite3_column_text(st, 0);
    challenge_digest(v ? v : "", digest);
    sqlite3_bind_text(up, 1, digest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(up, 2, v ? v : "", -1, SQLITE_TRANSIENT);
    if(sqlite3_step(up) != SQLITE_DONE)
      goto out;
    sqlite3_reset(up);
    sqlite3_reset(st);
  }
  if(exec_simple(ca, "COMMIT") != 0)
    goto out;
  rc = 0;
  exec_simple(ca, "PRAGMA wal_checkpoint(TRUNCATE)");
out:
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  if(rc != 0) {
    db_fail(ca, err, "hashing one-time passwords");
    exec_simple(ca, "ROLLBACK");
  }
  return rc;
}

static int open_db(sceplab_ca *ca, int create, sceplab_error *err)
{
  char *p = path_of(ca->dir, "ca", ".db");
  int rc;
  if(!p) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return -1;
  }
  if(sceplab_optlib_need(SCEPLAB_LIB_SQLITE, err) != 0) {
    free(p);
    return -1;
  }
  if(create) {
    /* SQLite would make it 0644 (umask permitting): made here first, 0600, and the -wal and
     * -shm files SQLite adds later take its mode */
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if(fd < 0 || fchmod(fd, 0600) != 0) {
      sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", p, strerror(errno));
      if(fd >= 0)
        close(fd);
      free(p);
      return -1;
    }
    close(fd);
  }
  if(db_modes(ca->dir, err) != 0) {
    free(p);
    return -1;
  }
  rc = sqlite3_open_v2(p, &ca->db, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX,
                       NULL);
  if(rc != SQLITE_OK) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", p, ca->db ? sqlite3_errmsg(ca->db) : "cannot open");
    free(p);
    if(ca->db)
      sqlite3_close(ca->db);
    ca->db = NULL;
    return -1;
  }
  free(p);
  sqlite3_busy_timeout(ca->db, 5000);
  if(sqlite3_exec(ca->db, schema, NULL, NULL, NULL) != SQLITE_OK)
    return db_fail(ca, err, "schema");
  /* a deleted or replaced password leaves no copy in the database's free pages */
  if(exec_simple(ca, "PRAGMA secure_delete=ON") != 0)
    return db_fail(ca, err, "schema");
  if(hash_old_challenges(ca, err) != 0)
    return -1;
  return migrate_requests(ca, err);
}

int sceplab_ca_init(const char *dir, const sceplab_ca_params *p, sceplab_error *err)
{
  static const sceplab_ca_params defaults = {"rsa:2048", NULL, NULL, NULL, 0, 0, 1};
  sceplab_ca ca;
  X509_NAME *rootn = NULL, *issn = NULL, *ran = NULL;
  int rc = -1, i;
  char *dbp;
  struct stat st;
  sceplab_error local;
  if(!err)
    err = &local;
  sceplab_err_clear(err);
  if(!p)
    p = &defaults;
  memset(&ca, 0, sizeof(ca));
  /* SQLite first: a machine without it must not be left with keys and no database */
  if(sceplab_optlib_need(SCEPLAB_LIB_SQLITE, err) != 0)
    return -1;
  if(mkdir(dir, 0700) != 0 && errno != EEXIST) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", dir, strerror(errno));
    return -1;
  }
  /* an existing directory (made by hand, or by a tool with a wide umask) is made private too */
  if(narrow_mode(dir, 0700, err) != 0)
    return -1;
  dbp = path_of(dir, "ca", ".db");
  if(!dbp) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return -1;
  }
  if(stat(dbp, &st) == 0 || (free(dbp), dbp = path_of(dir, "root", ".key"), dbp && stat(dbp, &st) == 0)) {
    free(dbp);
    sceplab_err_set(err, SCEPLAB_E_USAGE, "%s already holds a CA: choose another directory", dir);
    return -1;
  }
  free(dbp);
  ca.dir = (char *)dir;
  for(i = 0; i < SCEPLAB_CA_TIERS; i++) {
    /* the RA's keys stay RSA whatever the CA's: SCEP clients encrypt to the RA with RSA key
     * transport, and NDES's RA certificates are RSA */
    const char *spec = p->key ? p->key : "rsa:2048";
    if((i == SCEPLAB_CA_RA_SIGN || i == SCEPLAB_CA_RA_ENCRYPT || i == SCEPLAB_CA_INTUNE_SIGN) &&
       strncmp(spec, "rsa:", 4) != 0)
      spec = "rsa:2048";
    if(!(ca.key[i] = sceplab_key_generate(spec, err)))
      goto out;
  }
  rootn = X509_NAME_new();
  issn = X509_NAME_new();
  if(!rootn || !issn ||
     !X509_NAME_add_entry_by_txt(rootn, "CN", MBSTRING_UTF8, (const unsigned char *)(p->root_cn ? p->root_cn : "sceplab Root CA"), -1, -1, 0) ||
     !X509_NAME_add_entry_by_txt(issn, "CN", MBSTRING_UTF8, (const unsigned char *)(p->issuing_cn ? p->issuing_cn : "sceplab Issuing CA"), -1, -1, 0)) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    goto out;
  }
  if(!(ran = sceplab_dn_parse(p->ra_subject ? p->ra_subject : "CN=SCEPLAB-MSCEP-RA", err)))
    goto out;
  ca.cert[SCEPLAB_CA_ROOT] = make_cert(rootn, ca.key[SCEPLAB_CA_ROOT], NULL, NULL, p->root_days > 0 ? p->root_days : 3650,
                                       "critical,CA:TRUE", "critical,keyCertSign,cRLSign", NULL, NULL);
  if(p->two_tier)
    ca.cert[SCEPLAB_CA_ISSUING] = ca.cert[SCEPLAB_CA_ROOT] ?
      make_cert(issn, ca.key[SCEPLAB_CA_ISSUING], ca.cert[SCEPLAB_CA_ROOT], ca.key[SCEPLAB_CA_ROOT],
                p->issuing_days > 0 ? p->issuing_days : 1825, "critical,CA:TRUE,pathlen:0",
                "critical,keyCertSign,cRLSign", NULL, NULL) : NULL;
  else {
    /* one tier: the root issues; its key is written twice so the files stay the same shape */
    ca.cert[SCEPLAB_CA_ISSUING] = X509_dup(ca.cert[SCEPLAB_CA_ROOT]);
    EVP_PKEY_free(ca.key[SCEPLAB_CA_ISSUING]);
    ca.key[SCEPLAB_CA_ISSUING] = ca.key[SCEPLAB_CA_ROOT];
    EVP_PKEY_up_ref(ca.key[SCEPLAB_CA_ISSUING]);
  }
  /* NDES's two RA certificates, from the templates NDES enrolls for at install: the signing one
   * (Exchange Enrollment Agent (Offline request)) and the encryption one (CEP Encryption) */
  if(ca.cert[SCEPLAB_CA_ISSUING]) {
    ca.cert[SCEPLAB_CA_RA_SIGN] = make_cert(ran, ca.key[SCEPLAB_CA_RA_SIGN], ca.cert[SCEPLAB_CA_ISSUING],
      ca.key[SCEPLAB_CA_ISSUING], 730, "critical,CA:FALSE", "critical,digitalSignature",
      "1.3.6.1.4.1.311.20.2.1", "EnrollmentAgentOffline");
    ca.cert[SCEPLAB_CA_RA_ENCRYPT] = make_cert(ran, ca.key[SCEPLAB_CA_RA_ENCRYPT], ca.cert[SCEPLAB_CA_ISSUING],
      ca.key[SCEPLAB_CA_ISSUING], 730, "critical,CA:FALSE", "critical,keyEncipherment,dataEncipherment", NULL,
      "CEPEncryption");
  }
  {
    X509_NAME *in = sceplab_dn_parse("CN=sceplab Intune challenge signing", err);
    ca.cert[SCEPLAB_CA_INTUNE_SIGN] = in ? make_cert(in, ca.key[SCEPLAB_CA_INTUNE_SIGN], NULL, NULL, 730,
                                                     "critical,CA:FALSE", "critical,digitalSignature", NULL, NULL) : NULL;
    X509_NAME_free(in);
  }
  for(i = 0; i < SCEPLAB_CA_TIERS; i++)
    if(!ca.cert[i]) {
      sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the %s certificate", tier_file[i]);
      goto out;
    }
  for(i = 0; i < SCEPLAB_CA_TIERS; i++)
    if(save_pair(dir, tier_file[i], ca.cert[i], ca.key[i], err) != 0)
      goto out;
  if(open_db(&ca, 1, err) != 0)
    goto out;
  rc = 0;
out:
  if(ca.db)
    sqlite3_close(ca.db);
  for(i = 0; i < SCEPLAB_CA_TIERS; i++) {
    X509_free(ca.cert[i]);
    EVP_PKEY_free(ca.key[i]);
  }
  X509_NAME_free(rootn);
  X509_NAME_free(issn);
  X509_NAME_free(ran);
  ERR_clear_error();
  return rc;
}

static unsigned char *slurp(const char *path, size_t *n, sceplab_error *err)
{
  FILE *f = fopen(path, "rb");
  unsigned char *buf = NULL;
  long len;
  if(!f)
    return (void)sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno)), NULL;
  if(fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
     (buf = malloc((size_t)len + 1)) != NULL && fread(buf, 1, (size_t)len, f) == (size_t)len)
    *n = (size_t)len;
  else {
    free(buf);
    buf = NULL;
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: cannot read", path);
  }
  fclose(f);
  return buf;
}

/* Whether err already says something more precise than "not a CA directory" (a file that is there
 * but unreadable or damaged). */
static int missing_reported(const sceplab_error *err)
{
  return err->code != SCEPLAB_E_FAILED || !strstr(err->msg, strerror(ENOENT));
}

sceplab_ca *sceplab_ca_open(const char *dir, sceplab_error *err)
{
  sceplab_ca *ca = calloc(1, sizeof(*ca));
  sceplab_error local;
  int i;
  if(!err)
    err = &local;
  sceplab_err_clear(err);
  if(!ca || !(ca->dir = strdup(dir))) {
    free(ca);
    return (void)sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  }
  for(i = 0; i < SCEPLAB_CA_TIERS; i++) {
    char *cp = path_of(dir, tier_file[i], ".pem"), *kp = path_of(dir, tier_file[i], ".key");
    size_t n = 0;
    unsigned char *b = cp ? slurp(cp, &n, err) : NULL;
    if(b) {
      ca->cert[i] = sceplab_cert_load(b, n, err);
      free(b);
      b = kp ? slurp(kp, &n, err) : NULL;
      if(b) {
        ca->key[i] = sceplab_key_load(b, n, NULL, err);
        OPENSSL_cleanse(b, n);
        free(b);
      }
    }
    free(cp);
    free(kp);
    if(i == SCEPLAB_CA_INTUNE_SIGN && (!ca->cert[i] || !ca->key[i])) {
      /* optional: a state directory made before tokens existed */
      X509_free(ca->cert[i]);
      EVP_PKEY_free(ca->key[i]);
      ca->cert[i] = NULL;
      ca->key[i] = NULL;
      sceplab_err_clear(err);
      continue;
    }
    if(!ca->cert[i] || !ca->key[i]) {
      if(!missing_reported(err))
        sceplab_err_set(err, SCEPLAB_E_USAGE, "%s: not a sceplab CA directory (no %s.pem and %s.key: make one with `sceplab ca init`)",
                        dir, tier_file[i], tier_file[i]);
      sceplab_ca_close(ca);
      return NULL;
    }
  }
  {
    /* a rollover made ahead of the switch (sceplab ca rollover) */
    char *cp = path_of(dir, "next-ca", ".pem"), *kp = path_of(dir, "next-ca", ".key");
    size_t n = 0;
    sceplab_error ignore;
    unsigned char *b = cp ? slurp(cp, &n, &ignore) : NULL;
    if(b) {
      ca->next = sceplab_cert_load(b, n, &ignore);
      free(b);
      if((b = kp ? slurp(kp, &n, &ignore) : NULL) != NULL) {
        ca->next_key = sceplab_key_load(b, n, NULL, &ignore);
        OPENSSL_cleanse(b, n);
        free(b);
      }
    }
    free(cp);
    free(kp);
    ERR_clear_error();
  }
  if(narrow_mode(dir, 0700, err) != 0 || open_db(ca, 0, err) != 0) {
    sceplab_ca_close(ca);
    return NULL;
  }
  return ca;
}

void sceplab_ca_close(sceplab_ca *ca)
{
  int i;
  if(!ca)
    return;
  if(ca->db)
    sqlite3_close(ca->db);
  for(i = 0; i < SCEPLAB_CA_TIERS; i++) {
    X509_free(ca->cert[i]);
    EVP_PKEY_free(ca->key[i]);
  }
  X509_free(ca->next);
  EVP_PKEY_free(ca->next_key);
  free(ca->dir);
  free(ca);
}

X509 *sceplab_ca_next(const sceplab_ca *ca) { return ca->next_key ? ca->next : NULL; }

/* The key spec of an existing key, so the next CA is made like the current one. */
static void key_spec(EVP_PKEY *k, char *out, size_t n)
{
  char group[64] = "";
  size_t gl = 0;
  if(EVP_PKEY_get_base_id(k) == EVP_PKEY_EC && EVP_PKEY_get_group_name(k, group, sizeof(group), &gl))
    snprintf(out, n, "ec:%s", !strcmp(group, "secp384r1") ? "p384" : "p256");
  else
    snprintf(out, n, "rsa:%d", EVP_PKEY_get_bits(k));
}

int sceplab_ca_rollover(sceplab_ca *ca, int days, sceplab_error *err)
{
  X509 *root = ca->cert[SCEPLAB_CA_ROOT], *cur = ca->cert[SCEPLAB_CA_ISSUING];
  char spec[32];
  EVP_PKEY *k;
  X509 *x;
  int rc;
  if(ca->next) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "%s: a rollover CA is made already (next-ca.pem): activate it first", ca->dir);
    return -1;
  }
  if(X509_cmp(root, cur) == 0) {
    sceplab_err_set(err, SCEPLAB_E_USAGE,
                    "%s: a one-tier CA has no issuing CA to roll over (its root would change): make a new state directory",
                    ca->dir);
    return -1;
  }
  key_spec(ca->key[SCEPLAB_CA_ISSUING], spec, sizeof(spec));
  if(!(k = sceplab_key_generate(spec, err)))
    return -1;
  x = make_cert(X509_get_subject_name(cur), k, root, ca->key[SCEPLAB_CA_ROOT], days > 0 ? days : 1825,
                "critical,CA:TRUE,pathlen:0", "critical,keyCertSign,cRLSign", NULL, NULL);
  if(!x) {
    EVP_PKEY_free(k);
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the next CA certificate");
    return -1;
  }
  rc = save_pair(ca->dir, "next-ca", x, k, err);
  if(rc == 0) {
    ca->next = x;
    ca->next_key = k;
  }
  else {
    X509_free(x);
    EVP_PKEY_free(k);
  }
  return rc;
}

/* Moves NAME.pem/.key aside as NAME-previous-SERIAL.pem/.key (kept: certificates it issued stay
 * verifiable). */
static int retire(const char *dir, const char *name, X509 *x, sceplab_error *err)
{
  char *serial = sceplab_serial_hex(X509_get0_serialNumber(x)), old[96];
  int i, rc = 0;
  if(!serial)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  snprintf(old, sizeof(old), "%s-previous-%.40s", name, serial);
  free(serial);
  for(i = 0; i < 2 && rc == 0; i++) {
    char *from = path_of(dir, name, i ? ".key" : ".pem"), *to = path_of(dir, old, i ? ".key" : ".pem");
    if(!from || !to || rename(from, to) != 0) {
      sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", from ? from : dir, strerror(errno));
      rc = -1;
    }
    free(from);
    free(to);
  }
  return rc;
}

int sceplab_ca_rollover_activate(sceplab_ca *ca, sceplab_error *err)
{
  EVP_PKEY *rk[2] = {NULL, NULL};
  X509 *rc[2] = {NULL, NULL};
  X509_NAME *ran;
  char *from, *to;
  int i, ok = -1;
  if(!sceplab_ca_next(ca)) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "%s: no rollover CA to activate: make one with `sceplab ca rollover`", ca->dir);
    return -1;
  }
  /* NDES re-enrolls its RA pair under the new CA: new keys, same subject and templates */
  ran = X509_NAME_dup(X509_get_subject_name(ca->cert[SCEPLAB_CA_RA_SIGN]));
  for(i = 0; i < 2; i++)
    if(!ran || !(rk[i] = sceplab_key_generate("rsa:2048", err)))
      goto out;
  rc[0] = make_cert(ran, rk[0], ca->next, ca->next_key, 730, "critical,CA:FALSE", "critical,digitalSignature",
                    "1.3.6.1.4.1.311.20.2.1", "EnrollmentAgentOffline");
  rc[1] = make_cert(ran, rk[1], ca->next, ca->next_key, 730, "critical,CA:FALSE",
                    "critical,keyEncipherment,dataEncipherment", NULL, "CEPEncryption");
  if(!rc[0] || !rc[1]) {
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the new RA certificates");
    goto out;
  }
  if(retire(ca->dir, "ca", ca->cert[SCEPLAB_CA_ISSUING], err) != 0 ||
     retire(ca->dir, "ra-sign", ca->cert[SCEPLAB_CA_RA_SIGN], err) != 0 ||
     retire(ca->dir, "ra-encrypt", ca->cert[SCEPLAB_CA_RA_ENCRYPT], err) != 0)
    goto out;
  for(i = 0; i < 2; i++) {
    from = path_of(ca->dir, "next-ca", i ? ".key" : ".pem");
    to = path_of(ca->dir, "ca", i ? ".key" : ".pem");
    if(!from || !to || rename(from, to) != 0) {
      sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", from ? from : ca->dir, strerror(errno));
      free(from);
      free(to);
      goto out;
    }
    free(from);
    free(to);
  }
  if(save_pair(ca->dir, "ra-sign", rc[0], rk[0], err) != 0 || save_pair(ca->dir, "ra-encrypt", rc[1], rk[1], err) != 0)
    goto out;
  /* the open CA now is the new one */
  X509_free(ca->cert[SCEPLAB_CA_ISSUING]);
  EVP_PKEY_free(ca->key[SCEPLAB_CA_ISSUING]);
  ca->cert[SCEPLAB_CA_ISSUING] = ca->next;
  ca->key[SCEPLAB_CA_ISSUING] = ca->next_key;
  ca->next = NULL;
  ca->next_key = NULL;
  for(i = 0; i < 2; i++) {
    sceplab_ca_tier t = i ? SCEPLAB_CA_RA_ENCRYPT : SCEPLAB_CA_RA_SIGN;
    X509_free(ca->cert[t]);
    EVP_PKEY_free(ca->key[t]);
    ca->cert[t] = rc[i];
    ca->key[t] = rk[i];
    rc[i] = NULL;
    rk[i] = NULL;
  }
  ok = 0;
out:
  for(i = 0; i < 2; i++) {
    X509_free(rc[i]);
    EVP_PKEY_free(rk[i]);
  }
  X509_NAME_free(ran);
  ERR_clear_error();
  return ok;
}

const char *sceplab_ca_dir(const sceplab_ca *ca) { return ca->dir; }
X509 *sceplab_ca_cert(const sceplab_ca *ca, sceplab_ca_tier t) { return t < SCEPLAB_CA_TIERS ? ca->cert[t] : NULL; }
EVP_PKEY *sceplab_ca_key(const sceplab_ca *ca, sceplab_ca_tier t) { return t < SCEPLAB_CA_TIERS ? ca->key[t] : NULL; }

char *sceplab_ca_thumbprint(const sceplab_ca *ca, sceplab_ca_tier t)
{
  X509 *x = sceplab_ca_cert(ca, t);
  return x ? sceplab_thumbprint(x, EVP_sha1()) : NULL;
}

static char *name_text(const X509_NAME *n)
{
  BIO *b = BIO_new(BIO_s_mem());
  char *d = NULL, *out = NULL;
  long len;
  /* as the decoder shows names: RFC 4514 escaping, in encoded order (as Windows displays them) */
  if(b && X509_NAME_print_ex(b, n, 0, (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN) >= 0 &&
     (len = BIO_get_mem_data(b, &d)) >= 0 &&
     (out = malloc((size_t)len + 1)) != NULL) {
    memcpy(out, d, (size_t)len);
    out[len] = '\0';
  }
  BIO_free(b);
  return out;
}

/* ---- request identity -------------------------------------------------------------------- */

static void hex_of(const unsigned char *md, unsigned n, char *out)
{
  unsigned i;
  for(i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  out[2 * n] = '\0';
}

static int sha256_hex(const unsigned char *d, size_t n, char out[65])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if(EVP_Digest(d, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
    return -1;
  hex_of(md, mdlen, out);
  return 0;
}

static int key_hex(EVP_PKEY *k, char out[65])
{
  unsigned char *der = NULL;
  int n = k ? i2d_PUBKEY(k, &der) : -1, rc;
  if(n <= 0)
    return -1;
  rc = sha256_hex(der, (size_t)n, out);
  OPENSSL_free(der);
  return rc;
}

/* The digest of a CSR's CertificationRequestInfo, sliced from its DER as it came: a client that
 * signs the same request again (ECDSA signatures differ each time) sends the same request. */
static int csr_hex(const unsigned char *der, size_t n, char out[65])
{
  const unsigned char *p = der, *tbs;
  long len = 0;
  int tag = 0, cls = 0;
  /* anything but definite-length SEQUENCEs (BER a parser let through): the whole request */
  if(n > 0x7fffffff || (ASN1_get_object(&p, &len, &tag, &cls, (long)n) & 0x81) || tag != V_ASN1_SEQUENCE)
    return sha256_hex(der, n, out);
  tbs = p;
  if((ASN1_get_object(&p, &len, &tag, &cls, (long)(n - (size_t)(p - der))) & 0x81) || tag != V_ASN1_SEQUENCE)
    return sha256_hex(der, n, out);
  return sha256_hex(tbs, (size_t)(p - tbs) + (size_t)len, out);
}

int sceplab_req_id_make(sceplab_req_id *id, const char *txid, const char *message_type, X509_REQ *req,
                        const unsigned char *csr, size_t csrlen, EVP_PKEY *signer, sceplab_error *err)
{
  memset(id, 0, sizeof(*id));
  id->transaction_id = txid;
  id->message_type = message_type;
  if(key_hex(X509_REQ_get0_pubkey(req), id->key) != 0 || csr_hex(csr, csrlen, id->csr) != 0 ||
     key_hex(signer, id->signer) != 0) {
    ERR_clear_error();
    return sceplab_err_set(err, SCEPLAB_E_CRYPTO, "cannot digest the request's keys or CSR"), -1;
  }
  return 0;
}

/* ---- the certificate profile ------------------------------------------------------------ */

static const char *const ku_names[9] = {"digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
                                        "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"};
#define KU_CA ((1u << 5) | (1u << 6)) /* keyCertSign, cRLSign: a CA's */

static const struct { const char *name; unsigned bit; } san_names[] = {
  {"email", SCEPLAB_SAN_EMAIL}, {"dns", SCEPLAB_SAN_DNS}, {"uri", SCEPLAB_SAN_URI}, {"ip", SCEPLAB_SAN_IP},
  {"upn", SCEPLAB_SAN_UPN}, {"dirname", SCEPLAB_SAN_DIRNAME}, {"rid", SCEPLAB_SAN_RID}, {"othername", SCEPLAB_SAN_OTHERNAME},
};

int sceplab_key_usage_bit(const char *name)
{
  int i;
  for(i = 0; i < 9; i++)
    if(name && !strcmp(name, ku_names[i]))
      return i;
  return -1;
}

unsigned sceplab_san_type(const char *name)
{
  size_t i;
  for(i = 0; i < sizeof(san_names) / sizeof(san_names[0]); i++)
    if(name && !strcmp(name, san_names[i].name))
      return san_names[i].bit;
  return 0;
}

void sceplab_cert_profile_default(sceplab_cert_profile *p)
{
  static const char *const ekus[] = {"clientAuth", "serverAuth", "emailProtection", "1.3.6.1.5.5.8.2.2" /* ipsecIKE */};
  size_t i;
  memset(p, 0, sizeof(*p));
  p->key_usage = 0x1f; /* digitalSignature .. keyAgreement */
  for(i = 0; i < sizeof(ekus) / sizeof(ekus[0]); i++)
    snprintf(p->eku[p->neku++], sizeof(p->eku[0]), "%s", ekus[i]);
  p->san = SCEPLAB_SAN_DNS | SCEPLAB_SAN_EMAIL | SCEPLAB_SAN_IP | SCEPLAB_SAN_URI;
}

static unsigned san_type_of(const GENERAL_NAME *gn)
{
  char oid[64];
  switch(gn->type) {
  case GEN_EMAIL: return SCEPLAB_SAN_EMAIL;
  case GEN_DNS: return SCEPLAB_SAN_DNS;
  case GEN_URI: return SCEPLAB_SAN_URI;
  case GEN_IPADD: return SCEPLAB_SAN_IP;
  case GEN_DIRNAME: return SCEPLAB_SAN_DIRNAME;
  case GEN_RID: return SCEPLAB_SAN_RID;
  case GEN_OTHERNAME:
    OBJ_obj2txt(oid, sizeof(oid), gn->d.otherName->type_id, 1);
    return !strcmp(oid, "1.3.6.1.4.1.311.20.2.3") ? SCEPLAB_SAN_UPN : SCEPLAB_SAN_OTHERNAME;
  }
  return 0; /* x400Address, ediPartyName: never issued */
}

static const char *san_type_name(unsigned t)
{
  size_t i;
  for(i = 0; i < sizeof(san_names) / sizeof(san_names[0]); i++)
    if(san_names[i].bit == t)
      return san_names[i].name;
  return "x400/ediParty";
}

static int has_star(const ASN1_STRING *s)
{
  return s && memchr(ASN1_STRING_get0_data(s), '*', (size_t)ASN1_STRING_length(s)) != NULL;
}

/* Whether the profile refuses req: 1 with why and the CA's error code, 0 when it may be issued.
 * Names the device chose stay out of why: it reaches logs and listings. */
static int refuses(sceplab_ca *ca, X509_REQ *req, const STACK_OF(X509_EXTENSION) *exts, const sceplab_cert_profile *pf,
                   char *why, size_t n, unsigned *code)
{
  const X509_NAME *subj = X509_REQ_get_subject_name(req);
  X509 *own[SCEPLAB_CA_TIERS + 1];
  BASIC_CONSTRAINTS *bc;
  ASN1_BIT_STRING *ku;
  GENERAL_NAMES *gens;
  int i, refused = 0;
  for(i = 0; i < SCEPLAB_CA_TIERS; i++)
    own[i] = ca->cert[i];
  own[SCEPLAB_CA_TIERS] = ca->next;
  *code = 0x80094001u; /* CERTSRV_E_BAD_REQUESTSUBJECT */
  for(i = 0; i <= SCEPLAB_CA_TIERS; i++)
    if(own[i] && X509_NAME_entry_count(subj) > 0 && X509_NAME_cmp(subj, X509_get_subject_name(own[i])) == 0) {
      char *t = name_text(X509_get_subject_name(own[i]));
      snprintf(why, n, "the subject is the CA's (%s: %s)", i == SCEPLAB_CA_TIERS ? "next-ca" : tier_file[i], t ? t : "?");
      free(t);
      return 1;
    }
  for(i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1); i >= 0 && !pf->wildcard;
      i = X509_NAME_get_index_by_NID(subj, NID_commonName, i))
    if(has_star(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i))))
      return snprintf(why, n, "a wildcard in the subject's common name, outside the profile"), 1;
  *code = 0x80094802u; /* CERTSRV_E_TEMPLATE_CONFLICT */
  /* an extension asked twice would be read once here (OpenSSL's lookup then finds none) and
   * copied twice into the certificate: RFC 5280 allows one of each */
  for(i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
    const ASN1_OBJECT *o = X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i));
    int j;
    for(j = i + 1; j < sk_X509_EXTENSION_num(exts); j++)
      if(OBJ_cmp(o, X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, j))) == 0) {
        char oid[80];
        OBJ_obj2txt(oid, sizeof(oid), o, 1);
        return snprintf(why, n, "the request asks for extension %s twice", oid), 1;
      }
  }
  if((bc = X509V3_get_d2i(exts, NID_basic_constraints, NULL, NULL)) != NULL) {
    refused = bc->ca != 0;
    BASIC_CONSTRAINTS_free(bc);
    if(refused)
      return snprintf(why, n, "the request asks for basicConstraints CA:TRUE: this CA issues end entities only"), 1;
  }
  else if(X509v3_get_ext_by_NID(exts, NID_basic_constraints, -1) >= 0)
    return snprintf(why, n, "the request's basicConstraints extension does not decode"), 1;
  if((ku = X509V3_get_d2i(exts, NID_key_usage, NULL, NULL)) != NULL) {
    int sign = ASN1_BIT_STRING_get_bit(ku, 5), crl = ASN1_BIT_STRING_get_bit(ku, 6);
    ASN1_BIT_STRING_free(ku);
    if(sign || crl)
      return snprintf(why, n, "the request asks for %s%s%s, a CA's key usage", sign ? "keyCertSign" : "",
                      sign && crl ? " and " : "", crl ? "cRLSign" : ""), 1;
  }
  else if(X509v3_get_ext_by_NID(exts, NID_key_usage, -1) >= 0)
    return snprintf(why, n, "the request's keyUsage extension does not decode"), 1;
  *code = 0x80094001u;
  if(!(gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL)) && X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1) >= 0)
    return snprintf(why, n, "the request's subjectAltName extension does not decode"), 1;
  if(gens) {
    for(i = 0; i < sk_GENERAL_NAME_num(gens) && !refused; i++) {
      const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
      unsigned t = san_type_of(gn);
      if(!(t & pf->san)) {
        char allowed[128] = "";
        size_t k;
        for(k = 0; k < sizeof(san_names) / sizeof(san_names[0]); k++)
          if(pf->san & san_names[k].bit)
            snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed), "%s%s", allowed[0] ? ", " : "",
                     san_names[k].name);
        snprintf(why, n, "the request asks for a %s SAN, outside the profile (%s)", san_type_name(t),
                 allowed[0] ? allowed : "no SANs");
        refused = 1;
      }
      else if(gn->type == GEN_DNS && !pf->wildcard && has_star(gn->d.dNSName)) {
        snprintf(why, n, "the request asks for a wildcard DNS name, outside the profile");
        refused = 1;
      }
    }
    GENERAL_NAMES_free(gens);
  }
  ERR_clear_error();
  return refused;
}

/* Appends name to a comma-separated list. */
static void list_add(char *list, size_t n, const char *name)
{
  snprintf(list + strlen(list), n - strlen(list), "%s%s", list[0] ? "," : "", name);
}

/* The key usages issued: those asked that the profile allows, else what the key does (RSA signs
 * and takes key transport, others sign), within the profile. */
static void issued_key_usage(X509_REQ *req, const STACK_OF(X509_EXTENSION) *exts, const sceplab_cert_profile *pf,
                             char *out, size_t n)
{
  ASN1_BIT_STRING *ku = X509V3_get_d2i(exts, NID_key_usage, NULL, NULL);
  unsigned bits = 0, allowed = pf->key_usage & ~KU_CA;
  int i;
  for(i = 0; ku && i < 9; i++)
    if(ASN1_BIT_STRING_get_bit(ku, i))
      bits |= 1u << i;
  ASN1_BIT_STRING_free(ku);
  if(!(bits &= allowed)) {
    /* RSA: digitalSignature and keyEncipherment; EC and others: digitalSignature */
    bits = (EVP_PKEY_get_base_id(X509_REQ_get0_pubkey(req)) == EVP_PKEY_RSA ? 0x5u : 0x1u) & allowed;
    if(!bits)
      bits = allowed;
  }
  snprintf(out, n, "critical");
  for(i = 0; i < 9; i++)
    if(bits & (1u << i))
      list_add(out, n, ku_names[i]);
  ERR_clear_error();
}

/* The EKUs issued: the policy's, else those asked that the profile allows, else the profile's
 * first: a certificate without an EKU would be good for any purpose. "" when there are none. */
static void issued_ekus(const STACK_OF(X509_EXTENSION) *exts, const sceplab_issue_params *ip,
                        const sceplab_cert_profile *pf, char *out, size_t n)
{
  EXTENDED_KEY_USAGE *eku;
  size_t k;
  int i;
  out[0] = '\0';
  if(ip && ip->nekus) {
    for(k = 0; k < ip->nekus; k++)
      list_add(out, n, ip->ekus[k]);
    return;
  }
  if((eku = X509V3_get_d2i(exts, NID_ext_key_usage, NULL, NULL)) != NULL) {
    for(i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
      const ASN1_OBJECT *asked = sk_ASN1_OBJECT_value(eku, i);
      for(k = 0; k < pf->neku; k++) {
        ASN1_OBJECT *o = OBJ_txt2obj(pf->eku[k], 0);
        int same = o && OBJ_cmp(o, asked) == 0;
        ASN1_OBJECT_free(o);
        if(same) {
          char oid[80];
          OBJ_obj2txt(oid, sizeof(oid), asked, 1);
          list_add(out, n, oid);
          break;
        }
      }
    }
    EXTENDED_KEY_USAGE_free(eku);
  }
  if(!out[0] && pf->neku)
    list_add(out, n, pf->eku[0]);
  ERR_clear_error();
}

/* The certificate for a request, as the profile shapes it: the request's subject, key and SANs,
 * the key usages and EKUs it may have, never CA:TRUE. NULL with *refused set when the profile
 * refuses it (err says why), or with err alone when it cannot be made. */
static X509 *cert_for(sceplab_ca *ca, X509_REQ *req, const sceplab_issue_params *ip, unsigned *refused,
                      sceplab_error *err)
{
  X509 *issuer = ca->cert[SCEPLAB_CA_ISSUING], *x = NULL;
  EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
  STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
  sceplab_cert_profile dflt;
  const sceplab_cert_profile *pf = ip && ip->profile ? ip->profile : (sceplab_cert_profile_default(&dflt), &dflt);
  char why[256], ku[192], ekus[1100];
  int i, ok;
  if(refuses(ca, req, exts, pf, why, sizeof(why), refused)) {
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    sceplab_err_set(err, SCEPLAB_E_INPUT, "refused by the certificate profile: %s", why);
    return NULL;
  }
  *refused = 0;
  issued_key_usage(req, exts, pf, ku, sizeof(ku));
  issued_ekus(exts, ip, pf, ekus, sizeof(ekus));
  x = X509_new();
  ok = x && pub && X509_set_version(x, 2) && X509_set_subject_name(x, X509_REQ_get_subject_name(req)) &&
       X509_set_issuer_name(x, X509_get_subject_name(issuer)) && X509_set_pubkey(x, pub);
  if(ok) {
    time_t t = ip && ip->now ? (time_t)ip->now : time(NULL);
    random_serial(X509_get_serialNumber(x));
    ok = X509_time_adj_ex(X509_getm_notBefore(x), 0, -300, &t) &&
         X509_time_adj_ex(X509_getm_notAfter(x), ip && ip->days > 0 ? ip->days : 365, 0, &t);
  }
  /* the SANs as the profile read them, encoded anew; every other requested extension is dropped */
  if(ok && (i = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1)) >= 0) {
    GENERAL_NAMES *gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
    ok = gens && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, X509_EXTENSION_get_critical(sk_X509_EXTENSION_value(exts, i)),
                               X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(gens);
  }
  if(ok && strcmp(ku, "critical") != 0)
    ok = add_ext(x, issuer, NID_key_usage, ku) == 0;
  if(ok && ekus[0])
    ok = add_ext(x, issuer, NID_ext_key_usage, ekus) == 0;
  ok = ok && add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
       add_ext(x, issuer, NID_subject_key_identifier, "hash") == 0 &&
       add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") == 0;
  if(ok && ip && ip->template_name)
    ok = add_template_name(x, ip->template_name) == 0;
  ok = ok && X509_sign(x, ca->key[SCEPLAB_CA_ISSUING], EVP_sha256()) > 0;
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if(!ok) {
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot issue the certificate");
    X509_free(x);
    return NULL;
  }
  return x;
}

static X509_REQ *csr_parse(const unsigned char *der, size_t n, sceplab_error *err)
{
  const unsigned char *p = der;
  X509_REQ *req = n < 0x7fffffff ? d2i_X509_REQ(NULL, &p, (long)n) : NULL;
  if(!req)
    return (void)sceplab_err_openssl(err, SCEPLAB_E_INPUT, "not a PKCS#10 request"), NULL;
  if(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1) {
    X509_REQ_free(req);
    return (void)sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "the request's signature does not verify"), NULL;
  }
  return req;
}

static unsigned char *blob_copy(sqlite3_stmt *st, int col, size_t *len)
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

static char *text_copy(sqlite3_stmt *st, int col)
{
  const unsigned char *t = sqlite3_column_text(st, col);
  return t ? strdup((const char *)t) : NULL;
}

static sceplab_req_state state_of(const char *s)
{
  return !s ? SCEPLAB_REQ_NONE : !strcmp(s, "issued") ? SCEPLAB_REQ_ISSUED : !strcmp(s, "pending") ? SCEPLAB_REQ_PENDING
       : SCEPLAB_REQ_REJECTED;
}

/* The request id names (a resend of it): its row, or 0 (-1 with err); its state, and its
 * certificate and why when asked. Rows from before requests had an identity (no message type, no
 * signer) match any. */
static int64_t request_row(sceplab_ca *ca, const sceplab_req_id *id, sceplab_req_state *state, unsigned char **cert,
                           size_t *len, char **why, sceplab_error *err)
{
  sqlite3_stmt *st = NULL;
  int64_t row = 0;
  *state = SCEPLAB_REQ_NONE;
  if(sqlite3_prepare_v2(ca->db, "SELECT r.id, r.state, c.der, r.why FROM requests r LEFT JOIN certificates c ON"
                        " c.serial = r.serial WHERE r.transaction_id = ?1 AND r.csr_id = ?2 AND (r.message_type = ?3"
                        " OR r.message_type IS NULL) AND (r.signer_id = ?4 OR r.signer_id IS NULL)"
                        " ORDER BY r.id DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK)
    return db_fail(ca, err, "reading a request");
  sqlite3_bind_text(st, 1, id->transaction_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, id->csr, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, id->message_type ? id->message_type : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, id->signer, -1, SQLITE_TRANSIENT);
  if(sqlite3_step(st) == SQLITE_ROW) {
    row = sqlite3_column_int64(st, 0);
    *state = state_of((const char *)sqlite3_column_text(st, 1));
    if(*state == SCEPLAB_REQ_ISSUED && cert)
      *cert = blob_copy(st, 2, len);
    if(*state == SCEPLAB_REQ_REJECTED && why)
      *why = text_copy(st, 3);
  }
  sqlite3_finalize(st);
  return row;
}

sceplab_req_state sceplab_ca_request(sceplab_ca *ca, const sceplab_req_id *id, unsigned char **cert, size_t *len,
                                     char **why, sceplab_error *err)
{
  sceplab_req_state s;
  if(cert)
    *cert = NULL;
  if(why)
    *why = NULL;
  return request_row(ca, id, &s, cert, len, why, err) > 0 ? s : SCEPLAB_REQ_NONE;
}

sceplab_req_state sceplab_ca_poll(sceplab_ca *ca, const char *txid, EVP_PKEY *signer, unsigned char **cert, size_t *len,
                                  sceplab_error *err)
{
  sqlite3_stmt *st = NULL;
  sceplab_req_state s = SCEPLAB_REQ_NONE;
  char key[65];
  *cert = NULL;
  if(key_hex(signer, key) != 0) {
    ERR_clear_error();
    return SCEPLAB_REQ_NONE;
  }
  if(sqlite3_prepare_v2(ca->db, "SELECT r.state, c.der FROM requests r LEFT JOIN certificates c ON c.serial = r.serial"
                        " WHERE r.transaction_id = ?1 AND (r.key_id = ?2 OR r.signer_id = ?2) ORDER BY r.id DESC LIMIT 1",
                        -1, &st, NULL) != SQLITE_OK)
    return (void)db_fail(ca, err, "reading a request"), SCEPLAB_REQ_NONE;
  sqlite3_bind_text(st, 1, txid, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
  if(sqlite3_step(st) == SQLITE_ROW) {
    s = state_of((const char *)sqlite3_column_text(st, 0));
    if(s == SCEPLAB_REQ_ISSUED)
      *cert = blob_copy(st, 1, len);
  }
  sqlite3_finalize(st);
  return s;
}

static int exec_simple(sceplab_ca *ca, const char *sql)
{
  return sqlite3_exec(ca->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static unsigned char *der_of(X509 *x, size_t *len)
{
  int n = i2d_X509(x, NULL);
  unsigned char *der = n > 0 ? malloc((size_t)n) : NULL, *p = der;
  if(der) {
    i2d_X509(x, &p);
    *len = (size_t)n;
  }
  return der;
}

/* A new request's record under id; the pending requests it supersedes (the same transaction ID
 * and key: the device started over) are closed. Inside the caller's transaction. */
static int64_t insert_request(sceplab_ca *ca, const sceplab_req_id *id, const char *state, const char *subject,
                              const unsigned char *csr, size_t csrlen, const char *serial, const char *why, time_t now,
                              sceplab_error *err)
{
  sqlite3_stmt *st = NULL;
  int64_t row;
  if(sqlite3_prepare_v2(ca->db, "INSERT INTO requests(transaction_id, message_type, key_id, csr_id, signer_id, state,"
                        " subject, csr, serial, why, created, updated) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
                        -1, &st, NULL) != SQLITE_OK)
    return db_fail(ca, err, "recording the request");
  sqlite3_bind_text(st, 1, id->transaction_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, id->message_type ? id->message_type : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, id->key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, id->csr, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 5, id->signer, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 6, state, -1, SQLITE_STATIC);
  if(subject)
    sqlite3_bind_text(st, 7, subject, -1, SQLITE_TRANSIENT);
  if(csr)
    sqlite3_bind_blob(st, 8, csr, (int)csrlen, SQLITE_TRANSIENT);
  if(serial)
    sqlite3_bind_text(st, 9, serial, -1, SQLITE_TRANSIENT);
  if(why)
    sqlite3_bind_text(st, 10, why, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 11, (sqlite3_int64)now);
  if(sqlite3_step(st) != SQLITE_DONE) {
    sqlite3_finalize(st);
    return db_fail(ca, err, "recording the request");
  }
  sqlite3_finalize(st);
  st = NULL;
  row = 0;
  if(sqlite3_prepare_v2(ca->db, "SELECT last_insert_rowid()", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    row = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  st = NULL;
  if(row <= 0)
    return db_fail(ca, err, "recording the request");
  if(sqlite3_prepare_v2(ca->db, "UPDATE requests SET state = 'rejected', why = 'superseded by a later request of the"
                        " same transaction ID and key', updated = ?3 WHERE transaction_id = ?1 AND key_id = ?2 AND"
                        " state = 'pending' AND id <> ?4", -1, &st, NULL) != SQLITE_OK)
    return db_fail(ca, err, "recording the request");
  sqlite3_bind_text(st, 1, id->transaction_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, id->key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)row);
  row = sqlite3_step(st) == SQLITE_DONE ? row : db_fail(ca, err, "recording the request");
  sqlite3_finalize(st);
  return row;
}

/* Runs one statement binding row (?1) and an optional text (?2): 0 or -1 with err. */
static int exec_row(sceplab_ca *ca, const char *sql, int64_t row, const char *text, int64_t now, sceplab_error *err,
                    const char *what)
{
  sqlite3_stmt *st = NULL;
  int rc;
  if(sqlite3_prepare_v2(ca->db, sql, -1, &st, NULL) != SQLITE_OK)
    return db_fail(ca, err, what);
  sqlite3_bind_int64(st, 1, (sqlite3_int64)row);
  if(text)
    sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
  rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(ca, err, what);
  sqlite3_finalize(st);
  return rc;
}

/* Whether once gave a certificate already: 1 with *serial when asked, 0, -1 with err. */
static int once_used(sceplab_ca *ca, const char *once, char **serial, sceplab_error *err)
{
  sqlite3_stmt *st = NULL;
  int rc = 0;
  if(serial)
    *serial = NULL;
  if(sqlite3_prepare_v2(ca->db, "SELECT serial FROM used_tokens WHERE request_id = ?", -1, &st, NULL) != SQLITE_OK)
    return db_fail(ca, err, "reading the used challenges");
  sqlite3_bind_text(st, 1, once, -1, SQLITE_TRANSIENT);
  if(sqlite3_step(st) == SQLITE_ROW) {
    rc = 1;
    if(serial)
      *serial = text_copy(st, 0);
  }
  sqlite3_finalize(st);
  return rc;
}

int sceplab_ca_once_used(sceplab_ca *ca, const char *once, char **serial, sceplab_error *err)
{
  return once_used(ca, once, serial, err);
}

/* Issues req and records it: as a new request under id (row 0), or as the pending request row
 * (an administrator's approval). One transaction, begun before anything is read: a concurrent
 * resend waits and then finds this one's certificate; two uses of one challenge cannot both pass. */
static X509 *issue(sceplab_ca *ca, X509_REQ *req, const unsigned char *csr, size_t csrlen, const char *txid,
                   const sceplab_req_id *id, int64_t row, const sceplab_issue_params *ip, unsigned *refused,
                   sceplab_error *err)
{
  X509 *x = NULL;
  unsigned char *der = NULL;
  size_t dlen = 0;
  char *serial = NULL, *subject = NULL, *used = NULL;
  sqlite3_stmt *st = NULL;
  time_t now = ip && ip->now ? (time_t)ip->now : time(NULL);
  unsigned code = 0;
  if(exec_simple(ca, "BEGIN IMMEDIATE") != 0)
    return (void)db_fail(ca, err, "starting a transaction"), NULL;
  if(!row) {
    sceplab_req_state s;
    int64_t found = request_row(ca, id, &s, &der, &dlen, NULL, err);
    if(found < 0)
      goto fail;
    if(s == SCEPLAB_REQ_ISSUED && der) {
      const unsigned char *p = der;
      exec_simple(ca, "COMMIT");
      x = d2i_X509(NULL, &p, (long)dlen); /* a resend gets the certificate issued to it */
      free(der);
      if(!x)
        sceplab_err_openssl(err, SCEPLAB_E_FAILED, "%s/ca.db: the certificate of transaction %s is damaged", ca->dir, txid);
      return x;
    }
    free(der);
    der = NULL;
    row = found; /* a resend of a request pending or refused before: its record is updated */
  }
  else if(sqlite3_prepare_v2(ca->db, "SELECT state FROM requests WHERE id = ?", -1, &st, NULL) != SQLITE_OK ||
          (sqlite3_bind_int64(st, 1, (sqlite3_int64)row), sqlite3_step(st)) != SQLITE_ROW ||
          state_of((const char *)sqlite3_column_text(st, 0)) != SCEPLAB_REQ_PENDING) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "request #%lld of transaction %s is no longer pending", (long long)row, txid);
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  if(ip && ip->once) {
    int u = once_used(ca, ip->once, &used, err);
    if(u < 0)
      goto fail;
    if(u) {
      code = 0x80094003u; /* CERTSRV_E_BAD_REQUESTSTATUS */
      sceplab_err_set(err, SCEPLAB_E_INPUT, "the challenge was used already: certificate %s was issued for it",
                      used ? used : "?");
      goto fail;
    }
  }
  if(!(x = cert_for(ca, req, ip, &code, err)))
    goto fail;
  if(!(der = der_of(x, &dlen))) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    goto fail;
  }
  serial = sceplab_serial_hex(X509_get0_serialNumber(x));
  subject = name_text(X509_get_subject_name(x));
  if(sqlite3_prepare_v2(ca->db, "INSERT INTO certificates(serial, subject, not_before, not_after, der, transaction_id)"
                        " VALUES(?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK) {
    db_fail(ca, err, "recording the certificate");
    goto fail;
  }
  sqlite3_bind_text(st, 1, serial, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, subject ? subject : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)now - 300);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)now + 86400LL * (ip && ip->days > 0 ? ip->days : 365));
  sqlite3_bind_blob(st, 5, der, (int)dlen, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 6, txid, -1, SQLITE_TRANSIENT);
  if(sqlite3_step(st) != SQLITE_DONE) {
    db_fail(ca, err, "recording the certificate");
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  if(row > 0 ? exec_row(ca, "UPDATE requests SET state = 'issued', serial = ?2, why = NULL, updated = ?3 WHERE id = ?1",
                        row, serial, (int64_t)now, err, "recording the request") != 0
             : insert_request(ca, id, "issued", subject, csr, csrlen, serial, NULL, now, err) < 0)
    goto fail;
  if(ip && ip->once) {
    if(sqlite3_prepare_v2(ca->db, "INSERT INTO used_tokens(request_id, transaction_id, serial, used) VALUES(?, ?, ?, ?)",
                          -1, &st, NULL) != SQLITE_OK) {
      db_fail(ca, err, "recording the challenge as used");
      goto fail;
    }
    sqlite3_bind_text(st, 1, ip->once, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, txid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, serial, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
    if(sqlite3_step(st) != SQLITE_DONE) {
      db_fail(ca, err, "recording the challenge as used");
      goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
  }
  if(ip && ip->latency_ms > 0) {
    /* a slow CA (a fault `serve --ca-latency` plays): the certificate is signed and written, the
     * transaction not yet committed; a crash now must lose it whole */
    struct timespec ts = {ip->latency_ms / 1000, (long)(ip->latency_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  /* the certificate leaves this function only once the transaction recording it committed */
  if(exec_simple(ca, "COMMIT") != 0) {
    db_fail(ca, err, "recording the request");
    goto fail;
  }
  free(der);
  free(serial);
  free(subject);
  return x;
fail:
  sqlite3_finalize(st);
  exec_simple(ca, "ROLLBACK");
  if(refused)
    *refused = code;
  X509_free(x);
  free(der);
  free(serial);
  free(subject);
  free(used);
  ERR_clear_error();
  return NULL;
}

X509 *sceplab_ca_issue_req(sceplab_ca *ca, X509_REQ *req, const unsigned char *csr, size_t csrlen,
                           const sceplab_req_id *id, const sceplab_issue_params *ip, unsigned *refused,
                           sceplab_error *err)
{
  if(refused)
    *refused = 0;
  return issue(ca, req, csr, csrlen, id->transaction_id, id, 0, ip, refused, err);
}

int sceplab_ca_hold(sceplab_ca *ca, const unsigned char *csr, size_t csrlen, const sceplab_req_id *id,
                    sceplab_req_state state, const char *why, sceplab_error *err)
{
  X509_REQ *req = csr ? csr_parse(csr, csrlen, err) : NULL;
  char *subject = req ? name_text(X509_REQ_get_subject_name(req)) : NULL;
  const char *name = state == SCEPLAB_REQ_PENDING ? "pending" : "rejected";
  sceplab_req_state s;
  time_t now = time(NULL);
  int64_t row;
  int rc = -1;
  X509_REQ_free(req);
  if(csr && !req)
    return -1;
  if(exec_simple(ca, "BEGIN IMMEDIATE") != 0) {
    free(subject);
    return db_fail(ca, err, "starting a transaction");
  }
  if((row = request_row(ca, id, &s, NULL, NULL, NULL, err)) > 0) {
    /* a resend: its record says what became of it this time, unless it was issued meanwhile */
    sqlite3_stmt *st = NULL;
    if(sqlite3_prepare_v2(ca->db, "UPDATE requests SET state = ?2, why = ?3, updated = ?4 WHERE id = ?1 AND"
                          " state <> 'issued'", -1, &st, NULL) == SQLITE_OK) {
      sqlite3_bind_int64(st, 1, (sqlite3_int64)row);
      sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
      if(why)
        sqlite3_bind_text(st, 3, why, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
      rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    if(rc != 0)
      db_fail(ca, err, "recording the request");
  }
  else if(row == 0)
    rc = insert_request(ca, id, name, subject, csr, csrlen, NULL, why, now, err) > 0 ? 0 : -1;
  if(rc != 0 || exec_simple(ca, "COMMIT") != 0) {
    if(rc == 0)
      db_fail(ca, err, "recording the request");
    exec_simple(ca, "ROLLBACK");
    rc = -1;
  }
  free(subject);
  return rc;
}

/* The pending request which names: "#N", or a transaction ID only one pending request carries.
 * Its row, with its transaction ID and CSR when asked; 0 with err. */
static int64_t pending_row(sceplab_ca *ca, const char *which, char **txid, unsigned char **csr, size_t *csrlen,
                           sceplab_error *err)
{
  sqlite3_stmt *st = NULL;
  int64_t row = 0, first = 0, second = 0;
  int n = 0;
  char *end = NULL;
  long long num = which[0] == '#' ? strtoll(which + 1, &end, 10) : 0;
  if(which[0] == '#' && (!end || *end || num <= 0))
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "'%s': a request is named by its transaction ID or #N", which), 0;
  if(sqlite3_prepare_v2(ca->db, which[0] == '#' ? "SELECT id, transaction_id, csr FROM requests WHERE id = ?1 AND state = 'pending'"
                        : "SELECT id, transaction_id, csr FROM requests WHERE transaction_id = ?2 AND state = 'pending' ORDER BY id",
                        -1, &st, NULL) != SQLITE_OK)
    return db_fail(ca, err, "reading a request"), 0;
  if(which[0] == '#')
    sqlite3_bind_int64(st, 1, (sqlite3_int64)num);
  else
    sqlite3_bind_text(st, 2, which, -1, SQLITE_TRANSIENT);
  while(sqlite3_step(st) == SQLITE_ROW) {
    if(++n == 1) {
      first = sqlite3_column_int64(st, 0);
      if(txid)
        *txid = text_copy(st, 1);
      if(csr)
        *csr = blob_copy(st, 2, csrlen);
    }
    else if(n == 2)
      second = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  if(n == 1)
    row = first;
  else {
    if(txid) {
      free(*txid);
      *txid = NULL;
    }
    if(csr) {
      free(*csr);
      *csr = NULL;
    }
    if(n == 0)
      sceplab_err_set(err, SCEPLAB_E_INPUT, which[0] == '#' ? "no pending request %s" : "no pending request with transaction ID %s",
                      which);
    else
      /* another key sent the same transaction ID: the administrator must say which one */
      sceplab_err_set(err, SCEPLAB_E_INPUT, "%d pending requests carry transaction ID %s, from different keys: name one "
                      "by its number (#%lld, #%lld%s; sceplab ca list)", n, which, (long long)first, (long long)second,
                      n > 2 ? ", ..." : "");
  }
  return row;
}

unsigned char *sceplab_ca_approve(sceplab_ca *ca, const char *which, const sceplab_issue_params *ip, size_t *len,
                                  sceplab_error *err)
{
  char *txid = NULL;
  unsigned char *csr = NULL, *der = NULL;
  size_t csrlen = 0;
  int64_t row = pending_row(ca, which, &txid, &csr, &csrlen, err);
  X509_REQ *req = NULL;
  X509 *x = NULL;
  if(row > 0 && !csr)
    sceplab_err_set(err, SCEPLAB_E_INPUT, "request %s has no CSR to issue", which);
  else if(row > 0 && (req = csr_parse(csr, csrlen, err)) != NULL)
    x = issue(ca, req, csr, csrlen, txid, NULL, row, ip, NULL, err);
  if(x && !(der = der_of(x, len)))
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
  X509_free(x);
  X509_REQ_free(req);
  free(csr);
  free(txid);
  return der;
}

int sceplab_ca_reject(sceplab_ca *ca, const char *which, const char *why, sceplab_error *err)
{
  int64_t row = pending_row(ca, which, NULL, NULL, NULL, err);
  if(row <= 0)
    return -1;
  return exec_row(ca, "UPDATE requests SET state = 'rejected', why = ?2, updated = ?3 WHERE id = ?1 AND state = 'pending'",
                  row, why ? why : "rejected by the administrator", (int64_t)time(NULL), err, "rejecting a request");
}

unsigned char *sceplab_ca_find(sceplab_ca *ca, const ASN1_INTEGER *serial, size_t *len)
{
  sqlite3_stmt *st = NULL;
  char *hex = sceplab_serial_hex(serial);
  unsigned char *out = NULL;
  if(hex && sqlite3_prepare_v2(ca->db, "SELECT der FROM certificates WHERE serial = ?", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, hex, -1, SQLITE_TRANSIENT);
    if(sqlite3_step(st) == SQLITE_ROW)
      out = blob_copy(st, 0, len);
  }
  sqlite3_finalize(st);
  free(hex);
  return out;
}

int sceplab_ca_issued(sceplab_ca *ca, X509 *x, int *revoked, sceplab_error *err)
{
  sqlite3_stmt *st = NULL;
  char *hex = x ? sceplab_serial_hex(X509_get0_serialNumber(x)) : NULL;
  unsigned char *der = NULL;
  int n = x ? i2d_X509(x, &der) : -1, rc = 0;
  *revoked = 0;
  if(!hex || n <= 0) {
    free(hex);
    OPENSSL_free(der);
    return x ? (sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1) : 0;
  }
  if(sqlite3_prepare_v2(ca->db, "SELECT der, revoked_at FROM certificates WHERE serial = ?", -1, &st, NULL) != SQLITE_OK)
    rc = db_fail(ca, err, "reading a certificate");
  else {
    sqlite3_bind_text(st, 1, hex, -1, SQLITE_TRANSIENT);
    /* the very certificate, not one that borrows a serial of ours */
    if(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == n &&
       memcmp(sqlite3_column_blob(st, 0), der, (size_t)n) == 0) {
      rc = 1;
      *revoked = sqlite3_column_type(st, 1) != SQLITE_NULL;
    }
  }
  sqlite3_finalize(st);
  free(hex);
  OPENSSL_free(der);
  return rc;
}

/* A ca.db from before requests had an identity of their own (the transaction ID was the table's
 * key) is rebuilt with its rows kept and their CSRs' digests filled in; then the tables and index
 * the identity needs. Idempotent, and safe when two servers open the same store at once. */
static int migrate_requests(sceplab_ca *ca, sceplab_error *err)
{
  static const char tables[] =
    "CREATE INDEX IF NOT EXISTS requests_transaction ON requests(transaction_id);"
    "CREATE TABLE IF NOT EXISTS used_tokens(request_id TEXT PRIMARY KEY, transaction_id TEXT NOT NULL,"
    " serial TEXT NOT NULL, used INTEGER NOT NULL);";
  static const char has[] = "SELECT count(*) FROM pragma_table_info('requests') WHERE name = 'csr_id'";
  sqlite3_stmt *st = NULL, *up = NULL;
  int present = -1, rc = -1;
  if(sqlite3_prepare_v2(ca->db, has, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    present = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  st = NULL;
  if(present < 0)
    return db_fail(ca, err, "reading the schema");
  if(!present) {
    if(exec_simple(ca, "BEGIN IMMEDIATE") != 0)
      return db_fail(ca, err, "migrating the requests");
    /* again inside the transaction: another server may have migrated it meanwhile */
    if(sqlite3_prepare_v2(ca->db, has, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
      goto out;
    present = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if(!present) {
      if(exec_simple(ca, "CREATE TABLE requests_new(" REQUESTS_COLUMNS ");"
                         "INSERT INTO requests_new(transaction_id, state, subject, csr, serial, why, created, updated)"
                         " SELECT transaction_id, state, subject, csr, serial, why, created, updated FROM requests"
                         " ORDER BY created, rowid;"
                         "DROP TABLE requests; ALTER TABLE requests_new RENAME TO requests;") != 0 ||
         sqlite3_prepare_v2(ca->db, "SELECT id, csr FROM requests WHERE csr IS NOT NULL", -1, &st, NULL) != SQLITE_OK)
        goto out;
      while(sqlite3_step(st) == SQLITE_ROW) {
        size_t n = 0;
        unsigned char *csr = blob_copy(st, 1, &n);
        const unsigned char *p = csr;
        X509_REQ *req = csr ? d2i_X509_REQ(NULL, &p, (long)n) : NULL;
        char key[65], cid[65];
        if(req && key_hex(X509_REQ_get0_pubkey(req), key) == 0 && csr_hex(csr, n, cid) == 0) {
          int ok = sqlite3_prepare_v2(ca->db, "UPDATE requests SET key_id = ?2, csr_id = ?3 WHERE id = ?1", -1, &up,
                                      NULL) == SQLITE_OK;
          if(ok) {
            sqlite3_bind_int64(up, 1, sqlite3_column_int64(st, 0));
            sqlite3_bind_text(up, 2, key, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(up, 3, cid, -1, SQLITE_TRANSIENT);
            ok = sqlite3_step(up) == SQLITE_DONE;
          }
          sqlite3_finalize(up);
          up = NULL;
          if(!ok) {
            X509_REQ_free(req);
            free(csr);
            goto out;
          }
        }
        X509_REQ_free(req);
        free(csr);
      }
      ERR_clear_error();
    }
    if(exec_simple(ca, "COMMIT") != 0)
      goto out;
  }
  rc = exec_simple(ca, tables);
out:
  if(rc != 0) {
    db_fail(ca, err, "migrating the requests");
    exec_simple(ca, "ROLLBACK");
  }
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  return rc;
}

sceplab_val *sceplab_ca_list(sceplab_ca *ca, sceplab_error *err)
{
  sqlite3_stmt *st = NULL;
  sceplab_val *list = sceplab_val_arr();
  if(sqlite3_prepare_v2(ca->db, "SELECT r.transaction_id, r.state, r.subject, r.serial, r.why, r.created, r.updated,"
                        " c.not_after, c.revoked_at, c.reason, r.id, r.message_type FROM requests r"
                        " LEFT JOIN certificates c ON c.serial = r.serial ORDER BY r.created, r.id", -1, &st, NULL) != SQLITE_OK) {
    sceplab_val_free(list);
    return (void)db_fail(ca, err, "listing"), NULL;
  }
  while(sqlite3_step(st) == SQLITE_ROW) {
    sceplab_val *o = sceplab_val_obj();
    const char *state = (const char *)sqlite3_column_text(st, 1);
    sceplab_obj_set_int(o, "id", sqlite3_column_int64(st, 10));
    sceplab_obj_set_str(o, "transaction_id", (const char *)sqlite3_column_text(st, 0));
    if(sqlite3_column_type(st, 11) == SQLITE_TEXT && sqlite3_column_bytes(st, 11) > 0)
      sceplab_obj_set_str(o, "message_type", (const char *)sqlite3_column_text(st, 11));
    sceplab_obj_set_str(o, "state", sqlite3_column_type(st, 8) != SQLITE_NULL ? "revoked" : state ? state : "?");
    if(sqlite3_column_type(st, 2) != SQLITE_NULL)
      sceplab_obj_set_str(o, "subject", (const char *)sqlite3_column_text(st, 2));
    if(sqlite3_column_type(st, 3) != SQLITE_NULL)
      sceplab_obj_set_str(o, "serial", (const char *)sqlite3_column_text(st, 3));
    if(sqlite3_column_type(st, 4) != SQLITE_NULL)
      sceplab_obj_set_str(o, "why", (const char *)sqlite3_column_text(st, 4));
    sceplab_obj_set_int(o, "created", sqlite3_column_int64(st, 5));
    sceplab_obj_set_int(o, "updated", sqlite3_column_int64(st, 6));
    if(sqlite3_column_type(st, 7) != SQLITE_NULL)
      sceplab_obj_set_int(o, "not_after", sqlite3_column_int64(st, 7));
    if(sqlite3_column_type(st, 8) != SQLITE_NULL) {
      sceplab_obj_set_int(o, "revoked_at", sqlite3_column_int64(st, 8));
      sceplab_obj_set_int(o, "reason", sqlite3_column_int64(st, 9));
    }
    sceplab_arr_push(list, o);
  }
  sqlite3_finalize(st);
  return sceplab_done(list, err);
}

int sceplab_ca_revoke(sceplab_ca *ca, const char *serial, int reason, sceplab_error *err)
{
  sqlite3_stmt *st = NULL;
  BIGNUM *bn = NULL;
  char *norm = NULL, *h;
  int rc = -1;
  int digits = BN_hex2bn(&bn, serial);
  if(digits <= 0 || (size_t)digits != strlen(serial)) {
    BN_free(bn);
    sceplab_err_set(err, SCEPLAB_E_USAGE, "serial '%s': expected hexadecimal digits", serial);
    return -1;
  }
  h = BN_bn2hex(bn);
  norm = h ? strdup(h) : NULL;
  OPENSSL_free(h);
  BN_free(bn);
  if(reason < 0 || reason > 10 || reason == 7)
    reason = 0;
  if(norm && sqlite3_prepare_v2(ca->db, "UPDATE certificates SET revoked_at = ?, reason = ? WHERE serial = ? AND revoked_at IS NULL",
                                -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
    sqlite3_bind_int(st, 2, reason);
    sqlite3_bind_text(st, 3, norm, -1, SQLITE_TRANSIENT);
    if(sqlite3_step(st) != SQLITE_DONE)
      db_fail(ca, err, "revoking");
    else if(sqlite3_changes(ca->db) == 0)
      sceplab_err_set(err, SCEPLAB_E_INPUT, "no valid certificate with serial %s", norm);
    else
      rc = 0;
  }
  else
    db_fail(ca, err, "revoking");
  sqlite3_finalize(st);
  free(norm);
  return rc;
}

unsigned char *sceplab_ca_crl(sceplab_ca *ca, int days, size_t *len, sceplab_error *err)
{
  X509 *issuer = ca->cert[SCEPLAB_CA_ISSUING];
  X509_CRL *crl = X509_CRL_new();
  sqlite3_stmt *st = NULL;
  ASN1_TIME *t = ASN1_TIME_new();
  ASN1_INTEGER *number = ASN1_INTEGER_new();
  unsigned char *der = NULL, *p;
  char *thumb = sceplab_thumbprint(issuer, EVP_sha1());
  int ok, n = 0, db_ok = 0;
  long long num = 1, revoked = 0;
  time_t now = time(NULL);
  days = days > 0 ? days : 7;
  /* one transaction: the number, the revocations listed and the CRL kept as current agree */
  if(exec_simple(ca, "BEGIN IMMEDIATE") != 0) {
    db_fail(ca, err, "making a CRL");
    goto done;
  }
  /* the CRL number goes up by one each time one is made */
  if(exec_simple(ca, "INSERT INTO meta(key, value) VALUES('crl_number', '1') ON CONFLICT(key) DO UPDATE SET"
                     " value = CAST(value AS INTEGER) + 1") == 0 &&
     sqlite3_prepare_v2(ca->db, "SELECT value FROM meta WHERE key = 'crl_number'", -1, &st, NULL) == SQLITE_OK &&
     sqlite3_step(st) == SQLITE_ROW)
    num = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  st = NULL;
  ok = thumb && crl && t && number && X509_CRL_set_version(crl, 1) &&
       X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) && ASN1_TIME_set(t, now) &&
       X509_CRL_set1_lastUpdate(crl, t) && X509_time_adj_ex(t, days, 0, &now) && X509_CRL_set1_nextUpdate(crl, t) &&
       ASN1_INTEGER_set_int64(number, num) && X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0);
  if(ok && sqlite3_prepare_v2(ca->db, "SELECT serial, revoked_at, reason FROM certificates WHERE revoked_at IS NOT NULL",
                              -1, &st, NULL) == SQLITE_OK) {
    while(ok && sqlite3_step(st) == SQLITE_ROW) {
      X509_REVOKED *r = X509_REVOKED_new();
      BIGNUM *bn = NULL;
      ASN1_INTEGER *serial = NULL;
      ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t)sqlite3_column_int64(st, 1));
      ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();
      ok = r && when && reason && BN_hex2bn(&bn, (const char *)sqlite3_column_text(st, 0)) &&
           (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL && X509_REVOKED_set_serialNumber(r, serial) &&
           X509_REVOKED_set_revocationDate(r, when) && ASN1_ENUMERATED_set(reason, sqlite3_column_int(st, 2)) &&
           X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0) && X509_CRL_add0_revoked(crl, r);
      if(ok)
        r = NULL;
      X509_REVOKED_free(r);
      BN_free(bn);
      ASN1_INTEGER_free(serial);
      ASN1_TIME_free(when);
      ASN1_ENUMERATED_free(reason);
      revoked++;
    }
  }
  else
    ok = 0;
  sqlite3_finalize(st);
  st = NULL;
  ok = ok && X509_CRL_sort(crl) && X509_CRL_sign(crl, ca->key[SCEPLAB_CA_ISSUING], EVP_sha256()) > 0 &&
       (n = i2d_X509_CRL(crl, NULL)) > 0 && (der = malloc((size_t)n)) != NULL;
  if(ok) {
    p = der;
    i2d_X509_CRL(crl, &p);
    *len = (size_t)n;
    /* kept as the current CRL, with what it was made from, for sceplab_ca_crl_current */
    if(sqlite3_prepare_v2(ca->db, "INSERT OR REPLACE INTO crl(id, number, der, this_update, next_update, revoked, issuer)"
                          " VALUES(1, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) == SQLITE_OK) {
      sqlite3_bind_int64(st, 1, (sqlite3_int64)num);
      sqlite3_bind_blob(st, 2, der, n, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
      sqlite3_bind_int64(st, 4, (sqlite3_int64)now + 86400LL * days);
      sqlite3_bind_int64(st, 5, (sqlite3_int64)revoked);
      sqlite3_bind_text(st, 6, thumb, -1, SQLITE_TRANSIENT);
      db_ok = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    if(!db_ok || exec_simple(ca, "COMMIT") != 0) {
      db_fail(ca, err, "recording the CRL");
      free(der);
      der = NULL;
    }
  }
  else
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the CRL");
  if(!der)
    exec_simple(ca, "ROLLBACK");
done:
  X509_CRL_free(crl);
  ASN1_TIME_free(t);
  ASN1_INTEGER_free(number);
  free(thumb);
  ERR_clear_error();
  return der;
}

unsigned char *sceplab_ca_crl_current(sceplab_ca *ca, int days, size_t *len, sceplab_error *err)
{
  sqlite3_stmt *st = NULL;
  unsigned char *der = NULL;
  char *thumb = sceplab_thumbprint(ca->cert[SCEPLAB_CA_ISSUING], EVP_sha1());
  /* re-signed before its nextUpdate (at half its validity), at a revocation, or when the issuing
   * CA changed (rollover) */
  if(thumb && sqlite3_prepare_v2(ca->db, "SELECT der FROM crl WHERE issuer = ?1 AND ?2 >= this_update AND"
                                 " ?2 < this_update + (next_update - this_update) / 2 AND"
                                 " revoked = (SELECT count(*) FROM certificates WHERE revoked_at IS NOT NULL)",
                                 -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, thumb, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
    if(sqlite3_step(st) == SQLITE_ROW)
      der = blob_copy(st, 0, len);
  }
  sqlite3_finalize(st);
  free(thumb);
  return der ? der : sceplab_ca_crl(ca, days, len, err);
}

char *sceplab_ca_challenge_new(sceplab_ca *ca, int minutes, sceplab_error *err)
{
  unsigned char b[8];
  char *hex = malloc(17);
  sqlite3_stmt *st = NULL;
  time_t now = time(NULL);
  int i;
  if(!hex || RAND_bytes(b, sizeof(b)) != 1) {
    free(hex);
    return (void)sceplab_err_set(err, SCEPLAB_E_CRYPTO, "no random bytes"), NULL;
  }
  /* NDES's one-time passwords: 16 upper-case hex digits */
  for(i = 0; i < 8; i++)
    snprintf(hex + 2 * i, 3, "%02X", b[i]);
  if(sqlite3_prepare_v2(ca->db, "INSERT INTO challenges(value, created, expires) VALUES(?, ?, ?)", -1, &st, NULL) != SQLITE_OK) {
    free(hex);
    return (void)db_fail(ca, err, "recording a challenge"), NULL;
  }
  {
    char digest[72];
    challenge_digest(hex, digest);
    sqlite3_bind_text(st, 1, digest, -1, SQLITE_TRANSIENT);
  }
  sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)now + 60LL * (minutes > 0 ? minutes : 60));
  if(sqlite3_step(st) != SQLITE_DONE) {
    sqlite3_finalize(st);
    free(hex);
    return (void)db_fail(ca, err, "recording a challenge"), NULL;
  }
  sqlite3_finalize(st);
  return hex;
}

int sceplab_ca_challenge_use(sceplab_ca *ca, const char *challenge, sceplab_error *err)
{
  sqlite3_stmt *st = NULL;
  int rc;
  /* one statement: two requests racing with the same password cannot both use it */
  if(sqlite3_prepare_v2(ca->db, "UPDATE challenges SET used = ?1 WHERE value = ?2 AND used IS NULL AND expires >= ?1",
                        -1, &st, NULL) != SQLITE_OK)
    return db_fail(ca, err, "checking a challenge");
  {
    char digest[72];
    challenge_digest(challenge, digest);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
    sqlite3_bind_text(st, 2, digest, -1, SQLITE_TRANSIENT);
  }
  rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(ca->db) > 0 : db_fail(ca, err, "checking a challenge");
  sqlite3_finalize(st);
  return rc;
}

int sceplab_ca_challenge_outstanding(sceplab_ca *ca, sceplab_error *err)
{
  sqlite3_stmt *st = NULL;
  int n;
  if(sqlite3_prepare_v2(ca->db, "SELECT count(*) FROM challenges WHERE used IS NULL AND expires >= ?", -1, &st, NULL) !=
     SQLITE_OK)
    return db_fail(ca, err, "counting challenges"), -1;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
  n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : (db_fail(ca, err, "counting challenges"), -1);
  sqlite3_finalize(st);
  return n;
}

X509 *sceplab_ca_policy_cert(sceplab_ca *ca, const char *host, int64_t not_before, int days, sceplab_error *err)
{
  char cn[128];
  X509_NAME *subj;
  EVP_PKEY *k;
  X509 *x;
  time_t nb = (time_t)not_before;
  snprintf(cn, sizeof(cn), "CN=%s", host && *host ? host : "NDES01");
  if(!(subj = sceplab_dn_parse(cn, err)))
    return NULL;
  /* the key never leaves memory and signs nothing here: a fast one */
  if(!(k = sceplab_key_generate("ec:p256", err))) {
    X509_NAME_free(subj);
    return NULL;
  }
  x = make_cert_san(subj, k, ca->cert[SCEPLAB_CA_ISSUING], ca->key[SCEPLAB_CA_ISSUING], days > 0 ? days : 730,
                    "critical,CA:FALSE", "critical,digitalSignature,keyEncipherment", "clientAuth,serverAuth", NULL, NULL,
                    nb ? nb : time(NULL));
  X509_NAME_free(subj);
  EVP_PKEY_free(k);
  if(!x)
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the NDES policy certificate");
  return x;
}

int sceplab_ca_tls_server(sceplab_ca *ca, const char *const *names, size_t n, int days, char **cert_pem, char **key_pem,
                          sceplab_error *err)
{
  char san[2048] = "", cn[256];
  size_t i, len = 0, klen = 0;
  X509_NAME *subj;
  EVP_PKEY *k;
  X509 *x;
  *cert_pem = *key_pem = NULL;
  if(!n)
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "a TLS certificate needs a name"), -1;
  for(i = 0; i < n; i++) {
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(names[i]); /* an address is an IP SAN, anything else DNS */
    int w = snprintf(san + len, sizeof(san) - len, "%s%s:%s", i ? "," : "", ip ? "IP" : "DNS", names[i]);
    ASN1_OCTET_STRING_free(ip);
    if(w < 0 || (size_t)w >= sizeof(san) - len)
      return sceplab_err_set(err, SCEPLAB_E_USAGE, "too many TLS names"), -1;
    len += (size_t)w;
  }
  snprintf(cn, sizeof(cn), "CN=%s", names[0]);
  if(!(subj = sceplab_dn_parse(cn, err)))
    return -1;
  if(!(k = sceplab_key_generate("rsa:2048", err))) {
    X509_NAME_free(subj);
    return -1;
  }
  x = make_cert_san(subj, k, ca->cert[SCEPLAB_CA_ISSUING], ca->key[SCEPLAB_CA_ISSUING], days > 0 ? days : 30,
                    "critical,CA:FALSE", "critical,digitalSignature,keyEncipherment", "serverAuth", NULL, san, 0);
  X509_NAME_free(subj);
  if(x) {
    *cert_pem = sceplab_cert_pem(x);
    *key_pem = sceplab_key_pem(k, 0, &klen);
  }
  X509_free(x);
  EVP_PKEY_free(k);
  ERR_clear_error();
  if(!*cert_pem || !*key_pem) {
    free(*cert_pem);
    free(*key_pem);
    *cert_pem = *key_pem = NULL;
    return sceplab_err_set(err, SCEPLAB_E_CRYPTO, "cannot make the TLS certificate"), -1;
  }
  return 0;
}
