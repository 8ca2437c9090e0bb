/* sceplab.core.http: one HTTP(S) request with timings, headers and the TLS chain, optionally on
 * the kept-open connections of a session (sceplab.http_session userdata). */
#include <string.h>

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
static int l_request(lua_State *L)
{
  sceplab_http_session *session = NULL;
  sceplab_http_opts o;
  sceplab_http_resp r;
  sceplab_error err;
  const char *method, *url, *ctype;
  const char *body = NULL;
  size_t blen = 0;
  int rc;
  memset(&o, 0, sizeof(o));
  luaL_checktype(L, 1, LUA_TTABLE);
  method = opt_str(L, "method");
  url = opt_str(L, "url");
  if(!url)
    return luaL_error(L, "field 'url' is required");
  ctype = opt_str(L, "content_type");
  if(lua_getfield(L, 1, "body") != LUA_TNIL)
    body = luaL_checklstring(L, -1, &blen);
  lua_pop(L, 1);
  o.proxy = opt_str(L, "proxy");
  o.cacert = opt_str(L, "cacert");
  o.pin_sha256 = opt_str(L, "pin");
  o.user_agent = opt_str(L, "user_agent");
  lua_getfield(L, 1, "insecure");
  o.insecure = lua_toboolean(L, -1);
  lua_getfield(L, 1, "follow");
  o.follow_redirects = lua_toboolean(L, -1);
  lua_pop(L, 2);
  o.headers = headers_of(L);
  o.timeout_ms = opt_ms(L, "timeout");
  o.connect_timeout_ms = opt_ms(L, "connect_timeout");
  if(lua_getfield(L, 1, "max_body") != LUA_TNIL)
    o.max_body = (size_t)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
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
  rc = sceplab_http_request_in(session, &o, method ? method : "GET", url, (const unsigned char *)body, blen, ctype,
                               &r, &err);
  if(rc != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    lua_pushstring(L, sceplab_code_name(err.code));
    push_resp(L, &r);
    sceplab_http_resp_free(&r);
    return 4;
  }
  push_resp(L, &r);
  sceplab_http_resp_free(&r);
  return 1;
}

static const luaL_Reg funcs[] = {{"request", l_request}, {"session", l_session}, {NULL, NULL}};
static const luaL_Reg session_methods[] = {{"close", m_close}, {NULL, NULL}};
static const luaL_Reg session_meta[] = {
  {"__gc", m_close}, {"__close", m_close}, {"__tostring", m_tostring}, {"__index", NULL}, {NULL, NULL}
};

int luaopen_sceplab_core_http(lua_State *L)
{
  sceplab_lua_newclass(L, SESSION_MT, session_meta, session_methods);
  luaL_newlib(L, funcs);
  return 1;
}
