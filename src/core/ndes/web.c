/* A service of whole requests on the HTTP/1.1 server under serve (httpd.h): every path goes to one
 * callback (web.h). `sceplab intune cloud` answers Entra ID, Graph and Intune with it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ndes/httpd.h"
#include "sceplab/web.h"

typedef struct web { const sceplab_web_params *p; } web;

static void handle(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *resp)
{
  web *w = ud;
  sceplab_web_request r;
  sceplab_web_answer a;
  memset(&r, 0, sizeof(r));
  memset(&a, 0, sizeof(a));
  r.method = rq->method_name;
  r.path = rq->path;
  r.query = rq->query;
  r.headers = rq->headers;
  r.nheaders = rq->nheaders;
  r.body = rq->body;
  r.body_len = rq->body_len;
  r.peer = rq->peer;
  a.status = 200;
  if(w->p->handler(w->p->ud, &r, &a) != 0) {
    free(a.body);
    memset(&a, 0, sizeof(a));
    a.status = 500;
  }
  resp->status = a.status;
  /* the type goes with the header lines, which the answer holds by value (a delayed answer
   * outlives this call) */
  {
    size_t used = 0, n;
    resp->headers[0] = '\0';
    if(a.content_type[0]) {
      n = strcspn(a.content_type, "\r\n");
      if(n + 16 < sizeof(resp->headers)) {
        memcpy(resp->headers, "Content-Type: ", 14);
        memcpy(resp->headers + 14, a.content_type, n);
        memcpy(resp->headers + 14 + n, "\r\n", 3);
        used = n + 16;
      }
    }
    a.headers[sizeof(a.headers) - 1] = '\0';
    if(used + strlen(a.headers) < sizeof(resp->headers))
      memcpy(resp->headers + used, a.headers, strlen(a.headers) + 1);
  }
  resp->body = a.body;
  resp->len = a.len;
  resp->delay_ms = a.delay_ms;
}

int sceplab_web_serve(const sceplab_web_params *p, sceplab_error *err)
{
  sceplab_httpd_params hp;
  sceplab_httpd *h = NULL;
  SSL_CTX *ssl = NULL;
  struct sigaction ign, old_pipe;
  web w;
  int rc = -1;
  w.p = p;
  memset(&ign, 0, sizeof(ign));
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &old_pipe);
  if(p->tls_cert) {
    ssl = SSL_CTX_new(TLS_server_method());
    if(!ssl || SSL_CTX_use_certificate_chain_file(ssl, p->tls_cert) != 1 ||
       SSL_CTX_use_PrivateKey_file(ssl, p->tls_key ? p->tls_key : p->tls_cert, SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_check_private_key(ssl) != 1) {
      sceplab_err_openssl(err, SCEPLAB_E_USAGE, "TLS certificate %s and key %s", p->tls_cert,
                          p->tls_key ? p->tls_key : p->tls_cert);
      goto out;
    }
  }
  memset(&hp, 0, sizeof(hp));
  hp.bind = p->bind ? p->bind : "127.0.0.1";
  hp.port = p->port;
  hp.ssl = ssl;
  hp.max_head = 65536;
  hp.max_body = p->max_body ? p->max_body : (1u << 20);
  hp.fallback = handle;
  hp.ud = &w;
  if(!(h = sceplab_httpd_new(&hp, err)))
    goto out;
  if(p->ready)
    p->ready(p->ud, sceplab_httpd_port(h));
  rc = sceplab_httpd_run(h, err);
out:
  sceplab_httpd_free(h);
  SSL_CTX_free(ssl);
  sigaction(SIGPIPE, &old_pipe, NULL);
  ERR_clear_error();
  return rc;
}
