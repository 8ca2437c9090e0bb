/* HTTP transport on libcurl. One easy handle per request: SCEP exchanges are few and short, and a
 * fresh handle keeps every request's timings and TLS details its own. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libcurl is opened on first use (optlib.h), which its type-checking macros would bypass. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "scep/scep_int.h"
#include "base/optlib.h"

typedef struct buf { unsigned char *p; size_t n, cap, max; int truncated; } buf;

static size_t write_cb(char *data, size_t size, size_t nmemb, void *u)
{
  buf *b = u;
  size_t n = size * nmemb, take = n;
  if(b->n + take > b->max) {
    take = b->max - b->n;
    b->truncated = 1;
  }
  if(b->n + take + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 16384;
    unsigned char *np;
    while(cap < b->n + take + 1)
      cap *= 2;
    np = realloc(b->p, cap);
    if(!np)
      return 0;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->n, data, take);
  b->n += take;
  b->p[b->n] = '\0';
  return n; /* keep reading past max so the connection ends cleanly; the rest is dropped */
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *u)
{
  buf *b = u;
  size_t n = size * nmemb;
  /* A new status line starts a new response (after a redirect or 100 Continue). */
  if(n > 5 && strncmp(data, "HTTP/", 5) == 0)
    b->n = 0;
  return write_cb(data, size, nmemb, u) == n ? n : 0;
}

static char *header_value(const char *headers, const char *name)
{
  size_t nl = strlen(name);
  const char *p = headers;
  while(p && *p) {
    if(strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1, *e;
      char *out;
      while(*v == ' ' || *v == '\t')
        v++;
      e = v + strcspn(v, "\r\n");
      out = malloc((size_t)(e - v) + 1);
      if(out) {
        memcpy(out, v, (size_t)(e - v));
        out[e - v] = '\0';
      }
      return out;
    }
    p = strchr(p, '\n');
    if(p)
      p++;
  }
  return NULL;
}

/* Pinning: the server certificate's SHA-256 replaces the CA store, checked during the handshake so
 * nothing is sent to a server that does not match. */
static int pin_verify(int preverify, X509_STORE_CTX *ctx)
{
  SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
  SSL_CTX *sctx = ssl ? SSL_get_SSL_CTX(ssl) : NULL;
  const char *pin = sctx ? SSL_CTX_get_app_data(sctx) : NULL;
  X509 *leaf;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char *hex;
  int ok;
  (void)preverify;
  if(!pin)
    return preverify;
  if(X509_STORE_CTX_get_error_depth(ctx) > 0)
    return 1; /* judged at the leaf */
  leaf = X509_STORE_CTX_get_current_cert(ctx);
  if(!leaf || !X509_digest(leaf, EVP_sha256(), md, &mdlen))
    return 0;
  hex = sceplab_hex_encode(md, mdlen, 0);
  ok = hex && strcasecmp(hex, pin) == 0;
  free(hex);
  if(ok)
    X509_STORE_CTX_set_error(ctx, X509_V_OK);
  return ok;
}

static CURLcode ssl_ctx_cb(CURL *curl, void *sslctx, void *u)
{
  (void)curl;
  SSL_CTX_set_app_data((SSL_CTX *)sslctx, u);
  SSL_CTX_set_verify((SSL_CTX *)sslctx, SSL_VERIFY_PEER, pin_verify);
  return CURLE_OK;
}

static char *tls_chain(CURL *c)
{
  struct curl_certinfo *ci = NULL;
  size_t total = 1, o = 0;
  int i;
  char *out;
  struct curl_slist *s;
  if(curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs <= 0)
    return NULL;
  for(i = 0; i < ci->num_of_certs; i++)
    for(s = ci->certinfo[i]; s; s = s->next)
      if(strncmp(s->data, "Cert:", 5) == 0)
        total += strlen(s->data + 5) + 1;
  out = malloc(total);
  if(!out)
    return NULL;
  for(i = 0; i < ci->num_of_certs; i++)
    for(s = ci->certinfo[i]; s; s = s->next)
      if(strncmp(s->data, "Cert:", 5) == 0) {
        size_t l = strlen(s->data + 5);
        memcpy(out + o, s->data + 5, l);
        o += l;
        if(o && out[o - 1] != '\n')
          out[o++] = '\n';
      }
  out[o] = '\0';
  return out;
}

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

struct sceplab_http_session {
  CURL *curl;
  char *trust; /* proxy and TLS options of the previous request, as one string */
  sceplab_plain_conn *plain; /* the kept-open connection of plain HTTP (http_plain.c) */
};

sceplab_http_session *sceplab_http_session_new(void)
{
  return calloc(1, sizeof(sceplab_http_session));
}

void sceplab_http_session_free(sceplab_http_session *s)
{
  if(!s)
    return;
  curl_easy_cleanup(s->curl);
  sceplab_plain_close(s->plain);
  free(s->trust);
  free(s);
}

/* What decides whether a connection may be trusted again: proxy, CA bundle, pin, insecure, each
 * length-prefixed so that no two different sets give the same key. */
static char *trust_key(const sceplab_http_opts *o)
{
  const char *parts[4] = {o->proxy, o->cacert, o->pin_sha256, o->insecure ? "insecure" : "verify"};
  size_t n = 1, i, used = 0;
  char *k;
  for(i = 0; i < 4; i++)
    n += (parts[i] ? strlen(parts[i]) : 0) + 24;
  k = malloc(n);
  if(!k)
    return NULL;
  for(i = 0; i < 4; i++)
    used += (size_t)snprintf(k + used, n - used, "%zu:%s;", parts[i] ? strlen(parts[i]) : 0, parts[i] ? parts[i] : "");
  return k;
}

/* The session's handle, reset but with its connections, or a new one when the trust options
 * changed (or on first use). */
static CURL *session_handle(sceplab_http_session *s, const sceplab_http_opts *o)
{
  char *key = trust_key(o);
  if(!key)
    return NULL;
  if(s->curl && s->trust && strcmp(s->trust, key) == 0) {
    free(key);
    curl_easy_reset(s->curl);
    return s->curl;
  }
  curl_easy_cleanup(s->curl);
  free(s->trust);
  s->trust = key;
  s->curl = curl_easy_init();
  return s->curl;
}

int sceplab_http_request(const sceplab_http_opts *o, const char *method, const char *url,
                         const unsigned char *body, size_t body_len, const char *content_type,
                         sceplab_http_resp *r, sceplab_error *err)
{
  return sceplab_http_request_in(NULL, o, method, url, body, body_len, content_type, r, err);
}

/* No usable answer: the error names the request and, for a body cut or stalled after the headers,
 * what arrived, so nobody reads capabilities (or blames algorithms) from 4 bytes of 1,000. */
static int transfer_error(const char *method, const char *url, const sceplab_http_resp *r, long long declared,
                          int timed_out, const char *why, sceplab_error *err)
{
  char got[160] = "";
  if(r->status > 0 && declared >= 0 && (long long)r->body_len < declared)
    snprintf(got, sizeof(got), "HTTP %ld reply %s after %zu of %lld bytes (Content-Length): ", r->status,
             timed_out ? "stalled" : "cut short", r->body_len, declared);
  else if(r->status > 0)
    snprintf(got, sizeof(got), "HTTP %ld reply incomplete after %zu bytes: ", r->status, r->body_len);
  return sceplab_err_set(err, SCEPLAB_E_NETWORK, "%s %.120s%s: %s%s", method, url, strlen(url) > 120 ? "..." : "",
                         got, why);
}

int sceplab_http_request_in(sceplab_http_session *s, const sceplab_http_opts *o, const char *method,
                            const char *url, const unsigned char *body, size_t body_len, const char *content_type,
                            sceplab_http_resp *r, sceplab_error *err)
{
  static const sceplab_http_opts defaults;
  CURL *c;
  CURLcode rc;
  struct curl_slist *hdrs = NULL;
  buf b = {0}, h = {0};
  char *ct = NULL, *eff = NULL;
  long connects = 0;
  curl_off_t declared = -1;
  memset(r, 0, sizeof(*r));
  if(!o)
    o = &defaults;
  /* plain HTTP needs no libcurl (http_plain.c says why) */
  if(sceplab_plain_eligible(o, method, url)) {
    sceplab_plain_conn *one = NULL;
    long long plain_declared = -1;
    int prc = sceplab_plain_request(s ? &s->plain : &one, o, method, url, body, body_len, content_type, r,
                                    &plain_declared);
    sceplab_plain_close(one);
    if(prc != 0)
      return transfer_error(method, url, r, plain_declared, r->curl_code == 28, r->curl_error, err);
    return 0;
  }
  if(sceplab_optlib_need(SCEPLAB_LIB_CURL, err) != 0)
    return SCEPLAB_E_FAILED;
  b.max = o->max_body ? o->max_body : (16u << 20);
  h.max = 1u << 20;
  c = s ? session_handle(s, o) : curl_easy_init();
  if(!c)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "cannot create an HTTP handle");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curl_error);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms ? o->timeout_ms : 30000L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms ? o->connect_timeout_ms : 10000L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, o->follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : "sceplab/" SCEPLAB_API_VERSION);
  curl_easy_setopt(c, CURLOPT_PROXY, o->proxy ? o->proxy : "");
  curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if(o->cacert)
    curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
  if(o->insecure) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  else if(o->pin_sha256) {
    /* the pin is the trust anchor; the name check still applies */
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, (void *)o->pin_sha256);
  }
  if(strcmp(method, "POST") == 0) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    hdrs = curl_slist_append(hdrs, "Expect:");
    if(content_type) {
      char line[200];
      snprintf(line, sizeof(line), "Content-Type: %s", content_type);
      hdrs = curl_slist_append(hdrs, line);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  }
  else if(strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if(o->headers) {
    /* the caller's lines, one slist entry each (without their CRLF) */
    const char *p = o->headers;
    while(*p) {
      size_t n = strcspn(p, "\r\n");
      if(n) {
        char *line = strndup(p, n);
        struct curl_slist *nh = line ? curl_slist_append(hdrs, line) : NULL;
        free(line);
        if(!nh) {
          curl_slist_free_all(hdrs);
          if(!s)
            curl_easy_cleanup(c);
          return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
        }
        hdrs = nh;
      }
      p += n;
      p += strspn(p, "\r\n");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  }
  if(strcmp(method, "HEAD") == 0)
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);

  rc = curl_easy_perform(c);
  r->curl_code = (int)rc;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_getinfo(c, CURLINFO_NAMELOOKUP_TIME, &r->t_dns);
  curl_easy_getinfo(c, CURLINFO_CONNECT_TIME, &r->t_connect);
  curl_easy_getinfo(c, CURLINFO_APPCONNECT_TIME, &r->t_tls);
  curl_easy_getinfo(c, CURLINFO_STARTTRANSFER_TIME, &r->t_first_byte);
  curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->t_total);
  curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &r->redirects);
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
  curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
  curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &declared);
  r->reused = s && rc == CURLE_OK && connects == 0;
  r->content_type = dup_or_null(ct);
  r->effective_url = dup_or_null(eff);
  r->tls_chain_pem = tls_chain(c);
  r->body = b.p;
  r->body_len = b.n;
  r->truncated = b.truncated;
  r->headers = (char *)h.p;
  if(r->headers)
    r->server = header_value(r->headers, "Server");
  if(s)
    curl_easy_reset(c); /* keeps the connections, drops every pointer into this call's memory */
  else
    curl_easy_cleanup(c);
  curl_slist_free_all(hdrs);
  if(rc != CURLE_OK && !(r->status > 0 && rc == CURLE_WRITE_ERROR))
    return transfer_error(method, url, r, (long long)declared, rc == CURLE_OPERATION_TIMEDOUT,
                          r->curl_error[0] ? r->curl_error : curl_easy_strerror(rc), err);
  return 0;
}

void sceplab_http_resp_free(sceplab_http_resp *r)
{
  if(!r)
    return;
  free(r->headers);
  free(r->body);
  free(r->content_type);
  free(r->server);
  free(r->tls_chain_pem);
  free(r->effective_url);
  memset(r, 0, sizeof(*r));
}
