/* The faults' table and what each does at its stage (faults.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ndes/ndes_int.h"

/* A text answer, as IIS or a proxy gives it. */
static int answer(ndes_fault_ctx *c, int status, const char *text, unsigned win32)
{
  ndes_text(c->resp, status, text);
  c->resp->win32 = win32;
  return 1;
}

/* ---- REQUEST: IIS, a proxy in front, the application pool ---------------------------------- */

static int scep_404(ndes_fault_ctx *c) { return answer(c, 404, "404 - File or directory not found.", 0); }

static int body_413(ndes_fault_ctx *c)
{
  return c->rq->method == SCEPLAB_HTTPD_POST && c->rq->body_len > 2048 ? answer(c, 413, "413 - Request Entity Too Large", 0)
                                                                        : 0;
}

static int proxy_502(ndes_fault_ctx *c)
{
  return answer(c, 502, "502 - Web server received an invalid response while acting as a gateway or proxy server.", 0);
}

static int proxy_504(ndes_fault_ctx *c) { return answer(c, 504, "504 - Gateway Timeout", 0); }

static int query_414(ndes_fault_ctx *c)
{
  return c->rq->query && strlen(c->rq->query) > 2048 ? answer(c, 414, "414 - Request-URI Too Long", 0) : 0;
}

static int pool_stopped(ndes_fault_ctx *c) { return answer(c, 503, "Service Unavailable", 0); }

static int impersonation(ndes_fault_ctx *c)
{
  return answer(c, 500, "500 - Internal server error.", 1346); /* ERROR_BAD_IMPERSONATION_LEVEL */
}

/* ---- VERIFY: the Certificate Registration Point, before the policy -------------------------- */

/* The VerifyRequest call as the CRP's IIS logs it. */
static void verify_http(ndes_fault_ctx *c, int status, int substatus, unsigned win32)
{
  ndes_verify_http(c->s, status, substatus, win32, c->started_ms);
}

static void verify_failed(ndes_fault_ctx *c, ndes_verify_failure how)
{
  ndes_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_VERIFY_FAILED;
  ev.verify = how;
  ndes_emit(&c->s->obs, &ev);
}

static int deny(ndes_fault_ctx *c, const char *reason)
{
  snprintf(c->answer->reason, sizeof(c->answer->reason), "%s", reason);
  c->answer->decision = SCEPLAB_POLICY_DENY;
  c->answer->fail_info = SCEPLAB_FAIL_BADREQUEST;
  return 1;
}

/* WinHTTP refuses the CRP's certificate name: the request never reaches IIS */
static int crp_cn(ndes_fault_ctx *c)
{
  verify_failed(c, NDES_VERIFY_UNREACHABLE);
  return deny(c, "NDESPlugin cannot reach the CRP: 12175 CERT_CN_INVALID");
}

static int crp_404(ndes_fault_ctx *c)
{
  verify_http(c, 404, 0, 2);
  return deny(c, "VerifyRequest answered 404");
}

static int crp_temp(ndes_fault_ctx *c)
{
  ndes_event ev;
  verify_http(c, 500, 0, 0);
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_SYSTEM_EVENT;
  ev.level = 3;
  ev.provider = "Microsoft-Windows-WAS";
  ev.id = 5009;
  ev.text = "A process serving application pool 'CertificateRegistrationSvc' terminated unexpectedly.";
  ndes_emit(&c->s->obs, &ev);
  ev.provider = "ASP.NET 4.0.30319.0";
  ev.id = 1310;
  ev.text = "Event code: 3008. A configuration error has occurred. Access to the path 'C:\\Windows\\TEMP\\' is denied.";
  ndes_emit(&c->s->obs, &ev);
  return deny(c, "VerifyRequest answered 500");
}

/* IIS refuses the policy module's client certificate before the CRP runs */
static int root_store(ndes_fault_ctx *c)
{
  verify_http(c, 403, 16, 2148204809u); /* CERT_E_UNTRUSTEDROOT */
  verify_failed(c, NDES_VERIFY_FORBIDDEN);
  return deny(c, "VerifyRequest answered 403.16");
}

static int client_auth(ndes_fault_ctx *c)
{
  verify_http(c, 403, 0, 5);
  verify_failed(c, NDES_VERIFY_FORBIDDEN);
  return deny(c, "VerifyRequest answered 403");
}

static int signing_cert(ndes_fault_ctx *c)
{
  ndes_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_CRP_TRACE;
  ev.error = 1;
  ev.activity = c->activity;
  ev.text = "Signing certificate could not be retrieved. at "
            "Microsoft.Management.Services.CertificateRegistrationPoint.VerifyRequest()";
  ndes_emit(&c->s->obs, &ev);
  verify_http(c, 200, 0, 0);
  verify_failed(c, NDES_VERIFY_FALSE);
  return deny(c, "the CRP cannot retrieve its signing certificate");
}

/* ---- CA: the CA refuses, or takes its time ------------------------------------------------- */

static int ca_refuses(ndes_fault_ctx *c, unsigned code, const char *text)
{
  ndes_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_APP_EVENT;
  ev.id = 31;
  ev.error = 1;
  ev.text = text;
  ndes_emit(&c->s->obs, &ev);
  c->refusal = code;
  return 1;
}

static int ca_down(ndes_fault_ctx *c)
{
  return ca_refuses(c, 0x800706BAu, "The Network Device Enrollment Service cannot submit the certificate request to the "
                    "certification authority (0x800706ba). The RPC server is unavailable.");
}

static int template_acl(ndes_fault_ctx *c)
{
  return ca_refuses(c, 0x80094012u, "The Network Device Enrollment Service cannot submit the certificate request to the "
                    "certification authority (0x80094012). The permissions on the certificate template do not allow the "
                    "current user to enroll for this type of certificate.");
}

/* NDES words these two with the HRESULT as a signed decimal */
static int template_unsupported(ndes_fault_ctx *c)
{
  return ca_refuses(c, 0x80094800u, "The Network Device Enrollment Service cannot submit the certificate request "
                    "(-2146875392). The requested certificate template is not supported by this CA.");
}

static int key_too_small(ndes_fault_ctx *c)
{
  return ca_refuses(c, 0x80094811u, "The Network Device Enrollment Service cannot submit the certificate request "
                    "(-2146875375). The public key does not meet the minimum size required by the specified certificate "
                    "template.");
}

/* Before the CA's transaction: the store is never held while the CA "thinks". */
static int slow_ca(ndes_fault_ctx *c)
{
  struct timespec ts = {2, 0};
  (void)c;
  nanosleep(&ts, NULL);
  return 0;
}

/* ---- REPLY: the connector's report ----------------------------------------------------------- */

static int upload_fails(ndes_fault_ctx *c)
{
  c->upload_attempts = 3;
  c->upload_failed = 1;
  return 0;
}

static int connector_stopped(ndes_fault_ctx *c)
{
  c->stays_processing = 1;
  return 0;
}

/* ---- START: what NDES is like ---------------------------------------------------------------- */

static int not_installed(ndes_fault_ctx *c)
{
  ndes_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_SETUP_FAILED;
  ndes_emit(&c->s->obs, &ev);
  c->installed = 0;
  return 0;
}

static int ra_untrusted(ndes_fault_ctx *c)
{
  c->trust_root = 0;
  return 0;
}

static int policy_expired(ndes_fault_ctx *c)
{
  c->policy_backdate_days = 400;
  return 0;
}

static int crl_offline(ndes_fault_ctx *c)
{
  c->policy_crl = 0x80092013u; /* CRYPT_E_REVOCATION_OFFLINE */
  return 0;
}

/* ---- PUBLISH: the CDP, the CA certificate and the OCSP responder ------------------------------ */

/* the CRL is still served, but nobody re-signs it: past its nextUpdate, CAPI2 and FreeRADIUS
 * refuse it as they refuse a missing one */
static int crl_expired(ndes_fault_ctx *c)
{
  c->crl_expired = !strcmp(c->published, "crl");
  return 0;
}

/* the CDP's web server is down: the connection closes with no answer (WinHTTP 12030, curl 52) */
static int cdp_down(ndes_fault_ctx *c)
{
  if(strcmp(c->published, "crl") != 0 && strcmp(c->published, "crt") != 0)
    return 0;
  c->resp->drop = 1;
  return 1;
}

/* the responder takes the request and never answers: clients wait out their own timeout (CAPI2's
 * 15 s, FreeRADIUS's ocsp_timeout); the connection is dropped after ten minutes */
static int ocsp_silent(ndes_fault_ctx *c)
{
  if(strcmp(c->published, "ocsp") != 0)
    return 0;
  c->resp->drop = 1;
  c->resp->delay_ms = 600000;
  return 1;
}

/* ---- the table ------------------------------------------------------------------------------- */

/* Listed in the CLI's order; rank is the order a stage settles them in (the first that answers
 * for its stage ends it). */
#define FAULTS(X)                                                                                                     \
  X("app-pool-stopped", SCEPLAB_FAULT_APP_POOL_STOPPED, NDES_STAGE_REQUEST, 5, pool_stopped, "scep-app-pool-503",            \
    "the SCEP application pool is stopped: SCEP requests get 503")                                                        \
  X("iis-impersonation", SCEPLAB_FAULT_IMPERSONATION, NDES_STAGE_REQUEST, 6, impersonation, "iis-impersonation-500",          \
    "IIS_IUSRS lacks 'Impersonate a client after authentication': 500, win32 1346")                                       \
  X("intermediate-in-root-store", SCEPLAB_FAULT_ROOT_STORE, NDES_STAGE_VERIFY, 3, root_store, "intermediate-in-root-store", \
    "intermediates in the Trusted Root store: VerifyRequest 403.16")                                                      \
  X("policy-cert-no-client-auth", SCEPLAB_FAULT_CLIENT_AUTH, NDES_STAGE_VERIFY, 4, client_auth, "policy-cert-client-auth",   \
    "the policy module's certificate lacks Client Authentication: VerifyRequest 403")                                     \
  X("signing-cert-missing", SCEPLAB_FAULT_SIGNING_CERT, NDES_STAGE_VERIFY, 5, signing_cert, "signing-cert-missing",          \
    "the CRP cannot retrieve its signing certificate")                                                                    \
  X("template-not-supported", SCEPLAB_FAULT_TEMPLATE, NDES_STAGE_CA, 2, template_unsupported, "ca-template-unsupported",     \
    "the CA does not issue the template (0x80094800)")                                                                    \
  X("ca-key-too-small", SCEPLAB_FAULT_KEY_SIZE, NDES_STAGE_CA, 3, key_too_small, "ca-key-too-small",                          \
    "the template's minimum key size is above the device's (0x80094811)")                                                 \
  X("ca-unreachable", SCEPLAB_FAULT_CA_DOWN, NDES_STAGE_CA, 0, ca_down, "ca-unreachable",                                    \
    "the CA does not answer (0x800706ba, NDES event 31)")                                                                 \
  X("connector-stopped", SCEPLAB_FAULT_CONNECTOR_STOPPED, NDES_STAGE_REPLY, 1, connector_stopped,                            \
    "connector-service-stopped", "the Intune Connector Service is stopped: CRS files stay in Processing")                 \
  X("upload-failed", SCEPLAB_FAULT_UPLOAD, NDES_STAGE_REPLY, 0, upload_fails, "connector-upload-failed",                     \
    "the connector's upload to Intune fails: CRS files go to Failed")                                                     \
  X("slow-ca", SCEPLAB_FAULT_SLOW_CA, NDES_STAGE_CA, 4, slow_ca, NULL, "the CA takes two seconds to issue")                 \
  X("uri-too-long", SCEPLAB_FAULT_QUERY_LIMIT, NDES_STAGE_REQUEST, 4, query_414, "uri-too-long-414",                         \
    "IIS request filtering's default maxQueryString (2048): a GET PKIOperation gets 414")                                 \
  X("proxy-502", SCEPLAB_FAULT_PROXY_502, NDES_STAGE_REQUEST, 2, proxy_502, "proxy-502",                                     \
    "a reverse proxy in front of NDES answers 502 Bad Gateway")                                                           \
  X("proxy-504", SCEPLAB_FAULT_PROXY_504, NDES_STAGE_REQUEST, 3, proxy_504, "app-proxy-504",                                 \
    "a reverse proxy in front of NDES times out: 504 Gateway Timeout")                                                    \
  X("crp-not-found", SCEPLAB_FAULT_CRP_404, NDES_STAGE_VERIFY, 1, crp_404, "crp-not-found-404",                              \
    "the CertificateRegistrationSvc application is missing from IIS: VerifyRequest 404")                                  \
  X("crp-temp-permission", SCEPLAB_FAULT_CRP_TEMP, NDES_STAGE_VERIFY, 2, crp_temp, "crp-500-temp-permission",                \
    "the CRP's application pool cannot write C:\\Windows\\TEMP: VerifyRequest 500, WAS 5009, ASP.NET 1310")               \
  X("ssl-cn-invalid", SCEPLAB_FAULT_CRP_CN, NDES_STAGE_VERIFY, 0, crp_cn, "ssl-cn-invalid",                                  \
    "the SSL certificate does not name the host NDESPlugin calls: WinHTTP 12175")                                         \
  X("template-permission", SCEPLAB_FAULT_TEMPLATE_ACL, NDES_STAGE_CA, 1, template_acl, "ca-request-denied",                  \
    "the template's permissions refuse NDES's service account (0x80094012)")                                              \
  X("scep-not-found", SCEPLAB_FAULT_SCEP_404, NDES_STAGE_REQUEST, 0, scep_404, "ndes-not-found-404",                         \
    "the SCEP application (mscep) is missing from IIS: 404")                                                              \
  X("connector-not-installed", SCEPLAB_FAULT_NOT_INSTALLED, NDES_STAGE_START, 0, not_installed, "connector-not-installed",    \
    "the Intune connector's setup failed (SetupMsi.log 1603): no policy module, the bare URL answers 200, NDES refuses "  \
    "the Intune challenge (event 29)")                                                                                    \
  X("policy-cert-expired", SCEPLAB_FAULT_POLICY_EXPIRED, NDES_STAGE_START, 2, policy_expired, "policy-cert-expired",         \
    "the policy module's certificate (NDESCertThumbprint) expired: Initialize fails (0x800b0101), SCEP requests get 503")  \
  X("ra-chain-untrusted", SCEPLAB_FAULT_RA_UNTRUSTED, NDES_STAGE_START, 1, ra_untrusted, "ra-chain-untrusted",               \
    "the CA was renewed and its old root removed: NDES's RA certificates no longer chain to a trusted root (event 2), "   \
    "500")                                                                                                                \
  X("crl-unreachable", SCEPLAB_FAULT_CRL_OFFLINE, NDES_STAGE_START, 3, crl_offline, "connector-crl-unreachable",             \
    "the CRL of the policy module's certificate cannot be reached: CAPI2 0x80092013, Initialize fails, WAS 5002, SCEP "  \
    "requests get 503")                                                                                                   \
  X("request-too-large", SCEPLAB_FAULT_BODY_413, NDES_STAGE_REQUEST, 1, body_413, "request-too-large-413",                   \
    "request filtering's maxAllowedContentLength set too low: a POST over 2 KB gets 413")                     \
  X("crl-expired", SCEPLAB_FAULT_CRL_EXPIRED, NDES_STAGE_PUBLISH, 2, crl_expired, "crl-expired",                            \
    "the CDP serves a CRL past its nextUpdate (nobody re-signs it): CAPI2 0x80092013, RADIUS refuses the device")         \
  X("cdp-unreachable", SCEPLAB_FAULT_CDP_DOWN, NDES_STAGE_PUBLISH, 0, cdp_down, "cdp-unreachable",                          \
    "the CRL distribution point closes every connection unanswered: CAPI2 0x80092013, RADIUS refuses the device")         \
  X("ocsp-silent", SCEPLAB_FAULT_OCSP_SILENT, NDES_STAGE_PUBLISH, 1, ocsp_silent, "ocsp-no-response",                       \
    "the OCSP responder accepts and never answers: clients time out (CAPI2 0x80092013 without a CRL to fall back on)")

static const char *const stage_names[NDES_STAGES] = {"start-up", "request", "verify-request", "ca-submit", "reply",
                                                     "publish"};
#define STAGE_NAME_NDES_STAGE_START "start-up"
#define STAGE_NAME_NDES_STAGE_REQUEST "request"
#define STAGE_NAME_NDES_STAGE_VERIFY "verify-request"
#define STAGE_NAME_NDES_STAGE_CA "ca-submit"
#define STAGE_NAME_NDES_STAGE_REPLY "reply"
#define STAGE_NAME_NDES_STAGE_PUBLISH "publish"

#define FAULT_INFO(name, bit, stage, rank, play, finding, doc) {name, bit, finding, doc, STAGE_NAME_##stage},
static const sceplab_fault_info info[] = {FAULTS(FAULT_INFO)};

#define FAULT_PLAY(name, bit, stage, rank, play, finding, doc) {bit, stage, rank, play},
static const struct {
  unsigned bit;
  ndes_stage stage;
  int rank;
  int (*play)(ndes_fault_ctx *c);
} table[] = {FAULTS(FAULT_PLAY)};

#define NFAULTS (sizeof(table) / sizeof(table[0]))

const sceplab_fault_info *sceplab_serve_faults(size_t *n)
{
  *n = NFAULTS;
  return info;
}

const char *ndes_stage_name(ndes_stage stage) { return stage < NDES_STAGES ? stage_names[stage] : "?"; }

int ndes_fault_stage(const char *name)
{
  size_t i;
  for(i = 0; i < NFAULTS; i++)
    if(!strcmp(info[i].name, name))
      return (int)table[i].stage;
  return -1;
}

int ndes_faults_play(unsigned faults, ndes_stage stage, ndes_fault_ctx *c)
{
  int rank, played = 0;
  size_t i;
  /* a stage has a handful of faults: by rank, the table walked once per rank */
  for(rank = 0; rank < 8 && !played; rank++)
    for(i = 0; i < NFAULTS && !played; i++)
      if(table[i].stage == stage && table[i].rank == rank && (faults & table[i].bit))
        played = table[i].play(c);
  return played;
}
