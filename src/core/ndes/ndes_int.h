/* ndes/: `sceplab serve`, an NDES server with the Intune connector, over the embedded CA (the
 * public side is sceplab/serve.h). Its private header: the server and what its files share.
 *   server.c     start-up, the routes, the loop, shut-down (sceplab_serve)
 *   httpd*.c     HTTP/1.1 on libevent (libevent is used there only)
 *   service.c    the SCEP URL: its operations, enrollment, the policy, the CA
 *   emulation.c  what NDES itself does: its RA certificates' chains, the policy module's start
 *                and certificate, NDES's own page
 *   faults.c     the faults, by stage (faults.h)
 *   admin.c      the admin page (one-time passwords)
 *   publish.c    where revocation is published: the CRL, the CA certificate, OCSP (CDP and AIA)
 *   iislog.c     IIS: text answers, the CRP's calls as IIS logs them, its W3C log and the console
 *   artifacts.c, ndeslog.c  the artifact writer (NDES's and the connector's logs)
 *   tick.c       a periodic job on the loop (the params' tick: Intune's revocation requests), and
 *                the wake-ups that resume requests a policy deferred
 *   web.c        a service of whole requests on httpd (web.h: `sceplab intune cloud`) */
#ifndef SCEPLAB_NDES_INT_H
#define SCEPLAB_NDES_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/base_int.h"
#include "ndes/artifacts.h"
#include "ndes/faults.h"
#include "ndes/httpd.h"
#include "ndes/metrics.h"
#include "pki/pki_int.h"
#include "sceplab/ca.h"
#include "sceplab/scep.h"
#include "sceplab/serve.h"

/* What the emulated NDES is like: set at start-up (emulation.c), partly by faults. */
typedef struct ndes_world {
  int installed;                /* the Intune connector's setup succeeded */
  int connector;                /* its policy module is installed and loaded */
  int plugin_failed;            /* its Initialize failed: the application pool stops (503) */
  X509_STORE *trust;            /* NDES's Trusted Root store, to check its RA certificates */
  X509 *policy;                 /* the policy module's certificate (NDESCertThumbprint) */
  int policy_logged;            /* its expiry is in the CAPI2 log already */
  unsigned ra_error;            /* why NDES cannot use its RA certificates (HRESULT), or 0 */
  int64_t ra_checked;           /* the clock offset ra_error was computed at, +1 */
} ndes_world;

typedef struct ndes_admin ndes_admin;
typedef struct ndes_publish ndes_publish;

typedef struct ndes_server {
  const sceplab_serve_params *p;
  sceplab_httpd *httpd;
  SSL_CTX *ssl;
  char bind[64];
  unsigned port;
  unsigned char *cacert;        /* GetCACert's answer */
  size_t cacert_len;
  const char *cacert_type;
  unsigned char *nextca;        /* GetNextCACert's answer, when a rollover CA is made */
  size_t nextca_len;
  ndes_world world;
  ndes_observers obs;
  ndes_admin *admin;
  ndes_publish *publish;
  int clock_fd;
  int tick_fd;                  /* the params' tick timer (tick.c), or -1 */
  int sync_fd;                  /* an eventfd the CA's store writes after each sync behind the loop, or -1 */
} ndes_server;

/* iislog.c: a text answer (malloc'd body); the monotonic clock in ms; a call of the connector to
 * the CRP (stem), or its VerifyRequest, as the CRP's IIS logs it (client: the server itself, as
 * NDESPlugin). */
void ndes_text(sceplab_httpd_resp *r, int status, const char *text);
double ndes_now_ms(void);
void ndes_crp_http(ndes_server *s, const char *stem, int status, int substatus, unsigned win32, double started_ms);
void ndes_verify_http(ndes_server *s, int status, int substatus, unsigned win32, double started_ms);

/* service.c: the SCEP URL's handler (ud: the server). */
void ndes_scep_handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp);

/* emulation.c */
/* NDES starts: its Trusted Root store, its RA certificates checked, the policy module's
 * certificate and Initialize, as start (the start-up faults' settings) says: 0, or -1 with err. */
int ndes_world_start(ndes_server *s, const ndes_fault_ctx *start, sceplab_error *err);
void ndes_world_free(ndes_world *w);
/* Whether NDES can use its RA certificates now (the clock's now): 0, or the HRESULT why not
 * (event 2 and CAPI2 logged once per cause). */
unsigned ndes_ra_check(ndes_server *s);
/* Whether the policy module's certificate is past its notAfter now (CAPI2 logs it the first time). */
int ndes_policy_expired(ndes_server *s);
/* What the bare SCEP URL answers: NDES's own page (no connector), or 403. */
void ndes_bare_url(ndes_server *s, sceplab_httpd_resp *resp);
/* The text of NDES's Application event id for a password it refused (28, 29), or NULL. */
const char *ndes_password_event(int id);

/* publish.c: the CDP, AIA and OCSP routes added to hp (the public URL set from the params when
 * given), the public URL set to serve's own address once it listens when none was given, the
 * state freed. 0, or -1 with err. */
int ndes_publish_routes(ndes_server *s, sceplab_httpd_params *hp, sceplab_error *err);
int ndes_publish_listening(ndes_server *s, sceplab_error *err);
void ndes_publish_free(ndes_server *s);

/* tick.c: the params' tick every tick_seconds on the loop (s->tick_fd): 0, or -1 with err. */
int ndes_tick_start(ndes_server *s, sceplab_error *err);
/* The params' wake_fd watched: drained, wake called, deferred requests resumed: 0, or -1 with err. */
int ndes_wake_start(ndes_server *s, sceplab_error *err);

/* admin.c: the admin page's handler (ud: the server), its state. */
ndes_admin *ndes_admin_new(sceplab_error *err);
void ndes_admin_free(ndes_admin *a);
void ndes_admin_handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp);

#endif
