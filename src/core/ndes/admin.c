/* NDES's admin page (/certsrv/mscep_admin/): one-time passwords for SCEP clients, as NDES hands
 * them out, behind HTTP Basic credentials (NDES: Windows authentication) with a delay that grows
 * after each failed login, a form posted with a token (a GET shows the form), and answers that
 * are never cached or framed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "ndes/ndes_int.h"

#define ADMIN_TRACKED 64        /* client addresses whose failed admin logins are remembered */
#define CSRF_SECONDS 600

typedef struct admin_failure {
  char ip[48];
  unsigned fails;               /* in a row */
  double until, last;           /* ms: no attempt is examined before until */
} admin_failure;

struct ndes_admin {
  unsigned char csrf_key[32];   /* the admin form's tokens, for this run */
  admin_failure failed[ADMIN_TRACKED];
};

ndes_admin *ndes_admin_new(sceplab_error *err)
{
  ndes_admin *a = calloc(1, sizeof(*a));
  if(!a)
    return (void)sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  if(ndes_metrics_get()->have_admin_key) /* the supervisor's, for every worker */
    memcpy(a->csrf_key, ndes_metrics_get()->admin_key, sizeof(a->csrf_key));
  else if(RAND_bytes(a->csrf_key, sizeof(a->csrf_key)) != 1) {
    free(a);
    return (void)sceplab_err_set(err, SCEPLAB_E_CRYPTO, "no random bytes"), NULL;
  }
  return a;
}

void ndes_admin_free(ndes_admin *a)
{
  if(a)
    OPENSSL_clear_free(a, sizeof(*a));
}

/* The page as NDES sends it: UTF-16LE with a BOM (the scripts and MDMs that scrape it decode
 * UTF-16 and look for "The enrollment challenge password is: <B> ... </B>"). */
static void set_utf16_html(sceplab_httpd_resp *o, int status, const char *html)
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

static int admin_authorized(const ndes_server *s, const char *h)
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
static admin_failure *admin_failures(ndes_admin *s, const char *ip, int create)
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
static void csrf_token(const ndes_server *srv, const char *peer, long long t, char *out, size_t n)
{
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0, i;
  char msg[256];
  size_t o;
  const ndes_admin *s = srv->admin;
  snprintf(msg, sizeof(msg), "%llx|%s|%s", t, peer, srv->p->admin_user ? srv->p->admin_user : "");
  HMAC(EVP_sha256(), s->csrf_key, (int)sizeof(s->csrf_key), (const unsigned char *)msg, strlen(msg), mac, &len);
  o = (size_t)snprintf(out, n, "%llx.", t);
  for(i = 0; i < 16 && i < len && o + 3 <= n; i++, o += 2)
    snprintf(out + o, n - o, "%02x", mac[i]);
}

static int csrf_valid(const ndes_server *s, const sceplab_httpd_req *rq)
{
  char want[96], *tok, *end;
  long long t;
  int ok = 0;
  if(!rq->body || rq->body_len >= 1024 || !(tok = sceplab_httpd_param((const char *)rq->body, rq->body_len, "csrf")))
    return 0;
  t = strtoll(tok, &end, 16);
  if(*end == '.' && t <= (long long)time(NULL) && (long long)time(NULL) - t <= CSRF_SECONDS) {
    csrf_token(s, rq->peer, t, want, sizeof(want));
    ok = strlen(tok) == strlen(want) && CRYPTO_memcmp(tok, want, strlen(want)) == 0;
  }
  free(tok);
  return ok;
}

void ndes_admin_handler(void *ud, const sceplab_httpd_req *rq, sceplab_httpd_resp *o)
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
  ndes_server *s = ud;
  sceplab_httpd_resp *resp = o;
  sceplab_error err;
  char *pw;
  int out;
  /* a page that shows secrets: never cached, never framed (a framed button can be clicked for
   * the administrator by the page around it) */
  snprintf(resp->headers, sizeof(resp->headers), "Cache-Control: no-store\r\nX-Frame-Options: DENY\r\n"
           "Content-Security-Policy: frame-ancestors 'none'\r\n");
  if(!s->p->admin_user && !loopback_host(sceplab_httpd_header(rq, "Host"))) {
    ndes_text(o, 403, "403 - Forbidden: without --admin-user the admin page answers requests for a loopback host name only.");
    return;
  }
  if(s->p->admin_user) {
    const char *auth = sceplab_httpd_header(rq, "Authorization");
    double now = ndes_now_ms();
    admin_failure *f = admin_failures(s->admin, rq->peer, 0);
    if(f && now < f->until) {
      /* still waiting after a failure: not examined, right or wrong */
      size_t n = strlen(resp->headers);
      snprintf(resp->headers + n, sizeof(resp->headers) - n, "Retry-After: %.0f\r\n", (f->until - now) / 1000 + 0.999);
      ndes_text(o, 429, "429 - Too many failed logins from this address: wait and retry.");
      return;
    }
    if(!admin_authorized(s, auth)) {
      size_t n = strlen(resp->headers);
      snprintf(resp->headers + n, sizeof(resp->headers) - n, "WWW-Authenticate: Basic realm=\"mscep_admin\"\r\n");
      ndes_text(o, 401, "401 - Unauthorized: Access is denied due to invalid credentials.");
      if(auth) { /* a wrong password, not the browser's first request without one */
        if(!(f = admin_failures(s->admin, rq->peer, 1)))
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
    ndes_text(o, 403, "403 - Forbidden: the form's token is missing, wrong or older than 10 minutes: reload the page.");
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
    ndes_text(o, 500, err.msg);
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
