/* `sceplab serve`: NDES as it answers SCEP over HTTP(S), on the HTTP/1.1 server of httpd.c, one
 * event loop on the caller's thread (serve.h; docs/architecture.md says why libevent). Start-up:
 * the answers prepared once (GetCACert, GetNextCACert), the TLS context, the routes, the
 * observers, the clock, the start-up faults and the emulated NDES; then the loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "base/clock.h"
#include "ndes/ndes_int.h"

static const char *const scep_paths[] = {"/certsrv/mscep/mscep.dll", "/certsrv/mscep/mscep.dll/",
                                         "/certsrv/mscep/mscep.dll/pkiclient.exe", NULL};
static const char *const admin_paths[] = {"/certsrv/mscep_admin", "/certsrv/mscep_admin/", NULL};
static const char *const metrics_paths[] = {"/metrics", NULL};

/* GetCACert's answer: NDES's RA certificates then the chain, or the CA alone. */
static int make_cacert(ndes_server *s, sceplab_error *err)
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
static int make_nextca(ndes_server *s, sceplab_error *err)
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

static void not_found(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp)
{
  (void)ud;
  (void)rq;
  ndes_text(resp, 404, "Not Found");
}

/* Every answer, as IIS logs it. */
static void answered(void *ud, const sceplab_httpd_req *rq, const sceplab_httpd_resp *resp, long taken_ms)
{
  ndes_server *s = ud;
  ndes_event ev;
  if(!s->obs.n)
    return;
  memset(&ev, 0, sizeof(ev));
  ev.kind = NDES_EV_HTTP;
  ev.method = rq->method == SCEPLAB_HTTPD_GET ? "GET" : rq->method == SCEPLAB_HTTPD_POST ? "POST"
            : rq->method == SCEPLAB_HTTPD_HEAD ? "HEAD" : "OTHER";
  ev.stem = rq->path ? rq->path : rq->raw_path ? rq->raw_path : "-";
  ev.query = rq->query;
  ev.client = rq->peer;
  ev.user_agent = sceplab_httpd_header(rq, "User-Agent");
  ev.status = resp->status;
  ev.substatus = resp->substatus;
  ev.win32 = resp->win32;
  ev.taken_ms = taken_ms;
  ndes_emit(&s->obs, &ev);
}

/* The SCEP URL, timed per operation for /metrics. */
static void scep_timed(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp)
{
  double t0 = ndes_now_ms();
  ndes_scep_handler(ud, rq, resp);
  ndes_metrics_took(ndes_metrics_op(rq->query), ndes_now_ms() - t0);
}

static void busy(void *ud, int delta)
{
  (void)ud;
  ndes_metrics_inflight(delta);
}

static int spread(void *ud, int n)
{
  (void)ud;
  return ndes_metrics_conns(n);
}

/* Answers wait for their commits' sync (sceplab_ca_sync_behind), which runs beside the loop. */
static uint64_t commits(void *ud)
{
  ndes_server *s = ud;
  return sceplab_ca_commits(s->p->ca);
}

static int durable(void *ud, uint64_t n)
{
  ndes_server *s = ud;
  return sceplab_ca_durable(s->p->ca, n);
}

static void synced(void *ud, int fd)
{
  ndes_server *s = ud;
  uint64_t n;
  if(read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
    sceplab_httpd_durable(s->httpd);
}

static int pending(void *ud)
{
  ndes_server *s = ud;
  return s->p->pending(s->p->ud);
}

static void hup(void *ud)
{
  ndes_server *s = ud;
  s->p->reload(s->p->ud);
}

static void serve_warn(void *ud, const char *line)
{
  ndes_server *s = ud;
  if(s->p->warn)
    s->p->warn(s->p->ud, line);
}

static void clock_moved(void *ud, int fd)
{
  ndes_server *s = ud;
  sceplab_clock_refresh(fd, s->p->clock_file);
}

static int observers(ndes_server *s, sceplab_error *err)
{
  const sceplab_serve_params *p = s->p;
  if(p->logged && ndes_console_observer(&s->obs, p->logged, p->ud, s->bind, s->port) != 0)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  if(p->log_dir) {
    if(sceplab_art_mkdir(p->log_dir) != 0)
      return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", p->log_dir, strerror(errno)), -1;
    if(ndes_iis_observer(&s->obs, p->log_dir, s->bind, s->port) != 0 ||
       ndes_artifacts_observer(&s->obs, p->log_dir, p->host) != 0)
      return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  }
  return 0;
}

/* The routes, the loop's parameters and the server. */
static int listen_on(ndes_server *s, sceplab_error *err)
{
  const sceplab_serve_params *p = s->p;
  sceplab_httpd_params hp;
  memset(&hp, 0, sizeof(hp));
  hp.bind = s->bind;
  hp.port = p->port;
  hp.listen_fd = p->listen_fd;
  hp.admin_fd = p->metrics_fd;
  hp.admin_route.paths = metrics_paths;
  hp.admin_route.methods = 1u << SCEPLAB_HTTPD_GET | 1u << SCEPLAB_HTTPD_HEAD;
  hp.admin_route.handler = ndes_metrics_handler;
  hp.drain_ms = p->drain_seconds * 1000;
  hp.busy = busy;
  hp.spread = spread;
  if(s->sync_fd >= 0) {
    hp.commits = commits;
    hp.durable = durable;
  }
  hp.hup = p->reload ? hup : NULL;
  hp.pending = p->pending ? pending : NULL;
  hp.ssl = s->ssl;
  hp.max_connections = p->max_connections;
  hp.max_per_client = p->max_per_client;
  hp.header_ms = p->header_timeout * 1000;
  hp.body_ms = p->body_timeout * 1000;
  hp.idle_ms = p->idle_timeout * 1000;
  hp.max_head = 98304; /* a 65534-byte URL, as NDES guidance configures IIS */
  hp.max_body = p->max_body ? p->max_body : 65536; /* larger than any SCEP message: 413 */
  if(p->admin_page) {
    hp.routes[hp.nroutes].paths = admin_paths;
    hp.routes[hp.nroutes].methods = 1u << SCEPLAB_HTTPD_GET | 1u << SCEPLAB_HTTPD_HEAD | 1u << SCEPLAB_HTTPD_POST;
    hp.routes[hp.nroutes].handler = ndes_admin_handler;
    hp.routes[hp.nroutes++].ud = s;
  }
  hp.routes[hp.nroutes].paths = scep_paths;
  hp.routes[hp.nroutes].handler = scep_timed;
  hp.routes[hp.nroutes++].ud = s;
  if(ndes_publish_routes(s, &hp, err) != 0)
    return -1;
  hp.fallback = not_found;
  hp.answered = answered;
  hp.warn = serve_warn;
  hp.ud = s;
  if(!(s->httpd = sceplab_httpd_new(&hp, err)))
    return -1;
  if(p->admin_page && !p->admin_user && !sceplab_httpd_loopback(s->httpd))
    /* the page hands out one-time passwords: open to a network, it hands them to the network */
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "the admin page (/certsrv/mscep_admin/) hands out one-time passwords: "
                           "listening on %s, not a loopback address, it needs --admin-user (password in "
                           "SCEPLAB_ADMIN_PASSWORD)", s->bind), -1;
  s->port = sceplab_httpd_port(s->httpd);
  return ndes_publish_listening(s, err);
}

int64_t sceplab_serve_now(void) { return sceplab_clock_now(); }

int sceplab_serve_listen(const char *bind, unsigned port, unsigned *bound, sceplab_error *err)
{
  return sceplab_httpd_listen(bind ? bind : "127.0.0.1", port, bound, err);
}

int sceplab_serve(const sceplab_serve_params *p, sceplab_error *err)
{
  ndes_server s;
  ndes_fault_ctx start;
  struct sigaction ign, old_pipe;
  int rc = -1;
  memset(&s, 0, sizeof(s));
  s.p = p;
  s.clock_fd = -1;
  s.tick_fd = -1;
  s.sync_fd = -1;
  if(p->listen_fd <= 0)
    ndes_metrics_get()->workers = 1; /* a supervisor counts its own */
  snprintf(s.bind, sizeof(s.bind), "%s", p->bind ? p->bind : "127.0.0.1");
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
  /* the CA's commits synced by a thread while the loop goes on (SQLite's; a server database syncs
   * in COMMIT): each answer that follows a commit waits for its sync */
  if((s.sync_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "eventfd: %s", strerror(errno));
    goto out;
  }
  switch(sceplab_ca_sync_behind(p->ca, s.sync_fd, err)) {
  case -1:
    goto out;
  case 0:
    close(s.sync_fd);
    s.sync_fd = -1;
    break;
  }
  if(listen_on(&s, err) != 0 || !(s.admin = ndes_admin_new(err)) || observers(&s, err) != 0 ||
     (s.sync_fd >= 0 && sceplab_httpd_watch(s.httpd, s.sync_fd, synced, &s, err) != 0))
    goto out;
  /* the one clock, set before anything is stamped: from the replay's clock file, followed */
  if(p->clock_file && ((s.clock_fd = sceplab_clock_follow(p->clock_file, err)) < 0 ||
                       sceplab_httpd_watch(s.httpd, s.clock_fd, clock_moved, &s, err) != 0))
    goto out;
  if((p->tick && ndes_tick_start(&s, err) != 0) || (p->wake && ndes_wake_start(&s, err) != 0))
    goto out;
  sceplab_ca_set_commit_delay(p->ca, p->ca_latency_ms > 0 ? (unsigned)p->ca_latency_ms : 0);
  /* what NDES is like, the start-up faults' say included; then it starts */
  memset(&start, 0, sizeof(start));
  start.s = &s;
  start.installed = 1;
  start.trust_root = 1;
  ndes_faults_play(p->faults, NDES_STAGE_START, &start);
  if(ndes_world_start(&s, &start, err) != 0)
    goto out;
  if(p->ready)
    p->ready(p->ud, s.port);
  rc = sceplab_httpd_run(s.httpd, err);
out:
  sceplab_httpd_free(s.httpd);
  sceplab_ca_sync_inline(p->ca); /* what is left synced; the thread stops */
  if(s.sync_fd >= 0)
    close(s.sync_fd);
  if(s.clock_fd >= 0)
    close(s.clock_fd);
  if(s.tick_fd >= 0)
    close(s.tick_fd);
  ndes_observers_close(&s.obs);
  ndes_world_free(&s.world);
  ndes_admin_free(s.admin);
  ndes_publish_free(&s);
  sceplab_ca_set_commit_delay(p->ca, 0);
  SSL_CTX_free(s.ssl);
  free(s.cacert);
  free(s.nextca);
  sigaction(SIGPIPE, &old_pipe, NULL);
  ERR_clear_error();
  return rc;
}
