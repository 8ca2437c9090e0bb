/* The embedded Lua engine.
 *
 * Trusted code (the Lua tree shipped with sceplab) gets the standard libraries minus debug; user
 * scripts never run here directly but through lua/sceplab/sandbox.lua, which gives each its own
 * _ENV with an allow-list. package.path points only at the sceplab tree and package.cpath is empty,
 * so nothing outside it is loaded by accident. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "engine.h"
#include "lutil.h"

struct sceplab_engine {
  lua_State *L;
  char lua_dir[PATH_MAX];
};

static int has_cli(const char *dir)
{
  char path[PATH_MAX + 32];
  struct stat st;
  snprintf(path, sizeof(path), "%s/sceplab/cli.lua", dir);
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* SCEPLAB_LUA_PATH, then the tree installed beside the binary, then the source tree it was built from. */
static int find_lua_dir(char *out, size_t outlen)
{
  const char *env = getenv("SCEPLAB_LUA_PATH");
  char exe[PATH_MAX];
  ssize_t n;
  if(env && *env) {
    snprintf(out, outlen, "%s", env);
    return has_cli(out) ? 0 : -1;
  }
  n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if(n > 0) {
    char *slash;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if(slash) {
      *slash = '\0';
      if((size_t)snprintf(out, outlen, "%.*s/../%s", (int)(outlen / 2), exe, SCEPLAB_INSTALL_LUA_REL) < outlen &&
         has_cli(out))
        return 0;
    }
  }
  snprintf(out, outlen, "%s", SCEPLAB_BUILD_LUA_DIR);
  return has_cli(out) ? 0 : -1;
}

/* Lua's compiled-in search path without the entries relative to the current directory. */
static char *system_dirs(const char *def)
{
  char *out = malloc(strlen(def) + 1);
  const char *p = def;
  size_t o = 0;
  if(!out)
    return NULL;
  while(*p) {
    size_t n = strcspn(p, ";");
    if(n && p[0] == '/') {
      if(o)
        out[o++] = ';';
      memcpy(out + o, p, n);
      o += n;
    }
    p += n;
    if(*p == ';')
      p++;
  }
  out[o] = '\0';
  return out;
}

static int traceback(lua_State *L)
{
  const char *msg = lua_tostring(L, 1);
  if(!msg) {
    if(luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static const luaL_Reg safe_libs[] = {
  {LUA_GNAME, luaopen_base}, {LUA_LOADLIBNAME, luaopen_package}, {LUA_COLIBNAME, luaopen_coroutine},
  {LUA_TABLIBNAME, luaopen_table}, {LUA_IOLIBNAME, luaopen_io}, {LUA_OSLIBNAME, luaopen_os},
  {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math}, {LUA_UTF8LIBNAME, luaopen_utf8},
  {NULL, NULL}
};

sceplab_engine *sceplab_engine_new(void)
{
  sceplab_engine *e = calloc(1, sizeof(*e));
  const luaL_Reg *lib;
  if(!e) {
    fprintf(stderr, "sceplab: out of memory\n");
    return NULL;
  }
  if(find_lua_dir(e->lua_dir, sizeof(e->lua_dir)) != 0) {
    fprintf(stderr, "sceplab: cannot find the sceplab Lua tree (looked in SCEPLAB_LUA_PATH, the install "
                    "prefix and %s); set SCEPLAB_LUA_PATH\n", SCEPLAB_BUILD_LUA_DIR);
    free(e);
    return NULL;
  }
  e->L = luaL_newstate();
  if(!e->L) {
    fprintf(stderr, "sceplab: cannot create the Lua state\n");
    free(e);
    return NULL;
  }
  for(lib = safe_libs; lib->func; lib++) {
    luaL_requiref(e->L, lib->name, lib->func, 1);
    lua_pop(e->L, 1);
  }
  /* package.path: the sceplab tree first, then the system's Lua 5.4 directories (Debian's
   * lua-argparse and lua-cjson live there). LUA_PATH and the current directory are ignored, so
   * what runs does not depend on where sceplab is started from. */
  lua_getglobal(e->L, "package");
  {
    char *path = system_dirs(LUA_PATH_DEFAULT), *cpath = system_dirs(LUA_CPATH_DEFAULT);
    lua_pushfstring(e->L, "%s/?.lua;%s/?/init.lua;%s", e->lua_dir, e->lua_dir, path ? path : "");
    lua_setfield(e->L, -2, "path");
    lua_pushstring(e->L, cpath ? cpath : "");
    lua_setfield(e->L, -2, "cpath");
    free(path);
    free(cpath);
  }
  lua_getfield(e->L, -1, "preload");
  lua_pushcfunction(e->L, luaopen_sceplab_core);
  lua_setfield(e->L, -2, "sceplab.core");
  lua_pop(e->L, 2);
  /* What the Lua side may want to know about its host, kept in the registry, not in globals. */
  lua_newtable(e->L);
  lua_pushstring(e->L, e->lua_dir);
  lua_setfield(e->L, -2, "lua_dir");
  lua_pushstring(e->L, SCEPLAB_VERSION);
  lua_setfield(e->L, -2, "version");
  lua_pushboolean(e->L, isatty(STDERR_FILENO));
  lua_setfield(e->L, -2, "stderr_tty");
  lua_pushboolean(e->L, isatty(STDOUT_FILENO));
  lua_setfield(e->L, -2, "stdout_tty");
  lua_setfield(e->L, LUA_REGISTRYINDEX, "sceplab.engine");
  return e;
}

void sceplab_engine_free(sceplab_engine *e)
{
  if(!e)
    return;
  if(e->L)
    lua_close(e->L);
  free(e);
}

/* Protected body: require the CLI module and call main(args, host). */
static int run_cli(lua_State *L)
{
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int i;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "sceplab.cli");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc > 1 ? argc - 1 : 0, 0);
  for(i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_getfield(L, LUA_REGISTRYINDEX, "sceplab.engine");
  lua_call(L, 2, 1);
  return 1;
}

int sceplab_engine_run_cli(sceplab_engine *e, int argc, char **argv)
{
  lua_State *L = e->L;
  int code;
  lua_pushcfunction(L, traceback);
  lua_pushcfunction(L, run_cli);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  if(lua_pcall(L, 2, 1, -4) != LUA_OK) {
    fprintf(stderr, "sceplab: internal error: %s\n", lua_tostring(L, -1));
    lua_pop(L, 2);
    return SCEPLAB_EXIT_INTERNAL;
  }
  code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  lua_pop(L, 2);
  fflush(stdout);
  return code;
}
