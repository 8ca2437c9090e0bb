/* Keys: generated, loaded (PEM or DER, never prompting), written as PEM, matched against a
 * certificate. The CA's keys (ca/keys.c) come through here too. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "pki/pki_int.h"

EVP_PKEY *sceplab_key_generate(const char *spec, sceplab_error *err)
{
  EVP_PKEY *pk = NULL;
  if(spec && strncmp(spec, "rsa:", 4) == 0) {
    int bits = atoi(spec + 4);
    if(bits != 1024 && bits != 2048 && bits != 3072 && bits != 4096) {
      sceplab_err_set(err, SCEPLAB_E_USAGE, "key type '%s': RSA size must be 1024, 2048, 3072 or 4096", spec);
      return NULL;
    }
    pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
  }
  else if(spec && (strcmp(spec, "ec:p256") == 0 || strcmp(spec, "ec:p384") == 0))
    pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", strcmp(spec, "ec:p256") == 0 ? "P-256" : "P-384");
  else {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "key type '%s': expected rsa:2048, rsa:4096, ec:p256 or ec:p384",
                    spec ? spec : "(none)");
    return NULL;
  }
  if(!pk)
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "key generation failed");
  return pk;
}

char *sceplab_key_pem(EVP_PKEY *key, int public_only, size_t *len)
{
  BIO *b = BIO_new(BIO_s_mem());
  char *data = NULL, *out = NULL;
  long n;
  if(!b)
    return NULL;
  if(public_only ? PEM_write_bio_PUBKEY(b, key) : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
    n = BIO_get_mem_data(b, &data);
    out = malloc((size_t)n + 1);
    if(out) {
      memcpy(out, data, (size_t)n);
      out[n] = '\0';
      if(len)
        *len = (size_t)n;
    }
  }
  BIO_free(b);
  return out;
}

int sceplab_key_matches_cert(EVP_PKEY *key, const unsigned char *cert, size_t n, sceplab_error *err)
{
  X509 *x = sceplab_cert_load(cert, n, err);
  EVP_PKEY *pub;
  int same;
  if(!x)
    return -1;
  pub = X509_get0_pubkey(x);
  same = pub && EVP_PKEY_eq(pub, key) == 1;
  X509_free(x);
  return same;
}

/* Never prompt: an encrypted key without a passphrase is an error, not a terminal question. */
int sceplab_pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
  const char *pass = u;
  size_t n;
  (void)rwflag;
  if(!pass)
    return -1;
  n = strlen(pass);
  if(n > (size_t)size)
    return -1;
  memcpy(buf, pass, n);
  return (int)n;
}

/* Decodes DER of a known structure and key type: OpenSSL 3.0 builds its decoder chain from every
 * decoder it has when the type is unknown, which costs a key load about three times as much. */
static EVP_PKEY *decode_typed(const unsigned char *der, long len, const char *structure, const char *type)
{
  EVP_PKEY *pk = NULL;
  size_t left = (size_t)len;
  OSSL_DECODER_CTX *dc = OSSL_DECODER_CTX_new_for_pkey(&pk, "DER", structure, type, EVP_PKEY_KEYPAIR, NULL, NULL);
  if(dc && !OSSL_DECODER_from_data(dc, &der, &left)) {
    EVP_PKEY_free(pk);
    pk = NULL;
  }
  OSSL_DECODER_CTX_free(dc);
  return pk;
}

/* An unencrypted PKCS#8, RSA or EC key, PEM or DER, with the key type read first; NULL for
 * anything else (encrypted keys among them), which the general path then reads. With builtin, an
 * RSA key (PKCS#1, or PKCS#8 rsaEncryption) is read by OpenSSL's built-in RSA method and no
 * decoder at all (pki/rsa_decode.c). */
static EVP_PKEY *key_load_plain(const unsigned char *buf, size_t n, int builtin)
{
  unsigned char *der = NULL;
  char *name = NULL, *header = NULL;
  const unsigned char *p;
  long len = 0;
  EVP_PKEY *pk = NULL;
  PKCS8_PRIV_KEY_INFO *p8;
  BIO *b = BIO_new_mem_buf(buf, (int)n);
  if(b && memchr(buf, '-', n < 64 ? n : 64) && PEM_read_bio(b, &name, &header, &der, &len) && !header[0]) {
    if(!strcmp(name, "RSA PRIVATE KEY"))
      pk = builtin ? sceplab_pki_rsa_private_builtin(der, len) : decode_typed(der, len, "type-specific", "RSA");
    else if(!strcmp(name, "EC PRIVATE KEY"))
      pk = decode_typed(der, len, "type-specific", "EC");
    else if(strcmp(name, "PRIVATE KEY"))
      len = 0;
  } else {
    OPENSSL_free(der);
    der = NULL;
    len = 0;
    if(n > 0 && buf[0] == 0x30) { /* DER */
      der = OPENSSL_memdup(buf, n);
      len = der ? (long)n : 0;
    }
  }
  if(!pk && len > 0 && (p = der, p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, len)) != NULL) {
    const ASN1_OBJECT *alg = NULL;
    const unsigned char *inner = NULL;
    int ilen = 0;
    char type[80];
    if(PKCS8_pkey_get0(&alg, &inner, &ilen, NULL, p8)) {
      if(builtin && OBJ_obj2nid(alg) == NID_rsaEncryption)
        pk = sceplab_pki_rsa_private_builtin(inner, ilen);
      if(!pk && OBJ_obj2txt(type, sizeof(type), alg, 1) > 0)
        pk = decode_typed(der, len, "PrivateKeyInfo", type);
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
  }
  else if(builtin && !pk && len > 0 && !name) /* DER: PKCS#1 RSA */
    pk = sceplab_pki_rsa_private_builtin(der, len);
  BIO_free(b);
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_clear_free(der, (size_t)(len > 0 ? len : 0));
  ERR_clear_error();
  return pk;
}

static EVP_PKEY *key_load(const unsigned char *buf, size_t n, const char *pass, int builtin, sceplab_error *err)
{
  BIO *b;
  EVP_PKEY *pk;
  if(n > 0x7fffffff) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "key too large");
    return NULL;
  }
  pk = key_load_plain(buf, n, builtin);
  if(pk)
    return pk;
  b = BIO_new_mem_buf(buf, (int)n);
  pk = b ? PEM_read_bio_PrivateKey(b, NULL, sceplab_pem_pass_cb, (void *)pass) : NULL;
  BIO_free(b);
  if(!pk) {
    const unsigned char *p = buf;
    ERR_clear_error();
    pk = d2i_AutoPrivateKey(NULL, &p, (long)n);
  }
  if(!pk) {
    int encrypted = sceplab_memcasestr((const char *)buf, n < 4096 ? n : 4096, "ENCRYPTED") != NULL;
    if(encrypted && !pass)
      sceplab_err_set(err, SCEPLAB_E_INPUT, "the key is encrypted; give its passphrase");
    else
      sceplab_err_openssl(err, SCEPLAB_E_INPUT, "not a private key (PEM or DER)%s",
                          encrypted ? ", or wrong passphrase" : "");
    ERR_clear_error();
  }
  return pk;
}

EVP_PKEY *sceplab_key_load(const unsigned char *buf, size_t n, const char *pass, sceplab_error *err)
{
  return key_load(buf, n, pass, 0, err);
}

EVP_PKEY *sceplab_key_load_builtin(const unsigned char *buf, size_t n, const char *pass, sceplab_error *err)
{
  return key_load(buf, n, pass, 1, err);
}
