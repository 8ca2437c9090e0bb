/* sceplab.core.serve (lserve.c): the embedded CA (ca.h) as a userdata, its methods, and the
 * certificate profile read from a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "lserve.h"

#define APPROVE_MAX_EKUS 16

int lserve_opt_int(lua_State *L, int t, const char *k, int dflt)
{
  int v = dflt;
  if(lua_getfield(L, t, k) != LUA_TNIL)
    v = (int)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* A string field of the table at t; it stays alive in the table, which the caller keeps. */
const char *lserve_opt_str(lua_State *L, int t, const char *k)
{
  const char *v = NULL;
  if(lua_getfield(L, t, k) != LUA_TNIL)
    v = luaL_checkstring(L, -1);
  lua_pop(L, 1);
  return v;
}

/* ca_init(dir [, {key, root_cn, issuing_cn, ra_subject, root_days, issuing_days, one_tier, db}]) -> true */
int lserve_l_ca_init(lua_State *L)
{
  const char *dir = luaL_checkstring(L, 1);
  sceplab_ca_params p;
  sceplab_error err;
  memset(&p, 0, sizeof(p));
  p.two_tier = 1;
  if(!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    p.key = lserve_opt_str(L, 2, "key");
    p.root_cn = lserve_opt_str(L, 2, "root_cn");
    p.issuing_cn = lserve_opt_str(L, 2, "issuing_cn");
    p.ra_subject = lserve_opt_str(L, 2, "ra_subject");
    p.public_url = lserve_opt_str(L, 2, "public_url");
    p.pkcs11 = lserve_opt_str(L, 2, "pkcs11");
    p.root_days = lserve_opt_int(L, 2, "root_days", 0);
    p.issuing_days = lserve_opt_int(L, 2, "issuing_days", 0);
    p.db = lserve_opt_str(L, 2, "db");
    lua_getfield(L, 2, "one_tier");
    p.two_tier = !lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  sceplab_err_clear(&err);
  if(sceplab_ca_init(dir, &p, &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

lca *lserve_check_ca(lua_State *L, int idx)
{
  lca *c = luaL_checkudata(L, idx, CA_MT);
  if(!c->ca)
    luaL_argerror(L, idx, "the CA is closed");
  return c;
}

/* ca_open(dir [, db]) -> ca: db a postgresql:// URL, or nil for dir's ca.db */
int lserve_l_ca_open(lua_State *L)
{
  const char *dir = luaL_checkstring(L, 1), *db = luaL_optstring(L, 2, NULL);
  lca *c = lua_newuserdatauv(L, sizeof(*c), 0); /* closed until the CA is open */
  sceplab_error err;
  c->ca = NULL;
  luaL_setmetatable(L, CA_MT);
  sceplab_err_clear(&err);
  if(!(c->ca = sceplab_ca_open_db(dir, db, &err)))
    return sceplab_lua_fail(L, &err);
  return 1;
}

static int c_close(lua_State *L)
{
  lca *c = luaL_checkudata(L, 1, CA_MT);
  sceplab_ca_close(c->ca);
  c->ca = NULL;
  return 0;
}

static int c_tostring(lua_State *L)
{
  lca *c = luaL_checkudata(L, 1, CA_MT);
  if(c->ca)
    lua_pushfstring(L, "sceplab.ca (%s)", sceplab_ca_dir(c->ca));
  else
    lua_pushliteral(L, "sceplab.ca (closed)");
  return 1;
}

static int c_list(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  sceplab_error err;
  sceplab_err_clear(&err);
  return sceplab_lua_result(L, sceplab_ca_list(c->ca, &err), &err);
}

/* ca:certificates() -> {root, issuing, ra_sign, ra_encrypt, intune_sign?} as PEM */
static int c_certificates(lua_State *L)
{
  static const char *const names[SCEPLAB_CA_TIERS] = {"root", "issuing", "ra_sign", "ra_encrypt", "intune_sign"};
  lca *c = lserve_check_ca(L, 1);
  int i;
  lua_createtable(L, 0, SCEPLAB_CA_TIERS);
  for(i = 0; i < SCEPLAB_CA_TIERS; i++) {
    X509 *x = sceplab_ca_cert(c->ca, (sceplab_ca_tier)i);
    char *pem = x ? sceplab_cert_pem(x) : NULL;
    if(!x)
      continue;
    if(!pem)
      return luaL_error(L, "out of memory");
    lua_pushstring(L, pem);
    free(pem);
    lua_setfield(L, -2, names[i]);
  }
  return 1;
}

/* ca:thumbprint(tier) -> SHA-1 thumbprint (upper-case hex) of root, issuing, ra_sign, ra_encrypt or intune_sign */
static int c_thumbprint(lua_State *L)
{
  static const char *const names[] = {"root", "issuing", "ra_sign", "ra_encrypt", "intune_sign", NULL};
  lca *c = lserve_check_ca(L, 1);
  int t = luaL_checkoption(L, 2, "root", names);
  X509 *x = sceplab_ca_cert(c->ca, (sceplab_ca_tier)t);
  char *h;
  if(!x)
    return luaL_argerror(L, 2, "this state directory has no such certificate");
  if(!(h = sceplab_ca_thumbprint(c->ca, (sceplab_ca_tier)t)))
    return luaL_error(L, "out of memory");
  lua_pushstring(L, h);
  free(h);
  return 1;
}

/* ca:tls_server({names...} [, days]) -> certificate PEM, key PEM (the key is a secret: the caller
 * writes it 0600) */
static int c_tls_server(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  const char *names[16];
  size_t n, i;
  char *cert, *key;
  sceplab_error err;
  luaL_checktype(L, 2, LUA_TTABLE);
  n = lua_rawlen(L, 2);
  luaL_argcheck(L, n >= 1 && n <= 16, 2, "1 to 16 names");
  for(i = 0; i < n; i++) {
    lua_rawgeti(L, 2, (lua_Integer)i + 1);
    names[i] = luaL_checkstring(L, -1);
    lua_pop(L, 1); /* the string stays alive in the table */
  }
  sceplab_err_clear(&err);
  if(sceplab_ca_tls_server(c->ca, names, n, (int)luaL_optinteger(L, 3, 0), &cert, &key, &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_pushstring(L, cert);
  lua_pushstring(L, key);
  free(cert);
  OPENSSL_cleanse(key, strlen(key));
  free(key);
  return 2;
}

/* ca:rollover([days]) -> true: makes the next issuing CA (GetNextCACert) */
static int c_rollover(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  sceplab_error err;
  sceplab_err_clear(&err);
  if(sceplab_ca_rollover(c->ca, (int)luaL_optinteger(L, 2, 0), &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* ca:activate() -> true: switches to the rollover CA and re-issues the RA pair */
static int c_activate(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  sceplab_error err;
  sceplab_err_clear(&err);
  if(sceplab_ca_rollover_activate(c->ca, &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* ca:next() -> the rollover CA certificate as PEM, or nil */
static int c_next(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  X509 *x = sceplab_ca_next(c->ca);
  char *pem = x ? sceplab_cert_pem(x) : NULL;
  if(!x)
    return 0;
  if(!pem)
    return luaL_error(L, "out of memory");
  lua_pushstring(L, pem);
  free(pem);
  return 1;
}

static int c_revoke(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  const char *serial = luaL_checkstring(L, 2);
  int reason = (int)luaL_optinteger(L, 3, 0);
  sceplab_error err;
  sceplab_err_clear(&err);
  if(sceplab_ca_revoke(c->ca, serial, reason, &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* ca:crl([days]) -> DER */
static int c_crl(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  size_t n = 0;
  sceplab_error err;
  unsigned char *der;
  sceplab_err_clear(&err);
  der = sceplab_ca_crl(c->ca, (int)luaL_optinteger(L, 2, 7), &n, &err);
  if(!der)
    return sceplab_lua_fail(L, &err);
  lua_pushlstring(L, (const char *)der, n);
  free(der);
  return 1;
}

/* ca:challenge([minutes]) -> a one-time password */
static int c_challenge(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  sceplab_error err;
  char *pw;
  sceplab_err_clear(&err);
  pw = sceplab_ca_challenge_new(c->ca, (int)luaL_optinteger(L, 2, 60), &err);
  if(!pw)
    return sceplab_lua_fail(L, &err);
  lua_pushstring(L, pw);
  free(pw);
  return 1;
}

/* ca:use_challenge(pw) -> true when it was valid and is now used */
static int c_use_challenge(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  sceplab_error err;
  int rc;
  sceplab_err_clear(&err);
  rc = sceplab_ca_challenge_use(c->ca, luaL_checkstring(L, 2), &err);
  if(rc < 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, rc);
  return 1;
}

static int c_approve(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  const char *which = luaL_checkstring(L, 2);
  sceplab_issue_params ip;
  sceplab_error err;
  size_t cn = 0;
  unsigned char *cert;
  const char *ekus[APPROVE_MAX_EKUS];
  sceplab_err_clear(&err);
  memset(&ip, 0, sizeof(ip));
  if(lua_istable(L, 3)) {
    lua_Integer i, count;
    lua_getfield(L, 3, "days");
    ip.days = (int)luaL_optinteger(L, -1, 0);
    lua_getfield(L, 3, "template");
    ip.template_name = luaL_optstring(L, -1, NULL); /* the table keeps the string */
    lua_pop(L, 2);
    if(lua_getfield(L, 3, "ekus") == LUA_TTABLE) {
      count = (lua_Integer)lua_rawlen(L, -1);
      luaL_argcheck(L, count <= APPROVE_MAX_EKUS, 3, "at most 16 ekus");
      for(i = 1; i <= count; i++) {
        lua_rawgeti(L, -1, i);
        ekus[i - 1] = luaL_checkstring(L, -1);
        lua_pop(L, 1); /* the ekus table keeps the string */
      }
      if(count > 0) {
        ip.ekus = ekus;
        ip.nekus = (size_t)count;
      }
    }
    lua_pop(L, 1);
  } else
    ip.days = (int)luaL_optinteger(L, 3, 0);
  if(!(cert = sceplab_ca_approve(c->ca, which, &ip, &cn, &err)))
    return sceplab_lua_fail(L, &err);
  lua_pushlstring(L, (const char *)cert, cn);
  free(cert);
  return 1;
}

/* ca:reject(which [, why]) -> true */
static int c_reject(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  sceplab_error err;
  sceplab_err_clear(&err);
  if(sceplab_ca_reject(c->ca, luaL_checkstring(L, 2), luaL_optstring(L, 3, "rejected by the administrator"), &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* ca:once_used(request_id) -> the serial of the certificate it gave, or false */
static int c_once_used(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  sceplab_error err;
  char *serial = NULL;
  int rc;
  sceplab_err_clear(&err);
  rc = sceplab_ca_once_used(c->ca, luaL_checkstring(L, 2), &serial, &err);
  if(rc < 0)
    return sceplab_lua_fail(L, &err);
  if(rc)
    lua_pushstring(L, serial ? serial : "?");
  else
    lua_pushboolean(L, 0);
  free(serial);
  return 1;
}

/* A string field of the table on top into a fixed buffer ("" when absent). */
void lserve_copy_field(lua_State *L, const char *k, char *out, size_t n)
{
  lua_getfield(L, -1, k);
  snprintf(out, n, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
  lua_pop(L, 1);
}

/* The names of list field k of the table on top, each through fn: 0, or -1 with err naming it. */
static int name_list(lua_State *L, const char *k, int (*fn)(const char *, void *), void *ud, sceplab_error *err)
{
  size_t n, i;
  int rc = 0;
  if(lua_getfield(L, -1, k) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 1; /* absent: the default */
  }
  n = lua_rawlen(L, -1);
  for(i = 1; i <= n && rc == 0; i++) {
    lua_rawgeti(L, -1, (lua_Integer)i);
    if(!lua_isstring(L, -1) || fn(lua_tostring(L, -1), ud) != 0)
      rc = sceplab_err_set(err, SCEPLAB_E_FAILED, "policy: profile.%s[%d] is no %s", k, (int)i,
                           !strcmp(k, "key_usage") ? "key usage name" : !strcmp(k, "san") ? "SAN type" : "EKU");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return rc ? -1 : 0;
}

static int add_ku(const char *name, void *ud)
{
  int bit = sceplab_key_usage_bit(name);
  if(bit < 0)
    return -1;
  ((sceplab_cert_profile *)ud)->key_usage |= 1u << bit;
  return 0;
}

static int add_san(const char *name, void *ud)
{
  unsigned t = sceplab_san_type(name);
  if(!t)
    return -1;
  ((sceplab_cert_profile *)ud)->san |= t;
  return 0;
}

static int add_eku(const char *name, void *ud)
{
  sceplab_cert_profile *p = ud;
  ASN1_OBJECT *o = OBJ_txt2obj(name, 0); /* a name OpenSSL knows (clientAuth) or an OID */
  ASN1_OBJECT_free(o);
  ERR_clear_error();
  if(!o || p->neku >= sizeof(p->eku) / sizeof(p->eku[0]) || strlen(name) >= sizeof(p->eku[0]))
    return -1;
  snprintf(p->eku[p->neku++], sizeof(p->eku[0]), "%s", name);
  return 0;
}

/* The profile table on top ({key_usage, eku, san, wildcard}): each list given replaces the
 * default one. */
int lserve_read_profile(lua_State *L, sceplab_cert_profile *p, sceplab_error *err)
{
  sceplab_cert_profile d;
  int rc;
  sceplab_cert_profile_default(&d);
  memset(p, 0, sizeof(*p));
  if((rc = name_list(L, "key_usage", add_ku, p, err)) < 0)
    return -1;
  if(rc == 1)
    p->key_usage = d.key_usage;
  if((rc = name_list(L, "eku", add_eku, p, err)) < 0)
    return -1;
  if(rc == 1) {
    memcpy(p->eku, d.eku, sizeof(d.eku));
    p->neku = d.neku;
  }
  if((rc = name_list(L, "san", add_san, p, err)) < 0)
    return -1;
  if(rc == 1)
    p->san = d.san;
  lua_getfield(L, -1, "wildcard");
  p->wildcard = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return 0;
}

/* A list of strings at t[k] into out (strings stay alive in the table). */
static size_t str_list(lua_State *L, int t, const char *k, const char **out, size_t max)
{
  size_t n = 0, i, len;
  if(lua_getfield(L, t, k) == LUA_TTABLE) {
    len = lua_rawlen(L, -1);
    luaL_argcheck(L, len <= max, t, "too many entries in a list");
    for(i = 1; i <= len; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i);
      if(!lua_isstring(L, -1))
        luaL_argerror(L, t, lua_pushfstring(L, "%s must hold strings", k));
      out[n++] = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
  }
  else if(!lua_isnil(L, -1))
    luaL_argerror(L, t, lua_pushfstring(L, "%s must be a list", k));
  lua_pop(L, 1);
  return n;
}

/* ca:intune_token{device_id, user_id, subject, san = {"upn:..."}, key_bits, key_usage, ekus,
 * request_id, issued_at, minutes} -> base64 token */
static int c_intune_token(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  sceplab_intune_claims cl;
  sceplab_intune_keys k;
  const char *san[16], *ekus[16];
  sceplab_error err;
  char *tok;
  luaL_checktype(L, 2, LUA_TTABLE);
  memset(&cl, 0, sizeof(cl));
  cl.device_id = lserve_opt_str(L, 2, "device_id");
  cl.user_id = lserve_opt_str(L, 2, "user_id");
  cl.subject = lserve_opt_str(L, 2, "subject");
  cl.key_usage = lserve_opt_str(L, 2, "key_usage");
  cl.request_id = lserve_opt_str(L, 2, "request_id");
  cl.key_bits = lserve_opt_int(L, 2, "key_bits", 0);
  cl.minutes = lserve_opt_int(L, 2, "minutes", 0);
  if(lua_getfield(L, 2, "issued_at") != LUA_TNIL)
    cl.issued_at = (int64_t)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  cl.nsan = str_list(L, 2, "san", san, 16);
  cl.san = san;
  cl.nekus = str_list(L, 2, "ekus", ekus, 16);
  cl.ekus = ekus;
  sceplab_err_clear(&err);
  sceplab_ca_intune_keys(c->ca, &k);
  if(!(tok = sceplab_intune_token(&k, &cl, &err)))
    return sceplab_lua_fail(L, &err);
  lua_pushstring(L, tok);
  free(tok);
  return 1;
}

/* ca:intune_verify(token [, now]) -> claims | nil, message, reason code, phase, error name, hresult */
static int c_intune_verify(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  size_t n;
  const char *tok = luaL_checklstring(L, 2, &n);
  lua_Integer now = luaL_optinteger(L, 3, 0);
  sceplab_intune_failure f;
  sceplab_intune_keys k;
  sceplab_error err;
  sceplab_val *v;
  sceplab_err_clear(&err);
  sceplab_ca_intune_keys(c->ca, &k);
  if(!(v = sceplab_intune_verify(&k, tok, n, (int64_t)now, &f, &err))) {
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    lua_pushstring(L, f.code);
    lua_pushinteger(L, f.phase);
    lua_pushstring(L, f.error ? f.error : "");
    lua_pushinteger(L, (lua_Integer)f.hresult);
    return 6;
  }
  sceplab_lua_push_val(L, v);
  sceplab_val_free(v);
  return 1;
}

/* profile_check(profile) -> true | nil, message: whether the server reads a certificate profile
 * table as given (each name known, each EKU one OpenSSL knows) */
int lserve_l_profile_check(lua_State *L)
{
  sceplab_cert_profile p;
  sceplab_error err;
  luaL_checktype(L, 1, LUA_TTABLE);
  sceplab_err_clear(&err);
  lua_settop(L, 1);
  if(lserve_read_profile(L, &p, &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* ca:db_stats() -> {errors, reconnects, unavailable}: the store's database since open */
static int c_db_stats(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
  uint64_t errors = 0, reconnects = 0;
  sceplab_ca_db_stats(c->ca, &errors, &reconnects);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)errors);
  lua_setfield(L, -2, "errors");
  lua_pushinteger(L, (lua_Integer)reconnects);
  lua_setfield(L, -2, "reconnects");
  lua_pushboolean(L, sceplab_ca_unavailable(c->ca));
  lua_setfield(L, -2, "unavailable");
  return 1;
}

static const luaL_Reg ca_methods[] = {
  {"list", c_list}, {"db_stats", c_db_stats}, {"certificates", c_certificates}, {"revoke", c_revoke}, {"crl", c_crl},
  {"challenge", c_challenge}, {"use_challenge", c_use_challenge}, {"approve", c_approve}, {"reject", c_reject},
  {"once_used", c_once_used},
  {"intune_token", c_intune_token}, {"thumbprint", c_thumbprint},
  {"rollover", c_rollover}, {"tls_server", c_tls_server}, {"activate", c_activate}, {"next", c_next}, {"intune_verify", c_intune_verify}, {"close", c_close}, {NULL, NULL}
};
static const luaL_Reg ca_meta[] = {{"__gc", c_close}, {"__close", c_close}, {"__tostring", c_tostring}, {NULL, NULL}};

void lserve_ca_class(lua_State *L)
{
  sceplab_lua_newclass(L, CA_MT, ca_meta, ca_methods);
}
