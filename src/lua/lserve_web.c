/* sceplab.core.serve's web(): a service of whole requests (web.h) whose handler is a Lua function
 * called on the server's loop, this thread; `sceplab intune cloud` is one. */
#include <stdlib.h>
#include <string.h>

#include "lserve.h"
#include "sceplab/web.h"

typedef struct lweb { lua_State *L; int handler, ready; } lweb;

/* handler(req) -> {status, body, content_type, headers = {name = value}, delay_ms}; an error in
 * it is said on stderr and answered 500 */
static int web_cb(void *ud, const sceplab_web_request *rq, sceplab_web_answer *ans)
{
  lweb *w = ud;
  lua_State *L = w->L;
  int top = lua_gettop(L);
  size_t i, n;
  const char *s;
  lua_pushvalue(L, w->handler);
  lua_createtable(L, 0, 7);
  lua_pushstring(L, rq->method);
  lua_setfield(L, -2, "method");
  if(rq->path) {
    lua_pushstring(L, rq->path);
    lua_setfield(L, -2, "path");
  }
  if(rq->query) {
    lua_pushstring(L, rq->query);
    lua_setfield(L, -2, "query");
  }
  lua_pushlstring(L, rq->body ? (const char *)rq->body : "", rq->body_len);
  lua_setfield(L, -2, "body");
  lua_pushstring(L, rq->peer ? rq->peer : "");
  lua_setfield(L, -2, "peer");
  /* header names in lower case, the first of each name */
  lua_createtable(L, 0, (int)rq->nheaders);
  for(i = 0; i < rq->nheaders; i++) {
    char name[64];
    size_t k;
    for(k = 0; rq->headers[2 * i][k] && k < sizeof(name) - 1; k++)
      name[k] = (char)((rq->headers[2 * i][k] >= 'A' && rq->headers[2 * i][k] <= 'Z') ? rq->headers[2 * i][k] + 32
                                                                                     : rq->headers[2 * i][k]);
    name[k] = '\0';
    if(lua_getfield(L, -1, name) == LUA_TNIL) {
      lua_pushstring(L, rq->headers[2 * i + 1]);
      lua_setfield(L, -3, name);
    }
    lua_pop(L, 1);
  }
  lua_setfield(L, -2, "headers");
  if(lua_pcall(L, 1, 1, 0) != LUA_OK) {
    fprintf(stderr, "sceplab: %s\n", lua_tostring(L, -1));
    lua_settop(L, top);
    return -1;
  }
  if(!lua_istable(L, -1)) {
    fprintf(stderr, "sceplab: the web handler answered a %s, not a table\n", luaL_typename(L, -1));
    lua_settop(L, top);
    return -1;
  }
  lua_getfield(L, -1, "status");
  ans->status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 200;
  lua_pop(L, 1);
  lua_getfield(L, -1, "delay_ms");
  ans->delay_ms = lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0 ? (unsigned)lua_tointeger(L, -1) : 0;
  lua_pop(L, 1);
  lserve_copy_field(L, "content_type", ans->content_type, sizeof(ans->content_type));
  if(lua_getfield(L, -1, "headers") == LUA_TTABLE) {
    size_t used = 0;
    lua_pushnil(L);
    while(lua_next(L, -2) != 0) {
      const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
      if(k && v && !strpbrk(k, "\r\n:") && !strpbrk(v, "\r\n") && used < sizeof(ans->headers)) {
        int w2 = snprintf(ans->headers + used, sizeof(ans->headers) - used, "%s: %s\r\n", k, v);
        if(w2 > 0 && used + (size_t)w2 < sizeof(ans->headers))
          used += (size_t)w2;
        else
          ans->headers[used] = '\0'; /* a line that does not fit is left out whole */
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "body");
  s = lua_tolstring(L, -1, &n);
  if(s && n) {
    if(!(ans->body = malloc(n))) {
      lua_settop(L, top);
      return -1;
    }
    memcpy(ans->body, s, n);
    ans->len = n;
  }
  lua_settop(L, top);
  return 0;
}

static void web_ready(void *ud, unsigned port)
{
  lweb *w = ud;
  int top = lua_gettop(w->L);
  if(!w->ready)
    return;
  lua_pushvalue(w->L, w->ready);
  lua_pushinteger(w->L, (lua_Integer)port);
  if(lua_pcall(w->L, 1, 0, 0) != LUA_OK)
    fprintf(stderr, "sceplab: ready: %s\n", lua_tostring(w->L, -1));
  lua_settop(w->L, top);
}

/* web{bind, port, tls_cert, tls_key, max_body, handler = f(req), ready = f(port)} -> true when
 * stopped by a signal | nil, message, code */
int lserve_l_web(lua_State *L)
{
  sceplab_web_params p;
  sceplab_error err;
  lweb w;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  memset(&p, 0, sizeof(p));
  w.L = L;
  lua_getfield(L, 1, "handler"); /* 2 */
  luaL_argcheck(L, lua_isfunction(L, 2), 1, "field 'handler' must be a function");
  w.handler = 2;
  lua_getfield(L, 1, "ready"); /* 3 */
  w.ready = lua_isfunction(L, 3) ? 3 : 0;
  p.bind = lserve_opt_str(L, 1, "bind");
  p.port = (unsigned)lserve_opt_int(L, 1, "port", 0);
  luaL_argcheck(L, p.port <= 65535, 1, "port must be 0..65535");
  p.tls_cert = lserve_opt_str(L, 1, "tls_cert");
  p.tls_key = lserve_opt_str(L, 1, "tls_key");
  p.max_body = (size_t)lserve_opt_int(L, 1, "max_body", 0);
  p.handler = web_cb;
  p.ready = web_ready;
  p.ud = &w;
  sceplab_err_clear(&err);
  if(sceplab_web_serve(&p, &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}
