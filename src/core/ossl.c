/* OpenSSL helpers shared by the decoders and the SCEP client. */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>

#include "internal.h"

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

EVP_PKEY *sceplab_key_load(const unsigned char *buf, size_t n, const char *pass, sceplab_error *err)
{
  BIO *b;
  EVP_PKEY *pk;
  if(n > 0x7fffffff) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "key too large");
    return NULL;
  }
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

static CRYPTO_ONCE legacy_once = CRYPTO_ONCE_STATIC_INIT;
static OSSL_LIB_CTX *legacy_libctx;

static void legacy_init(void)
{
  OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
  if(ctx && OSSL_PROVIDER_load(ctx, "legacy") && OSSL_PROVIDER_load(ctx, "default"))
    legacy_libctx = ctx;
  else
    OSSL_LIB_CTX_free(ctx);
  ERR_clear_error();
}

/* A library context with the legacy provider, created once; NULL when unavailable. It is never
 * the default context, so single DES stays unavailable to everything else in the process. */
static OSSL_LIB_CTX *legacy_ctx(void)
{
  if(!CRYPTO_THREAD_run_once(&legacy_once, legacy_init))
    return NULL;
  return legacy_libctx;
}

int sceplab_envelope_open(const unsigned char *der, size_t n, EVP_PKEY *key, X509 *cert, BIO *out,
                          int *legacy, sceplab_error *err)
{
  const unsigned char *p = der;
  CMS_ContentInfo *env;
  int ok;
  *legacy = 0;
  if(n > 0x7fffffff)
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "envelope too large");
  env = d2i_CMS_ContentInfo(NULL, &p, (long)n);
  if(!env || OBJ_obj2nid(CMS_get0_type(env)) != NID_pkcs7_enveloped) {
    CMS_ContentInfo_free(env);
    return sceplab_err_openssl(err, SCEPLAB_E_INPUT, "envelope is not CMS EnvelopedData");
  }
  ok = CMS_decrypt(env, key, cert, NULL, out, CMS_BINARY);
  CMS_ContentInfo_free(env);
  if(!ok && legacy_ctx()) {
    /* Old servers still answer with single DES: retry in the private legacy context. */
    CMS_ContentInfo *old = CMS_ContentInfo_new_ex(legacy_ctx(), NULL);
    p = der;
    ERR_clear_error();
    if(old && d2i_CMS_ContentInfo(&old, &p, (long)n)) {
      (void)BIO_reset(out);
      ok = CMS_decrypt(old, key, cert, NULL, out, CMS_BINARY);
      *legacy = ok;
    }
    CMS_ContentInfo_free(old);
  }
  if(!ok)
    return sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot open the envelope with the given key");
  ERR_clear_error();
  return 0;
}
