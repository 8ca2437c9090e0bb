/* sceplab.core.serve's workers (sceplab/workers.h): the listening sockets made once, and the
 * supervisor whose workers each run a Lua function in their own process (a copy of this state). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lserve.h"

/* listen(bind, port) -> fd, port | nil, message, code: a listening socket for serve's listen_fd or
 * metrics_fd, inherited by the workers forked after */
int lserve_l_listen(lua_State *L)
{
  const char *bind = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  unsigned bound = 0;
  sceplab_error err;
  int fd;
  luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port must be 0..65535");
  sceplab_err_clear(&err);
  if((fd = sceplab_serve_listen(bind, (unsigned)port, &bound, &err)) < 0)
    return sceplab_lua_fail(L, &err);
  lua_pushinteger(L, fd);
  lua_pushinteger(L, (lua_Integer)bound);
  return 2;
}

/* cores() -> the number of cores online */
int lserve_l_cores(lua_State *L)
{
  lua_pushinteger(L, (lua_Integer)sceplab_cores());
  return 1;
}

/* The supervisor's callbacks reach Lua through this: the stack slots of the functions. */
typedef struct lsup { lua_State *L; int worker, ready, say; } lsup;

/* In a worker's process: worker(ready_fd, generation, index) -> exit status (an error: 1). */
static int worker_cb(void *ud, const sceplab_worker *w)
{
  lsup *s = ud;
  lua_State *L = s->L;
  lua_pushvalue(L, s->worker);
  lua_pushinteger(L, w->ready_fd);
  lua_pushinteger(L, (lua_Integer)w->generation);
  lua_pushinteger(L, (lua_Integer)w->index + 1);
  if(lua_pcall(L, 3, 1, 0) != LUA_OK) {
    fprintf(stderr, "sceplab: worker: %s\n", lua_tostring(L, -1));
    return 1;
  }
  return lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 1;
}

static void ready_cb(void *ud)
{
  lsup *s = ud;
  int top = lua_gettop(s->L);
  if(!s->ready)
    return;
  lua_pushvalue(s->L, s->ready);
  if(lua_pcall(s->L, 0, 0, 0) != LUA_OK)
    fprintf(stderr, "sceplab: ready: %s\n", lua_tostring(s->L, -1));
  lua_settop(s->L, top);
}

static void say_cb(void *ud, const char *line)
{
  lsup *s = ud;
  int top = lua_gettop(s->L);
  if(!s->say) {
    fprintf(stderr, "sceplab: %s\n", line);
    return;
  }
  lua_pushvalue(s->L, s->say);
  lua_pushstring(s->L, line);
  if(lua_pcall(s->L, 1, 0, 0) != LUA_OK)
    fprintf(stderr, "sceplab: %s\n", line);
  lua_settop(s->L, top);
}

/* supervise({workers, drain_seconds}, worker, ready, say) -> true | nil, message, code: runs until
 * SIGTERM or SIGINT. worker(ready_fd, generation, index) runs in each worker process and returns its
 * exit status; ready() once the first generation listens; say(line) for restarts and reloads. */
int lserve_l_supervise(lua_State *L)
{
  sceplab_workers_params p;
  lsup s;
  sceplab_error err;
  int n;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 4);
  memset(&p, 0, sizeof(p));
  n = lserve_opt_int(L, 1, "workers", 0);
  luaL_argcheck(L, n >= 0 && n <= 256, 1, "workers must be 0..256");
  p.workers = (unsigned)n;
  n = lserve_opt_int(L, 1, "drain_seconds", 0);
  luaL_argcheck(L, n >= 0 && n <= 3600, 1, "drain_seconds must be 0..3600");
  p.drain_seconds = (unsigned)n;
  s.L = L;
  s.worker = 2;
  s.ready = lua_isfunction(L, 3) ? 3 : 0;
  s.say = lua_isfunction(L, 4) ? 4 : 0;
  p.worker = worker_cb;
  p.ready = ready_cb;
  p.say = say_cb;
  p.ud = &s;
  sceplab_err_clear(&err);
  if(sceplab_workers_run(&p, &err) != 0)
    return sceplab_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}
