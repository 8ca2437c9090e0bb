/* The OCSP responder (RFC 6960): a delegated responder certificate the issuing CA issues for it
 * (id-kp-OCSPSigning, and id-pkix-ocsp-nocheck so clients do not ask about the responder itself),
 * kept as the pair "ocsp" by the key keeper, and the answers it signs. The answer to each
 * certificate asked about comes from the store: good, revoked (with its time and reason), or
 * unknown when it is not a certificate of this issuing CA. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ca/ca_int.h"
#include "ca/store.h"

#define RESPONDER_DAYS 14
#define RENEW_LEFT (2 * 86400) /* made anew when less than this is left */
#define ANSWER_VALID 86400     /* nextUpdate of an answer: clients cache it this long at most */
#define OCSP_MAX_CERTS 64

void ca_ocsp_free(sceplab_ca *ca)
{
  X509_free(ca->ocsp);
  EVP_PKEY_free(ca->ocsp_key);
  ca->ocsp = NULL;
  ca->ocsp_key = NULL;
}

/* Whether x can answer now: issued by the current issuing CA, valid for RENEW_LEFT more. */
static int responder_fresh(const sceplab_ca *ca, X509 *x)
{
  time_t later = (time_t)ca_now(NULL) + RENEW_LEFT, now = (time_t)ca_now(NULL);
  EVP_PKEY *ik = X509_get0_pubkey(ca->cert[SCEPLAB_CA_ISSUING]);
  int ok = x && ik && X509_verify(x, ik) == 1 && X509_cmp_time(X509_get0_notAfter(x), &later) > 0 &&
           X509_cmp_time(X509_get0_notBefore(x), &now) < 0;
  ERR_clear_error();
  return ok;
}

static X509 *make_responder(sceplab_ca *ca, EVP_PKEY *k)
{
  X509 *issuer = ca->cert[SCEPLAB_CA_ISSUING];
  X509_NAME *subject = X509_NAME_dup(X509_get_subject_name(issuer));
  X509 *x = NULL;
  int i = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
  /* the issuing CA's name with " OCSP Responder" on its common name, as ADCS's template names it */
  if(subject && i >= 0) {
    unsigned char *cn = NULL;
    int n = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
    char buf[256];
    X509_NAME_ENTRY_free(X509_NAME_delete_entry(subject, i));
    snprintf(buf, sizeof(buf), "%.*s OCSP Responder", n > 0 ? (n > 200 ? 200 : n) : 0, n > 0 ? (char *)cn : "");
    OPENSSL_free(cn);
    if(!X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8, (unsigned char *)buf, -1, -1, 0)) {
      X509_NAME_free(subject);
      subject = NULL;
    }
  }
  if(subject) {
    x = ca_make_cert(subject, k, issuer, ca->key[SCEPLAB_CA_ISSUING], RESPONDER_DAYS, "critical,CA:FALSE",
                     "critical,digitalSignature", "OCSPSigning", NULL, NULL, 0);
    if(x && ca_add_ext(x, issuer, NID_id_pkix_OCSP_noCheck, "yes") != 0) {
      X509_free(x);
      x = NULL;
    }
    /* ca_make_cert signed it before the nocheck extension went in */
    if(x && X509_sign(x, ca->key[SCEPLAB_CA_ISSUING], EVP_sha256()) <= 0) {
      X509_free(x);
      x = NULL;
    }
  }
  X509_NAME_free(subject);
  return x;
}

X509 *sceplab_ca_ocsp_cert(sceplab_ca *ca, sceplab_error *err)
{
  X509 *x = NULL;
  EVP_PKEY *k = NULL;
  char spec[32];
  if(responder_fresh(ca, ca->ocsp))
    return ca->ocsp;
  ca_ocsp_free(ca);
  /* kept by an earlier run (or another process): taken when still good */
  if(ca_pair_load(ca->dir, "ocsp", &x, &k, err) < 0)
    return NULL;
  sceplab_err_clear(err);
  if(x && responder_fresh(ca, x)) {
    ca->ocsp = x;
    ca->ocsp_key = k;
    return x;
  }
  if(x && ca_pair_retire(ca->dir, "ocsp", x, err) != 0) {
    X509_free(x);
    EVP_PKEY_free(k);
    return NULL;
  }
  X509_free(x);
  EVP_PKEY_free(k);
  x = NULL;
  /* a key like the issuing CA's (RSA for an RSA CA, the same curve for EC) */
  ca_key_spec(ca->key[SCEPLAB_CA_ISSUING], spec, sizeof(spec));
  if(!(k = ca_key_make(ca->keeper, "ocsp", spec, err)))
    return NULL;
  if(!(x = make_responder(ca, k))) {
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the OCSP responder certificate");
    EVP_PKEY_free(k);
    return NULL;
  }
  if(ca_pair_save(ca->dir, "ocsp", x, k, err) != 0) {
    X509_free(x);
    EVP_PKEY_free(k);
    /* another server on the same state directory made one first: its pair is as good */
    x = NULL;
    k = NULL;
    sceplab_err_clear(err);
    if(ca_pair_load(ca->dir, "ocsp", &x, &k, err) > 0 && responder_fresh(ca, x)) {
      ca->ocsp = x;
      ca->ocsp_key = k;
      return x;
    }
    X509_free(x);
    EVP_PKEY_free(k);
    if(!err->msg[0])
      sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: the OCSP responder's pair cannot be saved", ca->dir);
    return NULL;
  }
  ca->ocsp = x;
  ca->ocsp_key = k;
  return x;
}

typedef struct found_rev {
  const char *serial;
  int64_t when;
  int reason;
  int found;
} found_rev;

static int find_rev(void *ud, const char *serial, int64_t when, int reason)
{
  found_rev *f = ud;
  if(strcmp(serial, f->serial) != 0)
    return 0;
  f->when = when;
  f->reason = reason;
  f->found = 1;
  return 1;
}

/* One certificate's status into bs: 0, or -1 with err (the store cannot say). */
static int add_status(sceplab_ca *ca, OCSP_BASICRESP *bs, OCSP_CERTID *cid, ASN1_TIME *now, ASN1_TIME *next,
                      sceplab_error *err)
{
  sceplab_store *s = ca->store;
  ASN1_OBJECT *md_oid = NULL;
  ASN1_INTEGER *serial = NULL;
  const EVP_MD *md;
  OCSP_CERTID *ours = NULL;
  char *hex = NULL;
  int status = V_OCSP_CERTSTATUS_UNKNOWN, reason = OCSP_REVOKED_STATUS_NOSTATUS, revoked = 0, rc = 0;
  ASN1_TIME *rtime = NULL;
  OCSP_id_get0_info(NULL, &md_oid, NULL, &serial, cid);
  /* ours only when it names this issuing CA (its name and key hashed as the request hashed them) */
  md = md_oid ? EVP_get_digestbyobj(md_oid) : NULL;
  if(md && (ours = OCSP_cert_to_id(md, NULL, ca->cert[SCEPLAB_CA_ISSUING])) != NULL &&
     OCSP_id_issuer_cmp(ours, cid) == 0 && serial && (hex = sceplab_serial_hex(serial)) != NULL) {
    int got = s->ops->cert_find(s, hex, NULL, NULL, &revoked, err);
    if(got == STORE_ERROR)
      rc = -1;
    else if(got == STORE_FOUND && !revoked)
      status = V_OCSP_CERTSTATUS_GOOD;
    else if(got == STORE_FOUND) {
      found_rev f;
      memset(&f, 0, sizeof(f));
      f.serial = hex;
      if(s->ops->revocations(s, find_rev, &f, err) == STORE_ERROR)
        rc = -1;
      else {
        status = V_OCSP_CERTSTATUS_REVOKED;
        reason = f.found ? f.reason : OCSP_REVOKED_STATUS_UNSPECIFIED;
        rtime = ASN1_TIME_set(NULL, (time_t)(f.found ? f.when : ca_now(NULL)));
      }
    }
  }
  if(rc == 0 && (status == V_OCSP_CERTSTATUS_REVOKED && !rtime))
    rc = -1;
  if(rc == 0 && !OCSP_basic_add1_status(bs, cid, status, reason, rtime, now, next)) {
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot add a status to the OCSP answer");
    rc = -1;
  }
  ASN1_TIME_free(rtime);
  OCSP_CERTID_free(ours);
  free(hex);
  return rc;
}

static unsigned char *response_der(OCSP_RESPONSE *r, size_t *len, sceplab_error *err)
{
  unsigned char *der = NULL, *p;
  int n = r ? i2d_OCSP_RESPONSE(r, NULL) : -1;
  if(n <= 0 || !(der = malloc((size_t)n)))
    return (void)sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot encode the OCSP answer"), NULL;
  p = der;
  i2d_OCSP_RESPONSE(r, &p);
  *len = (size_t)n;
  return der;
}

unsigned char *sceplab_ca_ocsp(sceplab_ca *ca, const unsigned char *in, size_t n, size_t *len, sceplab_error *err)
{
  const unsigned char *q = in;
  OCSP_REQUEST *req = n < (1u << 20) ? d2i_OCSP_REQUEST(NULL, &q, (long)n) : NULL;
  OCSP_BASICRESP *bs = NULL;
  OCSP_RESPONSE *resp = NULL;
  ASN1_TIME *now = NULL, *next = NULL;
  unsigned char *der = NULL;
  time_t t = (time_t)ca_now(NULL);
  int i, count = req ? OCSP_request_onereq_count(req) : 0, ok = 1;
  /* not an OCSPRequest (or bytes after one), or more certificates than any client asks about at
   * once (each is a lookup): RFC 6960's malformedRequest, unsigned */
  if(!req || count <= 0 || count > OCSP_MAX_CERTS || q != in + n) {
    resp = OCSP_response_create(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, NULL);
    der = response_der(resp, len, err);
    goto out;
  }
  if(!sceplab_ca_ocsp_cert(ca, err))
    goto out;
  bs = OCSP_BASICRESP_new();
  now = ASN1_TIME_set(NULL, t);
  next = ASN1_TIME_set(NULL, t + ANSWER_VALID);
  if(!bs || !now || !next) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    goto out;
  }
  for(i = 0; i < count && ok; i++)
    ok = add_status(ca, bs, OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i)), now, next, err) == 0;
  if(!ok)
    goto out;
  /* the nonce back, when there is one (OCSP_copy_nonce: 1 none, 2 copied) */
  if(OCSP_copy_nonce(bs, req) <= 0 ||
     !OCSP_basic_sign(bs, ca->ocsp, ca->ocsp_key, EVP_sha256(), NULL, 0) ||
     !(resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs))) {
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot sign the OCSP answer");
    goto out;
  }
  der = response_der(resp, len, err);
out:
  OCSP_REQUEST_free(req);
  OCSP_BASICRESP_free(bs);
  OCSP_RESPONSE_free(resp);
  ASN1_TIME_free(now);
  ASN1_TIME_free(next);
  ERR_clear_error();
  return der;
}
