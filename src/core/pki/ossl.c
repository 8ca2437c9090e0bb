/* OpenSSL helpers shared by the decoders and the SCEP client and server: envelopes (single DES
 * in a private legacy context only) and GUIDs. */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/pkcs7.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>

#include <openssl/rand.h>

#include "pki/pki_int.h"

static CRYPTO_ONCE legacy_once = CRYPTO_ONCE_STATIC_INIT, cipher_once = CRYPTO_ONCE_STATIC_INIT;
static OSSL_LIB_CTX *legacy_libctx, *cipher_libctx;

static void legacy_init(void)
{
  OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
  if(ctx && OSSL_PROVIDER_load(ctx, "legacy") && OSSL_PROVIDER_load(ctx, "default"))
    legacy_libctx = ctx;
  else
    OSSL_LIB_CTX_free(ctx);
  ERR_clear_error();
}

/* The legacy provider alone: its ciphers are all open_legacy fetches, and a context without the
 * default provider builds its cipher table from the legacy one's few entries (OpenSSL 3.0 builds
 * a context's table from every provider loaded in it: with default too it costs a process about
 * 0.5 ms, the price of a DES reply's decryption many times over). */
static void cipher_init(void)
{
  OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
  if(ctx && OSSL_PROVIDER_load(ctx, "legacy"))
    cipher_libctx = ctx;
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

static OSSL_LIB_CTX *legacy_cipher_ctx(void)
{
  if(!CRYPTO_THREAD_run_once(&cipher_once, cipher_init))
    return NULL;
  return cipher_libctx;
}

/* The envelope read through the PKCS7 view (CMS does not expose the content cipher), or NULL. */
static PKCS7 *envelope_view(const unsigned char *der, size_t n)
{
  const unsigned char *p = der;
  PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)n);
  if(p7 && (!PKCS7_type_is_enveloped(p7) || !p7->d.enveloped || !p7->d.enveloped->enc_data ||
            !p7->d.enveloped->enc_data->algorithm)) {
    PKCS7_free(p7);
    p7 = NULL;
  }
  return p7;
}

/* Whether the default context has the envelope's content cipher: all but the ciphers OpenSSL 3
 * moved to the legacy provider, of which SCEP servers send single DES (and RC2 in old PKCS#7
 * stacks). Known by the OID rather than asked of the default context: a fetch that fails is not
 * remembered there, so it walks every provider's whole list each time. 1 when it cannot tell,
 * so CMS_decrypt says what is wrong. */
static int cipher_in_default(const PKCS7 *p7)
{
  switch(p7 ? OBJ_obj2nid(p7->d.enveloped->enc_data->algorithm->algorithm) : NID_undef) {
  case NID_des_cbc: case NID_des_ecb: case NID_des_cfb64: case NID_des_ofb64: case NID_desx_cbc:
  case NID_rc2_cbc: case NID_rc2_40_cbc: case NID_rc2_64_cbc: case NID_rc4: case NID_bf_cbc:
  case NID_cast5_cbc: case NID_idea_cbc: case NID_seed_cbc:
    return 0;
  default:
    return 1;
  }
}

/* Opens an envelope whose content cipher only the legacy provider has: the content-encryption
 * key is decrypted with our key in the default context, the content with the cipher of the
 * private legacy context. CMS_decrypt inside the legacy context would do the same, but first
 * rebuilds the RSA methods there, which costs more than the decryption. 1 opened, 0 refused,
 * -1 not a case handled here (key transport other than RSA PKCS#1 v1.5). */
static int open_legacy(PKCS7 *p7, EVP_PKEY *key, X509 *cert, BIO *out)
{
  PKCS7_ENC_CONTENT *ec = p7->d.enveloped->enc_data;
  STACK_OF(PKCS7_RECIP_INFO) *ris = p7->d.enveloped->recipientinfo;
  EVP_CIPHER *cipher = NULL;
  EVP_CIPHER_CTX *cc = NULL;
  /* RSA decryption wants room for a whole modulus, whatever the key it carries. */
  size_t cekcap = (size_t)EVP_PKEY_get_size(key), ceklen = 0;
  unsigned char *cek = OPENSSL_malloc(cekcap ? cekcap : 1), *plain = NULL;
  size_t plaincap = 0;
  int i, outl = 0, finl = 0, ok = 0;
  char name[80];
  if(!cek)
    return 0;
  for(i = 0; i < sk_PKCS7_RECIP_INFO_num(ris) && !ceklen; i++) {
    PKCS7_RECIP_INFO *ri = sk_PKCS7_RECIP_INFO_value(ris, i);
    EVP_PKEY_CTX *pc;
    size_t len = cekcap;
    if(cert && (X509_NAME_cmp(ri->issuer_and_serial->issuer, X509_get_issuer_name(cert)) ||
                ASN1_INTEGER_cmp(ri->issuer_and_serial->serial, X509_get0_serialNumber(cert))))
      continue;
    if(OBJ_obj2nid(ri->key_enc_algor->algorithm) != NID_rsaEncryption) {
      OPENSSL_free(cek);
      return -1;
    }
    pc = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if(pc && EVP_PKEY_decrypt_init(pc) > 0 && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) > 0 &&
       EVP_PKEY_decrypt(pc, cek, &len, ri->enc_key->data, (size_t)ri->enc_key->length) > 0)
      ceklen = len;
    EVP_PKEY_CTX_free(pc);
  }
  OBJ_obj2txt(name, sizeof(name), ec->algorithm->algorithm, 0);
  if(ceklen && ec->enc_data && (cipher = EVP_CIPHER_fetch(legacy_cipher_ctx(), name, NULL)) != NULL &&
     (size_t)EVP_CIPHER_get_key_length(cipher) == ceklen && (cc = EVP_CIPHER_CTX_new()) != NULL &&
     EVP_DecryptInit_ex2(cc, cipher, NULL, NULL, NULL) && EVP_CIPHER_asn1_to_param(cc, ec->algorithm->parameter) > 0 &&
     EVP_DecryptInit_ex2(cc, NULL, cek, NULL, NULL) &&
     (plaincap = (size_t)ec->enc_data->length + (size_t)EVP_CIPHER_get_block_size(cipher)) > 0 &&
     (plain = OPENSSL_malloc(plaincap)) != NULL &&
     EVP_DecryptUpdate(cc, plain, &outl, ec->enc_data->data, ec->enc_data->length) &&
     EVP_DecryptFinal_ex(cc, plain + outl, &finl))
    ok = BIO_write(out, plain, outl + finl) == outl + finl;
  OPENSSL_clear_free(cek, cekcap ? cekcap : 1);
  OPENSSL_clear_free(plain, plaincap);
  EVP_CIPHER_CTX_free(cc);
  EVP_CIPHER_free(cipher);
  return ok;
}

int sceplab_envelope_open(const unsigned char *der, size_t n, EVP_PKEY *key, X509 *cert, BIO *out,
                          int *legacy, sceplab_error *err)
{
  const unsigned char *p = der;
  CMS_ContentInfo *env;
  PKCS7 *view;
  int ok, legacy_only;
  *legacy = 0;
  if(n > 0x7fffffff)
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "envelope too large");
  env = d2i_CMS_ContentInfo(NULL, &p, (long)n);
  if(!env || OBJ_obj2nid(CMS_get0_type(env)) != NID_pkcs7_enveloped) {
    CMS_ContentInfo_free(env);
    return sceplab_err_openssl(err, SCEPLAB_E_INPUT, "envelope is not CMS EnvelopedData");
  }
  /* Old servers still answer with single DES, which only the private legacy context has: go
   * there at once rather than spend an RSA decryption finding out. */
  view = envelope_view(der, n);
  legacy_only = !cipher_in_default(view);
  ok = !legacy_only && CMS_decrypt(env, key, cert, NULL, out, CMS_BINARY);
  CMS_ContentInfo_free(env);
  if(legacy_only && legacy_cipher_ctx()) {
    ok = open_legacy(view, key, cert, out);
    if(ok < 0) {
      CMS_ContentInfo *old = CMS_ContentInfo_new_ex(legacy_ctx(), NULL);
      p = der;
      ok = 0;
      ERR_clear_error();
      if(old && d2i_CMS_ContentInfo(&old, &p, (long)n)) {
        (void)BIO_reset(out);
        ok = CMS_decrypt(old, key, cert, NULL, out, CMS_BINARY);
      }
      CMS_ContentInfo_free(old);
    }
    *legacy = ok;
  }
  PKCS7_free(view);
  if(!ok)
    return sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot open the envelope with the given key");
  ERR_clear_error();
  return 0;
}

int sceplab_guid(char *out, size_t n, char sep, int braces)
{
  unsigned char b[16];
  if(RAND_bytes(b, sizeof(b)) != 1) {
    snprintf(out, n, "%s", "");
    return -1;
  }
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, n, "%s%02x%02x%02x%02x%c%02x%02x%c%02x%02x%c%02x%02x%c%02x%02x%02x%02x%02x%02x%s", braces ? "{" : "",
           b[0], b[1], b[2], b[3], sep, b[4], b[5], sep, b[6], b[7], sep, b[8], b[9], sep, b[10], b[11], b[12], b[13],
           b[14], b[15], braces ? "}" : "");
  return 0;
}
