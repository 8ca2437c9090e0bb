/* Where revocation is published: the public URL (kept in the state directory as public-url), the
 * CRL Distribution Point and Authority Information Access of every certificate issued, the
 * CRL's and the CA certificate's names under /CertEnroll/ (ADCS's layout, which NPS admins
 * know), and a CRL past its nextUpdate for the fault that plays one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca_int.h"
#include "ca/store.h"

#define URL_MAX 512

/* A public URL: http:// or https://, a host, characters a URL holds unescaped (no space, comma
 * or quote: it goes into OpenSSL's extension syntax and into certificates as it is). */
static int url_ok(const char *u)
{
  size_t i, n = strlen(u);
  const char *host;
  if(n >= URL_MAX || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0))
    return 0;
  host = u + (u[4] == 's' ? 8 : 7);
  if(!*host || *host == '/')
    return 0;
  for(i = 0; i < n; i++)
    if(!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/[]@%", u[i]))
      return 0;
  return 1;
}

int sceplab_ca_set_public_url(sceplab_ca *ca, const char *url, sceplab_error *err)
{
  char *copy;
  size_t n;
  if(!url) {
    free(ca->public_url);
    ca->public_url = NULL;
    return 0;
  }
  if(!url_ok(url))
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "public URL '%.80s': expected http://HOST[:PORT][/PATH] "
                           "(letters, digits and -._~:/[]@%% only)", url), -1;
  if(!(copy = strdup(url)))
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  for(n = strlen(copy); n > 0 && copy[n - 1] == '/'; n--)
    copy[n - 1] = '\0';
  free(ca->public_url);
  ca->public_url = copy;
  return 0;
}

const char *sceplab_ca_public_url(const sceplab_ca *ca) { return ca->public_url; }

int ca_public_url_save(const char *dir, const char *url, sceplab_error *err)
{
  char *path;
  FILE *f;
  int ok;
  if(!url)
    return 0;
  if(!url_ok(url))
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "--public-url '%.80s': expected http://HOST[:PORT][/PATH]", url), -1;
  if(!(path = ca_path(dir, "public-url", "")))
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  f = fopen(path, "wx");
  ok = f && fprintf(f, "%s\n", url) > 0;
  if(f && fclose(f) != 0)
    ok = 0;
  if(!ok)
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno));
  free(path);
  return ok ? 0 : -1;
}

int ca_public_url_load(sceplab_ca *ca, sceplab_error *err)
{
  char *path = ca_path(ca->dir, "public-url", ""), line[URL_MAX + 2];
  FILE *f;
  int rc = 0;
  if(!path)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  if((f = fopen(path, "r")) != NULL) {
    if(fgets(line, sizeof(line), f)) {
      line[strcspn(line, "\r\n")] = '\0';
      rc = sceplab_ca_set_public_url(ca, line, err);
      if(rc != 0)
        sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: not a public URL (http://HOST[:PORT])", path);
    }
    fclose(f);
  }
  else if(errno != ENOENT) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno));
    rc = -1;
  }
  free(path);
  return rc;
}

/* The /CertEnroll/ name of a CA certificate: its common name, made a plain file name. */
static char *name_of(X509 *x)
{
  const X509_NAME *n = X509_get_subject_name(x);
  int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
  unsigned char *utf8 = NULL;
  char *out;
  size_t k;
  int len = i >= 0 ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i))) : -1;
  if(len <= 0) {
    OPENSSL_free(utf8);
    return strdup("ca");
  }
  out = malloc((size_t)len + 1);
  if(out) {
    /* ADCS's %3 keeps the name; here a byte outside a plain file name becomes '_', so the name is
     * the same in a URL, a route and a file */
    for(k = 0; k < (size_t)len; k++) {
      unsigned char c = utf8[k];
      out[k] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '.' ||
               c == '-' || c == '_' ? (char)c : '_';
    }
    out[len] = '\0';
    if(out[0] == '.')
      out[0] = '_';
  }
  OPENSSL_free(utf8);
  return out;
}

char *sceplab_ca_publish_name(const sceplab_ca *ca) { return name_of(ca->cert[SCEPLAB_CA_ISSUING]); }

char *sceplab_ca_publish_url(const sceplab_ca *ca, const char *what, int path_only)
{
  const char *base = ca->public_url, *path;
  char *name, *out;
  size_t n, k, o;
  int root = !strncmp(what, "root-", 5);
  int crl = !strcmp(what + (root ? 5 : 0), "crl"), crt = !strcmp(what + (root ? 5 : 0), "crt");
  if(!base || (!crl && !crt && (root || strcmp(what, "ocsp") != 0)))
    return NULL;
  /* the path part of the public URL: serve answers under it */
  path = strchr(base + (base[4] == 's' ? 8 : 7), '/');
  if(!path)
    path = "";
  if(path_only)
    base = path;
  if(!crl && !crt) {
    n = strlen(base) + 6;
    if((out = malloc(n)))
      snprintf(out, n, "%s/ocsp", base);
    return out;
  }
  if(!(name = name_of(ca->cert[root ? SCEPLAB_CA_ROOT : SCEPLAB_CA_ISSUING])))
    return NULL;
  n = strlen(base) + 3 * strlen(name) + 32;
  if((out = malloc(n))) {
    o = (size_t)snprintf(out, n, "%s/CertEnroll/", base);
    /* a route is matched decoded; a URL carries the space as %20 */
    for(k = 0; name[k]; k++)
      o += (size_t)(name[k] == ' ' && !path_only ? snprintf(out + o, n - o, "%%20") : snprintf(out + o, n - o, "%c", name[k]));
    snprintf(out + o, n - o, ".%s", crl ? "crl" : "crt");
  }
  free(name);
  return out;
}

int ca_add_revinfo(const sceplab_ca *ca, X509 *x)
{
  X509 *issuer = ca->cert[SCEPLAB_CA_ISSUING];
  char *crl = sceplab_ca_publish_url(ca, "crl", 0), *crt = sceplab_ca_publish_url(ca, "crt", 0);
  char *ocsp = sceplab_ca_publish_url(ca, "ocsp", 0), *v = NULL;
  int rc = 0;
  size_t n;
  if(!ca->public_url)
    return 0;
  n = (crl ? strlen(crl) : 0) + (crt ? strlen(crt) : 0) + (ocsp ? strlen(ocsp) : 0) + 64;
  if(!crl || !crt || !ocsp || !(v = malloc(n)))
    rc = -1;
  if(rc == 0) {
    snprintf(v, n, "URI:%s", crl);
    rc = ca_add_ext(x, issuer, NID_crl_distribution_points, v);
  }
  if(rc == 0) {
    snprintf(v, n, "caIssuers;URI:%s,OCSP;URI:%s", crt, ocsp);
    rc = ca_add_ext(x, issuer, NID_info_access, v);
  }
  free(v);
  free(crl);
  free(crt);
  free(ocsp);
  return rc;
}

int ca_add_root_revinfo(const sceplab_ca *ca, X509 *issuing)
{
  X509 *root = ca->cert[SCEPLAB_CA_ROOT];
  char *crl = sceplab_ca_publish_url(ca, "root-crl", 0), *crt = sceplab_ca_publish_url(ca, "root-crt", 0), *v = NULL;
  size_t n;
  int rc = 0;
  if(!ca->public_url)
    return 0;
  n = (crl ? strlen(crl) : 0) + (crt ? strlen(crt) : 0) + 32;
  if(!crl || !crt || !(v = malloc(n)))
    rc = -1;
  if(rc == 0) {
    snprintf(v, n, "URI:%s", crl);
    rc = ca_add_ext(issuing, root, NID_crl_distribution_points, v);
  }
  if(rc == 0) {
    snprintf(v, n, "caIssuers;URI:%s", crt);
    rc = ca_add_ext(issuing, root, NID_info_access, v);
  }
  /* signed again by the root, with the extensions in */
  if(rc == 0 && X509_sign(issuing, ca->key[SCEPLAB_CA_ROOT], EVP_sha256()) <= 0)
    rc = -1;
  free(v);
  free(crl);
  free(crt);
  return rc;
}

unsigned char *sceplab_ca_root_crl(sceplab_ca *ca, int days, size_t *len, sceplab_error *err)
{
  X509 *root = ca->cert[SCEPLAB_CA_ROOT];
  X509_CRL *crl = X509_CRL_new();
  ASN1_TIME *t = ASN1_TIME_new();
  ASN1_INTEGER *number = ASN1_INTEGER_new();
  time_t now = (time_t)ca_now(NULL);
  unsigned char *der = NULL, *p;
  int n = 0;
  /* the root revokes nothing sceplab makes: an empty list; its number is its time, so a later one
   * is always greater without a counter to keep */
  if(!crl || !t || !number || !X509_CRL_set_version(crl, 1) || !X509_CRL_set_issuer_name(crl, X509_get_subject_name(root)) ||
     !ASN1_TIME_set(t, now) || !X509_CRL_set1_lastUpdate(crl, t) || !X509_time_adj_ex(t, days > 0 ? days : 180, 0, &now) ||
     !X509_CRL_set1_nextUpdate(crl, t) || !ASN1_INTEGER_set_int64(number, (int64_t)now) ||
     !X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0) ||
     X509_CRL_sign(crl, ca->key[SCEPLAB_CA_ROOT], EVP_sha256()) <= 0 || (n = i2d_X509_CRL(crl, NULL)) <= 0 ||
     !(der = malloc((size_t)n)))
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the root's CRL");
  else {
    p = der;
    i2d_X509_CRL(crl, &p);
    *len = (size_t)n;
  }
  X509_CRL_free(crl);
  ASN1_TIME_free(t);
  ASN1_INTEGER_free(number);
  ERR_clear_error();
  return der;
}

unsigned char *sceplab_ca_crl_expired(sceplab_ca *ca, size_t *len, sceplab_error *err)
{
  size_t n = 0;
  unsigned char *cur = sceplab_ca_crl_current(ca, 7, &n, err), *der = NULL, *p;
  const unsigned char *q = cur;
  X509_CRL *crl = cur ? d2i_X509_CRL(NULL, &q, (long)n) : NULL;
  ASN1_TIME *t = ASN1_TIME_new();
  time_t now = (time_t)ca_now(NULL);
  int m = 0;
  free(cur);
  if(!crl || !t || !X509_time_adj_ex(t, -8, 0, &now) || !X509_CRL_set1_lastUpdate(crl, t) ||
     !X509_time_adj_ex(t, -1, 0, &now) || !X509_CRL_set1_nextUpdate(crl, t) ||
     X509_CRL_sign(crl, ca->key[SCEPLAB_CA_ISSUING], EVP_sha256()) <= 0 || (m = i2d_X509_CRL(crl, NULL)) <= 0 ||
     !(der = malloc((size_t)m))) {
    if(!err->msg[0])
      sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the expired CRL");
  }
  else {
    p = der;
    i2d_X509_CRL(crl, &p);
    *len = (size_t)m;
  }
  X509_CRL_free(crl);
  ASN1_TIME_free(t);
  ERR_clear_error();
  return der;
}
