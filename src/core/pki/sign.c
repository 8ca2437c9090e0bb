/* Signatures over bytes, for the JSON Web Tokens of Entra ID's client credentials (RS256 is
 * RSASSA-PKCS1-v1_5 with SHA-256): a client assertion made with the app's key, and checked with
 * its certificate by `sceplab intune cloud`. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "pki/pki_int.h"

static const EVP_MD *md_named(const char *md, sceplab_error *err)
{
  const EVP_MD *m = EVP_get_digestbyname(md ? md : "sha256");
  if(!m)
    sceplab_err_set(err, SCEPLAB_E_USAGE, "unknown digest '%s'", md);
  return m;
}

unsigned char *sceplab_key_sign(EVP_PKEY *key, const char *md, const unsigned char *data, size_t n, size_t *siglen,
                                sceplab_error *err)
{
  const EVP_MD *m = md_named(md, err);
  EVP_MD_CTX *c;
  unsigned char *sig = NULL;
  size_t len = 0;
  if(!m)
    return NULL;
  if(!(c = EVP_MD_CTX_new()))
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  if(EVP_DigestSignInit(c, NULL, m, NULL, key) == 1 && EVP_DigestSign(c, NULL, &len, data, n) == 1 &&
     (sig = malloc(len ? len : 1)) != NULL && EVP_DigestSign(c, sig, &len, data, n) == 1)
    *siglen = len;
  else {
    free(sig);
    sig = NULL;
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot sign");
  }
  EVP_MD_CTX_free(c);
  return sig;
}

/* The public key of a certificate or of a PUBLIC KEY block (PEM or DER). */
static EVP_PKEY *public_key(const unsigned char *buf, size_t n, sceplab_error *err)
{
  BIO *b;
  EVP_PKEY *k = NULL;
  X509 *x;
  if(n > 10 && memmem(buf, n, "PUBLIC KEY-----", 15)) {
    if((b = BIO_new_mem_buf(buf, (int)n)) != NULL) {
      k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
      BIO_free(b);
    }
    if(!k)
      sceplab_err_openssl(err, SCEPLAB_E_INPUT, "cannot read the public key");
    return k;
  }
  if(!(x = sceplab_cert_load(buf, n, err)))
    return NULL;
  k = X509_get_pubkey(x);
  X509_free(x);
  if(!k)
    sceplab_err_openssl(err, SCEPLAB_E_INPUT, "the certificate's public key cannot be read");
  return k;
}

int sceplab_sig_verify(const unsigned char *pub, size_t pub_len, const char *md, const unsigned char *data,
                       size_t n, const unsigned char *sig, size_t siglen, sceplab_error *err)
{
  const EVP_MD *m = md_named(md, err);
  EVP_PKEY *k;
  EVP_MD_CTX *c;
  int r;
  if(!m || !(k = public_key(pub, pub_len, err)))
    return -1;
  if(!(c = EVP_MD_CTX_new())) {
    EVP_PKEY_free(k);
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  }
  r = EVP_DigestVerifyInit(c, NULL, m, NULL, k) == 1 && EVP_DigestVerify(c, sig, siglen, data, n) == 1;
  ERR_clear_error(); /* a bad signature is an answer, not an error */
  EVP_MD_CTX_free(c);
  EVP_PKEY_free(k);
  return r;
}
