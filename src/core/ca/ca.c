/* The embedded CA of `sceplab serve`: its tiers' keys and certificates (keys.c keeps them),
 * requests, certificates, revocations and one-time challenges in its store (store.h). See ca.h
 * and ca_int.h for the files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca_int.h"
#include "ca/store.h"

const char *const ca_tier_file[SCEPLAB_CA_TIERS] = {"root", "ca", "ra-sign", "ra-encrypt", "intune-sign"};

/* NDES's two RA certificates, from the templates NDES enrolls for at install: the signing one
 * (Exchange Enrollment Agent (Offline request)) and the encryption one (CEP Encryption). */
static void make_ra_pair(const X509_NAME *subject, EVP_PKEY *const keys[2], X509 *issuer, EVP_PKEY *issuer_key,
                         X509 *out[2])
{
  out[0] = ca_make_cert(subject, keys[0], issuer, issuer_key, 730, "critical,CA:FALSE", "critical,digitalSignature",
                        "1.3.6.1.4.1.311.20.2.1", "EnrollmentAgentOffline", NULL, 0);
  out[1] = ca_make_cert(subject, keys[1], issuer, issuer_key, 730, "critical,CA:FALSE",
                        "critical,keyEncipherment,dataEncipherment", NULL, "CEPEncryption", NULL, 0);
}

/* A shared store is one CA's: the root's SHA-256 recorded by the first to open it, and checked by
 * every later one, so a machine with another CA's keys (a state directory made afresh by a first
 * `serve` instead of copied) cannot mix its certificates into the records: 0, or -1 with err. */
static int bind_root(sceplab_store *s, const char *dir, X509 *root, sceplab_error *err)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0, i;
  char hex[2 * EVP_MAX_MD_SIZE + 1], *other = NULL;
  int rc;
  if(!s->ops->bind)
    return 0;
  if(!X509_digest(root, EVP_sha256(), md, &n))
    return sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot digest the root certificate"), -1;
  for(i = 0; i < n; i++)
    snprintf(hex + 2 * i, 3, "%02X", md[i]);
  if((rc = s->ops->bind(s, "ca_root_sha256", hex, &other, err)) == STORE_NOT_FOUND)
    sceplab_err_set(err, SCEPLAB_E_USAGE, "--db: the database holds the records of another CA (root SHA-256 %.16s...), not "
                    "of %s's (root SHA-256 %.16s...): copy that CA's state directory to this machine, or give each CA a "
                    "database of its own", other ? other : "?", dir, hex);
  free(other);
  return rc == STORE_FOUND ? 0 : -1;
}

int sceplab_ca_init(const char *dir, const sceplab_ca_params *p, sceplab_error *err)
{
  static const sceplab_ca_params defaults = {"rsa:2048", NULL, NULL, NULL, 0, 0, 1, NULL, NULL, NULL};
  sceplab_ca ca;
  X509_NAME *rootn = NULL, *issn = NULL, *ran = NULL;
  int rc = -1, i, exists = 0;
  sceplab_store *store = NULL;
  sceplab_error local;
  if(!err)
    err = &local;
  sceplab_err_clear(err);
  if(!p)
    p = &defaults;
  memset(&ca, 0, sizeof(ca));
  /* a URL that is none is refused before anything is made */
  if(p->public_url && sceplab_ca_set_public_url(&ca, p->public_url, err) != 0)
    return -1;
  free(ca.public_url);
  ca.public_url = NULL;
  if(p->pkcs11 && ca_p11_check(p->pkcs11, err) != 0)
    return -1;
  /* the store's library first: a machine without it must not be left with keys and no database */
  if(sceplab_store_check(dir, p->db, &exists, err) != 0)
    return -1;
  if(mkdir(dir, 0700) != 0 && errno != EEXIST) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", dir, strerror(errno));
    return -1;
  }
  /* an existing directory (made by hand, or by a tool with a wide umask) is made private too */
  if(ca_narrow_mode(dir, 0700, err) != 0)
    return -1;
  if(exists || ca_pair_exists(dir, "root")) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "%s already holds a CA: choose another directory", dir);
    return -1;
  }
  ca.dir = (char *)dir;
  for(i = 0; i < SCEPLAB_CA_TIERS; i++) {
    /* the RA's keys stay RSA whatever the CA's: SCEP clients encrypt to the RA with RSA key
     * transport, and NDES's RA certificates are RSA */
    const char *spec = p->key ? p->key : "rsa:2048";
    if((i == SCEPLAB_CA_RA_SIGN || i == SCEPLAB_CA_RA_ENCRYPT || i == SCEPLAB_CA_INTUNE_SIGN) &&
       strncmp(spec, "rsa:", 4) != 0)
      spec = "rsa:2048";
    if(!(ca.key[i] = ca_key_make(p->pkcs11, ca_tier_file[i], spec, err)))
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
  ca.cert[SCEPLAB_CA_ROOT] = ca_make_cert(rootn, ca.key[SCEPLAB_CA_ROOT], NULL, NULL, p->root_days > 0 ? p->root_days : 3650,
                                          "critical,CA:TRUE", "critical,keyCertSign,cRLSign", NULL, NULL, NULL, 0);
  if(p->two_tier)
    ca.cert[SCEPLAB_CA_ISSUING] = ca.cert[SCEPLAB_CA_ROOT] ?
      ca_make_cert(issn, ca.key[SCEPLAB_CA_ISSUING], ca.cert[SCEPLAB_CA_ROOT], ca.key[SCEPLAB_CA_ROOT],
                   p->issuing_days > 0 ? p->issuing_days : 1825, "critical,CA:TRUE,pathlen:0",
                   "critical,keyCertSign,cRLSign", NULL, NULL, NULL, 0) : NULL;
  else {
    /* one tier: the root issues; its key is written twice so the files stay the same shape */
    ca.cert[SCEPLAB_CA_ISSUING] = X509_dup(ca.cert[SCEPLAB_CA_ROOT]);
    EVP_PKEY_free(ca.key[SCEPLAB_CA_ISSUING]);
    ca.key[SCEPLAB_CA_ISSUING] = ca.key[SCEPLAB_CA_ROOT];
    EVP_PKEY_up_ref(ca.key[SCEPLAB_CA_ISSUING]);
  }
  /* with a public URL, the issuing CA's certificate names where the root's CRL is */
  if(p->two_tier && ca.cert[SCEPLAB_CA_ISSUING] && p->public_url &&
     (sceplab_ca_set_public_url(&ca, p->public_url, err) != 0 || ca_add_root_revinfo(&ca, ca.cert[SCEPLAB_CA_ISSUING]) != 0)) {
    X509_free(ca.cert[SCEPLAB_CA_ISSUING]);
    ca.cert[SCEPLAB_CA_ISSUING] = NULL;
  }
  if(ca.cert[SCEPLAB_CA_ISSUING])
    make_ra_pair(ran, &ca.key[SCEPLAB_CA_RA_SIGN], ca.cert[SCEPLAB_CA_ISSUING], ca.key[SCEPLAB_CA_ISSUING],
                 &ca.cert[SCEPLAB_CA_RA_SIGN]);
  {
    X509_NAME *in = sceplab_dn_parse("CN=sceplab Intune challenge signing", err);
    ca.cert[SCEPLAB_CA_INTUNE_SIGN] = in ? ca_make_cert(in, ca.key[SCEPLAB_CA_INTUNE_SIGN], NULL, NULL, 730,
                                                        "critical,CA:FALSE", "critical,digitalSignature", NULL, NULL,
                                                        NULL, 0) : NULL;
    X509_NAME_free(in);
  }
  for(i = 0; i < SCEPLAB_CA_TIERS; i++)
    if(!ca.cert[i]) {
      sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the %s certificate", ca_tier_file[i]);
      goto out;
    }
  for(i = 0; i < SCEPLAB_CA_TIERS; i++)
    if(ca_pair_save(dir, ca_tier_file[i], ca.cert[i], ca.key[i], err) != 0)
      goto out;
  if(ca_public_url_save(dir, p->public_url, err) != 0 || ca_keeper_save(dir, p->pkcs11, err) != 0 ||
     !(store = sceplab_store_open(dir, p->db, 1, err)) || bind_root(store, dir, ca.cert[SCEPLAB_CA_ROOT], err) != 0)
    goto out;
  rc = 0;
out:
  sceplab_store_close(store);
  for(i = 0; i < SCEPLAB_CA_TIERS; i++) {
    X509_free(ca.cert[i]);
    EVP_PKEY_free(ca.key[i]);
  }
  X509_NAME_free(rootn);
  X509_NAME_free(issn);
  X509_NAME_free(ran);
  free(ca.public_url);
  ERR_clear_error();
  return rc;
}

sceplab_ca *sceplab_ca_open(const char *dir, sceplab_error *err)
{
  return sceplab_ca_open_db(dir, NULL, err);
}

const char *sceplab_ca_db(const sceplab_ca *ca)
{
  return ca->db;
}

int sceplab_ca_unavailable(const sceplab_ca *ca)
{
  return ca->store && ca->store->unavailable;
}

void sceplab_ca_db_stats(const sceplab_ca *ca, uint64_t *errors, uint64_t *reconnects)
{
  *errors = ca->store ? ca->store->errors : 0;
  *reconnects = ca->store ? ca->store->reconnects : 0;
}

sceplab_ca *sceplab_ca_open_db(const char *dir, const char *db, sceplab_error *err)
{
  sceplab_ca *ca = calloc(1, sizeof(*ca));
  sceplab_error local;
  int i;
  if(!err)
    err = &local;
  sceplab_err_clear(err);
  if(db && !*db)
    db = NULL;
  if(!ca || !(ca->dir = strdup(dir)) || (db && !(ca->db = strdup(db)))) {
    if(ca)
      free(ca->dir);
    free(ca);
    return (void)sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  }
  for(i = 0; i < SCEPLAB_CA_TIERS; i++) {
    int got = ca_pair_load(dir, ca_tier_file[i], &ca->cert[i], &ca->key[i], err);
    if(got == 0 && i == SCEPLAB_CA_INTUNE_SIGN) {
      /* optional: a state directory made before tokens existed */
      sceplab_err_clear(err);
      continue;
    }
    if(got <= 0) {
      if(got == 0)
        sceplab_err_set(err, SCEPLAB_E_USAGE, "%s: not a sceplab CA directory (no %s.pem and %s.key: make one with `sceplab ca init`)",
                        dir, ca_tier_file[i], ca_tier_file[i]);
      sceplab_ca_close(ca);
      return NULL;
    }
  }
  {
    /* a rollover made ahead of the switch (sceplab ca rollover) */
    sceplab_error ignore;
    sceplab_err_clear(&ignore);
    ca_pair_load(dir, "next-ca", &ca->next, &ca->next_key, &ignore);
  }
  if(!(ca->keeper = ca_keeper_load(dir, err)) && err->msg[0]) {
    sceplab_ca_close(ca);
    return NULL;
  }
  if(ca_narrow_mode(dir, 0700, err) != 0 || ca_public_url_load(ca, err) != 0 ||
     !(ca->store = sceplab_store_open(dir, ca->db, 0, err)) || bind_root(ca->store, dir, ca->cert[SCEPLAB_CA_ROOT], err) != 0) {
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
  sceplab_store_close(ca->store);
  for(i = 0; i < SCEPLAB_CA_TIERS; i++) {
    X509_free(ca->cert[i]);
    EVP_PKEY_free(ca->key[i]);
  }
  X509_free(ca->next);
  EVP_PKEY_free(ca->next_key);
  ca_ocsp_free(ca);
  free(ca->keeper);
  free(ca->public_url);
  free(ca->dir);
  free(ca->db);
  free(ca);
}

X509 *sceplab_ca_next(const sceplab_ca *ca) { return ca->next_key ? ca->next : NULL; }

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
  ca_key_spec(ca->key[SCEPLAB_CA_ISSUING], spec, sizeof(spec));
  if(!(k = ca_key_make(ca->keeper, "next-ca", spec, err)))
    return -1;
  x = ca_make_cert(X509_get_subject_name(cur), k, root, ca->key[SCEPLAB_CA_ROOT], days > 0 ? days : 1825,
                   "critical,CA:TRUE,pathlen:0", "critical,keyCertSign,cRLSign", NULL, NULL, NULL, 0);
  if(x && ca_add_root_revinfo(ca, x) != 0) {
    X509_free(x);
    x = NULL;
  }
  if(!x) {
    EVP_PKEY_free(k);
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the next CA certificate");
    return -1;
  }
  rc = ca_pair_save(ca->dir, "next-ca", x, k, err);
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

int sceplab_ca_rollover_activate(sceplab_ca *ca, sceplab_error *err)
{
  EVP_PKEY *rk[2] = {NULL, NULL};
  X509 *rc[2] = {NULL, NULL};
  X509_NAME *ran;
  int i, ok = -1;
  if(!sceplab_ca_next(ca)) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "%s: no rollover CA to activate: make one with `sceplab ca rollover`", ca->dir);
    return -1;
  }
  /* NDES re-enrolls its RA pair under the new CA: new keys, same subject and templates */
  ran = X509_NAME_dup(X509_get_subject_name(ca->cert[SCEPLAB_CA_RA_SIGN]));
  for(i = 0; i < 2; i++)
    if(!ran || !(rk[i] = ca_key_make(ca->keeper, ca_tier_file[i ? SCEPLAB_CA_RA_ENCRYPT : SCEPLAB_CA_RA_SIGN], "rsa:2048", err)))
      goto out;
  make_ra_pair(ran, rk, ca->next, ca->next_key, rc);
  if(!rc[0] || !rc[1]) {
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the new RA certificates");
    goto out;
  }
  if(ca_pair_retire(ca->dir, "ca", ca->cert[SCEPLAB_CA_ISSUING], err) != 0 ||
     ca_pair_retire(ca->dir, "ra-sign", ca->cert[SCEPLAB_CA_RA_SIGN], err) != 0 ||
     ca_pair_retire(ca->dir, "ra-encrypt", ca->cert[SCEPLAB_CA_RA_ENCRYPT], err) != 0 ||
     ca_pair_rename(ca->dir, "next-ca", "ca", err) != 0 ||
     ca_pair_save(ca->dir, "ra-sign", rc[0], rk[0], err) != 0 || ca_pair_save(ca->dir, "ra-encrypt", rc[1], rk[1], err) != 0)
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

void sceplab_ca_intune_keys(const sceplab_ca *ca, sceplab_intune_keys *k)
{
  k->sign_cert = ca->cert[SCEPLAB_CA_INTUNE_SIGN];
  k->sign_key = ca->key[SCEPLAB_CA_INTUNE_SIGN];
  k->enc_cert = ca->cert[SCEPLAB_CA_RA_ENCRYPT];
  k->enc_key = ca->key[SCEPLAB_CA_RA_ENCRYPT];
  k->source = ca->dir;
}

char *sceplab_ca_thumbprint(const sceplab_ca *ca, sceplab_ca_tier t)
{
  X509 *x = sceplab_ca_cert(ca, t);
  return x ? sceplab_thumbprint(x, EVP_sha1()) : NULL;
}

void sceplab_ca_set_commit_delay(sceplab_ca *ca, unsigned ms)
{
  ca->store->commit_delay_ms = ms;
}

int sceplab_ca_sync_behind(sceplab_ca *ca, int notify_fd, sceplab_error *err)
{
  if(!ca->store->ops->sync_behind)
    return 0;
  return ca->store->ops->sync_behind(ca->store, notify_fd, err) == 0 ? 1 : -1;
}

void sceplab_ca_sync_inline(sceplab_ca *ca)
{
  if(ca->store->ops->sync_inline)
    ca->store->ops->sync_inline(ca->store);
}

uint64_t sceplab_ca_commits(const sceplab_ca *ca)
{
  return ca->store->commits;
}

int sceplab_ca_durable(sceplab_ca *ca, uint64_t n)
{
  return ca->store->ops->durable ? ca->store->ops->durable(ca->store, n) : 1;
}
