/* `sceplab serve`: SCEP over HTTP(S) as NDES answers it, on libevent's HTTP server with OpenSSL
 * bufferevents, one event loop on the caller's thread. See serve.h; docs/architecture.md says why
 * libevent. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "artifacts.h"
#include "httpd.h"
#include "internal.h"
#include "optlib.h"
#include "sceplab/codec.h"
#include "sceplab/scep.h"
#include "sceplab/serve.h"

#define ADMIN_TRACKED 64        /* client addresses whose failed admin logins are remembered */

typedef struct admin_failure {
  char ip[48];
  unsigned fails;               /* in a row */
  double until, last;           /* ms: no attempt is examined before until */
} admin_failure;

typedef struct server {
  const sceplab_serve_params *p;
  struct event_base *base;
  SSL_CTX *ssl;
  sceplab_httpd *httpd;
  unsigned char csrf_key[32];   /* the admin form's tokens, for this run */
  admin_failure failed[ADMIN_TRACKED];
  FILE *iis;
  char iis_name[32];
  char bind[64];
  unsigned port;
  unsigned char *cacert;        /* GetCACert's answer */
  size_t cacert_len;
  const char *cacert_type;
  unsigned char *nextca;        /* GetNextCACert's answer, when a rollover CA is made */
  size_t nextca_len;
  sceplab_art art;              /* the connector's and NDES's own logs */
  unsigned thread;              /* the policy module's thread ID in its log */
  int connector;                /* the Intune policy module is installed and loaded */
  int plugin_failed;            /* its Initialize failed: the application pool stops (503) */
  X509_STORE *trust;            /* NDES's Trusted Root store, to check its RA certificates */
  X509 *policy;                 /* the policy module's certificate (NDESCertThumbprint) */
  int policy_logged;            /* its expiry is in the CAPI2 log already */
  unsigned ra_error;            /* why NDES cannot use its RA certificates (HRESULT), or 0 */
  long long ra_checked;         /* the clock offset ra_error was computed at, +1 */
} server;

/* One request's outcome, for the reply and the IIS log line. */
typedef struct outcome {
  int status;
  const char *type;
  unsigned char *body;
  size_t len;
  unsigned win32;               /* sc-win32-status */
} outcome;

static const sceplab_fault_info fault_table[] = {
  {"app-pool-stopped", SCEPLAB_FAULT_APP_POOL_STOPPED, "scep-app-pool-503", "the SCEP application pool is stopped: SCEP requests get 503"},
  {"iis-impersonation", SCEPLAB_FAULT_IMPERSONATION, "iis-impersonation-500", "IIS_IUSRS lacks 'Impersonate a client after authentication': 500, win32 1346"},
  {"intermediate-in-root-store", SCEPLAB_FAULT_ROOT_STORE, "intermediate-in-root-store", "intermediates in the Trusted Root store: VerifyRequest 403.16"},
  {"policy-cert-no-client-auth", SCEPLAB_FAULT_CLIENT_AUTH, "policy-cert-client-auth", "the policy module's certificate lacks Client Authentication: VerifyRequest 403"},
  {"signing-cert-missing", SCEPLAB_FAULT_SIGNING_CERT, "signing-cert-missing", "the CRP cannot retrieve its signing certificate"},
  {"template-not-supported", SCEPLAB_FAULT_TEMPLATE, "ca-template-unsupported", "the CA does not issue the template (0x80094800)"},
  {"ca-key-too-small", SCEPLAB_FAULT_KEY_SIZE, "ca-key-too-small", "the template's minimum key size is above the device's (0x80094811)"},
  {"ca-unreachable", SCEPLAB_FAULT_CA_DOWN, "ca-unreachable", "the CA does not answer (0x800706ba, NDES event 31)"},
  {"connector-stopped", SCEPLAB_FAULT_CONNECTOR_STOPPED, "connector-service-stopped", "the Intune Connector Service is stopped: CRS files stay in Processing"},
  {"upload-failed", SCEPLAB_FAULT_UPLOAD, "connector-upload-failed", "the connector's upload to Intune fails: CRS files go to Failed"},
  {"slow-ca", SCEPLAB_FAULT_SLOW_CA, NULL, "the CA takes two seconds to issue"},
  {"uri-too-long", SCEPLAB_FAULT_QUERY_LIMIT, "uri-too-long-414", "IIS request filtering's default maxQueryString (2048): a GET PKIOperation gets 414"},
  {"proxy-502", SCEPLAB_FAULT_PROXY_502, "proxy-502", "a reverse proxy in front of NDES answers 502 Bad Gateway"},
  {"proxy-504", SCEPLAB_FAULT_PROXY_504, "app-proxy-504", "a reverse proxy in front of NDES times out: 504 Gateway Timeout"},
  {"crp-not-found", SCEPLAB_FAULT_CRP_404, "crp-not-found-404", "the CertificateRegistrationSvc application is missing from IIS: VerifyRequest 404"},
  {"crp-temp-permission", SCEPLAB_FAULT_CRP_TEMP, "crp-500-temp-permission", "the CRP's application pool cannot write C:\\Windows\\TEMP: VerifyRequest 500, WAS 5009, ASP.NET 1310"},
  {"ssl-cn-invalid", SCEPLAB_FAULT_CRP_CN, "ssl-cn-invalid", "the SSL certificate does not name the host NDESPlugin calls: WinHTTP 12175"},
  {"template-permission", SCEPLAB_FAULT_TEMPLATE_ACL, "ca-request-denied", "the template's permissions refuse NDES's service account (0x80094012)"},
  {"scep-not-found", SCEPLAB_FAULT_SCEP_404, "ndes-not-found-404", "the SCEP application (mscep) is missing from IIS: 404"},
  {"connector-not-installed", SCEPLAB_FAULT_NOT_INSTALLED, "connector-not-installed", "the Intune connector's setup failed (SetupMsi.log 1603): no policy module, the bare URL answers 200, NDES refuses the Intune challenge (event 29)"},
  {"policy-cert-expired", SCEPLAB_FAULT_POLICY_EXPIRED, "policy-cert-expired", "the policy module's certificate (NDESCertThumbprint) expired: Initialize fails (0x800b0101), SCEP requests get 503"},
  {"ra-chain-untrusted", SCEPLAB_FAULT_RA_UNTRUSTED, "ra-chain-untrusted", "the CA was renewed and its old root removed: NDES's RA certificates no longer chain to a trusted root (event 2), 500"},
  {"crl-unreachable", SCEPLAB_FAULT_CRL_OFFLINE, "connector-crl-unreachable", "the CRL of the policy module's certificate cannot be reached: CAPI2 0x80092013, Initialize fails, WAS 5002, SCEP requests get 503"},
  {"request-too-large", SCEPLAB_FAULT_BODY_413, "request-too-large-413", "request filtering's maxAllowedContentLength set too low: a POST over 2 KB gets 413"},
};

const sceplab_fault_info *sceplab_serve_faults(size_t *n)
{
  *n = sizeof(fault_table) / sizeof(fault_table[0]);
  return fault_table;
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The IIS W3C log NDES's IIS writes, one file per UTC day, flushed line by line. */
static const char iis_fields[] =
  "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer)"
  " sc-status sc-substatus sc-win32-status time-taken\n";

/* A field as IIS writes it ('+' for a space, '-' for nothing), cut to out: a device chose it. */
static void iis_field(char *out, size_t outlen, const char *v)
{
  size_t used;
  sceplab_esc_w3c(v ? v : "", v ? strlen(v) : 0, out, outlen, &used);
}

static void iis_write(server *s, const char *method, const char *stem, const char *query, const char *cip,
                      const char *ua, const outcome *o, int substatus, long taken_ms)
{
  time_t t = time(NULL) + (time_t)s->art.offset;
  struct tm tm;
  char name[32], line[12288], f_stem[1024], f_query[8192], f_ua[512];
  gmtime_r(&t, &tm);
  iis_field(f_stem, sizeof(f_stem), stem);
  iis_field(f_query, sizeof(f_query), query);
  iis_field(f_ua, sizeof(f_ua), ua);
  snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d %s %s %s %s %u - %s %s - %d %d %u %ld\n",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, s->bind, method, f_stem,
           f_query, s->port, cip ? cip : "-", f_ua, o->status, substatus, o->win32, taken_ms);
  if(s->p->logged)
    s->p->logged(s->p->ud, line);
  if(!s->p->log_dir)
    return;
  snprintf(name, sizeof(name), "u_ex%02d%02d%02d.log", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday);
  if(!s->iis || strcmp(name, s->iis_name) != 0) {
    char path[4096];
    struct stat st;
    int fresh;
    if(s->iis)
      fclose(s->iis);
    snprintf(path, sizeof(path), "%s/%s", s->p->log_dir, name);
    fresh = stat(path, &st) != 0 || st.st_size == 0;
    s->iis = sceplab_art_fopen(path, "a");
    snprintf(s->iis_name, sizeof(s->iis_name), "%s", name);
    if(s->iis && fresh)
      fprintf(s->iis, "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n"
                      "#Date: %04d-%02d-%02d %02d:%02d:%02d\n%s",
              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, iis_fields);
  }
  if(s->iis) {
    fputs(line, s->iis);
    fflush(s->iis);
  }
}

static void iis_log(server *s, const char *method, const char *stem, const char *query, const char *cip,
                    const char *ua, const outcome *o, long taken_ms)
{
  iis_write(s, method, stem, query, cip, ua, o, 0, taken_ms);
}

/* A line with a substatus (403.16), for the CRP's own requests. */
static void iis_log_sub(server *s, const char *method, const char *stem, const char *cip, const char *ua,
                        const outcome *o, int substatus, long taken_ms)
{
  iis_write(s, method, stem, NULL, cip, ua, o, substatus, taken_ms);
}

static void set_text(outcome *o, int status, const char *text)
{
  o->status = status;
  o->type = "text/plain";
  o->body = (unsigned char *)strdup(text);
  o->len = o->body ? strlen(text) : 0;
}

static time_t vnow(const server *s);

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
 * NDES renews: the certificate is valid now (the virtual clock's now) and not revoked, and the
 * request asks for its subject and its SANs, nothing else. The signature is that certificate's key's:
 * the message's signature verified with it. 1, or 0 with why. */
static int renews_signer(server *s, X509 *signer, X509_REQ *req, int revoked, char *why, size_t n)
{
  time_t t = vnow(s);
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

/* NDES's Application events for a password it refused, as NDES words them. */
static const char *ndes_event_text(int id)
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

/* What the connector logs once the policy answered: each phase in the CRP's .svclog, the
 * VerifyRequest call in IIS's log, its result in NDESPlugin.log. */
static void log_verify(server *s, const sceplab_policy_answer *ans, const char *act, double t0)
{
  size_t i;
  int ok = ans->decision == SCEPLAB_POLICY_ALLOW;
  outcome o;
  for(i = 0; i < ans->nphases && i < 4; i++) {
    const char *code = ans->phases[i].code;
    if(ans->phases[i].ok)
      sceplab_art_crp(&s->art, 0, act, "VerifyRequest: Phase %d validation succeeded: %s", ans->phases[i].phase,
                      ans->phases[i].message);
    else
      sceplab_art_crp(&s->art, 1, act, "VerifyRequest: Phase %d validation failed: %s%s%s", ans->phases[i].phase,
                      ans->phases[i].message, code[0] ? " Reason: " : "", code);
  }
  memset(&o, 0, sizeof(o));
  o.status = 200;
  iis_log(s, "POST", "/CertificateRegistrationSvc/Certificate/VerifyRequest", NULL, s->bind, "NDES_Plugin", &o,
          (long)(now_ms() - t0 + 0.5));
  sceplab_art_plugin(&s->art, 1, s->thread, "Verify challenge returns %s", ok ? "true" : "false");
  sceplab_art_plugin(&s->art, ok ? 1 : 3, s->thread, "Exiting VerifyRequest with 0x%s", ok ? "0" : "80070057");
}

/* The connector's report of a request the CA answered: Notify, and its CRS file from Processing
 * to Succeed (Failed when the CA refused it or the upload fails; left in Processing while the
 * connector service is "stopped"). x is the certificate, or NULL with the CA's error code. */
static void log_notify(server *s, const sceplab_policy_answer *ans, const sceplab_scep_request *rq, X509 *x,
                       unsigned ca_error)
{
  sceplab_art_crs c;
  char name[64], issuer[256], cn[128] = "";
  char *serial = NULL, *thumb = x ? sceplab_thumbprint(x, EVP_sha1()) : NULL;
  struct tm tm;
  outcome o;
  double t0 = now_ms();
  unsigned faults = s->p->faults;
  memset(&c, 0, sizeof(c));
  serial = x ? sceplab_serial_hex(X509_get0_serialNumber(x)) : NULL;
  X509_NAME_get_text_by_NID(X509_get_subject_name(sceplab_ca_cert(s->p->ca, SCEPLAB_CA_ISSUING)), NID_commonName, cn,
                            sizeof(cn));
  snprintf(issuer, sizeof(issuer), "%s\\%s", s->art.host, cn);
  c.serial_hex = serial;
  c.thumbprint = thumb;
  c.issuer_ca = issuer;
  c.transaction_id = rq->transaction_id;
  c.user_id = ans->user_id;
  c.device_id = ans->device_id;
  c.request_id = ans->request_id;
  c.status = x ? 0 : 1;
  c.hresult = ca_error;
  c.upload_attempts = (faults & SCEPLAB_FAULT_UPLOAD) ? 3 : 1;
  if(x && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm))
    c.not_after = (int64_t)timegm(&tm);
  sceplab_art_plugin(&s->art, 1, s->thread, "Calling Notify ...");
  if(sceplab_art_crs_write(&s->art, &c, name, sizeof(name)) == 0) {
    sceplab_art_plugin(&s->art, 1, s->thread, "Certificate request status written for transaction %s", rq->transaction_id);
    memset(&o, 0, sizeof(o));
    o.status = 204;
    iis_log(s, "POST", "/CertificateRegistrationSvc/Certificate/Notify", NULL, s->bind, "NDES_Plugin", &o,
            (long)(now_ms() - t0 + 0.5));
    if(!s->p->crs_hold && !(faults & SCEPLAB_FAULT_CONNECTOR_STOPPED))
      sceplab_art_crs_move(&s->art, name, x && !(faults & SCEPLAB_FAULT_UPLOAD) ? "Succeed" : "Failed");
  }
  sceplab_art_plugin(&s->art, 1, s->thread, "Exiting Notify with 0x0");
  free(serial);
  free(thumb);
}

/* The virtual clock's now. */
static time_t vnow(const server *s) { return time(NULL) + (time_t)s->art.offset; }

/* A certificate's chain as CAPI2 logs it: the certificate, the issuing CA, the root (once), with
 * the error bits of the end and of the root. names receives the strings to free. */
static size_t capi2_chain(server *s, X509 *end, unsigned end_err, unsigned root_err, sceplab_art_cert *out,
                          char *names[3][2])
{
  X509 *list[3];
  size_t n = 0, i;
  X509 *issuing = sceplab_ca_cert(s->p->ca, SCEPLAB_CA_ISSUING), *root = sceplab_ca_cert(s->p->ca, SCEPLAB_CA_ROOT);
  list[n++] = end;
  list[n++] = issuing;
  if(X509_cmp(root, issuing) != 0)
    list[n++] = root;
  for(i = 0; i < n; i++) {
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(list[i]), NID_commonName, cn, sizeof(cn));
    names[i][0] = strdup(cn);
    names[i][1] = sceplab_thumbprint(list[i], EVP_sha1());
    out[i].subject = names[i][0];
    out[i].thumbprint = names[i][1];
    out[i].error = i == 0 ? end_err : i == n - 1 ? root_err : 0;
  }
  return n;
}

static const char offline_text[] = "The revocation function was unable to check revocation because the revocation "
                                   "server was offline.";

/* CAPI2's events for a chain NDES's worker built: event 11 (the chain; revocation, when not 0, is
 * the end certificate's revocation check failing), and event 30 (the policy check) when it failed
 * for revocation. */
static void capi2_log(server *s, X509 *end, unsigned end_err, unsigned root_err, unsigned result, const char *text,
                      unsigned revocation)
{
  sceplab_art_cert chain[3];
  char *names[3][2] = {{NULL, NULL}, {NULL, NULL}, {NULL, NULL}};
  size_t n, i;
  memset(chain, 0, sizeof(chain));
  n = capi2_chain(s, end, end_err, root_err, chain, names);
  if(revocation) {
    chain[0].revocation = revocation;
    chain[0].revocation_text = offline_text;
  }
  sceplab_art_capi2_chain(&s->art, chain, n, "w3wp.exe", result, text);
  if(revocation)
    sceplab_art_capi2_policy(&s->art, &chain[0], "w3wp.exe", revocation, offline_text);
  for(i = 0; i < n; i++) {
    free(names[i][0]);
    free(names[i][1]);
  }
}

static const char expired_text[] = "A required certificate is not within its validity period when verifying against the "
                                   "current system clock or the timestamp in the signed file.";
static const char untrusted_text[] = "A certificate chain processed, but terminated in a root certificate which is not "
                                     "trusted by the trust provider.";

/* Whether the policy module's certificate is past its notAfter on the (virtual) clock; the first
 * time it is, CAPI2 logs the chain NDESPlugin built for it. */
static int policy_expired(server *s)
{
  time_t t = vnow(s);
  if(!s->policy || X509_cmp_time(X509_get0_notAfter(s->policy), &t) >= 0)
    return 0;
  if(!s->policy_logged) {
    capi2_log(s, s->policy, 0x1, 0, 0x800B0101u, expired_text, 0);
    s->policy_logged = 1;
  }
  return 1;
}

/* Faults at the Certificate Registration Point: VerifyRequest never reaches the policy. Returns 1
 * when one played (ans is then a denial), 0 otherwise. */
static int crp_fault(server *s, const char *act, sceplab_policy_answer *ans, double t0)
{
  unsigned f = s->p->faults;
  outcome o;
  memset(&o, 0, sizeof(o));
  if(policy_expired(s)) {
    /* the policy certificate expired while the pool ran: IIS refuses it as the client certificate
     * of VerifyRequest (403.17, "client certificate has expired or is not yet valid") */
    o.status = 403;
    o.win32 = 2148204801u; /* CERT_E_EXPIRED */
    iis_log_sub(s, "POST", "/CertificateRegistrationSvc/Certificate/VerifyRequest", s->bind, "NDES_Plugin", &o, 17,
                (long)(now_ms() - t0 + 0.5));
    sceplab_art_plugin(&s->art, 3, s->thread, "Verify challenge returns -- 403 - Forbidden: Access is denied.");
    snprintf(ans->reason, sizeof(ans->reason), "VerifyRequest answered 403.17: the policy certificate expired");
  }
  else if(f & SCEPLAB_FAULT_CRP_CN) {
    /* WinHTTP refuses the CRP's certificate name: the request never reaches IIS */
    sceplab_art_plugin(&s->art, 3, s->thread, "Error 12175: WINHTTP_CALLBACK_STATUS_FLAG_CERT_CN_INVALID while sending the "
                       "request to https://%s/CertificateRegistrationSvc", s->art.host);
    snprintf(ans->reason, sizeof(ans->reason), "NDESPlugin cannot reach the CRP: 12175 CERT_CN_INVALID");
  }
  else if(f & (SCEPLAB_FAULT_CRP_404 | SCEPLAB_FAULT_CRP_TEMP)) {
    int nf = (f & SCEPLAB_FAULT_CRP_404) != 0;
    o.status = nf ? 404 : 500;
    o.win32 = nf ? 2u : 0u;
    iis_log(s, "POST", "/CertificateRegistrationSvc/Certificate/VerifyRequest", NULL, s->bind, "NDES_Plugin", &o,
            (long)(now_ms() - t0 + 0.5));
    if(!nf) {
      sceplab_art_system_event(&s->art, "Microsoft-Windows-WAS", 5009, 3,
                               "A process serving application pool 'CertificateRegistrationSvc' terminated unexpectedly.");
      sceplab_art_system_event(&s->art, "ASP.NET 4.0.30319.0", 1310, 3,
                               "Event code: 3008. A configuration error has occurred. Access to the path 'C:\\Windows\\TEMP\\' is denied.");
    }
    snprintf(ans->reason, sizeof(ans->reason), "VerifyRequest answered %d", o.status);
  }
  else if(f & (SCEPLAB_FAULT_ROOT_STORE | SCEPLAB_FAULT_CLIENT_AUTH)) {
    /* IIS refuses the policy module's client certificate before the CRP runs */
    o.status = 403;
    o.win32 = (f & SCEPLAB_FAULT_ROOT_STORE) ? 2148204809u : 5u;
    iis_log_sub(s, "POST", "/CertificateRegistrationSvc/Certificate/VerifyRequest", s->bind, "NDES_Plugin", &o,
                (f & SCEPLAB_FAULT_ROOT_STORE) ? 16 : 0, (long)(now_ms() - t0 + 0.5));
    sceplab_art_plugin(&s->art, 3, s->thread, "Verify challenge returns -- 403 - Forbidden: Access is denied.");
    snprintf(ans->reason, sizeof(ans->reason), "VerifyRequest answered 403%s", (f & SCEPLAB_FAULT_ROOT_STORE) ? ".16" : "");
  }
  else if(f & SCEPLAB_FAULT_SIGNING_CERT) {
    sceplab_art_crp(&s->art, 1, act, "Signing certificate could not be retrieved. at "
                    "Microsoft.Management.Services.CertificateRegistrationPoint.VerifyRequest()");
    o.status = 200;
    iis_log(s, "POST", "/CertificateRegistrationSvc/Certificate/VerifyRequest", NULL, s->bind, "NDES_Plugin", &o,
            (long)(now_ms() - t0 + 0.5));
    sceplab_art_plugin(&s->art, 3, s->thread, "Verify challenge returns false");
    snprintf(ans->reason, sizeof(ans->reason), "the CRP cannot retrieve its signing certificate");
  }
  else
    return 0;
  ans->decision = SCEPLAB_POLICY_DENY;
  ans->fail_info = SCEPLAB_FAIL_BADREQUEST;
  return 1;
}

/* The CA's refusals a fault plays, as NDES and its policy module log them: the error, or 0. */
static unsigned ca_fault(server *s)
{
  unsigned f = s->p->faults, code = 0;
  char text[256];
  if(f & SCEPLAB_FAULT_CA_DOWN)
    code = 0x800706BAu;
  else if(f & SCEPLAB_FAULT_TEMPLATE_ACL)
    code = 0x80094012u;
  else if(f & SCEPLAB_FAULT_TEMPLATE)
    code = 0x80094800u;
  else if(f & SCEPLAB_FAULT_KEY_SIZE)
    code = 0x80094811u;
  if(!code)
    return 0;
  if(s->connector)
    sceplab_art_plugin(&s->art, 3, s->thread, "CA failed request 0x%08X", code);
  if(code == 0x800706BAu)
    snprintf(text, sizeof(text), "The Network Device Enrollment Service cannot submit the certificate request to the "
             "certification authority (0x800706ba). The RPC server is unavailable.");
  else if(code == 0x80094012u)
    snprintf(text, sizeof(text), "The Network Device Enrollment Service cannot submit the certificate request to the "
             "certification authority (0x80094012). The permissions on the certificate template do not allow the current "
             "user to enroll for this type of certificate.");
  else if(code == 0x80094800u)
    snprintf(text, sizeof(text), "The Network Device Enrollment Service cannot submit the certificate request (%d). "
             "The requested certificate template is not supported by this CA.", (int)code);
  else
    snprintf(text, sizeof(text), "The Network Device Enrollment Service cannot submit the certificate request (%d). "
             "The public key does not meet the minimum size required by the specified certificate template.", (int)code);
  sceplab_art_event(&s->art, 31, 1, text);
  return code;
}

/* A request refused before any record is made (the message does not check out), for the -v log. */
static void log_refused(server *s, const sceplab_scep_request *rq, int fail, const char *why)
{
  char line[512];
  const char *mt = sceplab_scep_name(SCEPLAB_NAMES_MESSAGE_TYPE, rq->message_type);
  if(!s->p->logged)
    return;
  snprintf(line, sizeof(line), "sceplab: %s %s refused with %s: %s\n", mt ? mt : "request", rq->transaction_id,
           sceplab_scep_name(SCEPLAB_NAMES_FAIL_INFO, fail), why);
  s->p->logged(s->p->ud, line);
}

/* PKCSReq and RenewalReq: a resend of a request seen before gets the same answer; anything else
 * is a new request for the policy, whatever transaction ID it carries. Sets *status, *fail and the
 * content (a PKCS#7) to reply with. */
static int enroll(server *s, sceplab_scep_request *rq, const char *cip, const char *ua, int *status, int *fail,
                  unsigned char **content, size_t *clen, sceplab_error *err)
{
  unsigned char *cert = NULL;
  size_t n = 0;
  char *why = NULL, renewal_why[128] = "";
  sceplab_req_state st;
  sceplab_req_id id;
  sceplab_policy_request pr;
  sceplab_policy_answer ans;
  char act[48] = "";
  double t0 = now_ms();
  int revoked = 0, ours = sceplab_ca_issued(s->p->ca, rq->signer, &revoked, err);
  if(ours < 0)
    return -1;
  /* RFC 8894 3.3.1: the requester signs with the CSR's key (a self-signed certificate) or with a
   * certificate of its own: one this CA issued. Any other key would have the answer enveloped to
   * someone the request does not name. */
  if(!ours && EVP_PKEY_eq(X509_get0_pubkey(rq->signer), X509_REQ_get0_pubkey(rq->csr)) != 1) {
    ERR_clear_error();
    *status = SCEPLAB_STATUS_FAILURE;
    *fail = SCEPLAB_FAIL_BADMESSAGECHECK;
    log_refused(s, rq, *fail, "signed by a key other than the CSR's, and not by a certificate this CA issued");
    return 0;
  }
  if(sceplab_req_id_make(&id, rq->transaction_id, sceplab_scep_name(SCEPLAB_NAMES_MESSAGE_TYPE, rq->message_type),
                         rq->csr, rq->content, rq->content_len, X509_get0_pubkey(rq->signer), err) != 0)
    return -1;
  st = sceplab_ca_request(s->p->ca, &id, &cert, &n, &why, err);
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
  if(st == SCEPLAB_REQ_REJECTED && !s->connector) {
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
  pr.renewal = ours && renews_signer(s, rq->signer, rq->csr, revoked, renewal_why, sizeof(renewal_why));
  pr.renewal_refused = renewal_why[0] ? renewal_why : NULL;
  pr.client_ip = cip;
  pr.user_agent = ua;
  ans.fail_info = SCEPLAB_FAIL_BADREQUEST;
  if(s->connector) {
    sceplab_art_activity(act, sizeof(act));
    sceplab_art_plugin(&s->art, 1, s->thread, "Calling VerifyRequest ...");
    sceplab_art_plugin(&s->art, 1, s->thread, "Sending request to certificate registration point.");
  }
  if(s->connector && crp_fault(s, act, &ans, t0))
    ; /* the CRP failed before any policy ran */
  else if(s->p->faults & SCEPLAB_FAULT_NOT_INSTALLED) {
    /* no Intune policy module: NDES checks the challenge against its own password cache, where an
     * Intune challenge never is */
    ans.decision = SCEPLAB_POLICY_DENY;
    ans.event = 29;
    snprintf(ans.reason, sizeof(ans.reason), "no Intune policy module: NDES does not know the challenge");
  }
  else if(!s->p->policy) {
    ans.decision = SCEPLAB_POLICY_DENY;
    snprintf(ans.reason, sizeof(ans.reason), "no policy");
  }
  else if(s->p->policy(s->p->policy_ud, &pr, &ans, err) != 0)
    return -1;
  else if(s->connector)
    log_verify(s, &ans, act, t0);
  if(ans.decision == SCEPLAB_POLICY_ALLOW) {
    unsigned code = ca_fault(s);
    if(code) {
      if(s->connector)
        log_notify(s, &ans, rq, NULL, code);
      ans.decision = SCEPLAB_POLICY_DENY;
      ans.fail_info = SCEPLAB_FAIL_BADREQUEST;
      snprintf(ans.reason, sizeof(ans.reason), "the CA refused the request (0x%08X)", code);
    }
  }
  else if(ans.decision == SCEPLAB_POLICY_DENY && ndes_event_text(ans.event))
    sceplab_art_event(&s->art, (unsigned)ans.event, 1, ndes_event_text(ans.event));
  if(ans.decision == SCEPLAB_POLICY_ALLOW) {
    sceplab_issue_params ip;
    const char *ekus[8];
    unsigned refused = 0;
    size_t i;
    X509 *x;
    memset(&ip, 0, sizeof(ip));
    ip.days = ans.days;
    for(i = 0; i < ans.nekus && i < 8; i++)
      ekus[i] = ans.ekus[i];
    ip.ekus = ans.nekus ? ekus : NULL;
    ip.nekus = ans.nekus;
    ip.template_name = ans.template_name[0] ? ans.template_name : NULL;
    ip.profile = ans.has_profile ? &ans.profile : NULL;
    ip.once = ans.request_id[0] ? ans.request_id : NULL; /* an Intune challenge is for one certificate */
    ip.now = s->art.offset ? (int64_t)time(NULL) + s->art.offset : 0; /* a replay's virtual clock */
    ip.latency_ms = (s->p->faults & SCEPLAB_FAULT_SLOW_CA) && !s->p->ca_latency_ms ? 2000 : s->p->ca_latency_ms;
    x = sceplab_ca_issue_req(s->p->ca, rq->csr, rq->content, rq->content_len, &id, &ip, &refused, err);
    if(!x && !refused)
      return -1;
    if(x) {
      if(s->connector)
        log_notify(s, &ans, rq, x, 0);
      *content = issued_p7(x, clen, err);
      X509_free(x);
      if(!*content)
        return -1;
      *status = SCEPLAB_STATUS_SUCCESS;
      return 0;
    }
    /* the CA refuses what the policy allowed (the certificate profile, a challenge used already),
     * as ADCS refuses a request its template does not issue */
    if(s->connector) {
      sceplab_art_plugin(&s->art, 3, s->thread, "CA failed request 0x%08X", refused);
      log_notify(s, &ans, rq, NULL, refused);
    }
    ans.decision = SCEPLAB_POLICY_DENY;
    ans.fail_info = SCEPLAB_FAIL_BADREQUEST;
    snprintf(ans.reason, sizeof(ans.reason), "%.*s", (int)sizeof(ans.reason) - 1, err->msg);
    sceplab_err_clear(err);
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
static void pkioperation(server *s, const unsigned char *der, size_t n, const char *cip, const char *ua, outcome *o)
{
  sceplab_ca *ca = s->p->ca;
  X509 *ra = sceplab_ca_cert(ca, SCEPLAB_CA_RA_SIGN);
  EVP_PKEY *rakey = sceplab_ca_key(ca, SCEPLAB_CA_RA_SIGN);
  sceplab_scep_request rq;
  sceplab_error err;
  int status = SCEPLAB_STATUS_FAILURE, fail = SCEPLAB_FAIL_BADREQUEST;
  unsigned char *content = NULL, *reply;
  size_t clen = 0, rlen = 0;
  sceplab_err_clear(&err);
  if(sceplab_scep_request_open(der, n, sceplab_ca_key(ca, SCEPLAB_CA_RA_ENCRYPT), sceplab_ca_cert(ca, SCEPLAB_CA_RA_ENCRYPT),
                               s->p->allow_des ? SCEPLAB_SCEP_ALLOW_DES : 0, &rq, &err) != 0) {
    set_text(o, 400, err.msg);
    return;
  }
  if(rq.fail_info >= 0) {
    fail = rq.fail_info;
    if(s->p->logged) {
      char line[512];
      snprintf(line, sizeof(line), "sceplab: %s %s refused with %s: %s\n",
               sceplab_scep_name(SCEPLAB_NAMES_MESSAGE_TYPE, rq.message_type) ? sceplab_scep_name(SCEPLAB_NAMES_MESSAGE_TYPE, rq.message_type) : "request",
               rq.transaction_id, sceplab_scep_name(SCEPLAB_NAMES_FAIL_INFO, fail), rq.why);
      s->p->logged(s->p->ud, line);
    }
  }
  else if(rq.message_type == SCEPLAB_MSG_PKCSREQ || rq.message_type == SCEPLAB_MSG_RENEWALREQ) {
    if(enroll(s, &rq, cip, ua, &status, &fail, &content, &clen, &err) != 0) {
      set_text(o, 500, err.msg);
      o->win32 = 1; /* ERROR_INVALID_FUNCTION: what IIS logs when the extension fails */
      sceplab_scep_request_free(&rq);
      return;
    }
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
    default: fail = SCEPLAB_FAIL_BADCERTID; break;
    }
    free(cert);
  }
  else if(rq.message_type == SCEPLAB_MSG_GETCERT) {
    size_t cn = 0;
    unsigned char *cert = rq.serial ? sceplab_ca_find(ca, rq.serial, &cn) : NULL;
    content = cert ? stored_p7(cert, cn, &clen, &err) : NULL;
    status = content ? SCEPLAB_STATUS_SUCCESS : SCEPLAB_STATUS_FAILURE;
    fail = SCEPLAB_FAIL_BADCERTID;
    free(cert);
  }
  else if(rq.message_type == SCEPLAB_MSG_GETCRL) {
    size_t cn = 0;
    unsigned char *crl = sceplab_ca_crl_current(ca, 7, &cn, &err); /* signed anew only when needed */
    content = crl ? sceplab_degenerate(NULL, 0, crl, cn, &clen, &err) : NULL;
    status = content ? SCEPLAB_STATUS_SUCCESS : SCEPLAB_STATUS_FAILURE;
    free(crl);
  }
  reply = sceplab_scep_reply(&rq, status, fail, content, clen, ra, rakey, &rlen, &err);
  free(content);
  sceplab_scep_request_free(&rq);
  if(!reply) {
    set_text(o, 500, err.msg);
    return;
  }
  o->status = 200;
  o->type = "application/x-pki-message";
  o->body = reply;
  o->len = rlen;
}

/* ---- the admin page (/certsrv/mscep_admin/) ------------------------------------------------ */

static int is_admin_path(const char *path)
{
  return path && (!strcasecmp(path, "/certsrv/mscep_admin") || !strcasecmp(path, "/certsrv/mscep_admin/"));
}

/* The page as NDES sends it: UTF-16LE with a BOM (the scripts and MDMs that scrape it decode
 * UTF-16 and look for "The enrollment challenge password is: <B> ... </B>"). */
static void set_utf16_html(outcome *o, int status, const char *html)
{
  size_t n = strlen(html), i;
  unsigned char *b = malloc(2 * n + 2);
  o->status = status;
  o->type = "text/html; charset=utf-16";
  if(!b)
    return;
  b[0] = 0xFF;
  b[1] = 0xFE;
  for(i = 0; i < n; i++) { /* the page is ASCII */
    b[2 + 2 * i] = (unsigned char)html[i];
    b[3 + 2 * i] = 0;
  }
  o->body = b;
  o->len = 2 * n + 2;
}

/* Whether Host names this machine's loopback: without credentials the page answers only that,
 * so a web page whose name an attacker rebinds to 127.0.0.1 (DNS rebinding) is refused. */
static int loopback_host(const char *host)
{
  char name[256], *end;
  struct in_addr a4;
  if(!host || strlen(host) >= sizeof(name))
    return 0;
  snprintf(name, sizeof(name), "%s", host);
  if(name[0] == '[') {
    if(!(end = strchr(name, ']')) || (end[1] && end[1] != ':'))
      return 0;
    *end = '\0';
    return !strcmp(name + 1, "::1");
  }
  if((end = strchr(name, ':')) != NULL)
    *end = '\0';
  return !strcasecmp(name, "localhost") || (inet_pton(AF_INET, name, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127);
}

static int admin_authorized(server *s, const char *h)
{
  char want[512], *b64;
  int ok;
  if(!h || strncasecmp(h, "Basic ", 6) != 0)
    return 0;
  snprintf(want, sizeof(want), "%s:%s", s->p->admin_user, s->p->admin_password ? s->p->admin_password : "");
  b64 = sceplab_b64_encode((const unsigned char *)want, strlen(want));
  ok = b64 && strlen(b64) == strlen(h + 6) && CRYPTO_memcmp(b64, h + 6, strlen(b64)) == 0;
  OPENSSL_cleanse(want, sizeof(want));
  free(b64);
  return ok;
}

/* Failed admin logins of one client address: each doubles the time before the next attempt from
 * there is examined (0.25 s, 0.5 s, 1 s, ... 30 s), so guessing goes at a few tries a minute. */
static admin_failure *admin_failures(server *s, const char *ip, int create)
{
  size_t i, oldest = 0;
  for(i = 0; i < ADMIN_TRACKED; i++) {
    if(s->failed[i].ip[0] && !strcmp(s->failed[i].ip, ip))
      return &s->failed[i];
    if(s->failed[i].last < s->failed[oldest].last)
      oldest = i;
  }
  if(!create)
    return NULL;
  memset(&s->failed[oldest], 0, sizeof(s->failed[oldest]));
  snprintf(s->failed[oldest].ip, sizeof(s->failed[oldest].ip), "%s", ip);
  return &s->failed[oldest];
}

/* The admin form's token: the time it was made and an HMAC of that time, the client's address
 * and the user under a key made at start. A page elsewhere cannot read it (same-origin), so it
 * cannot make the browser of a logged-in administrator post the form. */
static void csrf_token(server *s, const char *peer, long long t, char *out, size_t n)
{
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0, i;
  char msg[256];
  size_t o;
  snprintf(msg, sizeof(msg), "%llx|%s|%s", t, peer, s->p->admin_user ? s->p->admin_user : "");
  HMAC(EVP_sha256(), s->csrf_key, (int)sizeof(s->csrf_key), (const unsigned char *)msg, strlen(msg), mac, &len);
  o = (size_t)snprintf(out, n, "%llx.", t);
  for(i = 0; i < 16 && i < len && o + 3 <= n; i++, o += 2)
    snprintf(out + o, n - o, "%02x", mac[i]);
}

#define CSRF_SECONDS 600

static int csrf_valid(server *s, const sceplab_httpd_req *rq)
{
  char body[1024], want[96];
  const char *tok;
  struct evkeyvalq args;
  long long t;
  char *end;
  int ok = 0;
  if(!rq->body || rq->body_len >= sizeof(body))
    return 0;
  memcpy(body, rq->body, rq->body_len);
  body[rq->body_len] = '\0';
  TAILQ_INIT(&args);
  if(evhttp_parse_query_str(body, &args) == 0 && (tok = evhttp_find_header(&args, "csrf")) != NULL) {
    t = strtoll(tok, &end, 16);
    if(*end == '.' && t <= (long long)time(NULL) && (long long)time(NULL) - t <= CSRF_SECONDS) {
      csrf_token(s, rq->peer, t, want, sizeof(want));
      ok = strlen(tok) == strlen(want) && CRYPTO_memcmp(tok, want, strlen(want)) == 0;
    }
  }
  evhttp_clear_headers(&args);
  return ok;
}

static void admin_page(server *s, const sceplab_httpd_req *rq, outcome *o, sceplab_httpd_resp *resp)
{
  static const char head[] =
    "<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; charset=UTF-16\">"
    "<Title>Network Device Enrollment Service</Title></Head><Body BgColor=#FFFFFF><Font ID=locPageFont Face=\"Arial\">"
    "<P><Font Face=\"Arial\" Size=+1><B>Network Device Enrollment Service</B></Font>"
    "<P>Network Device Enrollment Service allows you to obtain certificates for routers or other network devices "
    "using the Simple Certificate Enrollment Protocol (SCEP).";
  char page[2048], thumb[64] = "", token[96];
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0, i;
  sceplab_error err;
  char *pw;
  int out;
  /* a page that shows secrets: never cached, never framed (a framed button can be clicked for
   * the administrator by the page around it) */
  snprintf(resp->headers, sizeof(resp->headers), "Cache-Control: no-store\r\nX-Frame-Options: DENY\r\n"
           "Content-Security-Policy: frame-ancestors 'none'\r\n");
  if(!s->p->admin_user && !loopback_host(sceplab_httpd_header(rq, "Host"))) {
    set_text(o, 403, "403 - Forbidden: without --admin-user the admin page answers requests for a loopback host name only.");
    return;
  }
  if(s->p->admin_user) {
    const char *auth = sceplab_httpd_header(rq, "Authorization");
    double now = now_ms();
    admin_failure *f = admin_failures(s, rq->peer, 0);
    if(f && now < f->until) {
      /* still waiting after a failure: not examined, right or wrong */
      size_t n = strlen(resp->headers);
      snprintf(resp->headers + n, sizeof(resp->headers) - n, "Retry-After: %.0f\r\n", (f->until - now) / 1000 + 0.999);
      set_text(o, 429, "429 - Too many failed logins from this address: wait and retry.");
      return;
    }
    if(!admin_authorized(s, auth)) {
      size_t n = strlen(resp->headers);
      snprintf(resp->headers + n, sizeof(resp->headers) - n, "WWW-Authenticate: Basic realm=\"mscep_admin\"\r\n");
      set_text(o, 401, "401 - Unauthorized: Access is denied due to invalid credentials.");
      if(auth) { /* a wrong password, not the browser's first request without one */
        if(!(f = admin_failures(s, rq->peer, 1)))
          return;
        if(now - f->last > 15 * 60 * 1000.0)
          f->fails = 0;
        f->fails++;
        resp->delay_ms = 250u << (f->fails < 8 ? f->fails - 1 : 7);
        if(resp->delay_ms > 30000)
          resp->delay_ms = 30000;
        f->until = now + resp->delay_ms;
        f->last = now;
      }
      return;
    }
    if(f)
      memset(f, 0, sizeof(*f));
  }
  /* the CA certificate's MD5 hash, in groups of eight hex digits, as the page shows it */
  X509_digest(sceplab_ca_cert(s->p->ca, SCEPLAB_CA_ISSUING), EVP_md5(), md, &mdlen);
  for(i = 0; i < mdlen && 2 * i + i / 4 + 3 < sizeof(thumb); i++)
    snprintf(thumb + strlen(thumb), sizeof(thumb) - strlen(thumb), "%s%02X", i && i % 4 == 0 ? " " : "", md[i]);
  if(rq->method == SCEPLAB_HTTPD_POST && !csrf_valid(s, rq)) {
    set_text(o, 403, "403 - Forbidden: the form's token is missing, wrong or older than 10 minutes: reload the page.");
    return;
  }
  if(rq->method != SCEPLAB_HTTPD_POST && !s->p->admin_get_compat) {
    /* a GET only shows the form: a password is made by posting it, so a link or an <img> on any
     * page the administrator opens cannot make (and use up) one */
    csrf_token(s, rq->peer, (long long)time(NULL), token, sizeof(token));
    snprintf(page, sizeof(page),
             "%s<P> The thumbprint (hash value) for the CA certificate is: <B> %s </B>"
             "<P><Form Method=\"POST\" Action=\"/certsrv/mscep_admin/\"><Input Type=\"hidden\" Name=\"csrf\" Value=\"%s\">"
             "<Input Type=\"submit\" Value=\"Get an enrollment challenge password\"></Form>"
             "</Font></Body></HTML>", head, thumb, token);
    set_utf16_html(o, 200, page);
    return;
  }
  sceplab_err_clear(&err);
  out = sceplab_ca_challenge_outstanding(s->p->ca, &err);
  if(out >= (s->p->password_max > 0 ? s->p->password_max : 5)) {
    snprintf(page, sizeof(page), "%s<P> The password cache is full. You can wait for a password in the cache to be "
             "used or to expire, or raise the cache size.</Font></Body></HTML>", head);
    set_utf16_html(o, 200, page);
    return;
  }
  if(out < 0 || !(pw = sceplab_ca_challenge_new(s->p->ca, 60, &err))) {
    set_text(o, 500, err.msg);
    return;
  }
  snprintf(page, sizeof(page),
           "%s<P>To complete certificate enrollment for your network device you will need the following information:"
           "<P> The thumbprint (hash value) for the CA certificate is: <B> %s </B>"
           "<P> The enrollment challenge password is: <B> %s </B>"
           "<P> This password can be used only once and will expire within 60 minutes."
           "<P> Each enrollment requires a new challenge password. You can refresh this web page to obtain a new "
           "challenge password.</Font></Body></HTML>",
           head, thumb, pw);
  OPENSSL_cleanse(pw, strlen(pw));
  free(pw);
  set_utf16_html(o, 200, page);
  OPENSSL_cleanse(page, sizeof(page));
}

static int is_scep_path(const char *path)
{
  return path && (!strcasecmp(path, "/certsrv/mscep/mscep.dll") || !strcasecmp(path, "/certsrv/mscep/mscep.dll/") ||
                  !strcasecmp(path, "/certsrv/mscep/mscep.dll/pkiclient.exe"));
}

/* The virtual clock's offset, from the file a replay writes (seconds, one number). */
static void read_clock(server *s)
{
  FILE *f;
  long long off = 0;
  if(!s->p->clock_file || !(f = fopen(s->p->clock_file, "r")))
    return;
  if(fscanf(f, "%lld", &off) == 1 && off > -3153600000LL && off < 3153600000LL)
    s->art.offset = off;
  fclose(f);
}

/* NDES loads its two RA certificates and checks their chains against the Trusted Root store at the
 * current (virtual) time; when it cannot use them, mscep.dll fails every request with 500 and the
 * Application log says why (event 2), once per cause. Returns the HRESULT, or 0. */
static unsigned ra_check(server *s)
{
  static const int tiers[2] = {SCEPLAB_CA_RA_SIGN, SCEPLAB_CA_RA_ENCRYPT};
  sceplab_ca *ca = s->p->ca;
  X509 *root = sceplab_ca_cert(ca, SCEPLAB_CA_ROOT), *issuing = sceplab_ca_cert(ca, SCEPLAB_CA_ISSUING);
  STACK_OF(X509) *chain;
  unsigned code = 0, was = s->ra_error;
  size_t i;
  if(!s->trust || s->ra_checked == s->art.offset + 1)
    return s->ra_error;
  if(!(chain = sk_X509_new_null()))
    return s->ra_error;
  sk_X509_push(chain, issuing);
  if(X509_cmp(root, issuing) != 0)
    sk_X509_push(chain, root);
  for(i = 0; i < 2 && !code; i++) {
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int e;
    if(!ctx || !X509_STORE_CTX_init(ctx, s->trust, sceplab_ca_cert(ca, tiers[i]), chain)) {
      X509_STORE_CTX_free(ctx);
      break;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), vnow(s));
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
  s->ra_error = code;
  s->ra_checked = s->art.offset + 1;
  if(code && code != was) {
    char text[320];
    snprintf(text, sizeof(text), "The Network Device Enrollment Service cannot retrieve one of its required certificates "
             "(0x%08x). %s", code, code == 0x800B0101u ? expired_text : untrusted_text);
    sceplab_art_event(&s->art, 2, 1, text);
  }
  return code;
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

static void handle(void *arg, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp)
{
  server *s = arg;
  double t0 = now_ms();
  struct evhttp_uri *u = evhttp_uri_parse(rq->target);
  const char *path = u ? evhttp_uri_get_path(u) : NULL, *query = u ? evhttp_uri_get_query(u) : NULL;
  size_t dlen = 0;
  char *dpath = path ? evhttp_uridecode(path, 0, &dlen) : NULL;
  struct evkeyvalq args;
  const char *op = NULL, *ua = sceplab_httpd_header(rq, "User-Agent");
  sceplab_httpd_method cmd = rq->method;
  const char *method = cmd == SCEPLAB_HTTPD_GET ? "GET" : cmd == SCEPLAB_HTTPD_POST ? "POST" : cmd == SCEPLAB_HTTPD_HEAD ? "HEAD" : "OTHER";
  const char *cip = rq->peer;
  outcome o;
  memset(&o, 0, sizeof(o));
  TAILQ_INIT(&args);
  read_clock(s);
  if(dpath && strlen(dpath) != dlen) {
    /* a %00 in the path: the comparisons below would stop at it and take
     * /certsrv/mscep/mscep.dll%00.txt for the SCEP URL */
    free(dpath);
    dpath = NULL;
  }
  if(query)
    evhttp_parse_query_str(query, &args);
  op = evhttp_find_header(&args, "operation");
  if(s->p->admin_page && is_admin_path(dpath) && (cmd == SCEPLAB_HTTPD_GET || cmd == SCEPLAB_HTTPD_HEAD || cmd == SCEPLAB_HTTPD_POST))
    admin_page(s, rq, &o, resp);
  else if(!is_scep_path(dpath))
    set_text(&o, 404, "Not Found");
  else if(cmd != SCEPLAB_HTTPD_GET && cmd != SCEPLAB_HTTPD_POST && cmd != SCEPLAB_HTTPD_HEAD)
    set_text(&o, 405, "Method Not Allowed");
  else if(s->p->faults & SCEPLAB_FAULT_SCEP_404)
    set_text(&o, 404, "404 - File or directory not found.");
  else if((s->p->faults & SCEPLAB_FAULT_BODY_413) && cmd == SCEPLAB_HTTPD_POST && rq->body_len > 2048)
    set_text(&o, 413, "413 - Request Entity Too Large");
  else if(s->p->faults & SCEPLAB_FAULT_PROXY_502)
    set_text(&o, 502, "502 - Web server received an invalid response while acting as a gateway or proxy server.");
  else if(s->p->faults & SCEPLAB_FAULT_PROXY_504)
    set_text(&o, 504, "504 - Gateway Timeout");
  else if((s->p->faults & SCEPLAB_FAULT_QUERY_LIMIT) && query && strlen(query) > 2048)
    set_text(&o, 414, "414 - Request-URI Too Long");
  else if(s->p->faults & SCEPLAB_FAULT_APP_POOL_STOPPED)
    set_text(&o, 503, "Service Unavailable");
  else if(s->p->faults & SCEPLAB_FAULT_IMPERSONATION) {
    set_text(&o, 500, "500 - Internal server error.");
    o.win32 = 1346; /* ERROR_BAD_IMPERSONATION_LEVEL */
  }
  else if(ra_check(s))
    set_text(&o, 500, "500 - Internal server error.");
  else if(s->plugin_failed)
    /* the policy module's Initialize failed, so the SCEP application pool stops */
    set_text(&o, 503, "Service Unavailable");
  else if(!op && (s->p->faults & SCEPLAB_FAULT_NOT_INSTALLED)) {
    /* without the Intune policy module NDES shows its own page */
    set_text(&o, 200, ndes_page);
    o.type = "text/html";
  }
  else if(!op)
    /* NDES with the Intune connector answers the bare URL with 403 */
    set_text(&o, 403, "403 - Forbidden: Access is denied.");
  else if(!strcasecmp(op, "GetCACaps")) {
    set_text(&o, 200, s->p->caps ? s->p->caps : "");
  }
  else if(!strcasecmp(op, "GetCACert")) {
    o.status = 200;
    o.type = s->cacert_type;
    o.body = malloc(s->cacert_len);
    if(o.body) {
      memcpy(o.body, s->cacert, s->cacert_len);
      o.len = s->cacert_len;
    }
  }
  else if(!strcasecmp(op, "GetNextCACert")) {
    if(!s->nextca)
      set_text(&o, 404, "no rollover CA certificate (sceplab ca rollover makes one)");
    else if((o.body = malloc(s->nextca_len)) != NULL) {
      memcpy(o.body, s->nextca, s->nextca_len);
      o.len = s->nextca_len;
      o.status = 200;
      o.type = "application/x-x509-next-ca-cert";
    }
  }
  else if(!strcasecmp(op, "PKIOperation")) {
    unsigned char *der = NULL;
    size_t n = 0, bad = 0;
    if(cmd == SCEPLAB_HTTPD_POST) {
      n = rq->body_len;
      der = n ? malloc(n) : NULL;
      if(der)
        memcpy(der, rq->body, n);
    }
    else {
      const char *m = evhttp_find_header(&args, "message");
      if(m) {
        /* base64 sent without percent-encoding (iOS) loses its '+' to the query decoding */
        char *copy = strdup(m), *c;
        for(c = copy; c && *c; c++)
          if(*c == ' ')
            *c = '+';
        der = copy ? sceplab_b64_decode(copy, strlen(copy), &n, &bad) : NULL;
        free(copy);
      }
    }
    if(!der || !n)
      set_text(&o, 400, "PKIOperation without a message");
    else
      pkioperation(s, der, n, cip, ua, &o);
    free(der);
  }
  else
    set_text(&o, 400, "unknown operation");
  resp->status = o.status;
  resp->type = o.type;
  resp->body = o.body; /* the server frees it */
  resp->len = o.len;
  iis_log(s, method, dpath ? dpath : path ? path : "-", query, cip, ua, &o, (long)(now_ms() - t0 + 0.5));
  free(dpath);
  evhttp_clear_headers(&args);
  if(u)
    evhttp_uri_free(u);
}

static void serve_warn(void *ud, const char *line)
{
  server *s = ud;
  if(s->p->warn)
    s->p->warn(s->p->ud, line);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
  (void)sig;
  (void)what;
  event_base_loopbreak(arg);
}

/* GetCACert's answer: NDES's RA certificates then the chain, or the CA alone. */
static int make_cacert(server *s, sceplab_error *err)
{
  sceplab_ca *ca = s->p->ca;
  X509 *issuing = sceplab_ca_cert(ca, SCEPLAB_CA_ISSUING), *root = sceplab_ca_cert(ca, SCEPLAB_CA_ROOT);
  if(s->p->ca_only) {
    unsigned char *p;
    int n = i2d_X509(issuing, NULL);
    if(n <= 0 || !(s->cacert = malloc((size_t)n)))
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
    p = s->cacert;
    i2d_X509(issuing, &p);
    s->cacert_len = (size_t)n;
    s->cacert_type = "application/x-x509-ca-cert";
    return 0;
  }
  {
    X509 *list[4];
    size_t k = 0;
    list[k++] = sceplab_ca_cert(ca, SCEPLAB_CA_RA_SIGN);
    list[k++] = sceplab_ca_cert(ca, SCEPLAB_CA_RA_ENCRYPT);
    list[k++] = issuing;
    if(X509_cmp(root, issuing) != 0)
      list[k++] = root;
    s->cacert = sceplab_degenerate(list, k, NULL, 0, &s->cacert_len, err);
    s->cacert_type = "application/x-x509-ca-ra-cert";
    return s->cacert ? 0 : -1;
  }
}

/* GetNextCACert's answer (RFC 8894 4.7): the rollover CA certificate as a certificates-only
 * PKCS#7, inside a SignedData signed with the current RA key, which the client already trusts. */
static int make_nextca(server *s, sceplab_error *err)
{
  sceplab_ca *ca = s->p->ca;
  X509 *next = sceplab_ca_next(ca);
  unsigned char *deg, *der = NULL;
  size_t dlen = 0;
  BIO *in;
  CMS_ContentInfo *cms = NULL;
  int n = -1;
  if(!next)
    return 0;
  if(!(deg = sceplab_degenerate(&next, 1, NULL, 0, &dlen, err)))
    return -1;
  in = BIO_new_mem_buf(deg, (int)dlen);
  if(in)
    cms = CMS_sign(sceplab_ca_cert(ca, SCEPLAB_CA_RA_SIGN), sceplab_ca_key(ca, SCEPLAB_CA_RA_SIGN), NULL, in, CMS_BINARY);
  if(cms)
    n = i2d_CMS_ContentInfo(cms, &der);
  BIO_free(in);
  CMS_ContentInfo_free(cms);
  free(deg);
  if(n <= 0) {
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot sign the GetNextCACert answer");
    return -1;
  }
  s->nextca = malloc((size_t)n);
  if(s->nextca) {
    memcpy(s->nextca, der, (size_t)n);
    s->nextca_len = (size_t)n;
  }
  OPENSSL_free(der);
  return s->nextca ? 0 : (sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1);
}

int sceplab_serve(const sceplab_serve_params *p, sceplab_error *err)
{
  server s;
  sceplab_httpd_params hp;
  struct event *sigint = NULL, *sigterm = NULL;
  struct sigaction ign, old_pipe;
  int rc = -1;
  memset(&s, 0, sizeof(s));
  s.p = p;
  snprintf(s.bind, sizeof(s.bind), "%s", p->bind ? p->bind : "127.0.0.1");
  if(sceplab_optlib_need(SCEPLAB_LIB_EVENT, err) != 0 ||
     (p->tls_cert && sceplab_optlib_need(SCEPLAB_LIB_EVENT_SSL, err) != 0))
    return -1;
  if(make_cacert(&s, err) != 0)
    return -1;
  if(make_nextca(&s, err) != 0) {
    free(s.cacert);
    return -1;
  }
  /* a client that drops the connection mid-write (one refusing our TLS certificate does, in the
   * handshake) must not kill the server with SIGPIPE: writes then fail with EPIPE instead */
  memset(&ign, 0, sizeof(ign));
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &old_pipe);
  if(p->tls_cert) {
    s.ssl = SSL_CTX_new(TLS_server_method());
    if(!s.ssl || SSL_CTX_use_certificate_chain_file(s.ssl, p->tls_cert) != 1 ||
       SSL_CTX_use_PrivateKey_file(s.ssl, p->tls_key ? p->tls_key : p->tls_cert, SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_check_private_key(s.ssl) != 1) {
      sceplab_err_openssl(err, SCEPLAB_E_USAGE, "TLS certificate %s and key %s", p->tls_cert, p->tls_key ? p->tls_key : p->tls_cert);
      goto out;
    }
  }
  if(!(s.base = event_base_new())) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "cannot start the event loop");
    goto out;
  }
  memset(&hp, 0, sizeof(hp));
  hp.bind = s.bind;
  hp.port = p->port;
  hp.ssl = s.ssl;
  hp.max_connections = p->max_connections;
  hp.max_per_client = p->max_per_client;
  hp.header_ms = p->header_timeout * 1000;
  hp.body_ms = p->body_timeout * 1000;
  hp.idle_ms = p->idle_timeout * 1000;
  hp.max_head = 98304; /* a 65534-byte URL, as NDES guidance configures IIS */
  hp.max_body = p->max_body ? p->max_body : 65536; /* larger than any SCEP message: 413 */
  hp.handler = handle;
  hp.warn = serve_warn;
  hp.ud = &s;
  if(!(s.httpd = sceplab_httpd_new(s.base, &hp, err)))
    goto out;
  if(p->admin_page && !p->admin_user && !sceplab_httpd_loopback(s.httpd)) {
    /* the page hands out one-time passwords: open to a network, it hands them to the network */
    sceplab_err_set(err, SCEPLAB_E_USAGE, "the admin page (/certsrv/mscep_admin/) hands out one-time passwords: listening "
                    "on %s, not a loopback address, it needs --admin-user (password in SCEPLAB_ADMIN_PASSWORD)", s.bind);
    goto out;
  }
  s.port = sceplab_httpd_port(s.httpd);
  if(RAND_bytes(s.csrf_key, sizeof(s.csrf_key)) != 1) {
    sceplab_err_set(err, SCEPLAB_E_CRYPTO, "no random bytes");
    goto out;
  }
  if(p->log_dir && sceplab_art_mkdir(p->log_dir) != 0) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", p->log_dir, strerror(errno));
    goto out;
  }
  sceplab_art_init(&s.art, p->log_dir, p->host);
  read_clock(&s);
  s.thread = 4000 + (unsigned)getpid() % 1000;
  s.connector = p->connector && !(p->faults & SCEPLAB_FAULT_NOT_INSTALLED);
  if(p->faults & SCEPLAB_FAULT_NOT_INSTALLED)
    sceplab_art_setup_failed(&s.art);
  /* NDES's Trusted Root store: the CA's root, unless the CA was renewed and its old root removed */
  if(!p->ca_only && (s.trust = X509_STORE_new()) != NULL && !(p->faults & SCEPLAB_FAULT_RA_UNTRUSTED))
    X509_STORE_add_cert(s.trust, sceplab_ca_cert(p->ca, SCEPLAB_CA_ROOT));
  ra_check(&s);
  if(s.connector) {
    /* the policy module's start, as NDES's application pool loads it: its certificate
     * (NDESCertThumbprint) is checked at Initialize */
    char *thumb, *c;
    time_t t = vnow(&s);
    int expired_fault = (p->faults & SCEPLAB_FAULT_POLICY_EXPIRED) != 0;
    if(!(s.policy = sceplab_ca_policy_cert(p->ca, s.art.host, (int64_t)t - (expired_fault ? 400 : 0) * 86400LL - 300,
                                           365, err)))
      goto out;
    thumb = sceplab_thumbprint(s.policy, EVP_sha1());
    for(c = thumb; c && *c; c++)
      *c = (char)tolower((unsigned char)*c);
    sceplab_art_plugin(&s.art, 1, s.thread, "==========[ NDES policy module started in process %u ]==========", s.art.pid);
    sceplab_art_plugin(&s.art, 1, s.thread, "Calling Initialize...");
    sceplab_art_plugin(&s.art, 1, s.thread, "NDES thumbprint is %s.", thumb ? thumb : "");
    if(p->faults & SCEPLAB_FAULT_CRL_OFFLINE) {
      /* the CRL distribution points of the policy module's certificate cannot be reached: the
       * chain builds, its revocation is unknown (offline), the policy check fails, the pool stops */
      capi2_log(&s, s.policy, 0x1000040, 0, 0, NULL, 0x80092013u);
      sceplab_art_plugin(&s.art, 3, s.thread, "Exiting Initialize with 0x80092013");
      sceplab_art_system_event(&s.art, "Microsoft-Windows-WAS", 5002, 2, "Application pool 'SCEP' is being automatically "
                               "disabled due to a series of failures in the process(es) serving that application pool.");
      s.plugin_failed = 1;
    }
    else if(policy_expired(&s)) {
      /* the certificate NDESCertThumbprint names is past its notAfter: Initialize fails (CAPI2 has
       * logged its chain; the policy module's own words are its exit code) */
      sceplab_art_plugin(&s.art, 3, s.thread, "Exiting Initialize with 0x800b0101");
      s.plugin_failed = 1;
    }
    else
      sceplab_art_plugin(&s.art, 1, s.thread, "Exiting Initialize with 0x0");
    free(thumb);
  }
  sigint = event_new(s.base, SIGINT, EV_SIGNAL | EV_PERSIST, on_signal, s.base);
  sigterm = event_new(s.base, SIGTERM, EV_SIGNAL | EV_PERSIST, on_signal, s.base);
  if(!sigint || !sigterm || event_add(sigint, NULL) != 0 || event_add(sigterm, NULL) != 0) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "cannot watch SIGINT and SIGTERM");
    goto out;
  }
  if(p->ready)
    p->ready(p->ud, s.port);
  event_base_dispatch(s.base);
  rc = 0;
out:
  if(sigint)
    event_free(sigint);
  if(sigterm)
    event_free(sigterm);
  sceplab_httpd_free(s.httpd);
  if(s.base)
    event_base_free(s.base);
  if(s.iis)
    fclose(s.iis);
  sceplab_art_close(&s.art);
  X509_STORE_free(s.trust);
  X509_free(s.policy);
  SSL_CTX_free(s.ssl);
  OPENSSL_cleanse(s.csrf_key, sizeof(s.csrf_key));
  free(s.cacert);
  free(s.nextca);
  sigaction(SIGPIPE, &old_pipe, NULL);
  ERR_clear_error();
  return rc;
}
