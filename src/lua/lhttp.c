/* sceplab.core.http: one HTTP(S) request with timings, headers and the TLS chain, optionally on
 * the kept-open connections of a session (sceplab.http_session userdata), or on a thread of its
 * own (start: a sceplab.http_job, its end written to a sceplab.http_notifier's eventfd). */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lutil.h"

static void push_resp(lua_State *L, const sceplab_http_resp *r)
{
  lua_createtable(L, 0, 12);
  lua_pushinteger(L, r->status);
  lua_setfield(L, -2, "status");
  lua_pushlstring(L, r->body ? (const char *)r->body : "", r->body_len);
  lua_setfield(L, -2, "body");
  lua_pushboolean(L, r->truncated);
  lua_setfield(L, -2, "truncated");
  if(r->headers) {
    lua_pushstring(L, r->headers);
    lua_setfield(L, -2, "headers");
  }
  if(r->content_type) {
    lua_pushstring(L, r->content_type);
    lua_setfield(L, -2, "content_type");
  }
  if(r->server) {
    lua_pushstring(L, r->server);
    lua_setfield(L, -2, "server");
  }
  if(r->tls_chain_pem) {
    lua_pushstring(L, r->tls_chain_pem);
    lua_setfield(L, -2, "tls_chain");
  }
  if(r->effective_url) {
    lua_pushstring(L, r->effective_url);
    lua_setfield(L, -2, "url");
  }
  lua_pushinteger(L, r->redirects);
  lua_setfield(L, -2, "redirects");
  lua_pushboolean(L, r->reused);
  lua_setfield(L, -2, "reused_connection");
  lua_createtable(L, 0, 5);
  lua_pushnumber(L, r->t_dns);
  lua_setfield(L, -2, "dns");
  lua_pushnumber(L, r->t_connect);
  lua_setfield(L, -2, "connect");
  lua_pushnumber(L, r->t_tls);
  lua_setfield(L, -2, "tls");
  lua_pushnumber(L, r->t_first_byte);
  lua_setfield(L, -2, "first_byte");
  lua_pushnumber(L, r->t_total);
  lua_setfield(L, -2, "total");
  lua_setfield(L, -2, "timings");
}

static const char *opt_str(lua_State *L, const char *field)
{
  const char *s = NULL;
  int t = lua_getfield(L, 1, field);
  if(t == LUA_TSTRING)
    s = lua_tostring(L, -1);
  else if(t != LUA_TNIL)
    luaL_error(L, "field '%s' must be a string", field);
  lua_pop(L, 1);
  return s;
}

static long opt_ms(lua_State *L, const char *field)
{
  long v = 0;
  if(lua_getfield(L, 1, field) != LUA_TNIL)
    v = (long)(luaL_checknumber(L, -1) * 1000.0);
  lua_pop(L, 1);
  return v;
}

/* headers = {["Name"] = "value", ...}: one block of lines, left on the stack until the call
 * returns; NULL when absent. A CR or LF in a name or value would start a header of its own, so
 * either is misuse. */
static const char *headers_of(lua_State *L)
{
  int n = 0, t;
  if(lua_getfield(L, 1, "headers") == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  luaL_checktype(L, -1, LUA_TTABLE);
  t = lua_gettop(L);
  lua_pushnil(L);
  while(lua_next(L, t) != 0) {
    size_t nk = 0, nv = 0;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &nk) : NULL;
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &nv) : NULL;
    if(!k || !v || !nk || strpbrk(k, "\r\n: ") || strpbrk(v, "\r\n") || strlen(k) != nk || strlen(v) != nv)
      luaL_error(L, "field 'headers': each must be name = \"value\", one line");
    luaL_checkstack(L, 3, "too many headers");
    lua_pushfstring(L, "%s: %s\r\n", k, v); /* key, value, line */
    lua_replace(L, -2);                      /* key, line */
    lua_insert(L, -2);                       /* line, key */
    n++;
  }
  lua_concat(L, n);
  lua_remove(L, t);
  return lua_tostring(L, -1);
}

#define SESSION_MT "sceplab.http_session"

typedef struct {
  sceplab_http_session *s; /* NULL once closed */
} lsession;

/* Open sessions of this Lua state, in the registry. Each holds a socket that only its __gc
 * closes, and a session is too small for the collector to hurry for: a script making clients in
 * a loop ran out of file descriptors. Past MAX_IDLE_SESSIONS, a new session first collects. */
#define SESSION_COUNT "sceplab.http_sessions"
#define MAX_IDLE_SESSIONS 32

static lua_Integer count_sessions(lua_State *L, int delta)
{
  lua_Integer n;
  lua_getfield(L, LUA_REGISTRYINDEX, SESSION_COUNT);
  n = lua_tointeger(L, -1) + delta;
  lua_pop(L, 1);
  lua_pushinteger(L, n);
  lua_setfield(L, LUA_REGISTRYINDEX, SESSION_COUNT);
  return n;
}

/* session() -> a session whose requests share connections */
static int l_session(lua_State *L)
{
  lsession *ls;
  if(count_sessions(L, 0) >= MAX_IDLE_SESSIONS)
    lua_gc(L, LUA_GCCOLLECT);
  /* Created closed, then the session: a failed allocation leaves nothing to free. */
  ls = lua_newuserdatauv(L, sizeof(*ls), 0);
  ls->s = NULL;
  luaL_setmetatable(L, SESSION_MT);
  ls->s = sceplab_http_session_new();
  if(!ls->s)
    return luaL_error(L, "out of memory");
  count_sessions(L, 1);
  return 1;
}

static int m_close(lua_State *L)
{
  lsession *ls = luaL_checkudata(L, 1, SESSION_MT);
  if(ls->s) {
    sceplab_http_session_free(ls->s);
    ls->s = NULL;
    count_sessions(L, -1);
  }
  return 0;
}

static int m_tostring(lua_State *L)
{
  lsession *ls = luaL_checkudata(L, 1, SESSION_MT);
  lua_pushstring(L, ls->s ? "sceplab.http_session" : "sceplab.http_session (closed)");
  return 1;
}

/* request{method = "GET", url, body, content_type, proxy, cacert, pin, insecure, timeout (s),
 *         connect_timeout (s), follow, max_body, session} -> response | nil, message, "network", partial */
/* The request table at 1 read into o and the rest (strings alive in the table, or on the stack). */
typedef struct lreq { const char *method, *url, *ctype, *body; size_t blen; } lreq;

static void read_request(lua_State *L, sceplab_http_opts *o, lreq *q)
{
  memset(o, 0, sizeof(*o));
  memset(q, 0, sizeof(*q));
  luaL_checktype(L, 1, LUA_TTABLE);
  q->method = opt_str(L, "method");
  q->url = opt_str(L, "url");
  q->ctype = opt_str(L, "content_type");
  if(lua_getfield(L, 1, "body") != LUA_TNIL)
    q->body = luaL_checklstring(L, -1, &q->blen);
  lua_pop(L, 1);
  o->proxy = opt_str(L, "proxy");
  o->cacert = opt_str(L, "cacert");
  o->pin_sha256 = opt_str(L, "pin");
  o->user_agent = opt_str(L, "user_agent");
  lua_getfield(L, 1, "insecure");
  o->insecure = lua_toboolean(L, -1);
  lua_getfield(L, 1, "follow");
  o->follow_redirects = lua_toboolean(L, -1);
  lua_pop(L, 2);
  o->headers = headers_of(L);
  o->timeout_ms = opt_ms(L, "timeout");
  o->connect_timeout_ms = opt_ms(L, "connect_timeout");
  if(lua_getfield(L, 1, "max_body") != LUA_TNIL)
    o->max_body = (size_t)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
}

/* An answer as request() returns it: response | nil, message, code, partial response. */
static int push_outcome(lua_State *L, int rc, sceplab_http_resp *r, const sceplab_error *err)
{
  if(rc != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err->msg);
    lua_pushstring(L, sceplab_code_name(err->code));
    push_resp(L, r);
    sceplab_http_resp_free(r);
    return 4;
  }
  push_resp(L, r);
  sceplab_http_resp_free(r);
  return 1;
}

static int l_request(lua_State *L)
{
  sceplab_http_session *session = NULL;
  sceplab_http_opts o;
  sceplab_http_resp r;
  sceplab_error err;
  lreq q;
  int rc;
  read_request(L, &o, &q);
  if(!q.url)
    return luaL_error(L, "field 'url' is required");
  if(lua_getfield(L, 1, "session") != LUA_TNIL) {
    lsession *ls = luaL_testudata(L, -1, SESSION_MT);
    if(!ls)
      return luaL_error(L, "field 'session' must be an HTTP session (http.session())");
    if(!ls->s)
      return luaL_error(L, "field 'session': the HTTP session is closed");
    session = ls->s;
  }
  lua_pop(L, 1); /* the table still holds the session */
  sceplab_err_clear(&err);
  rc = sceplab_http_request_in(session, &o, q.method ? q.method : "GET", q.url, (const unsigned char *)q.body, q.blen,
                               q.ctype, &r, &err);
  return push_outcome(L, rc, &r, &err);
}

/* ---- jobs: a request on a thread of its own, its end said on a notifier's eventfd ---------- */

#define NOTIFIER_MT "sceplab.http_notifier"
#define JOB_MT "sceplab.http_job"

typedef struct { int fd; } lnotifier;
typedef struct { sceplab_http_job *j; } ljob;

/* notifier() -> an eventfd every job given it writes when it ends (serve watches it) */
static int l_notifier(lua_State *L)
{
  lnotifier *n = lua_newuserdatauv(L, sizeof(*n), 0); /* closed until the descriptor exists */
  n->fd = -1;
  luaL_setmetatable(L, NOTIFIER_MT);
  if((n->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
    return luaL_fileresult(L, 0, "eventfd");
  return 1;
}

static int m_notifier_fd(lua_State *L)
{
  lnotifier *n = luaL_checkudata(L, 1, NOTIFIER_MT);
  lua_pushinteger(L, n->fd);
  return 1;
}

static int m_notifier_close(lua_State *L)
{
  lnotifier *n = luaL_checkudata(L, 1, NOTIFIER_MT);
  if(n->fd >= 0)
    close(n->fd);
  n->fd = -1;
  return 0;
}

/* start(request [, notifier [, delay_s]]) -> job: request() on a thread of its own, after
 * delay_s; a request without url is only the delay (a retry's backoff) */
static int l_start(lua_State *L)
{
  sceplab_http_opts o;
  sceplab_error err;
  lreq q;
  lnotifier *n = lua_isnoneornil(L, 2) ? NULL : luaL_checkudata(L, 2, NOTIFIER_MT);
  double delay = luaL_optnumber(L, 3, 0);
  ljob *u;
  luaL_argcheck(L, delay >= 0 && delay <= 600, 3, "delay must be 0..600 seconds");
  read_request(L, &o, &q);
  u = lua_newuserdatauv(L, sizeof(*u), 0); /* closed until the job exists */
  u->j = NULL;
  luaL_setmetatable(L, JOB_MT);
  sceplab_err_clear(&err);
  if(!(u->j = sceplab_http_job_start(&o, q.method, q.url, (const unsigned char *)q.body, q.blen, q.ctype,
                                     (unsigned)(delay * 1000.0), n ? n->fd : -1, &err)))
    return sceplab_lua_fail(L, &err);
  return 1;
}

static ljob *check_job(lua_State *L)
{
  ljob *u = luaL_checkudata(L, 1, JOB_MT);
  if(!u->j)
    luaL_argerror(L, 1, "the job is closed");
  return u;
}

static int m_job_done(lua_State *L)
{
  lua_pushboolean(L, sceplab_http_job_done(check_job(L)->j));
  return 1;
}

/* job:result() -> what request() returns; the job is closed */
static int m_job_result(lua_State *L)
{
  ljob *u = check_job(L);
  sceplab_http_resp r;
  sceplab_error err;
  int rc;
  if(!sceplab_http_job_done(u->j))
    return luaL_error(L, "the job is still running (job:done())");
  memset(&r, 0, sizeof(r));
  sceplab_err_clear(&err);
  rc = sceplab_http_job_result(u->j, &r, &err);
  sceplab_http_job_free(u->j);
  u->j = NULL;
  return push_outcome(L, rc, &r, &err);
}

static int m_job_close(lua_State *L)
{
  ljob *u = luaL_checkudata(L, 1, JOB_MT);
  sceplab_http_job_free(u->j); /* waits: a job is bounded by its timeouts */
  u->j = NULL;
  return 0;
}

static const luaL_Reg funcs[] = {{"request", l_request}, {"session", l_session}, {"notifier", l_notifier},
                                 {"start", l_start}, {NULL, NULL}};
static const luaL_Reg notifier_methods[] = {{"fd", m_notifier_fd}, {"close", m_notifier_close}, {NULL, NULL}};
static const luaL_Reg notifier_meta[] = {{"__gc", m_notifier_close}, {"__close", m_notifier_close}, {"__index", NULL},
                                         {NULL, NULL}};
static const luaL_Reg job_methods[] = {{"done", m_job_done}, {"result", m_job_result}, {"close", m_job_close},
                                       {NULL, NULL}};
static const luaL_Reg job_meta[] = {{"__gc", m_job_close}, {"__close", m_job_close}, {"__index", NULL}, {NULL, NULL}};
static const luaL_Reg session_methods[] = {{"close", m_close}, {NULL, NULL}};
static const luaL_Reg session_meta[] = {
  {"__gc", m_close}, {"__close", m_close}, {"__tostring", m_tostring}, {"__index", NULL}, {NULL, NULL}
};

int luaopen_sceplab_core_http(lua_State *L)
{
  sceplab_lua_newclass(L, SESSION_MT, session_meta, session_methods);
  sceplab_lua_newclass(L, NOTIFIER_MT, notifier_meta, notifier_methods);
  sceplab_lua_newclass(L, JOB_MT, job_meta, job_methods);
  luaL_newlib(L, funcs);
  return 1;
}
