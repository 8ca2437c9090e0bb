/* The PKCS#11 key keeper (keys.c is the seam): keys made inside a token, used there through
 * OpenSSL's pkcs11 engine (libp11's, Debian's libengine-pkcs11-openssl), never out of it. The
 * engine cannot make keys, so C_GenerateKeyPair is called here, on the module the URI names.
 * A key is named by an RFC 7512 URI (token, id, type; module-path in its query); the PIN comes
 * from the URI's pin-value or SCEPLAB_PKCS11_PIN and is never written anywhere. */
#define OPENSSL_SUPPRESS_DEPRECATED /* ENGINE: libp11's engine is the route Debian 12 has */
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <p11-kit/pkcs11.h>

#include "ca/ca_int.h"

#define DEFAULT_MODULE "p11-kit-proxy.so" /* every module p11-kit knows (SoftHSM2 registers itself) */

typedef struct p11_uri {
  char token[64];
  char module[512];
  char pin[128];
  unsigned char id[32];
  size_t id_len;
} p11_uri;

static int hexval(int c) { return isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10); }

/* A percent-encoded value into out (n bytes at most): its length, or -1. */
static int pct_decode(const char *v, size_t vn, unsigned char *out, size_t n)
{
  size_t i, o = 0;
  for(i = 0; i < vn; i++) {
    int c = (unsigned char)v[i];
    if(c == '%') {
      if(i + 2 >= vn || !isxdigit((unsigned char)v[i + 1]) || !isxdigit((unsigned char)v[i + 2]))
        return -1;
      c = hexval((unsigned char)v[i + 1]) * 16 + hexval((unsigned char)v[i + 2]);
      i += 2;
    }
    if(o + 1 >= n)
      return -1;
    out[o++] = (unsigned char)c;
  }
  out[o] = 0;
  return (int)o;
}

/* The attributes sceplab uses of an RFC 7512 URI: 0, or -1 with err naming what is wrong. */
static int parse_uri(const char *uri, p11_uri *u, sceplab_error *err)
{
  const char *p = uri + 7, *env;
  memset(u, 0, sizeof(*u));
  if(strncmp(uri, "pkcs11:", 7) != 0)
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "'%.60s': not a PKCS#11 URI (pkcs11:token=LABEL...)", uri), -1;
  while(*p) {
    size_t n = strcspn(p, ";?&"), kn;
    const char *eq = memchr(p, '=', n);
    int got = 0;
    if(eq) {
      kn = (size_t)(eq - p);
      if(kn == 5 && !strncmp(p, "token", 5))
        got = pct_decode(eq + 1, n - kn - 1, (unsigned char *)u->token, sizeof(u->token));
      else if(kn == 11 && !strncmp(p, "module-path", 11))
        got = pct_decode(eq + 1, n - kn - 1, (unsigned char *)u->module, sizeof(u->module));
      else if(kn == 9 && !strncmp(p, "pin-value", 9))
        got = pct_decode(eq + 1, n - kn - 1, (unsigned char *)u->pin, sizeof(u->pin));
      else if(kn == 2 && !strncmp(p, "id", 2)) {
        unsigned char buf[sizeof(u->id) + 1];
        got = pct_decode(eq + 1, n - kn - 1, buf, sizeof(buf));
        if(got > 0) {
          memcpy(u->id, buf, (size_t)got);
          u->id_len = (size_t)got;
        }
      }
      if(got < 0)
        return sceplab_err_set(err, SCEPLAB_E_USAGE, "PKCS#11 URI: attribute '%.*s' is too long or badly encoded",
                               (int)kn, p), -1;
    }
    p += n;
    if(*p)
      p++;
  }
  if(!u->token[0])
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "PKCS#11 URI: no token= (the token's label) in '%.60s'", uri), -1;
  if(!u->module[0])
    snprintf(u->module, sizeof(u->module), "%s", DEFAULT_MODULE);
  if(!u->pin[0] && (env = getenv("SCEPLAB_PKCS11_PIN")) != NULL)
    snprintf(u->pin, sizeof(u->pin), "%s", env);
  if(!u->pin[0])
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "the PKCS#11 token '%s' needs its user PIN: set SCEPLAB_PKCS11_PIN",
                           u->token), -1;
  return 0;
}

/* ---- the engine: one, for the module last named ------------------------------------------- */

static ENGINE *engine;
static char engine_module[512];
static int engine_used; /* a key was loaded: the engine's context exists (before, RE_ENUMERATE crashes) */

static ENGINE *engine_for(const p11_uri *u, sceplab_error *err)
{
  if(engine && !strcmp(engine_module, u->module)) {
    if(!ENGINE_ctrl_cmd_string(engine, "PIN", u->pin, 0))
      goto fail;
    return engine;
  }
  if(engine) {
    ENGINE_finish(engine);
    ENGINE_free(engine);
    engine = NULL;
    engine_used = 0;
  }
  if(!(engine = ENGINE_by_id("pkcs11"))) {
    sceplab_err_openssl(err, SCEPLAB_E_FAILED, "OpenSSL's pkcs11 engine cannot be loaded (Debian: libengine-pkcs11-openssl)");
    return NULL;
  }
  if(!ENGINE_ctrl_cmd_string(engine, "MODULE_PATH", u->module, 0) || !ENGINE_init(engine)) {
    ENGINE_free(engine);
    engine = NULL;
    goto fail;
  }
  snprintf(engine_module, sizeof(engine_module), "%s", u->module);
  if(!ENGINE_ctrl_cmd_string(engine, "PIN", u->pin, 0))
    goto fail;
  return engine;
fail:
  sceplab_err_openssl(err, SCEPLAB_E_FAILED, "the pkcs11 engine refused module %s", u->module);
  return NULL;
}

/* The engine's URI for a key: token and id, no PIN (given to the engine apart). */
static void key_uri(const p11_uri *u, int private_key, char *out, size_t n)
{
  size_t o, i;
  o = (size_t)snprintf(out, n, "pkcs11:token=");
  for(i = 0; u->token[i] && o + 4 < n; i++) {
    unsigned char c = (unsigned char)u->token[i];
    o += (size_t)(isalnum(c) || c == '-' || c == '.' || c == '_' ? snprintf(out + o, n - o, "%c", c)
                                                                  : snprintf(out + o, n - o, "%%%02X", c));
  }
  o += (size_t)snprintf(out + o, n - o, ";id=");
  for(i = 0; i < u->id_len && o + 4 < n; i++)
    o += (size_t)snprintf(out + o, n - o, "%%%02X", u->id[i]);
  snprintf(out + o, n - o, ";type=%s", private_key ? "private" : "public");
}

static EVP_PKEY *load_with(const p11_uri *u, sceplab_error *err)
{
  char eng_uri[512];
  ENGINE *e;
  EVP_PKEY *k;
  if(!(e = engine_for(u, err)))
    return NULL;
  key_uri(u, 1, eng_uri, sizeof(eng_uri));
  ERR_clear_error();
  k = ENGINE_load_private_key(e, eng_uri, NULL, NULL);
  if(k)
    engine_used = 1;
  if(!k)
    sceplab_err_openssl(err, SCEPLAB_E_FAILED, "token '%s': cannot use the key %s", u->token, eng_uri);
  return k;
}

EVP_PKEY *ca_p11_load(const char *uri, sceplab_error *err)
{
  p11_uri u;
  EVP_PKEY *k = NULL;
  if(parse_uri(uri, &u, err) != 0)
    return NULL;
  if(!u.id_len)
    sceplab_err_set(err, SCEPLAB_E_INPUT, "PKCS#11 URI: no id= of a key in '%.60s'", uri);
  else
    k = load_with(&u, err);
  OPENSSL_cleanse(u.pin, sizeof(u.pin));
  return k;
}

/* ---- making a key pair in the token ------------------------------------------------------- */

static const char *rv_name(CK_RV rv)
{
  switch(rv) {
  case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
  case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
  case CKR_TOKEN_WRITE_PROTECTED: return "CKR_TOKEN_WRITE_PROTECTED";
  case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
  case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
  case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
  default: return "a PKCS#11 error";
  }
}

/* C_GenerateKeyPair for spec ("rsa:2048", "ec:p256", "ec:p384") under id and label: 0, or -1. */
static int generate(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, const char *spec, const p11_uri *u, const char *label,
                    sceplab_error *err)
{
  static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  static const CK_BYTE p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG bits = 2048;
  CK_BYTE e65537[] = {0x01, 0x00, 0x01};
  CK_OBJECT_HANDLE hpub, hpriv;
  CK_MECHANISM mech = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
  CK_ATTRIBUTE pub[8], priv[10];
  CK_ULONG np = 0, nv = 0;
  CK_RV rv;
  int rsa = !strncmp(spec, "rsa:", 4);
#define ATTR(a, n, t, v, l) (a[n].type = (t), a[n].pValue = (void *)(v), a[n].ulValueLen = (l), n++)
  if(rsa) {
    bits = (CK_ULONG)atoi(spec + 4);
    if(bits < 2048 || bits > 8192)
      return sceplab_err_set(err, SCEPLAB_E_USAGE, "key '%s': RSA from 2048 to 8192 bits", spec), -1;
    ATTR(pub, np, CKA_MODULUS_BITS, &bits, sizeof(bits));
    ATTR(pub, np, CKA_PUBLIC_EXPONENT, e65537, sizeof(e65537));
    ATTR(pub, np, CKA_ENCRYPT, &yes, sizeof(yes));
    ATTR(priv, nv, CKA_DECRYPT, &yes, sizeof(yes)); /* the RA's encryption key opens envelopes */
    ATTR(priv, nv, CKA_UNWRAP, &yes, sizeof(yes));
  }
  else if(!strcmp(spec, "ec:p256") || !strcmp(spec, "ec:p384")) {
    mech.mechanism = CKM_EC_KEY_PAIR_GEN;
    ATTR(pub, np, CKA_EC_PARAMS, spec[5] == '2' ? p256 : p384, spec[5] == '2' ? sizeof(p256) : sizeof(p384));
  }
  else
    return sceplab_err_set(err, SCEPLAB_E_USAGE, "key '%s': rsa:BITS, ec:p256 or ec:p384 in a token", spec), -1;
  ATTR(pub, np, CKA_TOKEN, &yes, sizeof(yes));
  ATTR(pub, np, CKA_VERIFY, &yes, sizeof(yes));
  ATTR(pub, np, CKA_LABEL, label, strlen(label));
  ATTR(pub, np, CKA_ID, u->id, u->id_len);
  ATTR(priv, nv, CKA_TOKEN, &yes, sizeof(yes));
  ATTR(priv, nv, CKA_PRIVATE, &yes, sizeof(yes));
  ATTR(priv, nv, CKA_SENSITIVE, &yes, sizeof(yes));   /* never readable */
  ATTR(priv, nv, CKA_EXTRACTABLE, &no, sizeof(no));   /* never wrapped out */
  ATTR(priv, nv, CKA_SIGN, &yes, sizeof(yes));
  ATTR(priv, nv, CKA_LABEL, label, strlen(label));
  ATTR(priv, nv, CKA_ID, u->id, u->id_len);
#undef ATTR
  rv = f->C_GenerateKeyPair(s, &mech, pub, np, priv, nv, &hpub, &hpriv);
  if(rv != CKR_OK)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "token '%s': C_GenerateKeyPair (%s) failed: %s (0x%lx)", u->token,
                           spec, rv_name(rv), (unsigned long)rv), -1;
  return 0;
}

/* The slot holding the token labelled label: 0, or -1 with err. */
static int find_slot(CK_FUNCTION_LIST *f, const char *label, CK_SLOT_ID *slot, sceplab_error *err)
{
  CK_SLOT_ID ids[64];
  CK_ULONG n = 64, i;
  if(f->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "C_GetSlotList failed"), -1;
  for(i = 0; i < n; i++) {
    CK_TOKEN_INFO ti;
    size_t k = sizeof(ti.label);
    if(f->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
      continue;
    while(k > 0 && ti.label[k - 1] == ' ')
      k--;
    if(k == strlen(label) && !memcmp(ti.label, label, k)) {
      *slot = ids[i];
      return 0;
    }
  }
  return sceplab_err_set(err, SCEPLAB_E_USAGE, "no PKCS#11 token labelled '%s' (softhsm2-util --show-slots, "
                         "pkcs11-tool --list-tokens)", label), -1;
}

EVP_PKEY *ca_p11_generate(const char *token_uri, const char *name, const char *spec, char **obj_uri,
                          sceplab_error *err)
{
  p11_uri u;
  void *dl = NULL;
  CK_RV (*getfl)(CK_FUNCTION_LIST_PTR_PTR);
  CK_FUNCTION_LIST *f = NULL;
  CK_C_INITIALIZE_ARGS args;
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  CK_SLOT_ID slot;
  CK_RV rv;
  int we_initialized = 0, ok = -1;
  char label[96], uri[1200];
  size_t i, o;
  EVP_PKEY *k = NULL;
  *obj_uri = NULL;
  if(parse_uri(token_uri, &u, err) != 0)
    return NULL;
  /* a fresh id for each key: keys are found by it, a label may repeat */
  u.id_len = 16;
  if(RAND_bytes(u.id, (int)u.id_len) != 1)
    return (void)sceplab_err_set(err, SCEPLAB_E_CRYPTO, "no random bytes"), NULL;
  snprintf(label, sizeof(label), "sceplab %s", name);
  if(!(dl = dlopen(u.module, RTLD_NOW | RTLD_LOCAL)) || !(*(void **)&getfl = dlsym(dl, "C_GetFunctionList")) ||
     getfl(&f) != CKR_OK || !f) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "cannot load the PKCS#11 module %s: %s", u.module, dl ? "no C_GetFunctionList" : dlerror());
    goto out;
  }
  memset(&args, 0, sizeof(args));
  args.flags = CKF_OS_LOCKING_OK;
  rv = f->C_Initialize(&args);
  /* the engine in this process may have initialised the module already: then it is left so */
  if(rv == CKR_OK)
    we_initialized = 1;
  else if(rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: C_Initialize failed (0x%lx)", u.module, (unsigned long)rv);
    goto out;
  }
  if(find_slot(f, u.token, &slot, err) != 0)
    goto out;
  if((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "token '%s': C_OpenSession failed (0x%lx)", u.token, (unsigned long)rv);
    goto out;
  }
  rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)u.pin, (CK_ULONG)strlen(u.pin));
  if(rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "token '%s': the user PIN is refused: %s", u.token, rv_name(rv));
    goto out;
  }
  if(generate(f, s, spec, &u, label, err) != 0)
    goto out;
  ok = 0;
out:
  if(f && s != CK_INVALID_HANDLE)
    f->C_CloseSession(s);
  if(f && we_initialized)
    f->C_Finalize(NULL);
  if(dl)
    dlclose(dl);
  if(ok == 0) {
    /* the key's own URI, for the state directory: token, id, module; never the PIN */
    key_uri(&u, 1, uri, sizeof(uri));
    o = strlen(uri);
    snprintf(uri + o, sizeof(uri) - o, "?module-path=");
    for(i = 0, o = strlen(uri); u.module[i] && o + 4 < sizeof(uri); i++) {
      unsigned char c = (unsigned char)u.module[i];
      o += (size_t)(isalnum(c) || strchr("-._~/", c) ? snprintf(uri + o, sizeof(uri) - o, "%c", c)
                                                      : snprintf(uri + o, sizeof(uri) - o, "%%%02X", c));
    }
    /* loaded with the token URI's PIN (pin-value or SCEPLAB_PKCS11_PIN) */
    k = load_with(&u, err);
    if(k && !(*obj_uri = strdup(uri))) {
      EVP_PKEY_free(k);
      k = NULL;
      sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    }
  }
  OPENSSL_cleanse(u.pin, sizeof(u.pin));
  return k;
}

int ca_p11_check(const char *token_uri, sceplab_error *err)
{
  p11_uri u;
  int rc = parse_uri(token_uri, &u, err);
  OPENSSL_cleanse(u.pin, sizeof(u.pin));
  return rc;
}
