/* Where serve publishes revocation, as an ADCS CA publishes it on IIS: the CRL at
 * /CertEnroll/NAME.crl (the current one: re-signed at a revocation and before its nextUpdate,
 * never per request), the issuing CA's certificate at /CertEnroll/NAME.crt, and an OCSP
 * responder at /ocsp (POST, and GET /ocsp/BASE64 as RFC 6960 A.1 and CryptoAPI send it), all
 * under the path of the public URL. Each request plays the publish stage's faults first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "base/clock.h"
#include "ndes/ndes_int.h"

struct ndes_publish {
  char *crl[2], *crt[2], *ocsp[3]; /* the routes' paths, NULL-terminated */
  char *root_crl[2], *root_crt[2]; /* the root's, for a two-tier CA */
  unsigned char *root_der;          /* the root's CRL, signed at start and again at half its life */
  size_t root_len;
  int64_t root_made;
  size_t ocsp_len;                  /* strlen of the OCSP path: a GET's request follows it and a '/' */
  unsigned char *expired;           /* the CRL past its nextUpdate (crl-expired), made once */
  size_t expired_len;
};

/* The publish stage's faults for what is asked: 1 when one answered. */
static int faults(ndes_server *s, const char *what, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp,
                  int *crl_expired)
{
  ndes_fault_ctx fc;
  int answered;
  memset(&fc, 0, sizeof(fc));
  fc.s = s;
  fc.rq = rq;
  fc.resp = resp;
  fc.published = what;
  answered = ndes_faults_play(s->p->faults, NDES_STAGE_PUBLISH, &fc);
  if(crl_expired)
    *crl_expired = fc.crl_expired;
  return answered;
}

static void der_answer(sceplab_httpd_resp *resp, unsigned char *der, size_t n, const char *type)
{
  resp->status = 200;
  resp->type = type;
  resp->body = der;
  resp->len = n;
}

static void crl_handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp)
{
  ndes_server *s = ud;
  ndes_publish *pb = s->publish;
  sceplab_error err;
  unsigned char *der, *copy;
  size_t n = 0;
  int expired = 0;
  if(faults(s, "crl", rq, resp, &expired))
    return;
  sceplab_err_clear(&err);
  if(expired) {
    if(!pb->expired && !(pb->expired = sceplab_ca_crl_expired(s->p->ca, &pb->expired_len, &err)))
      return ndes_text(resp, 500, "500 - Internal server error.");
    if(!(copy = malloc(pb->expired_len)))
      return ndes_text(resp, 500, "500 - Internal server error.");
    memcpy(copy, pb->expired, pb->expired_len);
    return der_answer(resp, copy, pb->expired_len, "application/pkix-crl");
  }
  /* the current CRL: signed anew only when a revocation, a rollover or half its validity asks */
  if(!(der = sceplab_ca_crl_current(s->p->ca, 7, &n, &err))) {
    if(s->p->warn)
      s->p->warn(s->p->ud, err.msg);
    return ndes_text(resp, 500, "500 - Internal server error.");
  }
  der_answer(resp, der, n, "application/pkix-crl");
}

#define ROOT_CRL_DAYS 180

static void root_crl_handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp)
{
  ndes_server *s = ud;
  ndes_publish *pb = s->publish;
  int64_t now = sceplab_clock_now();
  sceplab_error err;
  unsigned char *copy;
  if(faults(s, "crl", rq, resp, NULL))
    return;
  sceplab_err_clear(&err);
  /* kept, and signed by the root again when half its validity is over */
  if(!pb->root_der || now < pb->root_made || now >= pb->root_made + ROOT_CRL_DAYS * 86400LL / 2) {
    size_t n = 0;
    unsigned char *der = sceplab_ca_root_crl(s->p->ca, ROOT_CRL_DAYS, &n, &err);
    if(!der)
      return ndes_text(resp, 500, "500 - Internal server error.");
    free(pb->root_der);
    pb->root_der = der;
    pb->root_len = n;
    pb->root_made = now;
  }
  if(!(copy = malloc(pb->root_len)))
    return ndes_text(resp, 500, "500 - Internal server error.");
  memcpy(copy, pb->root_der, pb->root_len);
  der_answer(resp, copy, pb->root_len, "application/pkix-crl");
}

static void cert_answer(sceplab_httpd_resp *resp, X509 *ca)
{
  unsigned char *der, *p;
  int n;
  if((n = i2d_X509(ca, NULL)) <= 0 || !(der = malloc((size_t)n)))
    return ndes_text(resp, 500, "500 - Internal server error.");
  p = der;
  i2d_X509(ca, &p);
  der_answer(resp, der, (size_t)n, "application/pkix-cert");
}

static void root_crt_handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp)
{
  ndes_server *s = ud;
  if(!faults(s, "crt", rq, resp, NULL))
    cert_answer(resp, sceplab_ca_cert(s->p->ca, SCEPLAB_CA_ROOT));
}

static void crt_handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp)
{
  ndes_server *s = ud;
  if(!faults(s, "crt", rq, resp, NULL))
    cert_answer(resp, sceplab_ca_cert(s->p->ca, SCEPLAB_CA_ISSUING));
}

/* OCSP's own error answer (RFC 6960 4.2.1), unsigned, over HTTP 200. */
static void ocsp_error(sceplab_httpd_resp *resp, int status)
{
  OCSP_RESPONSE *r = OCSP_response_create(status, NULL);
  unsigned char *der = NULL, *p;
  int n = r ? i2d_OCSP_RESPONSE(r, NULL) : -1;
  if(n > 0 && (der = malloc((size_t)n)) != NULL) {
    p = der;
    i2d_OCSP_RESPONSE(r, &p);
    der_answer(resp, der, (size_t)n, "application/ocsp-response");
  }
  else
    ndes_text(resp, 500, "500 - Internal server error.");
  OCSP_RESPONSE_free(r);
}

static void ocsp_handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp)
{
  ndes_server *s = ud;
  ndes_publish *pb = s->publish;
  sceplab_error err;
  unsigned char *req = NULL, *der;
  const unsigned char *in;
  size_t n = 0, len = 0;
  if(faults(s, "ocsp", rq, resp, NULL))
    return;
  if(rq->method == SCEPLAB_HTTPD_POST) {
    in = rq->body;
    n = rq->body_len;
  }
  else {
    /* GET {url}/{url-encoding of base64 encoding of the DER OCSPRequest}: the path is decoded */
    const char *b64 = rq->path + pb->ocsp_len;
    while(*b64 == '/')
      b64++;
    req = *b64 ? sceplab_b64_decode(b64, strlen(b64), &n, NULL) : NULL;
    if(!req)
      return ocsp_error(resp, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
    in = req;
  }
  sceplab_err_clear(&err);
  der = sceplab_ca_ocsp(s->p->ca, in, n, &len, &err);
  free(req);
  if(!der) {
    if(s->p->warn)
      s->p->warn(s->p->ud, err.msg);
    return ocsp_error(resp, OCSP_RESPONSE_STATUS_INTERNALERROR);
  }
  der_answer(resp, der, len, "application/ocsp-response");
}

/* A path that is "P" and NULL, malloc'd. */
static int paths_of(char *out[], char *path, const char *more)
{
  out[0] = path;
  if(more) {
    size_t n = strlen(path) + strlen(more) + 1;
    if(!(out[1] = malloc(n)))
      return -1;
    snprintf(out[1], n, "%s%s", path, more);
    out[2] = NULL;
  }
  else
    out[1] = NULL;
  return path ? 0 : -1;
}

static void add_route(sceplab_httpd_params *hp, char *const *paths, unsigned methods, sceplab_httpd_handler fn, void *ud)
{
  hp->routes[hp->nroutes].paths = (const char *const *)paths;
  hp->routes[hp->nroutes].methods = methods;
  hp->routes[hp->nroutes].handler = fn;
  hp->routes[hp->nroutes++].ud = ud;
}

int ndes_publish_routes(ndes_server *s, sceplab_httpd_params *hp, sceplab_error *err)
{
  sceplab_ca *ca = s->p->ca;
  const unsigned get = 1u << SCEPLAB_HTTPD_GET | 1u << SCEPLAB_HTTPD_HEAD;
  ndes_publish *pb;
  char *path;
  int cleared = 0;
  if(s->p->public_url && sceplab_ca_set_public_url(ca, s->p->public_url, err) != 0)
    return -1;
  if(!(pb = s->publish = calloc(1, sizeof(*pb))))
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  /* the paths under the public URL's path; before it is known (serve's own address, once it
   * listens), at the root */
  if(!sceplab_ca_public_url(ca)) {
    cleared = 1;
    if(sceplab_ca_set_public_url(ca, "http://localhost", err) != 0)
      return -1;
  }
  path = sceplab_ca_publish_url(ca, "ocsp", 1);
  if(paths_of(pb->crl, sceplab_ca_publish_url(ca, "crl", 1), NULL) != 0 ||
     paths_of(pb->crt, sceplab_ca_publish_url(ca, "crt", 1), NULL) != 0 || paths_of(pb->ocsp, path, "/*") != 0) {
    if(!pb->ocsp[0])
      free(path);
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  }
  pb->ocsp_len = strlen(path);
  /* a two-tier CA: the root's CRL and certificate, which the issuing CA's certificate may name */
  if(X509_cmp(sceplab_ca_cert(ca, SCEPLAB_CA_ROOT), sceplab_ca_cert(ca, SCEPLAB_CA_ISSUING)) != 0 &&
     (paths_of(pb->root_crl, sceplab_ca_publish_url(ca, "root-crl", 1), NULL) != 0 ||
      paths_of(pb->root_crt, sceplab_ca_publish_url(ca, "root-crt", 1), NULL) != 0))
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  if(cleared)
    sceplab_ca_set_public_url(ca, NULL, err);
  if(hp->nroutes + 5 > SCEPLAB_HTTPD_ROUTES_MAX)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "too many routes"), -1;
  add_route(hp, pb->crl, get, crl_handler, s);
  add_route(hp, pb->crt, get, crt_handler, s);
  add_route(hp, pb->ocsp, get | 1u << SCEPLAB_HTTPD_POST, ocsp_handler, s);
  if(pb->root_crl[0]) {
    add_route(hp, pb->root_crl, get, root_crl_handler, s);
    add_route(hp, pb->root_crt, get, root_crt_handler, s);
  }
  return 0;
}

int ndes_publish_listening(ndes_server *s, sceplab_error *err)
{
  char url[320], host[256];
  const char *h = s->bind;
  if(sceplab_ca_public_url(s->p->ca))
    return 0;
  /* serve's own address; every interface has no one address: the host's name stands for it */
  if(!strcmp(h, "0.0.0.0") || !strcmp(h, "::")) {
    if(gethostname(host, sizeof(host)) != 0)
      snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    h = host;
  }
  snprintf(url, sizeof(url), "%s://%s%s%s:%u", s->ssl ? "https" : "http", strchr(h, ':') ? "[" : "", h,
           strchr(h, ':') ? "]" : "", s->port);
  return sceplab_ca_set_public_url(s->p->ca, url, err);
}

void ndes_publish_free(ndes_server *s)
{
  ndes_publish *pb = s->publish;
  int i;
  if(!pb)
    return;
  free(pb->crl[0]);
  free(pb->crt[0]);
  free(pb->root_crl[0]);
  free(pb->root_crt[0]);
  free(pb->root_der);
  for(i = 0; i < 2; i++)
    free(pb->ocsp[i]);
  free(pb->expired);
  free(pb);
  s->publish = NULL;
}
