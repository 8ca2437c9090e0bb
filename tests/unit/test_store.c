/* The CA's storage seam (src/core/ca/store.h) under the CA: a store that fails is an error the CA
 * passes on, never an answer of "none" (a retried transaction would then run the policy and the CA
 * again); a CRL is made from every revocation or not at all, its number taken in the transaction
 * that stores it; one-time challenges are used once; the schema carries its version, and a newer
 * one is refused. Errors are injected by replacing one function of the backend's table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "helpers.h"
#include "../../src/core/ca/ca_int.h"
#include "../../src/core/ca/store.h"

static char dir[] = "/tmp/sceplab-test-store-XXXXXX";
static sceplab_ca *ca;
static const sceplab_store_ops *real;
static sceplab_store_ops broken;
static int calls_left; /* revocations: how many go through before the failure */

static int setup(void **state)
{
  (void)state;
  if(!(ca = scratch_ca(dir)))
    return -1;
  real = ca->store->ops;
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  return scratch_ca_remove(ca, dir);
}

/* The real backend again after each test. */
static int restore(void **state)
{
  (void)state;
  ca->store->ops = real;
  return 0;
}

static int fail_find(sceplab_store *s, const sceplab_req_id *id, store_request *out, sceplab_error *err)
{
  (void)s;
  (void)id;
  memset(out, 0, sizeof(*out));
  return sceplab_err_set(err, SCEPLAB_E_FAILED, "ca.db: reading a request: database is locked"), STORE_ERROR;
}

static int fail_poll(sceplab_store *s, const char *txid, const char *key, store_request *out, sceplab_error *err)
{
  (void)s;
  (void)txid;
  (void)key;
  memset(out, 0, sizeof(*out));
  return sceplab_err_set(err, SCEPLAB_E_FAILED, "ca.db: reading a request: disk I/O error"), STORE_ERROR;
}

static int fail_cert(sceplab_store *s, const char *serial, unsigned char **der, size_t *len, int *revoked,
                     sceplab_error *err)
{
  (void)s;
  (void)serial;
  (void)len;
  (void)revoked;
  if(der)
    *der = NULL;
  return sceplab_err_set(err, SCEPLAB_E_FAILED, "ca.db: reading a certificate: database is locked"), STORE_ERROR;
}

/* Passes calls_left revocations on, then fails: a walk broken part-way. */
typedef struct relay {
  int (*each)(void *ud, const char *serial, int64_t when, int reason);
  void *ud;
} relay;

static int one_then_fail(void *ud, const char *serial, int64_t when, int reason)
{
  relay *r = ud;
  if(calls_left-- <= 0)
    return -42;
  return r->each(r->ud, serial, when, reason);
}

static int fail_revocations(sceplab_store *s, int (*each)(void *ud, const char *serial, int64_t when, int reason),
                            void *ud, sceplab_error *err)
{
  relay r = {each, ud};
  int rc = real->revocations(s, one_then_fail, &r, err);
  if(rc == -42)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "ca.db: reading the revocations: disk I/O error"), STORE_ERROR;
  return rc;
}

static int fail_crl_put(sceplab_store *s, const store_crl *c, sceplab_error *err)
{
  (void)s;
  (void)c;
  return sceplab_err_set(err, SCEPLAB_E_FAILED, "ca.db: recording the CRL: database or disk is full"), STORE_ERROR;
}

/* A request and its identity, signed by its own key. */
static X509_REQ *request(const char *cn, EVP_PKEY **key, unsigned char **der, size_t *len)
{
  sceplab_csr_params p;
  sceplab_error err;
  const unsigned char *q;
  char subject[64];
  memset(&p, 0, sizeof(p));
  snprintf(subject, sizeof(subject), "CN=%s", cn);
  p.subject = subject;
  *key = sceplab_key_generate("ec:p256", &err);
  assert_non_null(*key);
  *der = sceplab_csr_build(&p, *key, len, &err);
  assert_non_null(*der);
  q = *der;
  return d2i_X509_REQ(NULL, &q, (long)*len);
}

/* Issues a certificate for cn under transaction txid: its serial (malloc'd hex). */
static char *issue(const char *cn, const char *txid, sceplab_req_id *id)
{
  EVP_PKEY *key;
  unsigned char *der;
  size_t len;
  X509_REQ *req = request(cn, &key, &der, &len);
  sceplab_error err;
  X509 *x;
  char *serial;
  assert_int_equal(sceplab_req_id_make(id, txid, "PKCSReq", req, der, len, key, &err), 0);
  x = sceplab_ca_issue_req(ca, req, der, len, id, NULL, NULL, &err);
  assert_non_null(x);
  serial = sceplab_serial_hex(X509_get0_serialNumber(x));
  X509_free(x);
  X509_REQ_free(req);
  EVP_PKEY_free(key);
  free(der);
  return serial;
}

/* Before the seam, a store that could not answer read as "no such request": the server then
 * ran the policy and issued again for a transaction it had answered. */
static void a_store_error_is_no_none(void **state)
{
  sceplab_req_id id;
  sceplab_error err;
  unsigned char *cert = NULL;
  size_t n = 0;
  char *why = NULL, *serial = issue("answered", "tx-answered", &id);
  ASN1_INTEGER *asn = NULL;
  BIGNUM *bn = NULL;
  EVP_PKEY *key = sceplab_key_generate("ec:p256", &err);
  (void)state;
  assert_int_equal(sceplab_ca_request(ca, &id, &cert, &n, &why, &err), SCEPLAB_REQ_ISSUED);
  free(cert);
  broken = *real;
  broken.request_find = fail_find;
  broken.request_poll = fail_poll;
  broken.cert_find = fail_cert;
  ca->store->ops = &broken;
  sceplab_err_clear(&err);
  assert_int_equal(sceplab_ca_request(ca, &id, &cert, &n, &why, &err), SCEPLAB_REQ_ERROR);
  assert_non_null(strstr(err.msg, "database is locked"));
  assert_null(cert);
  sceplab_err_clear(&err);
  assert_int_equal(sceplab_ca_poll(ca, "tx-answered", key, &cert, &n, &err), SCEPLAB_REQ_ERROR);
  assert_non_null(strstr(err.msg, "disk I/O error"));
  /* GetCert by serial, and "did this CA issue the signer" */
  assert_true(BN_hex2bn(&bn, serial) > 0);
  asn = BN_to_ASN1_INTEGER(bn, NULL);
  sceplab_err_clear(&err);
  assert_int_equal(sceplab_ca_find(ca, asn, &cert, &n, &err), -1);
  assert_non_null(strstr(err.msg, "database is locked"));
  /* the issuance itself stops at the failed lookup, before any policy of its own */
  {
    EVP_PKEY *k2;
    unsigned char *der;
    size_t len;
    X509_REQ *req = request("retried", &k2, &der, &len);
    sceplab_req_id id2;
    unsigned refused = 0;
    assert_int_equal(sceplab_req_id_make(&id2, "tx-retried", "PKCSReq", req, der, len, k2, &err), 0);
    sceplab_err_clear(&err);
    assert_null(sceplab_ca_issue_req(ca, req, der, len, &id2, NULL, &refused, &err));
    assert_int_equal(refused, 0); /* not a refusal: an error */
    assert_non_null(strstr(err.msg, "database is locked"));
    X509_REQ_free(req);
    EVP_PKEY_free(k2);
    free(der);
  }
  ca->store->ops = real;
  sceplab_err_clear(&err);
  assert_int_equal(sceplab_ca_find(ca, asn, &cert, &n, &err), 1);
  assert_non_null(cert);
  free(cert);
  ASN1_INTEGER_free(asn);
  BN_free(bn);
  EVP_PKEY_free(key);
  free(serial);
}

static long long crl_number(const unsigned char *der, size_t n)
{
  const unsigned char *p = der;
  X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)n);
  ASN1_INTEGER *num = crl ? X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL) : NULL;
  long long v = num ? (long long)ASN1_INTEGER_get(num) : -1;
  ASN1_INTEGER_free(num);
  X509_CRL_free(crl);
  return v;
}

static int revoked_in(const unsigned char *der, size_t n)
{
  const unsigned char *p = der;
  X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)n);
  int count = crl ? sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) : -1;
  X509_CRL_free(crl);
  return count;
}

/* Before the seam, a walk of the revocations broken part-way made a CRL of those read so far,
 * signed and kept as current. */
static void a_crl_lists_every_revocation_or_is_not_made(void **state)
{
  sceplab_req_id id;
  sceplab_error err;
  char *a = issue("revoked-a", "tx-a", &id), *b = issue("revoked-b", "tx-b", &id);
  unsigned char *crl;
  size_t n = 0;
  long long first;
  (void)state;
  assert_int_equal(sceplab_ca_revoke(ca, a, 1, &err), 0);
  assert_int_equal(sceplab_ca_revoke(ca, b, 4, &err), 0);
  crl = sceplab_ca_crl(ca, 7, &n, &err);
  assert_non_null(crl);
  first = crl_number(crl, n);
  assert_true(first >= 1);
  assert_int_equal(revoked_in(crl, n), 2);
  free(crl);
  /* the second revocation cannot be read: no CRL, no number used */
  broken = *real;
  broken.revocations = fail_revocations;
  ca->store->ops = &broken;
  calls_left = 1;
  sceplab_err_clear(&err);
  assert_null(sceplab_ca_crl(ca, 7, &n, &err));
  assert_non_null(strstr(err.msg, "disk I/O error"));
  /* nor when the CRL cannot be stored */
  broken = *real;
  broken.crl_put = fail_crl_put;
  sceplab_err_clear(&err);
  assert_null(sceplab_ca_crl(ca, 7, &n, &err));
  assert_non_null(strstr(err.msg, "disk is full"));
  ca->store->ops = real;
  crl = sceplab_ca_crl(ca, 7, &n, &err);
  assert_non_null(crl);
  assert_int_equal(crl_number(crl, n), first + 1); /* the failed ones took no number */
  assert_int_equal(revoked_in(crl, n), 2);
  free(crl);
  /* GetCRL's current one: the same until a revocation */
  crl = sceplab_ca_crl_current(ca, 7, &n, &err);
  assert_non_null(crl);
  assert_int_equal(crl_number(crl, n), first + 1);
  free(crl);
  free(a);
  free(b);
}

static void a_challenge_is_used_once(void **state)
{
  sceplab_error err;
  char *pw = sceplab_ca_challenge_new(ca, 60, &err);
  int before;
  (void)state;
  assert_non_null(pw);
  before = sceplab_ca_challenge_outstanding(ca, &err);
  assert_true(before >= 1);
  assert_int_equal(sceplab_ca_challenge_use(ca, pw, &err), 1);
  assert_int_equal(sceplab_ca_challenge_use(ca, pw, &err), 0);
  assert_int_equal(sceplab_ca_challenge_use(ca, "0000000000000000", &err), 0);
  assert_int_equal(sceplab_ca_challenge_outstanding(ca, &err), before - 1);
  free(pw);
}

/* Runs sqlite3 on the CA's database: its first line of output. */
static void sql(const char *q, char *out, size_t n)
{
  char cmd[512];
  FILE *p;
  snprintf(cmd, sizeof(cmd), "sqlite3 '%s/ca.db' \"%s\"", dir, q);
  p = popen(cmd, "r");
  assert_non_null(p);
  out[0] = '\0';
  if(!fgets(out, (int)n, p))
    out[0] = '\0';
  pclose(p);
  out[strcspn(out, "\n")] = '\0';
}

static void the_schema_carries_its_version(void **state)
{
  char v[64];
  sceplab_error err;
  sceplab_ca *again;
  (void)state;
  sql("SELECT value FROM meta WHERE key = 'schema_version'", v, sizeof(v));
  assert_string_equal(v, "3");
  /* opened again: nothing to migrate, the same version */
  again = sceplab_ca_open(dir, &err);
  assert_non_null(again);
  sceplab_ca_close(again);
  sql("SELECT value FROM meta WHERE key = 'schema_version'", v, sizeof(v));
  assert_string_equal(v, "3");
  /* a database a newer sceplab made is refused, not read as if it were this one's */
  sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'", v, sizeof(v));
  sceplab_err_clear(&err);
  assert_null(sceplab_ca_open(dir, &err));
  assert_non_null(strstr(err.msg, "schema version 99"));
  sql("UPDATE meta SET value = '3' WHERE key = 'schema_version'", v, sizeof(v));
}

static void the_backend_is_named(void **state)
{
  (void)state;
  assert_string_equal(ca->store->ops->name, "sqlite");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(a_store_error_is_no_none, restore),
    cmocka_unit_test_teardown(a_crl_lists_every_revocation_or_is_not_made, restore),
    cmocka_unit_test(a_challenge_is_used_once),
    cmocka_unit_test(the_schema_carries_its_version),
    cmocka_unit_test(the_backend_is_named),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
