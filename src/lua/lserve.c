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

#include "lserve.h"

/* faults() -> {{name, finding?, doc, stage}, ...}: what the server can play (serve.h), and the stage
 * each plays at */
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
    lua_pushstring(L, fi[i].stage);
    lua_setfield(L, -2, "stage");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* ca:approve(which [, days | {days, template, ekus}]) -> certificate DER: issues a pending request
 * (its transaction ID, or #N); what the CSR does not say (lifetime, template name, EKUs) is what the
 * administrator gives, the policy having answered PENDING rather than how to issue. */

/* The server's callbacks reach Lua through this: the state and the stack slots of the policy and
 * the ready function, fixed while serve() runs. */

typedef struct lserver {
  lua_State *L;
  int policy, ready, logged, outcome, tick, wake, reload, pending;
  int ready_fd;                 /* spawn: the pipe the port is written to, or -1 */
} lserver;

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
  else if(decision && !strcmp(decision, "defer"))
    ans->decision = SCEPLAB_POLICY_DEFER;
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
  if(lua_getfield(L, -1, "profile") == LUA_TTABLE && lserve_read_profile(L, &ans->profile, err) != 0) {
    lua_settop(L, top);
    return -1;
  }
  ans->has_profile = lua_istable(L, -1);
  lua_pop(L, 1);
  lserve_copy_field(L, "device_id", ans->device_id, sizeof(ans->device_id));
  lserve_copy_field(L, "user_id", ans->user_id, sizeof(ans->user_id));
  lserve_copy_field(L, "request_id", ans->request_id, sizeof(ans->request_id));
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
        lserve_copy_field(L, "message", ans->phases[j].message, sizeof(ans->phases[j].message));
        lserve_copy_field(L, "code", ans->phases[j].code, sizeof(ans->phases[j].code));
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

/* outcome(transaction_id, certificate DER | nil, refusal HRESULT, why): what the CA did with a
 * request the policy allowed */
static void issued_cb(void *ud, const char *tid, X509 *cert, unsigned refusal, const char *why)
{
  lserver *s = ud;
  int top = lua_gettop(s->L), n;
  unsigned char *der = NULL;
  lua_pushvalue(s->L, s->outcome);
  lua_pushstring(s->L, tid);
  if(cert && (n = i2d_X509(cert, &der)) > 0) {
    lua_pushlstring(s->L, (const char *)der, (size_t)n);
    OPENSSL_free(der);
  } else
    lua_pushnil(s->L);
  lua_pushinteger(s->L, (lua_Integer)refusal);
  lua_pushstring(s->L, why ? why : "");
  if(lua_pcall(s->L, 4, 0, 0) != LUA_OK)
    fprintf(stderr, "sceplab: outcome: %s\n", lua_tostring(s->L, -1));
  lua_settop(s->L, top);
}

static void wake_cb(void *ud)
{
  lserver *s = ud;
  int top = lua_gettop(s->L);
  lua_pushvalue(s->L, s->wake);
  if(lua_pcall(s->L, 0, 0, 0) != LUA_OK)
    fprintf(stderr, "sceplab: wake: %s\n", lua_tostring(s->L, -1));
  lua_settop(s->L, top);
}

static int pending_cb(void *ud)
{
  lserver *s = ud;
  int top = lua_gettop(s->L), n = 0;
  lua_pushvalue(s->L, s->pending);
  if(lua_pcall(s->L, 0, 1, 0) != LUA_OK)
    fprintf(stderr, "sceplab: pending: %s\n", lua_tostring(s->L, -1));
  else
    n = (int)lua_tointeger(s->L, -1);
  lua_settop(s->L, top);
  return n;
}

static void tick_cb(void *ud)
{
  lserver *s = ud;
  int top = lua_gettop(s->L);
  lua_pushvalue(s->L, s->tick);
  if(lua_pcall(s->L, 0, 0, 0) != LUA_OK)
    fprintf(stderr, "sceplab: tick: %s\n", lua_tostring(s->L, -1));
  lua_settop(s->L, top);
}

/* SIGHUP in a single process: opts.reload(), which reads the policy again */
static void reload_cb(void *ud)
{
  lserver *s = ud;
  int top = lua_gettop(s->L);
  lua_pushvalue(s->L, s->reload);
  if(lua_pcall(s->L, 0, 0, 0) != LUA_OK)
    fprintf(stderr, "sceplab: reload: %s\n", lua_tostring(s->L, -1));
  lua_settop(s->L, top);
}

/* serve(ca, opts, policy) -> true when stopped by a signal | nil, message, code
 * opts: {bind, port, tls_cert, tls_key, caps, ca_only, allow_des, log_dir, max_body, connector, crs_hold, host,
 * admin_page, admin_user, admin_password, admin_get_compat, password_max, max_connections, max_per_client,
 * header_timeout, body_timeout, idle_timeout (seconds), ready = f(port), logged = f(line),
 * outcome = f(transaction_id, cert_der, refusal, why), tick = f(), tick_seconds, wake = f(),
 * wake_fd (when it is readable: wake, then every deferred request is asked again), pending = f()
 * (how many background calls are in flight: a SIGTERM's drain waits for them)} */
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
  lua_getfield(L, 2, "outcome"); /* 6 */
  s->outcome = lua_isfunction(L, 6) ? 6 : 0;
  lua_getfield(L, 2, "tick"); /* 7 */
  s->tick = lua_isfunction(L, 7) ? 7 : 0;
  lua_getfield(L, 2, "wake"); /* 8 */
  s->wake = lua_isfunction(L, 8) ? 8 : 0;
  lua_getfield(L, 2, "reload"); /* 9 */
  s->reload = lua_isfunction(L, 9) ? 9 : 0;
  lua_getfield(L, 2, "pending"); /* 10 */
  s->pending = lua_isfunction(L, 10) ? 10 : 0;
  p->ca = c->ca;
  p->bind = lserve_opt_str(L, 2, "bind");
  p->port = (unsigned)lserve_opt_int(L, 2, "port", 0);
  luaL_argcheck(L, p->port <= 65535, 2, "port must be 0..65535");
  p->tls_cert = lserve_opt_str(L, 2, "tls_cert");
  p->tls_key = lserve_opt_str(L, 2, "tls_key");
  p->caps = lserve_opt_str(L, 2, "caps");
  p->log_dir = lserve_opt_str(L, 2, "log_dir");
  p->max_body = (size_t)lserve_opt_int(L, 2, "max_body", 0);
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
  p->host = lserve_opt_str(L, 2, "host");
  p->admin_user = lserve_opt_str(L, 2, "admin_user");
  p->clock_file = lserve_opt_str(L, 2, "clock_file");
  p->public_url = lserve_opt_str(L, 2, "public_url");
  p->admin_password = lserve_opt_str(L, 2, "admin_password");
  p->password_max = lserve_opt_int(L, 2, "password_max", 0);
  p->ca_latency_ms = lserve_opt_int(L, 2, "ca_latency_ms", 0);
  /* a worker's: the supervisor's sockets, and the pipe it is told on that the worker listens */
  p->listen_fd = lserve_opt_int(L, 2, "listen_fd", 0);
  p->metrics_fd = lserve_opt_int(L, 2, "metrics_fd", 0);
  p->drain_seconds = (unsigned)lserve_opt_int(L, 2, "drain_seconds", 0);
  s->ready_fd = lserve_opt_int(L, 2, "ready_fd", -1);
  luaL_argcheck(L, p->ca_latency_ms >= 0 && p->ca_latency_ms <= 600000, 2, "ca_latency_ms must be 0..600000");
  {
    static const char *const limits[] = {"max_connections", "max_per_client", "header_timeout", "body_timeout",
                                         "idle_timeout"};
    unsigned *slots[] = {&p->max_connections, &p->max_per_client, &p->header_timeout, &p->body_timeout,
                         &p->idle_timeout};
    size_t i;
    for(i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
      int v = lserve_opt_int(L, 2, limits[i], 0);
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
  p->issued = s->outcome ? issued_cb : NULL;
  p->tick = s->tick ? tick_cb : NULL;
  p->tick_seconds = (unsigned)lserve_opt_int(L, 2, "tick_seconds", 60);
  p->wake = s->wake ? wake_cb : NULL;
  p->wake_fd = lserve_opt_int(L, 2, "wake_fd", -1);
  luaL_argcheck(L, !s->wake || p->wake_fd >= 0, 2, "wake needs wake_fd");
  luaL_argcheck(L, p->tick_seconds >= 1 && p->tick_seconds <= 86400, 2, "tick_seconds must be 1..86400");
  p->reload = s->reload ? reload_cb : NULL;
  p->pending = s->pending ? pending_cb : NULL;
  p->ud = s;
}

static int l_serve(lua_State *L)
{
  lca *c = lserve_check_ca(L, 1);
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
  lca *c = lserve_check_ca(L, 1);
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
    if(!(own = sceplab_ca_open_db(sceplab_ca_dir(c->ca), sceplab_ca_db(c->ca), &err))) {
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


/* now() -> Unix seconds on the server's clock: the clock serve and its CA use (real time, or a
 * replay's virtual time while a server follows its clock file), for a policy's own checks */
static int l_now(lua_State *L)
{
  lua_pushinteger(L, (lua_Integer)sceplab_serve_now());
  return 1;
}

static const luaL_Reg funcs[] = {{"now", l_now}, {"ca_init", lserve_l_ca_init}, {"ca_open", lserve_l_ca_open}, {"serve", l_serve}, {"spawn", l_spawn}, {"faults", l_faults}, {"web", lserve_l_web},
                                 {"listen", lserve_l_listen}, {"cores", lserve_l_cores}, {"supervise", lserve_l_supervise},
                                 {"profile_check", lserve_l_profile_check}, {NULL, NULL}};
static const luaL_Reg server_methods[] = {{"port", m_server_port}, {"stop", m_server_stop}, {NULL, NULL}};
static const luaL_Reg server_meta[] = {{"__gc", m_server_stop}, {"__close", m_server_stop}, {"__tostring", m_server_tostring},
                                       {NULL, NULL}};

int luaopen_sceplab_core_serve(lua_State *L)
{
  lserve_ca_class(L);
  sceplab_lua_newclass(L, SERVER_MT, server_meta, server_methods);
  luaL_newlib(L, funcs);
  return 1;
}
