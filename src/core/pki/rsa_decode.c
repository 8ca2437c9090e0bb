/* RSA public keys of the certificates and requests a device sends, decoded by OpenSSL's built-in
 * RSA method instead of a provider decoder chain (serve's hot path: every pkiMessage carries a
 * signer certificate and a CSR, each with a key to decode).
 *
 * OpenSSL 3.0 decodes the key of every certificate or request it parses (d2i_X509, d2i_X509_REQ,
 * the certificates of a CMS message) through OSSL_DECODER_CTX_new_for_pkey, which builds a decoder
 * chain anew each time by walking every decoder of every provider: 495 us to parse and verify an
 * RSA-2048 CSR here, 70 us with the key decoded the built-in way, and 11% of serve's CPU per
 * enrollment (perf, 2026-12-07). Its x_pubkey.c takes the built-in method only while an ENGINE
 * offers one for the key's type, so during a parse (and only then) an ENGINE whose only content is
 * OpenSSL's own RSA method (EVP_PKEY_meth_find) is registered: nothing of another library runs,
 * and the keys are RSA keys as before (printed, compared, verified with, encrypted to: OpenSSL
 * hands them to the default provider when used). Registered for longer, it would also take every
 * RSA operation on the provider keys the process loads itself (the CA's signature), which the
 * built-in method cannot do. For the same reason no parse takes this path while another thread
 * of the process may be using OpenSSL (sceplab_pki_threads). OpenSSL 3.2's decoder cache makes
 * this unnecessary; Debian 12 has 3.0. */
#define OPENSSL_SUPPRESS_DEPRECATED /* ENGINE and EVP_PKEY_METHOD: the 3.0 route to the built-in method */
#include <dlfcn.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "pki/pki_int.h"

static const int rsa_nids[] = {EVP_PKEY_RSA};
static CRYPTO_ONCE once = CRYPTO_ONCE_STATIC_INIT;
static ENGINE *builtin;
static int others; /* threads besides the caller's that may be using OpenSSL now */

static int pkey_meths(ENGINE *e, EVP_PKEY_METHOD **pmeth, const int **nids, int nid)
{
  (void)e;
  if(!pmeth) {
    *nids = rsa_nids;
    return 1;
  }
  *pmeth = nid == EVP_PKEY_RSA ? (EVP_PKEY_METHOD *)EVP_PKEY_meth_find(EVP_PKEY_RSA) : NULL;
  return *pmeth != NULL;
}

/* OpenSSL's cleanup at exit calls the engine back (pkey_meths) when it frees it, so the code that
 * holds pkey_meths stays mapped until then: lua5.4 unloads the module (core.so) when it closes its
 * state, before exit, and the process crashed in the unmapped callback. The sceplab executable is
 * never unloaded (dlopen does not even find it by that name). */
static void stay_loaded(void)
{
  Dl_info info;
  if(dladdr((void *)pkey_meths, &info) && info.dli_fname)
    (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static void make(void)
{
  ENGINE *e = ENGINE_new();
  stay_loaded();
  /* in OpenSSL's list of engines for the process's life (ENGINE_add takes its own reference) */
  if(e && ENGINE_set_id(e, "sceplab-builtin-rsa") && ENGINE_set_name(e, "OpenSSL's built-in RSA method") &&
     ENGINE_set_pkey_meths(e, pkey_meths) && ENGINE_add(e))
    builtin = e;
  ENGINE_free(e);
  ERR_clear_error();
}

int sceplab_pki_rsa_decode_enter(void)
{
  if(__atomic_load_n(&others, __ATOMIC_ACQUIRE) != 0 || !CRYPTO_THREAD_run_once(&once, make) || !builtin)
    return 0;
  if(!ENGINE_register_pkey_meths(builtin)) {
    ERR_clear_error();
    return 0;
  }
  return 1;
}

void sceplab_pki_rsa_decode_leave(int entered)
{
  if(entered)
    ENGINE_unregister_pkey_meths(builtin);
}

void sceplab_pki_threads(int delta)
{
  __atomic_add_fetch(&others, delta, __ATOMIC_ACQ_REL);
}

/* A private key the client loads itself (enroll --key, renew --key) has no window: read with
 * d2i_RSAPrivateKey, it is an RSA key of the built-in method from the start, and nothing is
 * registered. It signs and decrypts in the default provider, to which OpenSSL exports it once on
 * first use. What is saved is the decoder chain of its load (7 M instructions, the first filling
 * the decoder store), each time its public key is written (the CSR, the self-signed signer, the
 * transactionID) an encoder chain and the decoder chain X509_PUBKEY_set runs on its output, and
 * the encoder chain of the PEM written back (--key-out): the built-in method writes them all. */
EVP_PKEY *sceplab_pki_rsa_private_builtin(const unsigned char *der, long len)
{
  const unsigned char *p = der;
  RSA *rsa = d2i_RSAPrivateKey(NULL, &p, len);
  EVP_PKEY *pk = rsa && p == der + len ? EVP_PKEY_new() : NULL;
  if(!pk || !EVP_PKEY_assign_RSA(pk, rsa)) {
    EVP_PKEY_free(pk);
    RSA_free(rsa);
    ERR_clear_error();
    return NULL;
  }
  return pk;
}
