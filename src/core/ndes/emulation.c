/* What NDES itself does around the SCEP operations, as the real server shows it: it checks its RA
 * certificates' chains against its Trusted Root store (at the clock's now: event 2 and CAPI2 when
 * they fail, and every request then gets 500), the Intune connector's policy module starts with
 * its certificate (NDESCertThumbprint) checked at Initialize, and the bare SCEP URL shows NDES's
 * page or the connector's 403. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>

#include "base/clock.h"
#include "ndes/ndes_int.h"

static const char offline_text[] = "The revocation function was unable to check revocation because the revocation "
                                   "server was offline.";
static const char expired_text[] = "A required certificate is not within its validity period when verifying against the "
                                   "current system clock or the timestamp in the signed file.";
static const char untrusted_text[] = "A certificate chain processed, but terminated in a root certificate which is not "
                                     "trusted by the trust provider.";

static void emit(ndes_server *s, ndes_event *ev) { ndes_emit(&s->obs, ev); }

/* CAPI2's events for a chain NDES's worker built: the certificate, the issuing CA, the root (once),
 * with the error bits of the end and of the root; revocation, when not 0, is the end certificate's
 * revocation check failing (CAPI2 then logs the policy check too). */
static void capi2_log(ndes_server *s, X509 *end, unsigned end_err, unsigned root_err, unsigned result, const char *text,
                      unsigned revocation)
{
  sceplab_ca *ca = s->p->ca;
  X509 *list[3], *issuing = sceplab_ca_cert(ca, SCEPLAB_CA_ISSUING), *root = sceplab_ca_cert(ca, SCEPLAB_CA_ROOT);
  sceplab_art_cert chain[3];
  char *names[3][2] = {{NULL, NULL}, {NULL, NULL}, {NULL, NULL}};
  ndes_event ev;
  size_t n = 0, i;
  if(!s->obs.n)
    return; /* nothing observes: nothing to name */
  list[n++] = end;
  list[n++] = issuing;
  if(X509_cmp(root, issuing) != 0)
    list[n++] = root;
  memset(chain, 0, sizeof(chain));
  for(i = 0; i < n; i++) {
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(list[i]), NID_commonName, cn, sizeof(cn));
    names[i][0] = strdup(cn);
    names[i][1] = sceplab_thumbprint(list[i], EVP_sha1());
    chain[i].subject = names[i][0];
    chain[i].thumbprint = names[i][1];
    chain[i].error = i == 0 ? end_err : i == n - 1 ? root_err : 0;
  }
  if(revocation) {
    chain[0].revocation = revocation;
    chain[0].revocation_text = offline_text;
  }
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_CHAIN;
  ev.chain = chain;
  ev.nchain = n;
  ev.process = "w3wp.exe";
  ev.result = result;
  ev.result_text = text;
  ev.revocation = revocation;
  emit(s, &ev);
  for(i = 0; i < n; i++) {
    free(names[i][0]);
    free(names[i][1]);
  }
}

int ndes_policy_expired(ndes_server *s)
{
  time_t t = (time_t)sceplab_clock_now();
  ndes_world *w = &s->world;
  if(!w->policy || X509_cmp_time(X509_get0_notAfter(w->policy), &t) >= 0)
    return 0;
  if(!w->policy_logged) {
    capi2_log(s, w->policy, 0x1, 0, 0x800B0101u, expired_text, 0);
    w->policy_logged = 1;
  }
  return 1;
}

unsigned ndes_ra_check(ndes_server *s)
{
  static const int tiers[2] = {SCEPLAB_CA_RA_SIGN, SCEPLAB_CA_RA_ENCRYPT};
  ndes_world *w = &s->world;
  sceplab_ca *ca = s->p->ca;
  X509 *root = sceplab_ca_cert(ca, SCEPLAB_CA_ROOT), *issuing = sceplab_ca_cert(ca, SCEPLAB_CA_ISSUING);
  STACK_OF(X509) *chain;
  unsigned code = 0, was = w->ra_error;
  int64_t offset = sceplab_clock_offset();
  size_t i;
  /* once per clock offset: the answer changes only when the clock moves */
  if(!w->trust || w->ra_checked == offset + 1)
    return w->ra_error;
  if(!(chain = sk_X509_new_null()))
    return w->ra_error;
  if(!sk_X509_push(chain, issuing) || (X509_cmp(root, issuing) != 0 && !sk_X509_push(chain, root))) {
    sk_X509_free(chain);
    return w->ra_error;
  }
  for(i = 0; i < 2 && !code; i++) {
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int e;
    if(!ctx || !X509_STORE_CTX_init(ctx, w->trust, sceplab_ca_cert(ca, tiers[i]), chain)) {
      X509_STORE_CTX_free(ctx);
      break;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)sceplab_clock_now());
    if(X509_verify_cert(ctx) != 1) {
      e = X509_STORE_CTX_get_error(ctx);
      code = e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID ? 0x800B0101u /* CERT_E_EXPIRED */
             : 0x800B0109u; /* CERT_E_UNTRUSTEDROOT */
      if(code != was)
        capi2_log(s, sceplab_ca_cert(ca, tiers[i]), code == 0x800B0101u ? 0x1 : 0, code == 0x800B0101u ? 0 : 0x20, code,
                  code == 0x800B0101u ? expired_text : untrusted_text, 0);
    }
    X509_STORE_CTX_free(ctx);
  }
  sk_X509_free(chain);
  ERR_clear_error();
  w->ra_error = code;
  w->ra_checked = offset + 1;
  if(code && code != was) {
    char text[320];
    ndes_event ev;
    snprintf(text, sizeof(text), "The Network Device Enrollment Service cannot retrieve one of its required certificates "
             "(0x%08x). %s", code, code == 0x800B0101u ? expired_text : untrusted_text);
    memset(&ev, 0, sizeof(ev));
    ev.kind = NDES_EV_APP_EVENT;
    ev.id = 2;
    ev.error = 1;
    ev.text = text;
    emit(s, &ev);
  }
  return code;
}

/* The policy module's start, as NDES's application pool loads it: its certificate
 * (NDESCertThumbprint) is checked at Initialize. */
static int policy_module_start(ndes_server *s, const ndes_fault_ctx *start, sceplab_error *err)
{
  ndes_world *w = &s->world;
  time_t t = (time_t)sceplab_clock_now();
  ndes_event ev;
  if(!(w->policy = sceplab_ca_policy_cert(s->p->ca, s->p->host ? s->p->host : "NDES01",
                                          (int64_t)t - start->policy_backdate_days * 86400LL - 300, 365, err)))
    return -1;
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_POLICY_START;
  ev.cert = w->policy;
  emit(s, &ev);
  ev.kind = NDES_EV_POLICY_INIT;
  if(start->policy_crl) {
    /* the CRL distribution points of the policy module's certificate cannot be reached: the
     * chain builds, its revocation is unknown (offline), the policy check fails, the pool stops */
    ndes_event sys;
    capi2_log(s, w->policy, 0x1000040, 0, 0, NULL, start->policy_crl);
    ev.hresult = start->policy_crl;
    emit(s, &ev);
    memset(&sys, 0, sizeof(sys));
    sys.kind = NDES_EV_SYSTEM_EVENT;
    sys.provider = "Microsoft-Windows-WAS";
    sys.id = 5002;
    sys.level = 2;
    sys.text = "Application pool 'SCEP' is being automatically disabled due to a series of failures in the process(es) "
               "serving that application pool.";
    emit(s, &sys);
    w->plugin_failed = 1;
  }
  else if(ndes_policy_expired(s)) {
    /* the certificate NDESCertThumbprint names is past its notAfter: Initialize fails (CAPI2 has
     * logged its chain; the policy module's own words are its exit code) */
    ev.hresult = 0x800B0101u;
    emit(s, &ev);
    w->plugin_failed = 1;
  }
  else
    emit(s, &ev);
  return 0;
}

int ndes_world_start(ndes_server *s, const ndes_fault_ctx *start, sceplab_error *err)
{
  ndes_world *w = &s->world;
  w->installed = start->installed;
  w->connector = s->p->connector && start->installed;
  /* NDES's Trusted Root store: the CA's root, unless the CA was renewed and its old root removed */
  if(!s->p->ca_only) {
    if(!(w->trust = X509_STORE_new()))
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    if(start->trust_root && !X509_STORE_add_cert(w->trust, sceplab_ca_cert(s->p->ca, SCEPLAB_CA_ROOT)))
      return sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make NDES's Trusted Root store"), -1;
  }
  ndes_ra_check(s);
  return w->connector ? policy_module_start(s, start, err) : 0;
}

void ndes_world_free(ndes_world *w)
{
  X509_STORE_free(w->trust);
  X509_free(w->policy);
  memset(w, 0, sizeof(*w));
}

/* What NDES shows at the bare SCEP URL when no Intune policy module is installed. */
static const char ndes_page[] =
  "<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; charset=UTF-8\"><Title>Network Device Enrollment "
  "Service</Title></Head><Body BgColor=#FFFFFF><Font ID=locPageFont Face=\"Arial\"><Table Border=0 CellSpacing=0 "
  "CellPadding=4 Width=100%><TR><TD BgColor=#336699><Font Color=#FFFFFF Size=-1><B><Span ID=locMSCertSrv>Network Device "
  "Enrollment Service</Span></B></Font></TD></TR></Table><P>Network Device Enrollment Service allows you to obtain "
  "certificates for routers or other network devices using the Simple Certificate Enrollment Protocol (SCEP).</P><P>This "
  "URL is used by network devices to submit certificate requests.</P><P>To obtain an enrollment challenge password, go to "
  "the admin URL. By default, the admin URL is http://localhost/CertSrv/mscep_admin</P><P>For more information see "
  "<A HREF=\"http://go.microsoft.com/fwlink/?LinkId=67852\">Using Network Device Enrollment Service </A>.</P>"
  "</Font></Body></HTML>";

void ndes_bare_url(ndes_server *s, sceplab_httpd_resp *resp)
{
  if(!s->world.installed) {
    /* without the Intune policy module NDES shows its own page */
    ndes_text(resp, 200, ndes_page);
    resp->type = "text/html";
  }
  else
    /* NDES with the Intune connector answers the bare URL with 403 */
    ndes_text(resp, 403, "403 - Forbidden: Access is denied.");
}

const char *ndes_password_event(int id)
{
  switch(id) {
  case 28:
    return "The Network Device Enrollment Service cannot locate the password in the certificate request. The request is "
           "not signed by a certificate chaining to a trusted root with the same subject, so it cannot be processed as a renewal.";
  case 29:
    return "The Network Device Enrollment Service cannot submit the certificate request (0x80070057). The password in the "
           "certificate request cannot be verified. It may have been used already. Obtain a new password to submit with this request.";
  }
  return NULL;
}
