/* sceplab.core.serve: the embedded CA (ca.h) as a userdata, and the SCEP server (serve.h) whose
 * challenge policy is a Lua function called on the server's own loop, which is this thread. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "lutil.h"
#include "sceplab/ca.h"
#include "sceplab/intune.h"
#include "sceplab/serve.h"

#define CA_MT "sceplab.ca"

typedef struct lca { sceplab_ca *ca; } lca;

static int opt_int(lua_State *L, int t, const char *k, int dflt)
{
  int v = dflt;
  if(lua_getfield(L, t, k) != LUA_TNIL)
    v = (int)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* A string field of the table at t; it stays alive in the table, which the caller keeps. */
static const char *opt_str(lua_State *L, int t, const char *k)
{
  const char *v = NULL;
  if(lua_getfield(L, t, k) != LUA_TNIL)
    v = luaL_checkstring(L, -1);
  lua_pop(L, 1);
  return v;
}

/* ca_init(dir [, {key, root_cn, issuing_cn, ra_subject, root_days, issuing_days, one_tier}]) -> true */
static int l_ca_init(lua_State *L)
{
  const char *dir = luaL_checkstring(L, 1);
  sceplab_ca_params p;
  sceplab_error err;
  memset(&p, 0, sizeof(p));
  p.two_tier = 1;
  if(!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    p.key = opt_str(L, 2, "key");
    p.root_cn = opt_str(L, 2, "root_cn");
    p.issuing_cn = opt_str(L, 2, "issuing_cn");
    p.ra_subject = opt_str(L, 2, "ra_subject");
    p.root_days = opt_int(L, 2, "root_days", 0);
    p.issuing_days = opt_int(L, 2, "issuing_days", 0);
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

static lca *check_ca(lua_State *L, int idx)
{
  lca *c = luaL_checkudata(L, idx, CA_MT);
  if(!c->ca)
    luaL_argerror(L, idx, "the CA is closed");
  return c;
}

/* ca_open(dir) -> ca */
/* faults() -> {{name, finding?, doc}, ...}: what the server can play (serve.h) */
static int l_faults(lua_State *L)
{
  size_t n, i;
  const sceplab_fault_info *fi = sceplab_serve_faults(&n);
  lua_createtable(L, (int)n, 0);
  for(i = 0; i < n; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, fi[i].name);
    lua_setfield(L, -2, "name");
    if(fi[i].finding) {
      lua_pushstring(L, fi[i].finding);
      lua_setfield(L, -2, "finding");
    }
    lua_pushstring(L, fi[i].doc);
    lua_setfield(L, -2, "doc");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int l_ca_open(lua_State *L)
{
  const char *dir = luaL_checkstring(L, 1);
  lca *c = lua_newuserdatauv(L, sizeof(*c), 0); /* closed until the CA is open */
  sceplab_error err;
  c->ca = NULL;
  luaL_setmetatable(L, CA_MT);
  sceplab_err_clear(&err);
  if(!(c->ca = sceplab_ca_open(dir, &err)))
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
  lca *c = check_ca(L, 1);
  sceplab_error err;
  sceplab_err_clear(&err);
  return sceplab_lua_result(L, sceplab_ca_list(c->ca, &err), &err);
}

/* ca:certificates() -> {root, issuing, ra_sign, ra_encrypt, intune_sign?} as PEM */
static int c_certificates(lua_State *L)
{
  static const char *const names[SCEPLAB_CA_TIERS] = {"root", "issuing", "ra_sign", "ra_encrypt", "intune_sign"};
  lca *c = check_ca(L, 1);
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
  lca *c = check_ca(L, 1);
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
  lca *c = check_ca(L, 1);
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
  lca *c = check_ca(L, 1);
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
  lca *c = check_ca(L, 1);
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
  lca *c = check_ca(L, 1);
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
  lca *c = check_ca(L, 1);
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
  lca *c = check_ca(L, 1);
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
  lca *c = check_ca(L, 1);
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
  lca *c = check_ca(L, 1);
  sceplab_error err;
  int rc;
  sceplab_err_clear(&err);
  rc = sceplab_ca_challenge_use(c->ca, luaL_checkstring(L, 2), &err);
  if(rc < 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, rc);
  return 1;
}

/* ca:approve(which [, days | {days, template, ekus}]) -> certificate DER: issues a pending request
 * (its transaction ID, or #N); what the CSR does not say (lifetime, template name, EKUs) is what the
 * administrator gives, the policy having answered PENDING rather than how to issue. */
#define APPROVE_MAX_EKUS 16
static int c_approve(lua_State *L)
{
  lca *c = check_ca(L, 1);
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
  lca *c = check_ca(L, 1);
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
  lca *c = check_ca(L, 1);
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

/* The server's callbacks reach Lua through this: the state and the stack slots of the policy and
 * the ready function, fixed while serve() runs. */
typedef struct lserver {
  lua_State *L;
  int policy, ready, logged;
  int ready_fd;                 /* spawn: the pipe the port is written to, or -1 */
} lserver;

/* A string field of the table on top into a fixed buffer ("" when absent). */
static void copy_field(lua_State *L, const char *k, char *out, size_t n)
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
static int read_profile(lua_State *L, sceplab_cert_profile *p, sceplab_error *err)
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

static const char *const fail_names[] = {"badAlg", "badMessageCheck", "badRequest", "badTime", "badCertId", NULL};

static int policy_cb(void *ud, const sceplab_policy_request *rq, sceplab_policy_answer *ans, sceplab_error *err)
{
  lserver *s = ud;
  lua_State *L = s->L;
  int top = lua_gettop(L), i;
  const char *decision;
  lua_pushvalue(L, s->policy);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, rq->transaction_id);
  lua_setfield(L, -2, "transaction_id");
  lua_pushstring(L, rq->message_type);
  lua_setfield(L, -2, "message_type");
  if(rq->challenge) {
    lua_pushstring(L, rq->challenge);
    lua_setfield(L, -2, "challenge");
  }
  lua_pushlstring(L, (const char *)rq->csr, rq->csr_len);
  lua_setfield(L, -2, "csr");
  if(rq->req) {
    /* the decoded request, from the parse the server made already */
    sceplab_val *doc = sceplab_csr_describe(rq->req, NULL);
    if(doc) {
      sceplab_lua_push_val(L, doc);
      sceplab_val_free(doc);
      lua_setfield(L, -2, "doc");
    }
  }
  lua_pushboolean(L, rq->renewal);
  lua_setfield(L, -2, "renewal");
  if(rq->renewal_refused) {
    lua_pushstring(L, rq->renewal_refused);
    lua_setfield(L, -2, "renewal_refused");
  }
  if(rq->client_ip) {
    lua_pushstring(L, rq->client_ip);
    lua_setfield(L, -2, "client_ip");
  }
  if(rq->user_agent) {
    lua_pushstring(L, rq->user_agent);
    lua_setfield(L, -2, "user_agent");
  }
  if(lua_pcall(L, 1, 1, 0) != LUA_OK) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "policy: %s", lua_tostring(L, -1));
    lua_settop(L, top);
    return -1;
  }
  if(!lua_istable(L, -1)) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "policy: the answer must be a table, not a %s", luaL_typename(L, -1));
    lua_settop(L, top);
    return -1;
  }
  lua_getfield(L, -1, "decision");
  decision = lua_tostring(L, -1);
  if(decision && !strcmp(decision, "allow"))
    ans->decision = SCEPLAB_POLICY_ALLOW;
  else if(decision && !strcmp(decision, "pending"))
    ans->decision = SCEPLAB_POLICY_PENDING;
  else if(decision && !strcmp(decision, "deny"))
    ans->decision = SCEPLAB_POLICY_DENY;
  else {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "policy: decision must be allow, deny or pending");
    lua_settop(L, top);
    return -1;
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "fail_info");
  if(lua_isstring(L, -1))
    for(i = 0; fail_names[i]; i++)
      if(!strcmp(fail_names[i], lua_tostring(L, -1)))
        ans->fail_info = i;
  lua_pop(L, 1);
  lua_getfield(L, -1, "reason");
  if(lua_isstring(L, -1))
    snprintf(ans->reason, sizeof(ans->reason), "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_getfield(L, -1, "days");
  if(lua_isinteger(L, -1))
    ans->days = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, -1, "template");
  if(lua_isstring(L, -1))
    snprintf(ans->template_name, sizeof(ans->template_name), "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  if(lua_getfield(L, -1, "ekus") == LUA_TTABLE) {
    size_t n = lua_rawlen(L, -1), k;
    for(k = 1; k <= n && ans->nekus < 8; k++) {
      lua_rawgeti(L, -1, (lua_Integer)k);
      if(lua_isstring(L, -1))
        snprintf(ans->ekus[ans->nekus++], sizeof(ans->ekus[0]), "%s", lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "event");
  if(lua_isinteger(L, -1))
    ans->event = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if(lua_getfield(L, -1, "profile") == LUA_TTABLE && read_profile(L, &ans->profile, err) != 0) {
    lua_settop(L, top);
    return -1;
  }
  ans->has_profile = lua_istable(L, -1);
  lua_pop(L, 1);
  copy_field(L, "device_id", ans->device_id, sizeof(ans->device_id));
  copy_field(L, "user_id", ans->user_id, sizeof(ans->user_id));
  copy_field(L, "request_id", ans->request_id, sizeof(ans->request_id));
  /* phases = {{phase = n, ok = bool, message = s, code = s}, ...} */
  if(lua_getfield(L, -1, "phases") == LUA_TTABLE) {
    size_t n = lua_rawlen(L, -1), k;
    for(k = 1; k <= n && ans->nphases < 4; k++) {
      if(lua_rawgeti(L, -1, (lua_Integer)k) == LUA_TTABLE) {
        size_t j = ans->nphases++;
        lua_getfield(L, -1, "phase");
        ans->phases[j].phase = (int)lua_tointeger(L, -1);
        lua_getfield(L, -2, "ok");
        ans->phases[j].ok = lua_toboolean(L, -1);
        lua_pop(L, 2);
        copy_field(L, "message", ans->phases[j].message, sizeof(ans->phases[j].message));
        copy_field(L, "code", ans->phases[j].code, sizeof(ans->phases[j].code));
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
  return 0;
}

static void ready_cb(void *ud, unsigned port)
{
  lserver *s = ud;
  int top = lua_gettop(s->L);
  if(s->ready_fd >= 0) {
    char b[16];
    int n = snprintf(b, sizeof(b), "%u\n", port);
    if(write(s->ready_fd, b, (size_t)n) != n)
      _exit(1);
    close(s->ready_fd);
    s->ready_fd = -1;
  }
  if(!s->ready)
    return;
  lua_pushvalue(s->L, s->ready);
  lua_pushinteger(s->L, (lua_Integer)port);
  if(lua_pcall(s->L, 1, 0, 0) != LUA_OK)
    fprintf(stderr, "sceplab: ready: %s\n", lua_tostring(s->L, -1));
  lua_settop(s->L, top);
}

/* The server's warnings (connections refused, out of descriptors), rate-limited by the server */
static void warn_cb(void *ud, const char *line)
{
  (void)ud;
  fprintf(stderr, "sceplab: %s\n", line);
}

static void logged_cb(void *ud, const char *line)
{
  lserver *s = ud;
  int top = lua_gettop(s->L);
  if(!s->logged)
    return;
  lua_pushvalue(s->L, s->logged);
  lua_pushstring(s->L, line);
  if(lua_pcall(s->L, 1, 0, 0) != LUA_OK)
    fprintf(stderr, "sceplab: log: %s\n", lua_tostring(s->L, -1));
  lua_settop(s->L, top);
}

/* serve(ca, opts, policy) -> true when stopped by a signal | nil, message, code
 * opts: {bind, port, tls_cert, tls_key, caps, ca_only, allow_des, log_dir, max_body, connector, crs_hold, host,
 * admin_page, admin_user, admin_password, admin_get_compat, password_max, max_connections, max_per_client,
 * header_timeout, body_timeout, idle_timeout (seconds), ready = f(port), logged = f(line)} */
/* The server's parameters from opts (stack index 2) and the policy (3); ready and logged
 * functions, when given, are pushed at 4 and 5. */
static void serve_params(lua_State *L, lca *c, sceplab_serve_params *p, lserver *s)
{
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  memset(p, 0, sizeof(*p));
  memset(s, 0, sizeof(*s));
  s->L = L;
  s->policy = 3;
  s->ready_fd = -1;
  lua_getfield(L, 2, "ready"); /* 4 */
  s->ready = lua_isfunction(L, 4) ? 4 : 0;
  lua_getfield(L, 2, "logged"); /* 5 */
  s->logged = lua_isfunction(L, 5) ? 5 : 0;
  p->ca = c->ca;
  p->bind = opt_str(L, 2, "bind");
  p->port = (unsigned)opt_int(L, 2, "port", 0);
  luaL_argcheck(L, p->port <= 65535, 2, "port must be 0..65535");
  p->tls_cert = opt_str(L, 2, "tls_cert");
  p->tls_key = opt_str(L, 2, "tls_key");
  p->caps = opt_str(L, 2, "caps");
  p->log_dir = opt_str(L, 2, "log_dir");
  p->max_body = (size_t)opt_int(L, 2, "max_body", 0);
  lua_getfield(L, 2, "ca_only");
  p->ca_only = lua_toboolean(L, -1);
  lua_getfield(L, 2, "allow_des");
  p->allow_des = lua_toboolean(L, -1);
  lua_getfield(L, 2, "connector");
  p->connector = lua_toboolean(L, -1);
  lua_getfield(L, 2, "crs_hold");
  p->crs_hold = lua_toboolean(L, -1);
  lua_getfield(L, 2, "admin_page");
  p->admin_page = lua_toboolean(L, -1);
  lua_getfield(L, 2, "admin_get_compat");
  p->admin_get_compat = lua_toboolean(L, -1);
  lua_pop(L, 6);
  p->host = opt_str(L, 2, "host");
  p->admin_user = opt_str(L, 2, "admin_user");
  p->clock_file = opt_str(L, 2, "clock_file");
  p->admin_password = opt_str(L, 2, "admin_password");
  p->password_max = opt_int(L, 2, "password_max", 0);
  p->ca_latency_ms = opt_int(L, 2, "ca_latency_ms", 0);
  luaL_argcheck(L, p->ca_latency_ms >= 0 && p->ca_latency_ms <= 600000, 2, "ca_latency_ms must be 0..600000");
  {
    static const char *const limits[] = {"max_connections", "max_per_client", "header_timeout", "body_timeout",
                                         "idle_timeout"};
    unsigned *slots[] = {&p->max_connections, &p->max_per_client, &p->header_timeout, &p->body_timeout,
                         &p->idle_timeout};
    size_t i;
    for(i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
      int v = opt_int(L, 2, limits[i], 0);
      luaL_argcheck(L, v >= 0 && v <= 1000000, 2, lua_pushfstring(L, "%s must be 0..1000000", limits[i]));
      *slots[i] = (unsigned)v;
    }
  }
  if(lua_getfield(L, 2, "faults") == LUA_TTABLE) {
    size_t nf, k, i, len = lua_rawlen(L, -1);
    const sceplab_fault_info *fi = sceplab_serve_faults(&nf);
    for(k = 1; k <= len; k++) {
      const char *name;
      lua_rawgeti(L, -1, (lua_Integer)k);
      name = lua_tostring(L, -1);
      for(i = 0; name && i < nf && strcmp(fi[i].name, name) != 0; i++)
        ;
      if(!name || i == nf)
        luaL_argerror(L, 2, lua_pushfstring(L, "faults[%d]: unknown fault '%s'", (int)k, name ? name : "?"));
      p->faults |= fi[i].bit;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  p->policy = policy_cb;
  p->policy_ud = s;
  p->ready = ready_cb;
  p->logged = logged_cb;
  p->warn = warn_cb;
  p->ud = s;
}

static int l_serve(lua_State *L)
{
  lca *c = check_ca(L, 1);
  sceplab_serve_params p;
  lserver s;
  sceplab_error err;
  serve_params(L, c, &p, &s);
  sceplab_err_clear(&err);
  if(sceplab_serve(&p, &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- a server in a child process (sceplab replay drives devices against it) ---------------- */

#define SERVER_MT "sceplab.server"

typedef struct lspawned { pid_t pid; unsigned port; } lspawned;

static void spawned_stop(lspawned *u)
{
  if(u->pid > 0) {
    int st;
    kill(u->pid, SIGTERM);
    while(waitpid(u->pid, &st, 0) < 0 && errno == EINTR)
      ;
    u->pid = -1;
  }
}

static int m_server_stop(lua_State *L)
{
  lspawned *u = luaL_checkudata(L, 1, SERVER_MT);
  spawned_stop(u);
  return 0;
}

static int m_server_port(lua_State *L)
{
  lspawned *u = luaL_checkudata(L, 1, SERVER_MT);
  lua_pushinteger(L, (lua_Integer)u->port);
  return 1;
}

static int m_server_tostring(lua_State *L)
{
  lspawned *u = luaL_checkudata(L, 1, SERVER_MT);
  if(u->pid > 0)
    lua_pushfstring(L, "sceplab.server (pid %d, port %d)", (int)u->pid, (int)u->port);
  else
    lua_pushliteral(L, "sceplab.server (stopped)");
  return 1;
}

/* spawn(ca, opts, policy) -> server | nil, message: serve() in a child process (fork), returned
 * once it listens; server:port(), server:stop() (SIGTERM, then waits; also at __close and __gc).
 * The policy runs in the child, on a copy of this state. */
static int l_spawn(lua_State *L)
{
  lca *c = check_ca(L, 1);
  sceplab_serve_params p;
  lserver s;
  lspawned *u;
  int fds[2];
  char buf[16];
  ssize_t n = 0;
  struct pollfd pfd;
  serve_params(L, c, &p, &s);
  u = lua_newuserdatauv(L, sizeof(*u), 0); /* stopped until the child listens */
  u->pid = -1;
  u->port = 0;
  luaL_setmetatable(L, SERVER_MT);
  if(pipe(fds) != 0)
    return luaL_fileresult(L, 0, "pipe");
  fflush(NULL);
  u->pid = fork();
  if(u->pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return luaL_fileresult(L, 0, "fork");
  }
  if(u->pid == 0) {
    sceplab_error err;
    sceplab_ca *own;
    close(fds[0]);
    s.ready_fd = fds[1];
    sceplab_err_clear(&err);
    /* an SQLite connection must not cross a fork: the child opens the CA afresh, for the server
     * and for the policy's ca userdata (the inherited connection is left untouched) */
    if(!(own = sceplab_ca_open(sceplab_ca_dir(c->ca), &err))) {
      fprintf(stderr, "sceplab: %s\n", err.msg);
      _exit(1);
    }
    c->ca = own;
    p.ca = own;
    if(sceplab_serve(&p, &err) != 0) {
      fprintf(stderr, "sceplab: %s\n", err.msg);
      _exit(1);
    }
    _exit(0);
  }
  close(fds[1]);
  pfd.fd = fds[0];
  pfd.events = POLLIN;
  if(poll(&pfd, 1, 10000) == 1)
    n = read(fds[0], buf, sizeof(buf) - 1);
  close(fds[0]);
  if(n <= 0) {
    spawned_stop(u);
    lua_pushnil(L);
    lua_pushliteral(L, "the server did not start (see its error above)");
    return 2;
  }
  buf[n] = '\0';
  u->port = (unsigned)strtoul(buf, NULL, 10);
  return 1;
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
  lca *c = check_ca(L, 1);
  sceplab_intune_claims cl;
  sceplab_intune_keys k;
  const char *san[16], *ekus[16];
  sceplab_error err;
  char *tok;
  luaL_checktype(L, 2, LUA_TTABLE);
  memset(&cl, 0, sizeof(cl));
  cl.device_id = opt_str(L, 2, "device_id");
  cl.user_id = opt_str(L, 2, "user_id");
  cl.subject = opt_str(L, 2, "subject");
  cl.key_usage = opt_str(L, 2, "key_usage");
  cl.request_id = opt_str(L, 2, "request_id");
  cl.key_bits = opt_int(L, 2, "key_bits", 0);
  cl.minutes = opt_int(L, 2, "minutes", 0);
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
  lca *c = check_ca(L, 1);
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

static const luaL_Reg ca_methods[] = {
  {"list", c_list}, {"certificates", c_certificates}, {"revoke", c_revoke}, {"crl", c_crl},
  {"challenge", c_challenge}, {"use_challenge", c_use_challenge}, {"approve", c_approve}, {"reject", c_reject},
  {"once_used", c_once_used},
  {"intune_token", c_intune_token}, {"thumbprint", c_thumbprint},
  {"rollover", c_rollover}, {"tls_server", c_tls_server}, {"activate", c_activate}, {"next", c_next}, {"intune_verify", c_intune_verify}, {"close", c_close}, {NULL, NULL}
};
static const luaL_Reg ca_meta[] = {{"__gc", c_close}, {"__close", c_close}, {"__tostring", c_tostring}, {NULL, NULL}};
/* profile_check(profile) -> true | nil, message: whether the server reads a certificate profile
 * table as given (each name known, each EKU one OpenSSL knows) */
static int l_profile_check(lua_State *L)
{
  sceplab_cert_profile p;
  sceplab_error err;
  luaL_checktype(L, 1, LUA_TTABLE);
  sceplab_err_clear(&err);
  lua_settop(L, 1);
  if(read_profile(L, &p, &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg funcs[] = {{"ca_init", l_ca_init}, {"ca_open", l_ca_open}, {"serve", l_serve}, {"spawn", l_spawn}, {"faults", l_faults},
                                 {"profile_check", l_profile_check}, {NULL, NULL}};
static const luaL_Reg server_methods[] = {{"port", m_server_port}, {"stop", m_server_stop}, {NULL, NULL}};
static const luaL_Reg server_meta[] = {{"__gc", m_server_stop}, {"__close", m_server_stop}, {"__tostring", m_server_tostring},
                                       {NULL, NULL}};

int luaopen_sceplab_core_serve(lua_State *L)
{
  sceplab_lua_newclass(L, CA_MT, ca_meta, ca_methods);
  sceplab_lua_newclass(L, SERVER_MT, server_meta, server_methods);
  luaL_newlib(L, funcs);
  return 1;
}
