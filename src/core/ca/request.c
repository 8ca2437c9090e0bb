/* Requests: issued (a resend gets the certificate issued to it), held pending or rejected,
 * approved or rejected by an administrator, polled, listed. Each change is one transaction of
 * the store (store.h), and a certificate leaves the CA only once the transaction recording it
 * committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "base/clock.h"
#include "ca/ca_int.h"
#include "ca/store.h"

static X509_REQ *csr_parse(const unsigned char *der, size_t n, sceplab_error *err)
{
  const unsigned char *p = der;
  int fast = sceplab_pki_rsa_decode_enter(); /* pki/rsa_decode.c */
  X509_REQ *req = n < 0x7fffffff ? d2i_X509_REQ(NULL, &p, (long)n) : NULL;
  sceplab_pki_rsa_decode_leave(fast);
  if(!req)
    return (void)sceplab_err_openssl(err, SCEPLAB_E_INPUT, "not a PKCS#10 request"), NULL;
  if(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1) {
    X509_REQ_free(req);
    return (void)sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "the request's signature does not verify"), NULL;
  }
  return req;
}

static sceplab_store *store_of(sceplab_ca *ca) { return ca->store; }

sceplab_req_state sceplab_ca_request(sceplab_ca *ca, const sceplab_req_id *id, unsigned char **cert, size_t *len,
                                     char **why, sceplab_error *err)
{
  sceplab_store *s = store_of(ca);
  store_request r;
  int rc = s->ops->request_find(s, id, &r, err);
  sceplab_req_state state = r.state;
  if(cert)
    *cert = NULL;
  if(why)
    *why = NULL;
  if(rc != STORE_FOUND) {
    store_request_free(&r);
    return rc == STORE_ERROR ? SCEPLAB_REQ_ERROR : SCEPLAB_REQ_NONE;
  }
  if(cert) {
    *cert = r.cert;
    *len = r.cert_len;
    r.cert = NULL;
  }
  if(why) {
    *why = r.why;
    r.why = NULL;
  }
  store_request_free(&r);
  return state;
}

sceplab_req_state sceplab_ca_poll(sceplab_ca *ca, const char *txid, EVP_PKEY *signer, unsigned char **cert, size_t *len,
                                  sceplab_error *err)
{
  sceplab_store *s = store_of(ca);
  store_request r;
  sceplab_req_state state;
  char key[65];
  int rc;
  *cert = NULL;
  if(ca_key_id(signer, key) != 0) {
    ERR_clear_error();
    sceplab_err_set(err, SCEPLAB_E_CRYPTO, "cannot digest the poll's signing key");
    return SCEPLAB_REQ_ERROR;
  }
  if((rc = s->ops->request_poll(s, txid, key, &r, err)) != STORE_FOUND) {
    store_request_free(&r);
    return rc == STORE_ERROR ? SCEPLAB_REQ_ERROR : SCEPLAB_REQ_NONE;
  }
  state = r.state;
  if(state == SCEPLAB_REQ_ISSUED) {
    *cert = r.cert;
    *len = r.cert_len;
    r.cert = NULL;
  }
  store_request_free(&r);
  return state;
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

int sceplab_ca_once_used(sceplab_ca *ca, const char *once, char **serial, sceplab_error *err)
{
  sceplab_store *s = store_of(ca);
  int rc = s->ops->token_used(s, once, serial, err);
  return rc == STORE_ERROR ? -1 : rc == STORE_FOUND;
}

/* A new request's record as the store takes it (pointers into id and the caller's strings). */
static void request_of(store_request *r, const sceplab_req_id *id, sceplab_req_state state, const char *subject,
                       const unsigned char *csr, size_t csrlen, const char *serial, const char *why)
{
  memset(r, 0, sizeof(*r));
  r->transaction_id = (char *)id->transaction_id;
  r->message_type = (char *)id->message_type;
  memcpy(r->key_id, id->key, sizeof(r->key_id));
  memcpy(r->csr_id, id->csr, sizeof(r->csr_id));
  memcpy(r->signer_id, id->signer, sizeof(r->signer_id));
  r->state = state;
  r->subject = (char *)subject;
  r->csr = (unsigned char *)csr;
  r->csr_len = csrlen;
  r->serial = (char *)serial;
  r->why = (char *)why;
}

/* Issues req and records it: as a new request under id (row 0), or as the pending request row
 * (an administrator's approval). One transaction, begun before anything is read: a concurrent
 * resend waits and then finds this one's certificate; two uses of one challenge cannot both pass.
 * The certificate is made and signed before the transaction begins: signing is the longest part
 * of an issue, and a transaction holds the writers' lock (SQLite's; PostgreSQL's on the request)
 * that every other enrollment waits for. It leaves this function only once the transaction
 * recording it committed; a resend that finds its certificate issued, or a challenge found used,
 * throws it away (a signature spent on a rare case). */
static X509 *issue(sceplab_ca *ca, X509_REQ *req, const unsigned char *csr, size_t csrlen, const char *txid,
                   const sceplab_req_id *id, int64_t row, const sceplab_issue_params *ip, unsigned *refused,
                   sceplab_error *err)
{
  sceplab_store *s = store_of(ca);
  X509 *x = NULL;
  unsigned char *der = NULL;
  size_t dlen = 0;
  char *serial = NULL, *subject = NULL, *used = NULL;
  int64_t now = ca_now(ip);
  unsigned code = 0;
  store_request r;
  store_cert c;
  sceplab_error made_err;
  unsigned made_code = 0;
  int rc;
  memset(&r, 0, sizeof(r));
  sceplab_err_clear(&made_err);
  x = ca_cert_for(ca, req, ip, &made_code, &made_err);
  if(sceplab_store_begin(s, err) != 0) {
    X509_free(x);
    return NULL;
  }
  if(!row) {
    if((rc = s->ops->request_find(s, id, &r, err)) == STORE_ERROR)
      goto fail;
    if(rc == STORE_FOUND && r.state == SCEPLAB_REQ_ISSUED && r.cert) {
      const unsigned char *p = r.cert;
      sceplab_store_rollback(s); /* nothing written */
      X509_free(x);
      x = d2i_X509(NULL, &p, (long)r.cert_len); /* a resend gets the certificate issued to it */
      if(!x)
        sceplab_err_openssl(err, SCEPLAB_E_FAILED, "%s: the certificate of transaction %s is damaged", ca->dir, txid);
      store_request_free(&r);
      return x;
    }
    row = rc == STORE_FOUND ? r.row : 0; /* a resend of a request pending or refused before: its record is updated */
    store_request_free(&r);
  }
  else {
    if((rc = s->ops->request_get(s, row, 1, &r, err)) == STORE_ERROR)
      goto fail;
    store_request_free(&r);
    if(rc == STORE_NOT_FOUND) {
      sceplab_err_set(err, SCEPLAB_E_INPUT, "request #%lld of transaction %s is no longer pending", (long long)row, txid);
      goto fail;
    }
  }
  if(ip && ip->once) {
    if((rc = s->ops->token_used(s, ip->once, &used, err)) == STORE_ERROR)
      goto fail;
    if(rc == STORE_FOUND) {
      code = 0x80094003u; /* CERTSRV_E_BAD_REQUESTSTATUS */
      sceplab_err_set(err, SCEPLAB_E_INPUT, "the challenge was used already: certificate %s was issued for it",
                      used ? used : "?");
      goto fail;
    }
  }
  if(!x) {
    if(err)
      *err = made_err;
    code = made_code;
    goto fail;
  }
  serial = sceplab_serial_hex(X509_get0_serialNumber(x));
  subject = ca_name_text(X509_get_subject_name(x));
  if(!(der = der_of(x, &dlen)) || !serial) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    goto fail;
  }
  memset(&c, 0, sizeof(c));
  c.serial = serial;
  c.subject = subject;
  c.not_before = now - 300;
  c.not_after = now + 86400LL * (ip && ip->days > 0 ? ip->days : 365);
  c.der = der;
  c.der_len = dlen;
  c.transaction_id = txid;
  if(s->ops->cert_insert(s, &c, err) != 0)
    goto fail;
  if(row > 0) {
    if(s->ops->request_update(s, row, SCEPLAB_REQ_ISSUED, serial, NULL, now, 0, err) == STORE_ERROR)
      goto fail;
  }
  else {
    int64_t added;
    request_of(&r, id, SCEPLAB_REQ_ISSUED, subject, csr, csrlen, serial, NULL);
    if(s->ops->request_insert(s, &r, now, &added, err) != 0)
      goto fail;
  }
  if(ip && ip->once && s->ops->token_use(s, ip->once, txid, serial, now, err) != 0)
    goto fail;
  /* the certificate leaves this function only once the transaction recording it committed */
  if(sceplab_store_commit(s, err) != 0)
    goto fail;
  free(der);
  free(serial);
  free(subject);
  return x;
fail:
  sceplab_store_rollback(s);
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
  sceplab_store *s = store_of(ca);
  X509_REQ *req = csr ? csr_parse(csr, csrlen, err) : NULL;
  char *subject = req ? ca_name_text(X509_REQ_get_subject_name(req)) : NULL;
  int64_t now = ca_now(NULL), row;
  store_request r;
  int rc;
  X509_REQ_free(req);
  if(csr && !req)
    return -1;
  if(state != SCEPLAB_REQ_PENDING)
    state = SCEPLAB_REQ_REJECTED;
  if(sceplab_store_begin(s, err) != 0) {
    free(subject);
    return -1;
  }
  rc = s->ops->request_find(s, id, &r, err);
  row = r.row;
  store_request_free(&r);
  if(rc == STORE_FOUND)
    /* a resend: its record says what became of it this time, unless it was issued meanwhile */
    rc = s->ops->request_update(s, row, state, NULL, why, now, STORE_UNLESS_ISSUED, err) == STORE_ERROR ? -1 : 0;
  else if(rc == STORE_NOT_FOUND) {
    request_of(&r, id, state, subject, csr, csrlen, NULL, why);
    rc = s->ops->request_insert(s, &r, now, &row, err);
  }
  else
    rc = -1;
  if(rc != 0 || sceplab_store_commit(s, err) != 0) {
    sceplab_store_rollback(s);
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
  sceplab_store *s = store_of(ca);
  store_request r;
  int64_t rows[2] = {0, 0};
  size_t n = 0;
  char *end = NULL;
  long long num = which[0] == '#' ? strtoll(which + 1, &end, 10) : 0;
  int rc;
  if(which[0] == '#' && (!end || *end || num <= 0))
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "'%s': a request is named by its transaction ID or #N", which), 0;
  if(which[0] != '#') {
    if(s->ops->request_pending(s, which, rows, 2, &n, err) != 0)
      return 0;
    if(n == 0)
      return sceplab_err_set(err, SCEPLAB_E_INPUT, "no pending request with transaction ID %s", which), 0;
    if(n > 1)
      /* another key sent the same transaction ID: the administrator must say which one */
      return sceplab_err_set(err, SCEPLAB_E_INPUT, "%zu pending requests carry transaction ID %s, from different keys: "
                             "name one by its number (#%lld, #%lld%s; sceplab ca list)", n, which, (long long)rows[0],
                             (long long)rows[1], n > 2 ? ", ..." : ""), 0;
    num = rows[0];
  }
  if((rc = s->ops->request_get(s, (int64_t)num, 1, &r, err)) != STORE_FOUND) {
    if(rc == STORE_NOT_FOUND)
      sceplab_err_set(err, SCEPLAB_E_INPUT, which[0] == '#' ? "no pending request %s" : "no pending request with transaction ID %s",
                      which);
    store_request_free(&r);
    return 0;
  }
  if(txid) {
    *txid = r.transaction_id;
    r.transaction_id = NULL;
  }
  if(csr) {
    *csr = r.csr;
    *csrlen = r.csr_len;
    r.csr = NULL;
  }
  store_request_free(&r);
  return (int64_t)num;
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
  sceplab_store *s = store_of(ca);
  int64_t row = pending_row(ca, which, NULL, NULL, NULL, err);
  int rc;
  if(row <= 0)
    return -1;
  rc = s->ops->request_update(s, row, SCEPLAB_REQ_REJECTED, NULL, why ? why : "rejected by the administrator", ca_now(NULL),
                              STORE_IF_PENDING, err);
  if(rc == STORE_NOT_FOUND)
    sceplab_err_set(err, SCEPLAB_E_INPUT, "request %s is no longer pending", which);
  return rc == STORE_FOUND ? 0 : -1;
}

int sceplab_ca_find(sceplab_ca *ca, const ASN1_INTEGER *serial, unsigned char **der, size_t *len, sceplab_error *err)
{
  sceplab_store *s = store_of(ca);
  char *hex = sceplab_serial_hex(serial);
  int rc;
  *der = NULL;
  if(!hex)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  rc = s->ops->cert_find(s, hex, der, len, NULL, err);
  free(hex);
  return rc == STORE_ERROR ? -1 : rc == STORE_FOUND;
}

int sceplab_ca_issued(sceplab_ca *ca, X509 *x, int *revoked, sceplab_error *err)
{
  sceplab_store *s = store_of(ca);
  char *hex = x ? sceplab_serial_hex(X509_get0_serialNumber(x)) : NULL;
  unsigned char *der = NULL, *stored = NULL;
  size_t slen = 0;
  int n = x ? i2d_X509(x, &der) : -1, rc;
  *revoked = 0;
  if(!hex || n <= 0) {
    free(hex);
    OPENSSL_free(der);
    return x ? (sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1) : 0;
  }
  rc = s->ops->cert_find(s, hex, &stored, &slen, revoked, err);
  /* the very certificate, not one that borrows a serial of ours */
  if(rc == STORE_FOUND && (slen != (size_t)n || memcmp(stored, der, slen) != 0)) {
    rc = STORE_NOT_FOUND;
    *revoked = 0;
  }
  free(stored);
  free(hex);
  OPENSSL_free(der);
  return rc == STORE_ERROR ? -1 : rc == STORE_FOUND;
}

static int list_one(void *ud, const store_request *r)
{
  sceplab_val *list = ud, *o = sceplab_val_obj();
  static const char *const states[] = {"none", "pending", "issued", "rejected"};
  sceplab_obj_set_int(o, "id", r->row);
  sceplab_obj_set_str(o, "transaction_id", r->transaction_id);
  if(r->message_type)
    sceplab_obj_set_str(o, "message_type", r->message_type);
  sceplab_obj_set_str(o, "state", r->revoked ? "revoked" : (unsigned)r->state < 4 ? states[r->state] : "?");
  if(r->subject)
    sceplab_obj_set_str(o, "subject", r->subject);
  if(r->serial)
    sceplab_obj_set_str(o, "serial", r->serial);
  if(r->why)
    sceplab_obj_set_str(o, "why", r->why);
  sceplab_obj_set_int(o, "created", r->created);
  sceplab_obj_set_int(o, "updated", r->updated);
  if(r->has_cert)
    sceplab_obj_set_int(o, "not_after", r->not_after);
  if(r->revoked) {
    sceplab_obj_set_int(o, "revoked_at", r->revoked_at);
    sceplab_obj_set_int(o, "reason", r->reason);
  }
  sceplab_arr_push(list, o);
  return 0;
}

sceplab_val *sceplab_ca_list(sceplab_ca *ca, sceplab_error *err)
{
  sceplab_store *s = store_of(ca);
  sceplab_val *list = sceplab_val_arr();
  if(s->ops->request_list(s, list_one, list, err) != 0) {
    sceplab_val_free(list);
    return NULL;
  }
  return sceplab_done(list, err);
}
