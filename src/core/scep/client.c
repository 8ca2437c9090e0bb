/* What a client reads before it enrolls: GetCACaps (the capabilities), GetCACert (which
 * certificate is the CA, the recipient and the signer), and the IssuerAndSubject and
 * IssuerAndSerialNumber structures CertPoll, GetCert and GetCRL send. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "scep/scep_int.h"

sceplab_val *sceplab_caps_parse(const char *text, size_t n)
{
  sceplab_val *v = sceplab_val_obj(), *list = sceplab_val_arr();
  int aes = 0, des3 = 0, sha256 = 0, sha512 = 0, sha1 = 0, post = 0, renewal = 0, next = 0, std = 0, update = 0;
  size_t i = 0;
  while(i < n) {
    size_t s = i, e;
    char word[64];
    while(i < n && text[i] != '\n' && text[i] != '\r')
      i++;
    e = i;
    while(i < n && (text[i] == '\n' || text[i] == '\r'))
      i++;
    while(s < e && isspace((unsigned char)text[s]))
      s++;
    while(e > s && isspace((unsigned char)text[e - 1]))
      e--;
    if(e == s || e - s >= sizeof(word))
      continue;
    memcpy(word, text + s, e - s);
    word[e - s] = '\0';
    sceplab_arr_push_str(list, word);
    if(!strcasecmp(word, "AES")) aes = 1;
    else if(!strcasecmp(word, "DES3")) des3 = 1;
    else if(!strcasecmp(word, "SHA-256")) sha256 = 1;
    else if(!strcasecmp(word, "SHA-512")) sha512 = 1;
    else if(!strcasecmp(word, "SHA-1")) sha1 = 1;
    else if(!strcasecmp(word, "POSTPKIOperation")) post = 1;
    else if(!strcasecmp(word, "Renewal")) renewal = 1;
    else if(!strcasecmp(word, "GetNextCACert")) next = 1;
    else if(!strcasecmp(word, "SCEPStandard")) std = 1;
    else if(!strcasecmp(word, "Update")) update = 1;
  }
  if(std)
    aes = post = sha256 = 1;
  sceplab_obj_set(v, "caps", list);
  sceplab_obj_set_bool(v, "aes", aes);
  sceplab_obj_set_bool(v, "des3", des3);
  sceplab_obj_set_bool(v, "sha256", sha256);
  sceplab_obj_set_bool(v, "sha512", sha512);
  sceplab_obj_set_bool(v, "sha1", sha1);
  sceplab_obj_set_bool(v, "post", post);
  sceplab_obj_set_bool(v, "renewal", renewal);
  sceplab_obj_set_bool(v, "getnextca", next);
  sceplab_obj_set_bool(v, "scep_standard", std);
  sceplab_obj_set_bool(v, "update", update);
  return v;
}

static int has_ku(X509 *x, uint32_t bits)
{
  return (X509_get_extension_flags(x) & EXFLAG_KUSAGE) && (X509_get_key_usage(x) & bits);
}

static int is_ca(X509 *x)
{
  return X509_check_ca(x) > 0;
}

/* The certificates the client is handed (GetCACert's, the CA, RA and signer certificates it passes
 * on as PEM) carry RSA keys it only encrypts to and verifies with: parsed inside the window of
 * pki/rsa_decode.c, their keys are decoded by OpenSSL's built-in method instead of a decoder chain
 * built per certificate (1.2 M instructions each, OpenSSL 3.0). Nothing but the parse runs in it. */
static STACK_OF(X509) *read_received(const unsigned char *buf, size_t n, sceplab_error *err)
{
  int fast = sceplab_pki_rsa_decode_enter();
  STACK_OF(X509) *sk = sceplab_read_certs(buf, n, err);
  sceplab_pki_rsa_decode_leave(fast);
  return sk;
}

X509 *sceplab_scep_cert_load(const unsigned char *buf, size_t n, sceplab_error *err)
{
  int fast = sceplab_pki_rsa_decode_enter();
  X509 *x = sceplab_cert_load(buf, n, err);
  sceplab_pki_rsa_decode_leave(fast);
  return x;
}

sceplab_val *sceplab_ca_select(const unsigned char *buf, size_t n, int ndes, sceplab_error *err)
{
  STACK_OF(X509) *sk = read_received(buf, n, err);
  sceplab_val *v, *reasons, *all;
  X509 *ca = NULL, *recip = NULL, *signer = NULL;
  int i;
  char *pem;
  if(!sk)
    return NULL;
  v = sceplab_val_obj();
  reasons = sceplab_val_arr();
  all = sceplab_val_arr();
  /* The CA: the CA certificate that issued the RA certificates, else the first CA certificate,
   * else the only certificate there is. */
  for(i = 0; i < sk_X509_num(sk) && !ca; i++) {
    X509 *c = sk_X509_value(sk, i);
    int j;
    for(j = 0; is_ca(c) && j < sk_X509_num(sk) && !ca; j++)
      if(!is_ca(sk_X509_value(sk, j)) && X509_check_issued(c, sk_X509_value(sk, j)) == X509_V_OK)
        ca = c;
  }
  for(i = 0; i < sk_X509_num(sk) && !ca; i++)
    if(is_ca(sk_X509_value(sk, i)))
      ca = sk_X509_value(sk, i);
  if(!ca)
    ca = sk_X509_value(sk, 0);
  for(i = 0; i < sk_X509_num(sk); i++) {
    X509 *c = sk_X509_value(sk, i);
    if(is_ca(c))
      continue;
    if(!recip && has_ku(c, KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT))
      recip = c;
    if(!signer && has_ku(c, KU_DIGITAL_SIGNATURE))
      signer = c;
  }
  if(ndes) {
    /* NDES: RA certificates whose key usage does not say what they are for are still the RA. */
    for(i = 0; i < sk_X509_num(sk); i++) {
      X509 *c = sk_X509_value(sk, i);
      if(is_ca(c))
        continue;
      if(!recip) {
        recip = c;
        sceplab_arr_push_str(reasons, "recipient: first RA certificate (NDES mode ignores its key usage)");
      }
      if(!signer) {
        signer = c;
        sceplab_arr_push_str(reasons, "signer: first RA certificate (NDES mode ignores its key usage)");
      }
    }
  }
  if(recip)
    sceplab_arr_push_str(reasons, "recipient: RA certificate with keyEncipherment/dataEncipherment");
  else {
    recip = ca;
    sceplab_arr_push_str(reasons, "recipient: the CA (no RA encryption certificate)");
  }
  if(signer)
    sceplab_arr_push_str(reasons, "signer: RA certificate with digitalSignature");
  else {
    signer = ca;
    sceplab_arr_push_str(reasons, "signer: the CA (no RA signing certificate)");
  }
  for(i = 0; i < sk_X509_num(sk); i++) {
    pem = sceplab_cert_pem(sk_X509_value(sk, i));
    sceplab_arr_push_str(all, pem);
    free(pem);
  }
  pem = sceplab_cert_pem(ca);
  sceplab_obj_set_str(v, "ca", pem);
  free(pem);
  pem = sceplab_cert_pem(recip);
  sceplab_obj_set_str(v, "recipient", pem);
  free(pem);
  pem = sceplab_cert_pem(signer);
  sceplab_obj_set_str(v, "signer", pem);
  free(pem);
  sceplab_obj_set(v, "certificates", all);
  sceplab_obj_set(v, "reasons", reasons);
  sk_X509_pop_free(sk, X509_free);
  return sceplab_done(v, err);
}

unsigned char *sceplab_issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject, size_t *len)
{
  unsigned char *a = NULL, *b = NULL, *out = NULL, *p;
  int la = i2d_X509_NAME(issuer, &a), lb = i2d_X509_NAME(subject, &b);
  int total;
  if(la > 0 && lb > 0) {
    total = ASN1_object_size(1, la + lb, V_ASN1_SEQUENCE);
    out = malloc((size_t)total);
    if(out) {
      p = out;
      ASN1_put_object(&p, 1, la + lb, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
      memcpy(p, a, (size_t)la);
      memcpy(p + la, b, (size_t)lb);
      *len = (size_t)total;
    }
  }
  OPENSSL_free(a);
  OPENSSL_free(b);
  return out;
}

unsigned char *sceplab_issuer_and_serial(const X509_NAME *issuer, const ASN1_INTEGER *serial, size_t *len)
{
  PKCS7_ISSUER_AND_SERIAL *ias = PKCS7_ISSUER_AND_SERIAL_new();
  unsigned char *der = NULL, *out = NULL;
  int n;
  if(!ias)
    return NULL;
  X509_NAME_set(&ias->issuer, (X509_NAME *)issuer);
  ASN1_INTEGER_free(ias->serial);
  ias->serial = ASN1_INTEGER_dup(serial);
  n = i2d_PKCS7_ISSUER_AND_SERIAL(ias, &der);
  if(n > 0 && (out = malloc((size_t)n))) {
    memcpy(out, der, (size_t)n);
    *len = (size_t)n;
  }
  OPENSSL_free(der);
  PKCS7_ISSUER_AND_SERIAL_free(ias);
  return out;
}
