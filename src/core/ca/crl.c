/* Revocation and the CRL: a CRL lists every revocation or is not made at all (a store that fails
 * part-way through the revocations makes no CRL), and its number is taken in the transaction that
 * stores it, so no two CRLs carry the same number and a failed one uses none. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca_int.h"
#include "ca/store.h"

int sceplab_ca_revoke(sceplab_ca *ca, const char *serial, int reason, sceplab_error *err)
{
  sceplab_store *s = ca->store;
  BIGNUM *bn = NULL;
  char *norm = NULL, *h;
  int rc;
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
  if(!norm)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  if(reason < 0 || reason > 10 || reason == 7)
    reason = 0;
  rc = s->ops->cert_revoke(s, norm, ca_now(NULL), reason, err);
  if(rc == STORE_NOT_FOUND)
    sceplab_err_set(err, SCEPLAB_E_INPUT, "no valid certificate with serial %s", norm);
  free(norm);
  return rc == STORE_FOUND ? 0 : -1;
}

typedef struct listing {
  X509_CRL *crl;
  int64_t n;
} listing;

/* One revocation onto the CRL: 0, or 1 to stop (the CRL cannot be made). */
static int add_revoked(void *ud, const char *serial_hex, int64_t when, int reason)
{
  listing *l = ud;
  X509_CRL *crl = l->crl;
  X509_REVOKED *r = X509_REVOKED_new();
  BIGNUM *bn = NULL;
  ASN1_INTEGER *serial = NULL;
  ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)when);
  ASN1_ENUMERATED *why = ASN1_ENUMERATED_new();
  int ok = r && t && why && serial_hex && BN_hex2bn(&bn, serial_hex) && (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
           X509_REVOKED_set_serialNumber(r, serial) && X509_REVOKED_set_revocationDate(r, t) &&
           ASN1_ENUMERATED_set(why, reason) && X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, why, 0, 0) &&
           X509_CRL_add0_revoked(crl, r);
  if(ok) {
    r = NULL;
    l->n++;
  }
  X509_REVOKED_free(r);
  BN_free(bn);
  ASN1_INTEGER_free(serial);
  ASN1_TIME_free(t);
  ASN1_ENUMERATED_free(why);
  return ok ? 0 : 1;
}

unsigned char *sceplab_ca_crl(sceplab_ca *ca, int days, size_t *len, sceplab_error *err)
{
  sceplab_store *s = ca->store;
  X509 *issuer = ca->cert[SCEPLAB_CA_ISSUING];
  X509_CRL *crl = X509_CRL_new();
  ASN1_TIME *t = ASN1_TIME_new();
  ASN1_INTEGER *number = ASN1_INTEGER_new();
  unsigned char *der = NULL, *p;
  char *thumb = sceplab_thumbprint(issuer, EVP_sha1());
  int n = 0, rc;
  int64_t num = 0, revoked = 0;
  time_t now = (time_t)ca_now(NULL);
  store_crl c;
  listing listed;
  days = days > 0 ? days : 7;
  if(!crl || !t || !number || !thumb) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    goto done;
  }
  /* one transaction: the number, the revocations listed and the CRL kept as current agree */
  if(sceplab_store_begin(s, err) != 0)
    goto done;
  if(s->ops->crl_number_next(s, &num, err) != 0)
    goto fail;
  if(!X509_CRL_set_version(crl, 1) || !X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) ||
     !ASN1_TIME_set(t, now) || !X509_CRL_set1_lastUpdate(crl, t) || !X509_time_adj_ex(t, days, 0, &now) ||
     !X509_CRL_set1_nextUpdate(crl, t) || !ASN1_INTEGER_set_int64(number, num) ||
     !X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0))
    goto ossl;
  listed.crl = crl;
  listed.n = 0;
  if((rc = s->ops->revocations(s, add_revoked, &listed, err)) == STORE_ERROR)
    goto fail; /* part of the list only: no CRL */
  if(rc != 0)
    goto ossl;
  revoked = listed.n;
  if(!X509_CRL_sort(crl) || X509_CRL_sign(crl, ca->key[SCEPLAB_CA_ISSUING], EVP_sha256()) <= 0 ||
     (n = i2d_X509_CRL(crl, NULL)) <= 0 || !(der = malloc((size_t)n)))
    goto ossl;
  p = der;
  i2d_X509_CRL(crl, &p);
  *len = (size_t)n;
  /* kept as the current CRL, with what it was made from, for sceplab_ca_crl_current */
  memset(&c, 0, sizeof(c));
  c.number = num;
  c.der = der;
  c.der_len = (size_t)n;
  c.this_update = (int64_t)now;
  c.next_update = (int64_t)now + 86400LL * days;
  c.revoked = revoked;
  snprintf(c.issuer, sizeof(c.issuer), "%s", thumb);
  if(s->ops->crl_put(s, &c, err) != 0 || sceplab_store_commit(s, err) != 0)
    goto fail;
  goto done;
ossl:
  sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the CRL");
fail:
  sceplab_store_rollback(s);
  free(der);
  der = NULL;
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
  sceplab_store *s = ca->store;
  char *thumb = sceplab_thumbprint(ca->cert[SCEPLAB_CA_ISSUING], EVP_sha1());
  int64_t now = ca_now(NULL), revoked = 0;
  store_crl c;
  int rc;
  if(!thumb)
    return (void)sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  rc = s->ops->crl_get(s, &c, err);
  /* re-signed before its nextUpdate (at half its validity), at a revocation, or when the issuing
   * CA changed (rollover); a store that cannot say is an error, not a reason to sign anew */
  if(rc == STORE_FOUND && s->ops->revoked_count(s, &revoked, err) != 0)
    rc = STORE_ERROR;
  if(rc == STORE_FOUND && !strcmp(c.issuer, thumb) && now >= c.this_update &&
     now < c.this_update + (c.next_update - c.this_update) / 2 && c.revoked == revoked) {
    free(thumb);
    *len = c.der_len;
    return c.der;
  }
  free(thumb);
  free(c.der);
  return rc == STORE_ERROR ? NULL : sceplab_ca_crl(ca, days, len, err);
}
