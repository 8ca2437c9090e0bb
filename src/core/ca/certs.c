/* The certificates the CA makes for itself and for serve: its own tiers and NDES's RA pair
 * (ca.c), the TLS server certificate of `sceplab ca tls` and serve's policy-module certificate.
 * Names a caller gives become one attribute or one SAN each, whatever characters they hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "base/clock.h"
#include "ca/ca_int.h"

int ca_random_serial(ASN1_INTEGER *serial)
{
  unsigned char b[16];
  BIGNUM *bn;
  int ok;
  /* a serial is what tells certificates apart (and a CRL lists): never one from a failed RNG */
  if(RAND_bytes(b, sizeof(b)) != 1)
    return -1;
  b[0] &= 0x7f; /* positive */
  b[0] |= 0x01; /* and 16 bytes long: never zero, never shorter */
  bn = BN_bin2bn(b, sizeof(b), NULL);
  ok = bn && BN_to_ASN1_INTEGER(bn, serial) != NULL;
  BN_free(bn);
  return ok ? 0 : -1;
}

int ca_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX ctx;
  X509_EXTENSION *e;
  int ok;
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
  e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if(!e)
    return -1;
  ok = X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
  return ok ? 0 : -1;
}

X509 *ca_make_cert(const X509_NAME *subject, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int days,
                   const char *basic, const char *usage, const char *eku, const char *template_name,
                   const GENERAL_NAMES *sans, time_t from)
{
  X509 *x = X509_new();
  X509_EXTENSION *tmpl = NULL;
  int ok = x != NULL;
  ok = ok && X509_set_version(x, 2) && X509_set_subject_name(x, subject) &&
       X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) && X509_set_pubkey(x, key);
  if(ok) {
    /* five minutes back: a device whose clock is a little behind still accepts it */
    time_t t = from ? from : (time_t)sceplab_clock_now() - 300;
    ok = ca_random_serial(X509_get_serialNumber(x)) == 0 && X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &t) &&
         X509_time_adj_ex(X509_getm_notAfter(x), days, from ? 0 : 300, &t);
  }
  ok = ok && ca_add_ext(x, issuer, NID_basic_constraints, basic) == 0 && ca_add_ext(x, issuer, NID_key_usage, usage) == 0 &&
       ca_add_ext(x, issuer, NID_subject_key_identifier, "hash") == 0;
  if(ok && issuer)
    ok = ca_add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") == 0;
  if(ok && eku)
    ok = ca_add_ext(x, issuer, NID_ext_key_usage, eku) == 0;
  if(ok && template_name)
    ok = (tmpl = sceplab_template_name_ext(template_name)) != NULL && X509_add_ext(x, tmpl, -1);
  if(ok && sans)
    ok = X509_add1_ext_i2d(x, NID_subject_alt_name, (GENERAL_NAMES *)sans, 0, X509V3_ADD_DEFAULT) == 1;
  ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
  X509_EXTENSION_free(tmpl);
  if(!ok) {
    X509_free(x);
    return NULL;
  }
  return x;
}

char *ca_name_text(const X509_NAME *n)
{
  BIO *b = BIO_new(BIO_s_mem());
  char *d = NULL, *out = NULL;
  long len;
  /* as the decoder shows names: RFC 4514 escaping, in encoded order (as Windows displays them) */
  if(b && X509_NAME_print_ex(b, n, 0, (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN) >= 0 &&
     (len = BIO_get_mem_data(b, &d)) >= 0 &&
     (out = malloc((size_t)len + 1)) != NULL) {
    memcpy(out, d, (size_t)len);
    out[len] = '\0';
  }
  BIO_free(b);
  return out;
}

/* A subject of one common name, the name as given (a comma in it is part of the name). */
static X509_NAME *cn_name(const char *cn, sceplab_error *err)
{
  X509_NAME *n = X509_NAME_new();
  if(!n || !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0)) {
    X509_NAME_free(n);
    sceplab_err_openssl(err, SCEPLAB_E_USAGE, "'%s' cannot be a common name", cn);
    return NULL;
  }
  return n;
}

X509 *sceplab_ca_policy_cert(sceplab_ca *ca, const char *host, int64_t not_before, int days, sceplab_error *err)
{
  X509_NAME *subj;
  EVP_PKEY *k;
  X509 *x;
  time_t nb = (time_t)not_before;
  if(!(subj = cn_name(host && *host ? host : "NDES01", err)))
    return NULL;
  /* the key never leaves memory and signs nothing here: a fast one */
  if(!(k = ca_key_new("ec:p256", err))) {
    X509_NAME_free(subj);
    return NULL;
  }
  x = ca_make_cert(subj, k, ca->cert[SCEPLAB_CA_ISSUING], ca->key[SCEPLAB_CA_ISSUING], days > 0 ? days : 730,
                   "critical,CA:FALSE", "critical,digitalSignature,keyEncipherment", "clientAuth,serverAuth", NULL, NULL,
                   nb ? nb : (time_t)sceplab_clock_now());
  X509_NAME_free(subj);
  EVP_PKEY_free(k);
  if(!x)
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot make the NDES policy certificate");
  return x;
}

/* One SAN per name: an IP address, anything else a DNS name, each the whole name as given. */
static GENERAL_NAMES *tls_sans(const char *const *names, size_t n, sceplab_error *err)
{
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  size_t i;
  for(i = 0; gens && i < n; i++) {
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(names[i]);
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *dns = ip ? NULL : ASN1_IA5STRING_new();
    if(!gn || (!ip && (!dns || !ASN1_STRING_set(dns, names[i], -1)))) {
      GENERAL_NAME_free(gn);
      ASN1_OCTET_STRING_free(ip);
      ASN1_IA5STRING_free(dns);
      break;
    }
    GENERAL_NAME_set0_value(gn, ip ? GEN_IPADD : GEN_DNS, ip ? (void *)ip : (void *)dns);
    if(!sk_GENERAL_NAME_push(gens, gn)) {
      GENERAL_NAME_free(gn);
      break;
    }
  }
  if(!gens || i < n) {
    GENERAL_NAMES_free(gens);
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  ERR_clear_error();
  return gens;
}

int sceplab_ca_tls_server(sceplab_ca *ca, const char *const *names, size_t n, int days, char **cert_pem, char **key_pem,
                          sceplab_error *err)
{
  size_t i, klen = 0;
  GENERAL_NAMES *sans;
  X509_NAME *subj;
  EVP_PKEY *k;
  X509 *x;
  *cert_pem = *key_pem = NULL;
  if(!n)
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "a TLS certificate needs a name"), -1;
  for(i = 0; i < n; i++) {
    const unsigned char *c = (const unsigned char *)names[i];
    while(*c > 0x20 && *c < 0x7f)
      c++;
    /* a host name or an address, nothing a client could not have asked for */
    if(!names[i][0] || *c || strlen(names[i]) > 253)
      return sceplab_err_set(err, SCEPLAB_E_USAGE, "TLS name %zu: expected a host name or an IP address (1-253 "
                             "printable ASCII characters, no spaces)", i + 1), -1;
  }
  if(!(sans = tls_sans(names, n, err)))
    return -1;
  if(!(subj = cn_name(names[0], err))) {
    GENERAL_NAMES_free(sans);
    return -1;
  }
  if(!(k = ca_key_new("rsa:2048", err))) {
    X509_NAME_free(subj);
    GENERAL_NAMES_free(sans);
    return -1;
  }
  x = ca_make_cert(subj, k, ca->cert[SCEPLAB_CA_ISSUING], ca->key[SCEPLAB_CA_ISSUING], days > 0 ? days : 30,
                   "critical,CA:FALSE", "critical,digitalSignature,keyEncipherment", "serverAuth", NULL, sans, 0);
  X509_NAME_free(subj);
  GENERAL_NAMES_free(sans);
  if(x) {
    *cert_pem = sceplab_cert_pem(x);
    *key_pem = sceplab_key_pem(k, 0, &klen);
  }
  X509_free(x);
  EVP_PKEY_free(k);
  ERR_clear_error();
  if(!*cert_pem || !*key_pem) {
    free(*cert_pem);
    free(*key_pem);
    *cert_pem = *key_pem = NULL;
    return sceplab_err_set(err, SCEPLAB_E_CRYPTO, "cannot make the TLS certificate"), -1;
  }
  return 0;
}

int64_t ca_now(const sceplab_issue_params *ip)
{
  return ip && ip->now ? ip->now : sceplab_clock_now();
}
