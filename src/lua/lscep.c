/* sceplab.core.scep: the SCEP protocol primitives the Lua client is built from. Certificates cross
 * the boundary as PEM strings, keys as sceplab.pkey userdata, messages as DER strings. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "lutil.h"

/* Parsed certificates, by the PEM/DER string they came from, in a weak-valued registry table: one
 * enrollment hands the same CA and signer certificates to build and verify several times, and
 * OpenSSL 3.0 spends about 0.15 ms decoding each certificate's public key. */
#define CERT_CACHE "sceplab.certcache"
#define CERT_BOX "sceplab.certbox"

static int certbox_gc(lua_State *L)
{
  X509 **box = luaL_checkudata(L, 1, CERT_BOX);
  X509_free(*box);
  *box = NULL;
  return 0;
}

/* Pushes the cache table, creating it (and the box metatable) on first use. */
static void push_cert_cache(lua_State *L)
{
  if(lua_getfield(L, LUA_REGISTRYINDEX, CERT_CACHE) == LUA_TTABLE)
    return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, CERT_CACHE);
  {
    static const luaL_Reg box_meta[] = {{"__gc", certbox_gc}, {NULL, NULL}};
    sceplab_lua_newclass(L, CERT_BOX, box_meta, NULL);
  }
}

/* The certificate in the string at idx, with a reference the caller frees. */
static X509 *check_cert(lua_State *L, int idx, const char *what)
{
  size_t n;
  const char *s = luaL_checklstring(L, idx, &n);
  sceplab_error err;
  X509 *x, **box;
  idx = lua_absindex(L, idx);
  push_cert_cache(L);
  lua_pushvalue(L, idx);
  if(lua_rawget(L, -2) == LUA_TUSERDATA) {
    x = *(X509 **)lua_touserdata(L, -1);
    lua_pop(L, 2);
    X509_up_ref(x);
    return x;
  }
  lua_pop(L, 1);
  /* The box exists (closed) before the certificate does, so a memory error leaks nothing. */
  box = lua_newuserdatauv(L, sizeof(*box), 0);
  *box = NULL;
  luaL_setmetatable(L, CERT_BOX);
  x = sceplab_scep_cert_load((const unsigned char *)s, n, &err);
  if(!x)
    luaL_error(L, "%s: %s", what, err.msg);
  *box = x;
  lua_pushvalue(L, idx);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);
  lua_pop(L, 2);
  X509_up_ref(x);
  return x;
}

/* Field of the table at idx as an X509 (PEM string), or NULL when absent. */
static X509 *field_cert(lua_State *L, int idx, const char *field)
{
  X509 *x = NULL;
  if(lua_getfield(L, idx, field) != LUA_TNIL)
    x = check_cert(L, -1, field);
  lua_pop(L, 1);
  return x;
}

static const char *field_str(lua_State *L, int idx, const char *field, const char *def)
{
  const char *s = def;
  int t = lua_getfield(L, idx, field);
  if(t == LUA_TSTRING)
    s = lua_tostring(L, -1);
  else if(t != LUA_TNIL)
    luaL_error(L, "field '%s' must be a string", field);
  lua_pop(L, 1); /* the string stays alive: it is still referenced by the table */
  return s;
}

/* Reads a Lua array of strings at t[field] into a malloc'd array (entries owned by the table).
 * Types are checked before anything is allocated, so a raised error leaks nothing. */
static const char **field_strings(lua_State *L, int idx, const char *field, size_t *n)
{
  const char **out = NULL;
  size_t i, len;
  *n = 0;
  if(lua_getfield(L, idx, field) == LUA_TTABLE) {
    len = lua_rawlen(L, -1);
    for(i = 1; i <= len; i++) {
      int t = lua_rawgeti(L, -1, (lua_Integer)i);
      lua_pop(L, 1);
      if(t != LUA_TSTRING)
        luaL_error(L, "field '%s' entry %d must be a string", field, (int)i);
    }
    out = calloc(len + 1, sizeof(*out));
    for(i = 0; out && i < len; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i + 1);
      out[i] = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
    *n = out ? len : 0;
  }
  lua_pop(L, 1);
  return out;
}

/* csr(key, {subject, san = {{type, value}}, eku = {}, key_usage = {}, challenge, template, digest}) */
static int l_csr(lua_State *L)
{
  EVP_PKEY *k = sceplab_lua_checkpkey(L, 1);
  sceplab_csr_params p;
  sceplab_san *sans = NULL;
  sceplab_error err;
  unsigned char *der;
  size_t len = 0, i;
  memset(&p, 0, sizeof(p));
  luaL_checktype(L, 2, LUA_TTABLE);
  p.subject = field_str(L, 2, "subject", "");
  p.challenge = field_str(L, 2, "challenge", NULL);
  p.template_name = field_str(L, 2, "template", NULL);
  p.digest = field_str(L, 2, "digest", "sha256");
  if(lua_getfield(L, 2, "san") == LUA_TTABLE) {
    p.nsans = lua_rawlen(L, -1);
    sans = calloc(p.nsans + 1, sizeof(*sans));
    for(i = 0; sans && i < p.nsans; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i + 1);
      if(!lua_istable(L, -1)) {
        free(sans);
        return luaL_error(L, "field 'san' entry %d must be {type = ..., value = ...}", (int)i + 1);
      }
      sans[i].type = field_str(L, -1, "type", "");
      sans[i].value = field_str(L, -1, "value", "");
      lua_pop(L, 1);
    }
    p.sans = sans;
  }
  lua_pop(L, 1);
  p.ekus = field_strings(L, 2, "eku", &p.nekus);
  p.key_usage = field_strings(L, 2, "key_usage", &p.nkey_usage);
  sceplab_err_clear(&err);
  der = sceplab_csr_build(&p, k, &len, &err);
  free(sans);
  free((void *)p.ekus);
  free((void *)p.key_usage);
  if(!der)
    return sceplab_lua_fail(L, &err);
  lua_pushlstring(L, (const char *)der, len);
  free(der);
  return 1;
}

/* selfsigned(key, subject_dn [, digest]) -> PEM */
static int l_selfsigned(lua_State *L)
{
  EVP_PKEY *k = sceplab_lua_checkpkey(L, 1);
  const char *dn = luaL_optstring(L, 2, "");
  const char *digest = luaL_optstring(L, 3, "sha256");
  sceplab_error err;
  X509_NAME *name;
  X509 *x;
  char *pem;
  sceplab_err_clear(&err);
  name = sceplab_dn_parse(dn, &err);
  if(!name)
    return sceplab_lua_fail(L, &err);
  x = sceplab_selfsigned(k, name, digest, &err);
  X509_NAME_free(name);
  if(!x)
    return sceplab_lua_fail(L, &err);
  pem = sceplab_cert_pem(x);
  X509_free(x);
  lua_pushstring(L, pem);
  free(pem);
  return 1;
}

/* build{type, content, recipient, cipher, oaep, digest, signer_cert, signer_key, transaction_id, nonce} */
static int l_build(lua_State *L)
{
  sceplab_pkimsg_params p;
  sceplab_error err;
  size_t clen = 0, nlen = 0, len = 0;
  unsigned char *der;
  memset(&p, 0, sizeof(p));
  p.pki_status = -1;
  p.fail_info = -1;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "type");
  p.message_type = (int)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "content");
  p.content = (const unsigned char *)luaL_checklstring(L, -1, &clen);
  p.content_len = clen;
  lua_pop(L, 1);
  lua_getfield(L, 1, "nonce");
  p.sender_nonce = (const unsigned char *)luaL_checklstring(L, -1, &nlen);
  if(nlen != SCEPLAB_NONCE_LEN)
    return luaL_error(L, "field 'nonce' must be %d bytes", SCEPLAB_NONCE_LEN);
  lua_pop(L, 1);
  lua_getfield(L, 1, "signer_key");
  p.signer_key = sceplab_lua_checkpkey(L, -1);
  lua_pop(L, 1);
  p.cipher = field_str(L, 1, "cipher", "aes128");
  p.digest = field_str(L, 1, "digest", "sha256");
  p.transaction_id = field_str(L, 1, "transaction_id", NULL);
  if(!p.transaction_id)
    return luaL_error(L, "field 'transaction_id' is required");
  lua_getfield(L, 1, "oaep");
  p.oaep = lua_toboolean(L, -1);
  lua_pop(L, 1);
  p.recipient = field_cert(L, 1, "recipient");
  p.signer_cert = field_cert(L, 1, "signer_cert");
  if(!p.recipient || !p.signer_cert) {
    X509_free(p.recipient);
    X509_free(p.signer_cert);
    return luaL_error(L, "fields 'recipient' and 'signer_cert' are required");
  }
  sceplab_err_clear(&err);
  der = sceplab_pkimsg_build(&p, &len, &err);
  X509_free(p.recipient);
  X509_free(p.signer_cert);
  if(!der) {
    if(err.code == SCEPLAB_E_USAGE)
      return luaL_error(L, "%s", err.msg);
    return sceplab_lua_fail(L, &err);
  }
  lua_pushlstring(L, (const char *)der, len);
  free(der);
  return 1;
}

/* verify_reply(der, {transaction_id, nonce, signers = {pem...}, key, cert, request_key}) */
static int l_verify_reply(lua_State *L)
{
  size_t n, nlen = 0, i, count;
  const char *der = luaL_checklstring(L, 1, &n);
  sceplab_reply_expect x;
  STACK_OF(X509) *signers = sk_X509_new_null();
  sceplab_error err;
  sceplab_val *v;
  memset(&x, 0, sizeof(x));
  luaL_checktype(L, 2, LUA_TTABLE);
  x.transaction_id = field_str(L, 2, "transaction_id", NULL);
  lua_getfield(L, 2, "nonce");
  x.sender_nonce = (const unsigned char *)lua_tolstring(L, -1, &nlen);
  lua_pop(L, 1);
  if(!x.sender_nonce || nlen != SCEPLAB_NONCE_LEN) {
    sk_X509_free(signers);
    return luaL_error(L, "field 'nonce' must be the %d-byte senderNonce we sent", SCEPLAB_NONCE_LEN);
  }
  lua_getfield(L, 2, "key");
  x.key = sceplab_lua_checkpkey(L, -1);
  lua_pop(L, 1);
  if(lua_getfield(L, 2, "request_key") != LUA_TNIL)
    x.request_key = sceplab_lua_checkpkey(L, -1);
  lua_pop(L, 1);
  if(lua_getfield(L, 2, "signers") == LUA_TTABLE) {
    count = lua_rawlen(L, -1);
    for(i = 1; i <= count; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i);
      sk_X509_push(signers, check_cert(L, -1, "signers"));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  x.signers = signers;
  x.cert = field_cert(L, 2, "cert");
  sceplab_err_clear(&err);
  v = sceplab_reply_verify((const unsigned char *)der, n, &x, &err);
  X509_free(x.cert);
  sk_X509_pop_free(signers, X509_free);
  return sceplab_lua_result(L, v, &err);
}

/* next_ca(der, {signer_pem, ...}) -> {certificates, signer} | nil, message, code */
static int l_next_ca(lua_State *L)
{
  size_t n, i, count;
  const char *der = luaL_checklstring(L, 1, &n);
  STACK_OF(X509) *signers;
  sceplab_error err;
  sceplab_val *v;
  luaL_checktype(L, 2, LUA_TTABLE);
  count = lua_rawlen(L, 2);
  for(i = 1; i <= count; i++) { /* types first: a raised error then leaks nothing */
    if(lua_rawgeti(L, 2, (lua_Integer)i) != LUA_TSTRING)
      return luaL_argerror(L, 2, "signers must be PEM strings");
    lua_pop(L, 1);
  }
  signers = sk_X509_new_null();
  for(i = 1; signers && i <= count; i++) {
    lua_rawgeti(L, 2, (lua_Integer)i);
    sk_X509_push(signers, check_cert(L, -1, "signers"));
    lua_pop(L, 1);
  }
  sceplab_err_clear(&err);
  v = signers ? sceplab_next_ca_verify((const unsigned char *)der, n, signers, &err) : NULL;
  if(!signers)
    sceplab_err_set(&err, SCEPLAB_E_NOMEM, "out of memory");
  sk_X509_pop_free(signers, X509_free);
  return sceplab_lua_result(L, v, &err);
}

static int l_caps(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  sceplab_val *v = sceplab_caps_parse(s, n);
  sceplab_lua_push_val(L, v);
  sceplab_val_free(v);
  return 1;
}

static int l_ca_select(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  sceplab_error err;
  sceplab_err_clear(&err);
  return sceplab_lua_result(L, sceplab_ca_select((const unsigned char *)s, n, lua_toboolean(L, 2), &err), &err);
}

static int l_nonce(lua_State *L)
{
  unsigned char b[SCEPLAB_NONCE_LEN];
  if(RAND_bytes(b, sizeof(b)) != 1)
    return luaL_error(L, "no randomness available");
  lua_pushlstring(L, (const char *)b, sizeof(b));
  return 1;
}

static int push_owned_der(lua_State *L, unsigned char *der, size_t len)
{
  if(!der)
    return luaL_error(L, "cannot encode");
  lua_pushlstring(L, (const char *)der, len);
  free(der);
  return 1;
}

/* issuer_and_subject(ca_pem, subject_dn) -> DER, for CertPoll */
static int l_issuer_and_subject(lua_State *L)
{
  X509 *ca = check_cert(L, 1, "issuer");
  sceplab_error err;
  X509_NAME *subject = sceplab_dn_parse(luaL_optstring(L, 2, ""), &err);
  size_t len = 0;
  unsigned char *der;
  if(!subject) {
    X509_free(ca);
    return luaL_error(L, "%s", err.msg);
  }
  der = sceplab_issuer_and_subject(X509_get_subject_name(ca), subject, &len);
  X509_free(ca);
  X509_NAME_free(subject);
  return push_owned_der(L, der, len);
}

/* issuer_and_serial(ca_pem, serial_hex) -> DER for GetCert; issuer_and_serial(cert_pem) -> the
 * certificate's own issuer and serial, for GetCRL */
static int l_issuer_and_serial(lua_State *L)
{
  X509 *x = check_cert(L, 1, "certificate");
  size_t len = 0;
  unsigned char *der;
  if(lua_isnoneornil(L, 2))
    der = sceplab_issuer_and_serial(X509_get_issuer_name(x), X509_get0_serialNumber(x), &len);
  else {
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai;
    if(!BN_hex2bn(&bn, luaL_checkstring(L, 2))) {
      X509_free(x);
      return luaL_argerror(L, 2, "serial must be hex");
    }
    ai = BN_to_ASN1_INTEGER(bn, NULL);
    der = sceplab_issuer_and_serial(X509_get_subject_name(x), ai, &len);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
  }
  X509_free(x);
  return push_owned_der(L, der, len);
}

/* describe(pem_or_der) -> the certificates document of the first certificate */
static int l_fingerprints(lua_State *L)
{
  X509 *x = check_cert(L, 1, "certificate");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char *h;
  lua_createtable(L, 0, 2);
  X509_digest(x, EVP_sha1(), md, &mdlen);
  h = sceplab_hex_encode(md, mdlen, 1);
  lua_pushstring(L, h);
  lua_setfield(L, -2, "sha1");
  free(h);
  X509_digest(x, EVP_sha256(), md, &mdlen);
  h = sceplab_hex_encode(md, mdlen, 1);
  lua_pushstring(L, h);
  lua_setfield(L, -2, "sha256");
  free(h);
  X509_free(x);
  return 1;
}

/* chains_to(cert_pem, root_pem [, {untrusted_pem...}]) -> true | false, reason: whether cert
 * builds a chain to root (trusted as the only anchor) through the untrusted certificates, as a
 * device checks the CA of GetCACert against the root its CAThumbprint names. Times are not
 * checked here: expiry has its own message. Everything is held by a userdata made before any of
 * it, so an argument that raises leaks nothing. */
#define CHAIN_MT "sceplab.chaincheck"

typedef struct {
  X509 *cert, *root;
  STACK_OF(X509) *untrusted;
  X509_STORE *store;
  X509_STORE_CTX *ctx;
} chain_check;

static void chain_check_free(chain_check *c)
{
  X509_STORE_CTX_free(c->ctx);
  X509_STORE_free(c->store);
  sk_X509_pop_free(c->untrusted, X509_free);
  X509_free(c->cert);
  X509_free(c->root);
  memset(c, 0, sizeof(*c));
}

static int chain_check_gc(lua_State *L)
{
  chain_check_free(luaL_checkudata(L, 1, CHAIN_MT));
  return 0;
}

static int l_chains_to(lua_State *L)
{
  static const luaL_Reg meta[] = {{"__gc", chain_check_gc}, {NULL, NULL}};
  chain_check *c;
  int ok, i, n = lua_istable(L, 3) ? (int)lua_rawlen(L, 3) : 0;
  sceplab_lua_newclass(L, CHAIN_MT, meta, NULL);
  c = lua_newuserdatauv(L, sizeof(*c), 0);
  memset(c, 0, sizeof(*c));
  luaL_setmetatable(L, CHAIN_MT);
  c->untrusted = sk_X509_new_null();
  c->store = X509_STORE_new();
  c->ctx = X509_STORE_CTX_new();
  if(!c->untrusted || !c->store || !c->ctx)
    return luaL_error(L, "out of memory");
  c->cert = check_cert(L, 1, "certificate");
  c->root = check_cert(L, 2, "root");
  for(i = 1; i <= n; i++) {
    X509 *u;
    lua_rawgeti(L, 3, i);
    u = check_cert(L, -1, "untrusted certificate");
    lua_pop(L, 1);
    if(!sk_X509_push(c->untrusted, u)) {
      X509_free(u);
      return luaL_error(L, "out of memory");
    }
  }
  if(!X509_STORE_add_cert(c->store, c->root) || !X509_STORE_CTX_init(c->ctx, c->store, c->cert, c->untrusted))
    return luaL_error(L, "out of memory");
  X509_STORE_CTX_set_flags(c->ctx, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN);
  ok = X509_verify_cert(c->ctx) == 1;
  lua_pushboolean(L, ok);
  lua_pushstring(L, ok ? "" : X509_verify_cert_error_string(X509_STORE_CTX_get_error(c->ctx)));
  chain_check_free(c);
  return 2;
}

static const luaL_Reg funcs[] = {
  {"csr", l_csr}, {"chains_to", l_chains_to}, {"selfsigned", l_selfsigned}, {"build", l_build}, {"verify_reply", l_verify_reply},
  {"next_ca", l_next_ca},
  {"caps", l_caps}, {"ca_select", l_ca_select}, {"nonce", l_nonce},
  {"issuer_and_subject", l_issuer_and_subject}, {"issuer_and_serial", l_issuer_and_serial},
  {"fingerprints", l_fingerprints}, {NULL, NULL}
};

int luaopen_sceplab_core_scep(lua_State *L)
{
  static const struct { sceplab_scep_names kind; const char *field; } tables[] = {
    {SCEPLAB_NAMES_MESSAGE_TYPE, "message_types"}, {SCEPLAB_NAMES_PKI_STATUS, "pki_statuses"},
    {SCEPLAB_NAMES_FAIL_INFO, "fail_infos"}};
  size_t t, i;
  luaL_newlib(L, funcs);
  /* SCEP's numbers by name, both ways, from the one C table: core.PKCSREQ == 19,
   * core.message_types[19] == "PKCSReq", core.message_types.PKCSReq == 19 */
  for(t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
    const char *name;
    int code;
    lua_newtable(L);
    for(i = 0; (name = sceplab_scep_name_at(tables[t].kind, i, &code)) != NULL; i++) {
      char upper[32];
      size_t k;
      lua_pushstring(L, name);
      lua_rawseti(L, -2, code);
      lua_pushinteger(L, code);
      lua_setfield(L, -2, name);
      if(tables[t].kind == SCEPLAB_NAMES_MESSAGE_TYPE) {
        for(k = 0; name[k] && k + 1 < sizeof(upper); k++)
          upper[k] = (char)toupper((unsigned char)name[k]);
        upper[k] = '\0';
        lua_pushinteger(L, code);
        lua_setfield(L, -3, upper);
      }
    }
    lua_setfield(L, -2, tables[t].field);
  }
  return 1;
}
