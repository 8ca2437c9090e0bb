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
#include "sceplab_commit.h"

struct sceplab_engine {
  lua_State *L;
  char lua_dir[PATH_MAX];
  char luac_dir[PATH_MAX]; /* precompiled chunks of that tree, or empty */
};

static int has_cli(const char *dir)
{
  char path[PATH_MAX + 32];
  struct stat st;
  snprintf(path, sizeof(path), "%s/sceplab/cli/init.lua", dir);
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* SCEPLAB_LUA_PATH, then the tree installed beside the binary, then the source tree it was built
 * from. The chunk cache goes with the tree: none for a tree named by SCEPLAB_LUA_PATH. */
static int find_lua_dir(sceplab_engine *e)
{
  const char *env = getenv("SCEPLAB_LUA_PATH");
  char exe[PATH_MAX], dir[PATH_MAX + 64];
  ssize_t n;
  e->luac_dir[0] = '\0';
  if(env && *env) {
    snprintf(e->lua_dir, sizeof(e->lua_dir), "%s", env);
    return has_cli(e->lua_dir) ? 0 : -1;
  }
  n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if(n > 0) {
    char *slash;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if(slash) {
      *slash = '\0';
      /* Canonical, because the installed chunks are compiled under the canonical prefix. */
      snprintf(dir, sizeof(dir), "%s/../%s", exe, SCEPLAB_INSTALL_LUA_REL);
      if(realpath(dir, e->lua_dir) && has_cli(e->lua_dir)) {
        snprintf(dir, sizeof(dir), "%s/../%s", exe, SCEPLAB_INSTALL_LUAC_REL);
        if(!realpath(dir, e->luac_dir))
          e->luac_dir[0] = '\0';
        return 0;
      }
    }
  }
  snprintf(e->lua_dir, sizeof(e->lua_dir), "%s", SCEPLAB_BUILD_LUA_DIR);
  snprintf(e->luac_dir, sizeof(e->luac_dir), "%s", SCEPLAB_BUILD_LUAC_DIR);
  return has_cli(e->lua_dir) ? 0 : -1;
}

static int not_older(const struct stat *a, const struct stat *b)
{
  return a->st_mtim.tv_sec > b->st_mtim.tv_sec ||
         (a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec >= b->st_mtim.tv_nsec);
}

/* Pushes the compiled chunk of module name found at src, if the cache has one compiled from that
 * very file (its chunk name) that is not older than it; returns 1, or 0 with nothing pushed. */
static int load_compiled(lua_State *L, const char *cache, const char *name, const char *src)
{
  char path[PATH_MAX];
  struct stat cst, sst;
  lua_Debug ar;
  /* Module names are dotted words; anything that could leave the cache directory is not cached. */
  if(strchr(name, '/') || strstr(name, ".."))
    return 0;
  if((size_t)snprintf(path, sizeof(path), "%s/%s.luac", cache, name) >= sizeof(path) ||
     stat(path, &cst) != 0 || stat(src, &sst) != 0 || !not_older(&cst, &sst))
    return 0;
  if(luaL_loadfilex(L, path, "b") != LUA_OK) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushvalue(L, -1);
  lua_getinfo(L, ">S", &ar);
  if(ar.source[0] != '@' || strcmp(ar.source + 1, src) != 0) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

/* Replaces Lua's searcher for Lua files: the same search of package.path, then the compiled chunk
 * when the cache (upvalue 1) has a current one, else the source, loaded as text only. */
static int search_lua(lua_State *L)
{
  const char *name = luaL_checkstring(L, 1);
  const char *cache = lua_tostring(L, lua_upvalueindex(1));
  const char *src;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchpath");
  lua_pushvalue(L, 1);
  lua_getfield(L, -3, "path");
  lua_call(L, 2, 2);
  if(lua_isnil(L, -2))
    return 1; /* the message naming the files tried */
  lua_pop(L, 1);
  src = lua_tostring(L, -1);
  if(!(cache && *cache && load_compiled(L, cache, name, src)) && luaL_loadfilex(L, src, "t") != LUA_OK)
    return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, src, lua_tostring(L, -1));
  lua_pushvalue(L, -2);
  return 2;
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
  if(find_lua_dir(e) != 0) {
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
  lua_getfield(e->L, -1, "searchers");
  lua_pushstring(e->L, e->luac_dir);
  lua_pushcclosure(e->L, search_lua, 1);
  lua_rawseti(e->L, -2, 2);
  lua_pop(e->L, 1);
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
  lua_pushstring(e->L, SCEPLAB_COMMIT);
  lua_setfield(e->L, -2, "commit");
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
    /* Every user mistake is answered before this: what lands here is a bug, said as one, with
     * what a report needs (the traceback) and what to send with it. */
    fprintf(stderr, "sceplab: internal error: %s\n"
                    "sceplab: this is a bug in sceplab %s (commit %s), not in your input: please report it with the "
                    "command line, the message above and the output of `sceplab --version`\n",
            lua_tostring(L, -1), SCEPLAB_VERSION, SCEPLAB_COMMIT);
    lua_pop(L, 2);
    return SCEPLAB_EXIT_INTERNAL;
  }
  code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  lua_pop(L, 2);
  fflush(stdout);
  return code;
}
