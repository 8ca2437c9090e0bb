/* sceplab.core.pkey: private keys as userdata. Keys are secrets, so they are not Lua strings:
 * tostring() describes the key and never prints it; pem() must be asked for explicitly. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lutil.h"

#define PKEY_MT "sceplab.pkey"

typedef struct lpkey { EVP_PKEY *k; } lpkey;

/* Created closed, before the key exists, so an error in between leaks nothing. */
static lpkey *newkey(lua_State *L)
{
  lpkey *p = lua_newuserdatauv(L, sizeof(*p), 0);
  p->k = NULL;
  luaL_setmetatable(L, PKEY_MT);
  return p;
}

EVP_PKEY *sceplab_lua_checkpkey(lua_State *L, int idx)
{
  lpkey *p = luaL_checkudata(L, idx, PKEY_MT);
  if(!p->k)
    luaL_argerror(L, idx, "key is closed");
  return p->k;
}

static int l_generate(lua_State *L)
{
  const char *spec = luaL_optstring(L, 1, "rsa:2048");
  lpkey *p = newkey(L);
  sceplab_error err;
  sceplab_err_clear(&err);
  p->k = sceplab_key_generate(spec, &err);
  if(!p->k) {
    if(err.code == SCEPLAB_E_USAGE)
      return luaL_argerror(L, 1, err.msg);
    return sceplab_lua_fail(L, &err);
  }
  return 1;
}

static int l_load(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *pass = luaL_optstring(L, 2, NULL);
  lpkey *p = newkey(L);
  sceplab_error err;
  sceplab_err_clear(&err);
  p->k = sceplab_key_load_builtin((const unsigned char *)s, n, pass, &err); /* the client's keys: pki.h */
  if(!p->k)
    return sceplab_lua_fail(L, &err);
  return 1;
}

static int push_pem(lua_State *L, int public_only)
{
  EVP_PKEY *k = sceplab_lua_checkpkey(L, 1);
  size_t len = 0;
  char *pem = sceplab_key_pem(k, public_only, &len);
  if(!pem)
    return luaL_error(L, "cannot encode the key");
  lua_pushlstring(L, pem, len);
  OPENSSL_cleanse(pem, len);
  free(pem);
  return 1;
}

static int m_pem(lua_State *L) { return push_pem(L, 0); }
static int m_public_pem(lua_State *L) { return push_pem(L, 1); }

static int m_type(lua_State *L)
{
  EVP_PKEY *k = sceplab_lua_checkpkey(L, 1);
  lua_pushstring(L, EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA ? "rsa" : EVP_PKEY_get_base_id(k) == EVP_PKEY_EC ? "ec" : EVP_PKEY_get0_type_name(k));
  return 1;
}

static int m_bits(lua_State *L)
{
  lua_pushinteger(L, EVP_PKEY_get_bits(sceplab_lua_checkpkey(L, 1)));
  return 1;
}

static int m_transaction_id(lua_State *L)
{
  char *t = sceplab_transaction_id(sceplab_lua_checkpkey(L, 1));
  if(!t)
    return luaL_error(L, "cannot hash the public key");
  lua_pushstring(L, t);
  free(t);
  return 1;
}

/* key:matches(cert) -> true | false | nil, message, code: whether the certificate (PEM or DER)
 * is this key's, so a renewal with the wrong key is refused before anything is sent. */
static int m_matches(lua_State *L)
{
  EVP_PKEY *k = sceplab_lua_checkpkey(L, 1);
  size_t n;
  const char *c = luaL_checklstring(L, 2, &n);
  sceplab_error err;
  int r;
  sceplab_err_clear(&err);
  r = sceplab_key_matches_cert(k, (const unsigned char *)c, n, &err);
  if(r < 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, r);
  return 1;
}

/* key:sign(data [, md]) -> signature bytes (RSA: PKCS#1 v1.5; md default sha256) */
static int m_sign(lua_State *L)
{
  EVP_PKEY *k = sceplab_lua_checkpkey(L, 1);
  size_t n, slen = 0;
  const char *d = luaL_checklstring(L, 2, &n);
  const char *md = luaL_optstring(L, 3, "sha256");
  sceplab_error err;
  unsigned char *sig;
  sceplab_err_clear(&err);
  if(!(sig = sceplab_key_sign(k, md, (const unsigned char *)d, n, &slen, &err))) {
    if(err.code == SCEPLAB_E_USAGE)
      return luaL_argerror(L, 3, err.msg);
    return sceplab_lua_fail(L, &err);
  }
  lua_pushlstring(L, (const char *)sig, slen);
  free(sig);
  return 1;
}

/* verify(cert_or_public_key, data, signature [, md]) -> true | false | nil, message, code */
static int l_verify(lua_State *L)
{
  size_t np, nd, ns;
  const char *pub = luaL_checklstring(L, 1, &np);
  const char *d = luaL_checklstring(L, 2, &nd);
  const char *sig = luaL_checklstring(L, 3, &ns);
  const char *md = luaL_optstring(L, 4, "sha256");
  sceplab_error err;
  int r;
  sceplab_err_clear(&err);
  r = sceplab_sig_verify((const unsigned char *)pub, np, md, (const unsigned char *)d, nd, (const unsigned char *)sig,
                         ns, &err);
  if(r < 0) {
    if(err.code == SCEPLAB_E_USAGE)
      return luaL_argerror(L, 4, err.msg);
    return sceplab_lua_fail(L, &err);
  }
  lua_pushboolean(L, r);
  return 1;
}

static int m_close(lua_State *L)
{
  lpkey *p = luaL_checkudata(L, 1, PKEY_MT);
  EVP_PKEY_free(p->k);
  p->k = NULL;
  return 0;
}

static int m_tostring(lua_State *L)
{
  lpkey *p = luaL_checkudata(L, 1, PKEY_MT);
  if(!p->k)
    lua_pushliteral(L, "sceplab.pkey (closed)");
  else
    lua_pushfstring(L, "sceplab.pkey (%s %d, private)", EVP_PKEY_get0_type_name(p->k), EVP_PKEY_get_bits(p->k));
  return 1;
}

static const luaL_Reg methods[] = {
  {"pem", m_pem}, {"public_pem", m_public_pem}, {"type", m_type}, {"bits", m_bits},
  {"transaction_id", m_transaction_id}, {"matches", m_matches}, {"sign", m_sign}, {"close", m_close}, {NULL, NULL}
};

static const luaL_Reg meta[] = {
  {"__gc", m_close}, {"__close", m_close}, {"__tostring", m_tostring}, {"__index", NULL}, {NULL, NULL}
};

static const luaL_Reg funcs[] = {{"generate", l_generate}, {"load", l_load}, {"verify", l_verify}, {NULL, NULL}};

int luaopen_sceplab_core_pkey(lua_State *L)
{
  sceplab_lua_newclass(L, PKEY_MT, meta, methods);
  luaL_newlib(L, funcs);
  return 1;
}
