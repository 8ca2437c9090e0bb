/* The SCEP URL of `sceplab serve`, as NDES answers it: GetCACaps, GetCACert, GetNextCACert and
 * PKIOperation (PKCSReq and RenewalReq through the challenge policy and the CA, CertPoll, GetCert,
 * GetCRL). What happens is told to the observers (artifacts.h); the faults play at their stages
 * (faults.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "base/clock.h"
#include "ndes/ndes_int.h"

static void emit(ndes_server *s, ndes_event *ev) { ndes_emit(&s->obs, ev); }

/* The SANs of an extension list, or NULL. */
static GENERAL_NAMES *sans_of(const STACK_OF(X509_EXTENSION) *exts)
{
  return exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
}

/* Whether two SAN lists name the same things, in any order. */
static int same_sans(GENERAL_NAMES *a, GENERAL_NAMES *b)
{
  int na = a ? sk_GENERAL_NAME_num(a) : 0, nb = b ? sk_GENERAL_NAME_num(b) : 0, i, j;
  unsigned char used[256];
  if(na != nb || na > (int)sizeof(used))
    return 0;
  memset(used, 0, sizeof(used));
  for(i = 0; i < na; i++) {
    for(j = 0; j < nb; j++)
      if(!used[j] && GENERAL_NAME_cmp(sk_GENERAL_NAME_value(a, i), sk_GENERAL_NAME_value(b, j)) == 0)
        break;
    if(j == nb)
      return 0;
    used[j] = 1;
  }
  return 1;
}

/* Whether a request signed by a certificate this CA issued (ours; revoked when so) renews it, as
 * NDES renews: the certificate is valid now (the clock's now) and not revoked, and the request
 * asks for its subject and its SANs, nothing else. The signature is that certificate's key's:
 * the message's signature verified with it. 1, or 0 with why. */
static int renews_signer(X509 *signer, X509_REQ *req, int revoked, char *why, size_t n)
{
  time_t t = (time_t)sceplab_clock_now();
  STACK_OF(X509_EXTENSION) *exts;
  GENERAL_NAMES *mine, *asked;
  int same;
  if(revoked)
    return snprintf(why, n, "the signing certificate is revoked"), 0;
  if(X509_cmp_time(X509_get0_notBefore(signer), &t) >= 0 || X509_cmp_time(X509_get0_notAfter(signer), &t) <= 0) {
    ERR_clear_error();
    return snprintf(why, n, "the signing certificate is not valid now (expired or not yet valid)"), 0;
  }
  if(X509_NAME_cmp(X509_get_subject_name(signer), X509_REQ_get_subject_name(req)) != 0)
    return snprintf(why, n, "the request's subject is not the signer's subject"), 0;
  exts = X509_REQ_get_extensions(req);
  mine = X509_get_ext_d2i(signer, NID_subject_alt_name, NULL, NULL);
  asked = sans_of(exts);
  same = same_sans(mine, asked);
  GENERAL_NAMES_free(mine);
  GENERAL_NAMES_free(asked);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  ERR_clear_error();
  if(!same)
    return snprintf(why, n, "the request's SANs are not the signer's SANs"), 0;
  return 1;
}

/* The CertRep content for an issued certificate: a certificates-only PKCS#7 holding it. */
static unsigned char *issued_p7(X509 *x, size_t *len, sceplab_error *err)
{
  return x ? sceplab_degenerate(&x, 1, NULL, 0, len, err) : NULL;
}

/* The same for a certificate stored as DER (a transaction answered again). */
static unsigned char *stored_p7(const unsigned char *cert, size_t n, size_t *len, sceplab_error *err)
{
  const unsigned char *p = cert;
  X509 *x = d2i_X509(NULL, &p, (long)n);
  unsigned char *out = issued_p7(x, len, err);
  X509_free(x);
  return out;
}

/* A request refused before any record is made (the message does not check out). */
static void refused(ndes_server *s, const sceplab_scep_request *rq, int fail, const char *why)
{
  ndes_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_REFUSED;
  ev.message_type = sceplab_scep_name(SCEPLAB_NAMES_MESSAGE_TYPE, rq->message_type);
  ev.transaction_id = rq->transaction_id;
  ev.fail_info = sceplab_scep_name(SCEPLAB_NAMES_FAIL_INFO, fail);
  ev.text = why;
  emit(s, &ev);
}

/* The connector's report of what the CA did (x, or its error code), after the reply stage's
 * faults said how the report goes. */
static void notify(ndes_server *s, const sceplab_policy_answer *ans, const sceplab_scep_request *rq, X509 *x,
                   unsigned code)
{
  ndes_fault_ctx fc;
  ndes_event ev;
  double t0 = ndes_now_ms();
  memset(&fc, 0, sizeof(fc));
  fc.s = s;
  fc.upload_attempts = 1;
  fc.stays_processing = s->p->crs_hold; /* held by the caller: as the stopped connector service does */
  ndes_faults_play(s->p->faults, NDES_STAGE_REPLY, &fc);
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_NOTIFIED;
  ev.answer = ans;
  ev.transaction_id = rq->transaction_id;
  ev.cert = x;
  ev.issuer = sceplab_ca_cert(s->p->ca, SCEPLAB_CA_ISSUING);
  ev.hresult = code;
  ev.upload_attempts = fc.upload_attempts;
  ev.crs_folder = fc.stays_processing ? NULL : x && !fc.upload_failed ? "Succeed" : "Failed";
  emit(s, &ev);
  ndes_crp_http(s, "/CertificateRegistrationSvc/Certificate/Notify", 204, 0, 0, t0);
}

/* The CA refused what the policy allowed: its error, then the connector's report. */
static void ca_refused(ndes_server *s, const sceplab_policy_answer *ans, const sceplab_scep_request *rq, unsigned code)
{
  ndes_event ev;
  if(!s->world.connector)
    return;
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_CA_REFUSED;
  ev.transaction_id = rq->transaction_id;
  ev.hresult = code;
  emit(s, &ev);
  notify(s, ans, rq, NULL, code);
}

/* The challenge policy's answer for pr, as NDES gets it: through the connector's VerifyRequest
 * (the verify stage's faults before it), or NDES's own password check when no connector is
 * installed. 0, or -1 with err (the policy failed: 500). */
static int ask_policy(ndes_server *s, const sceplab_policy_request *pr, sceplab_policy_answer *ans, double t0,
                      sceplab_error *err)
{
  char act[48] = "";
  ndes_event ev;
  memset(&ev, 0, sizeof(ev));
  if(s->world.connector) {
    ndes_fault_ctx fc;
    if(sceplab_art_activity(act, sizeof(act)) != 0)
      return sceplab_err_set(err, SCEPLAB_E_CRYPTO, "no random bytes"), -1;
    ev.kind = NDES_EV_VERIFY_CALLED;
    ev.activity = act;
    emit(s, &ev);
    if(ndes_policy_expired(s)) {
      /* the policy certificate expired while the pool ran: IIS refuses it as the client certificate
       * of VerifyRequest (403.17, "client certificate has expired or is not yet valid") */
      ndes_verify_http(s, 403, 17, 2148204801u /* CERT_E_EXPIRED */, t0);
      ev.kind = NDES_EV_VERIFY_FAILED;
      ev.verify = NDES_VERIFY_FORBIDDEN;
      emit(s, &ev);
      snprintf(ans->reason, sizeof(ans->reason), "VerifyRequest answered 403.17: the policy certificate expired");
      ans->decision = SCEPLAB_POLICY_DENY;
      ans->fail_info = SCEPLAB_FAIL_BADREQUEST;
      return 0;
    }
    memset(&fc, 0, sizeof(fc));
    fc.s = s;
    fc.activity = act;
    fc.started_ms = t0;
    fc.answer = ans;
    if(ndes_faults_play(s->p->faults, NDES_STAGE_VERIFY, &fc))
      return 0; /* the CRP failed before any policy ran */
  }
  else if(!s->world.installed) {
    /* no Intune policy module: NDES checks the challenge against its own password cache, where an
     * Intune challenge never is */
    ans->decision = SCEPLAB_POLICY_DENY;
    ans->event = 29;
    snprintf(ans->reason, sizeof(ans->reason), "no Intune policy module: NDES does not know the challenge");
    return 0;
  }
  if(!s->p->policy) {
    ans->decision = SCEPLAB_POLICY_DENY;
    snprintf(ans->reason, sizeof(ans->reason), "no policy");
    return 0;
  }
  if(s->p->policy(s->p->policy_ud, pr, ans, err) != 0) {
    ndes_metrics_decided(-1);
    return -1;
  }
  ndes_metrics_decided((int)ans->decision);
  if(s->world.connector) {
    ndes_verify_http(s, 200, 0, 0, t0);
    ev.kind = NDES_EV_VERIFIED;
    ev.activity = act;
    ev.answer = ans;
    ev.transaction_id = pr->transaction_id;
    emit(s, &ev);
  }
  return 0;
}

/* The CA issues what the policy allowed: 1 with the certificate's PKCS#7 in content, 0 when the
 * CA refused (ans becomes a denial), -1 with err. */
static int submit(ndes_server *s, sceplab_scep_request *rq, const sceplab_req_id *id, sceplab_policy_answer *ans,
                  unsigned char **content, size_t *clen, sceplab_error *err)
{
  sceplab_issue_params ip;
  ndes_fault_ctx fc;
  ndes_event ev;
  const char *ekus[8];
  unsigned refused_code = 0;
  size_t i;
  X509 *x;
  memset(&fc, 0, sizeof(fc));
  fc.s = s;
  if(ndes_faults_play(s->p->faults, NDES_STAGE_CA, &fc)) {
    ca_refused(s, ans, rq, fc.refusal);
    ans->decision = SCEPLAB_POLICY_DENY;
    ans->fail_info = SCEPLAB_FAIL_BADREQUEST;
    snprintf(ans->reason, sizeof(ans->reason), "the CA refused the request (0x%08X)", fc.refusal);
    if(s->p->issued)
      s->p->issued(s->p->ud, rq->transaction_id, NULL, fc.refusal, ans->reason);
    return 0;
  }
  memset(&ip, 0, sizeof(ip));
  ip.days = ans->days;
  for(i = 0; i < ans->nekus && i < 8; i++)
    ekus[i] = ans->ekus[i];
  ip.ekus = ans->nekus ? ekus : NULL;
  ip.nekus = ans->nekus;
  ip.template_name = ans->template_name[0] ? ans->template_name : NULL;
  ip.profile = ans->has_profile ? &ans->profile : NULL;
  ip.once = ans->request_id[0] ? ans->request_id : NULL; /* an Intune challenge is for one certificate */
  x = sceplab_ca_issue_req(s->p->ca, rq->csr, rq->content, rq->content_len, id, &ip, &refused_code, err);
  if(!x && !refused_code)
    return -1;
  if(x) {
    memset(&ev, 0, sizeof(ev));
    ev.kind = NDES_EV_ISSUED;
    ev.transaction_id = rq->transaction_id;
    ev.cert = x;
    emit(s, &ev);
    if(s->world.connector)
      notify(s, ans, rq, x, 0);
    if(s->p->issued)
      s->p->issued(s->p->ud, rq->transaction_id, x, 0, NULL);
    *content = issued_p7(x, clen, err);
    X509_free(x);
    return *content ? 1 : -1;
  }
  /* the CA refuses what the policy allowed (the certificate profile, a challenge used already),
   * as ADCS refuses a request its template does not issue */
  ca_refused(s, ans, rq, refused_code);
  ans->decision = SCEPLAB_POLICY_DENY;
  ans->fail_info = SCEPLAB_FAIL_BADREQUEST;
  snprintf(ans->reason, sizeof(ans->reason), "%.*s", (int)sizeof(ans->reason) - 1, err->msg);
  sceplab_err_clear(err);
  if(s->p->issued)
    s->p->issued(s->p->ud, rq->transaction_id, NULL, refused_code, ans->reason);
  return 0;
}

/* PKCSReq and RenewalReq: a resend of a request seen before gets the same answer; anything else
 * is a new request for the policy, whatever transaction ID it carries. Sets *status, *fail and the
 * content (a PKCS#7) to reply with; -1 with err when the store, the policy or the CA failed; 1
 * when the policy deferred its decision. */
static int enroll(ndes_server *s, sceplab_scep_request *rq, const char *cip, const char *ua, int *status, int *fail,
                  unsigned char **content, size_t *clen, sceplab_error *err)
{
  unsigned char *cert = NULL;
  size_t n = 0;
  char *why = NULL, renewal_why[128] = "";
  sceplab_req_state st;
  sceplab_req_id id;
  sceplab_policy_request pr;
  sceplab_policy_answer ans;
  double t0 = ndes_now_ms();
  int revoked = 0, ours = sceplab_ca_issued(s->p->ca, rq->signer, &revoked, err), rc;
  if(ours < 0)
    return -1;
  /* RFC 8894 3.3.1: the requester signs with the CSR's key (a self-signed certificate) or with a
   * certificate of its own: one this CA issued. Any other key would have the answer enveloped to
   * someone the request does not name. */
  if(!ours && EVP_PKEY_eq(X509_get0_pubkey(rq->signer), X509_REQ_get0_pubkey(rq->csr)) != 1) {
    ERR_clear_error();
    *status = SCEPLAB_STATUS_FAILURE;
    *fail = SCEPLAB_FAIL_BADMESSAGECHECK;
    refused(s, rq, *fail, "signed by a key other than the CSR's, and not by a certificate this CA issued");
    return 0;
  }
  if(sceplab_req_id_make(&id, rq->transaction_id, sceplab_scep_name(SCEPLAB_NAMES_MESSAGE_TYPE, rq->message_type),
                         rq->csr, rq->content, rq->content_len, X509_get0_pubkey(rq->signer), err) != 0)
    return -1;
  /* a store that cannot say whether this is a resend fails the request: running the policy and the
   * CA again for a transaction answered before would issue twice */
  if((st = sceplab_ca_request(s->p->ca, &id, &cert, &n, &why, err)) == SCEPLAB_REQ_ERROR)
    return -1;
  free(why);
  if(st == SCEPLAB_REQ_ISSUED && cert) {
    *content = stored_p7(cert, n, clen, err);
    free(cert);
    *status = *content ? SCEPLAB_STATUS_SUCCESS : SCEPLAB_STATUS_FAILURE;
    *fail = SCEPLAB_FAIL_BADREQUEST;
    return 0;
  }
  free(cert);
  if(st == SCEPLAB_REQ_PENDING) {
    *status = SCEPLAB_STATUS_PENDING;
    return 0;
  }
  /* a refusal an admin made stands; the connector's is a verification NDES runs again for each
   * request, as a device's retry (the same transaction) shows in NDESPlugin.log each time */
  if(st == SCEPLAB_REQ_REJECTED && !s->world.connector) {
    *status = SCEPLAB_STATUS_FAILURE;
    *fail = SCEPLAB_FAIL_BADREQUEST;
    return 0;
  }
  memset(&pr, 0, sizeof(pr));
  memset(&ans, 0, sizeof(ans));
  pr.transaction_id = rq->transaction_id;
  pr.message_type = id.message_type;
  pr.challenge = rq->challenge;
  pr.csr = rq->content;
  pr.csr_len = rq->content_len;
  pr.req = rq->csr;
  pr.signer = rq->signer;
  pr.renewal = ours && renews_signer(rq->signer, rq->csr, revoked, renewal_why, sizeof(renewal_why));
  pr.renewal_refused = renewal_why[0] ? renewal_why : NULL;
  pr.client_ip = cip;
  pr.user_agent = ua;
  ans.fail_info = SCEPLAB_FAIL_BADREQUEST;
  if(ask_policy(s, &pr, &ans, t0, err) != 0)
    return -1;
  if(ans.decision == SCEPLAB_POLICY_DEFER)
    return 1; /* asked again when the server is woken (serve.h): nothing recorded meanwhile */
  if(ans.decision == SCEPLAB_POLICY_ALLOW) {
    if((rc = submit(s, rq, &id, &ans, content, clen, err)) != 0) {
      if(rc > 0)
        *status = SCEPLAB_STATUS_SUCCESS;
      return rc > 0 ? 0 : -1;
    }
  }
  else if(ans.decision == SCEPLAB_POLICY_DENY && ndes_password_event(ans.event)) {
    ndes_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = NDES_EV_APP_EVENT;
    ev.id = (unsigned)ans.event;
    ev.error = 1;
    ev.text = ndes_password_event(ans.event);
    emit(s, &ev);
  }
  if(sceplab_ca_hold(s->p->ca, rq->content, rq->content_len, &id,
                     ans.decision == SCEPLAB_POLICY_PENDING ? SCEPLAB_REQ_PENDING : SCEPLAB_REQ_REJECTED,
                     ans.reason[0] ? ans.reason : NULL, err) != 0)
    return -1;
  *status = ans.decision == SCEPLAB_POLICY_PENDING ? SCEPLAB_STATUS_PENDING : SCEPLAB_STATUS_FAILURE;
  *fail = ans.fail_info >= 0 && ans.fail_info <= SCEPLAB_FAIL_BADCERTID ? ans.fail_info : SCEPLAB_FAIL_BADREQUEST;
  return 0;
}

/* A PKIOperation: the CertRep, or an HTTP error when the message is none a CertRep can answer. */
static void pkioperation(ndes_server *s, const unsigned char *der, size_t n, const char *cip, const char *ua,
                         sceplab_httpd_resp *o)
{
  sceplab_ca *ca = s->p->ca;
  X509 *ra = sceplab_ca_cert(ca, SCEPLAB_CA_RA_SIGN);
  EVP_PKEY *rakey = sceplab_ca_key(ca, SCEPLAB_CA_RA_SIGN);
  sceplab_scep_request rq;
  sceplab_error err;
  int status = SCEPLAB_STATUS_FAILURE, fail = SCEPLAB_FAIL_BADREQUEST, rc = 0;
  unsigned char *content = NULL, *reply;
  size_t clen = 0, rlen = 0;
  sceplab_err_clear(&err);
  if(sceplab_scep_request_open(der, n, sceplab_ca_key(ca, SCEPLAB_CA_RA_ENCRYPT), sceplab_ca_cert(ca, SCEPLAB_CA_RA_ENCRYPT),
                               s->p->allow_des ? SCEPLAB_SCEP_ALLOW_DES : 0, &rq, &err) != 0) {
    ndes_text(o, 400, err.msg);
    return;
  }
  if(rq.fail_info >= 0) {
    fail = rq.fail_info;
    refused(s, &rq, fail, rq.why);
  }
  else if(rq.message_type == SCEPLAB_MSG_PKCSREQ || rq.message_type == SCEPLAB_MSG_RENEWALREQ) {
    rc = enroll(s, &rq, cip, ua, &status, &fail, &content, &clen, &err);
    ndes_metrics_enrolled(rc, status);
  }
  else if(rq.message_type == SCEPLAB_MSG_CERTPOLL) {
    unsigned char *cert = NULL;
    size_t cn = 0;
    /* the request of this transaction that the poll's signer made: another key's is not its to poll */
    switch(sceplab_ca_poll(ca, rq.transaction_id, X509_get0_pubkey(rq.signer), &cert, &cn, &err)) {
    case SCEPLAB_REQ_ISSUED:
      content = cert ? stored_p7(cert, cn, &clen, &err) : NULL;
      status = content ? SCEPLAB_STATUS_SUCCESS : SCEPLAB_STATUS_FAILURE;
      break;
    case SCEPLAB_REQ_PENDING: status = SCEPLAB_STATUS_PENDING; break;
    case SCEPLAB_REQ_REJECTED: fail = SCEPLAB_FAIL_BADREQUEST; break;
    case SCEPLAB_REQ_ERROR: rc = -1; break;
    default: fail = SCEPLAB_FAIL_BADCERTID; break;
    }
    free(cert);
  }
  else if(rq.message_type == SCEPLAB_MSG_GETCERT) {
    size_t cn = 0;
    unsigned char *cert = NULL;
    int found = rq.serial ? sceplab_ca_find(ca, rq.serial, &cert, &cn, &err) : 0;
    if(found < 0)
      rc = -1;
    content = found > 0 ? stored_p7(cert, cn, &clen, &err) : NULL;
    status = content ? SCEPLAB_STATUS_SUCCESS : SCEPLAB_STATUS_FAILURE;
    fail = SCEPLAB_FAIL_BADCERTID;
    free(cert);
  }
  else if(rq.message_type == SCEPLAB_MSG_GETCRL) {
    size_t cn = 0;
    unsigned char *crl = sceplab_ca_crl_current(ca, 7, &cn, &err); /* signed anew only when needed */
    if(!crl && sceplab_ca_unavailable(ca))
      rc = -1;
    content = crl ? sceplab_degenerate(NULL, 0, crl, cn, &clen, &err) : NULL;
    status = content ? SCEPLAB_STATUS_SUCCESS : SCEPLAB_STATUS_FAILURE;
    free(crl);
  }
  if(rc > 0) {
    /* the policy waits for an answer: the request is parked, and handed to us again */
    o->park = 1;
    free(content);
    sceplab_scep_request_free(&rq);
    return;
  }
  if(rc != 0 && sceplab_ca_unavailable(ca)) {
    /* the CA's database is out of reach: NDES answers 503 while its CA is down; the device
     * retries the same transaction later, and the next request reconnects */
    ndes_text(o, 503, "Service Unavailable");
    snprintf(o->headers, sizeof(o->headers), "Retry-After: 2\r\n");
    free(content);
    sceplab_scep_request_free(&rq);
    return;
  }
  if(rc != 0) {
    /* the store, the policy or the CA failed: no CertRep says anything about the request */
    ndes_text(o, 500, err.msg);
    o->win32 = 1; /* ERROR_INVALID_FUNCTION: what IIS logs when the extension fails */
    free(content);
    sceplab_scep_request_free(&rq);
    return;
  }
  reply = sceplab_scep_reply(&rq, status, fail, content, clen, ra, rakey, &rlen, &err);
  free(content);
  sceplab_scep_request_free(&rq);
  if(!reply) {
    ndes_text(o, 500, err.msg);
    return;
  }
  o->status = 200;
  o->type = "application/x-pki-message";
  o->body = reply;
  o->len = rlen;
}

/* A copy of a prepared answer. */
static void copy_answer(sceplab_httpd_resp *o, const unsigned char *body, size_t len, const char *type)
{
  if((o->body = malloc(len ? len : 1)) != NULL) {
    memcpy(o->body, body, len);
    o->len = len;
    o->status = 200;
    o->type = type;
  }
}

/* PKIOperation's message: the POST body, or the GET's base64 message parameter. */
static unsigned char *message_of(const sceplab_httpd_req *rq, size_t *n)
{
  unsigned char *der = NULL;
  size_t bad = 0;
  char *m, *c;
  *n = 0;
  if(rq->method == SCEPLAB_HTTPD_POST) {
    if(rq->body_len && (der = malloc(rq->body_len)) != NULL) {
      memcpy(der, rq->body, rq->body_len);
      *n = rq->body_len;
    }
    return der;
  }
  if(!rq->query || !(m = sceplab_httpd_param(rq->query, strlen(rq->query), "message")))
    return NULL;
  /* base64 sent without percent-encoding (iOS) loses its '+' to the query decoding */
  for(c = m; *c; c++)
    if(*c == ' ')
      *c = '+';
  der = sceplab_b64_decode(m, strlen(m), n, &bad);
  free(m);
  return der;
}

void ndes_scep_handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *o)
{
  ndes_server *s = ud;
  sceplab_httpd_method cmd = rq->method;
  char *op = rq->query ? sceplab_httpd_param(rq->query, strlen(rq->query), "operation") : NULL;
  ndes_fault_ctx fc;
  memset(&fc, 0, sizeof(fc));
  fc.s = s;
  fc.rq = rq;
  fc.operation = op;
  fc.resp = o;
  if(cmd != SCEPLAB_HTTPD_GET && cmd != SCEPLAB_HTTPD_POST && cmd != SCEPLAB_HTTPD_HEAD)
    ndes_text(o, 405, "Method Not Allowed");
  else if(ndes_faults_play(s->p->faults, NDES_STAGE_REQUEST, &fc))
    ; /* IIS, a proxy or the pool answered */
  else if(ndes_ra_check(s))
    ndes_text(o, 500, "500 - Internal server error.");
  else if(s->world.plugin_failed)
    /* the policy module's Initialize failed, so the SCEP application pool stops */
    ndes_text(o, 503, "Service Unavailable");
  else if(!op)
    ndes_bare_url(s, o);
  else if(!strcasecmp(op, "GetCACaps"))
    ndes_text(o, 200, s->p->caps ? s->p->caps : "");
  else if(!strcasecmp(op, "GetCACert"))
    copy_answer(o, s->cacert, s->cacert_len, s->cacert_type);
  else if(!strcasecmp(op, "GetNextCACert")) {
    if(!s->nextca)
      ndes_text(o, 404, "no rollover CA certificate (sceplab ca rollover makes one)");
    else
      copy_answer(o, s->nextca, s->nextca_len, "application/x-x509-next-ca-cert");
  }
  else if(!strcasecmp(op, "PKIOperation")) {
    size_t n = 0;
    unsigned char *der = message_of(rq, &n);
    if(!der || !n)
      ndes_text(o, 400, "PKIOperation without a message");
    else
      pkioperation(s, der, n, rq->peer, sceplab_httpd_header(rq, "User-Agent"), o);
    free(der);
  }
  else
    ndes_text(o, 400, "unknown operation");
  free(op);
}
