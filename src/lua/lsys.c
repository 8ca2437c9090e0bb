/* sceplab.core.sys: the few operating-system services the Lua side needs and Lua lacks: files
 * only the owner can read (keys, poll state), directories, a sleep, a monotonic clock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lutil.h"

/* write_private(path, data): created or truncated with mode 0600, whatever the umask. */
static int l_write_private(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  size_t n, off = 0;
  const char *data = luaL_checklstring(L, 2, &n);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if(fd < 0)
    return luaL_fileresult(L, 0, path);
  if(fchmod(fd, 0600) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return luaL_fileresult(L, 0, path);
  }
  while(off < n) {
    ssize_t w = write(fd, data + off, n - off);
    if(w < 0) {
      int e = errno;
      if(e == EINTR)
        continue;
      close(fd);
      errno = e;
      return luaL_fileresult(L, 0, path);
    }
    off += (size_t)w;
  }
  if(close(fd) != 0)
    return luaL_fileresult(L, 0, path);
  lua_pushboolean(L, 1);
  return 1;
}

/* mkdir(path): true when it exists afterwards as a directory. */
static int l_mkdir(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if(mkdir(path, 0700) != 0 && errno != EEXIST)
    return luaL_fileresult(L, 0, path);
  if(stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: not a directory", path);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_sleep(lua_State *L)
{
  double s = luaL_checknumber(L, 1);
  struct timespec ts;
  if(s < 0)
    s = 0;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while(nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
  return 0;
}

static int l_now(lua_State *L)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* kind(path) -> "file", "directory", "other", or nil, message */
static int l_kind(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if(stat(path, &st) != 0)
    return luaL_fileresult(L, 0, path);
  lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
  return 1;
}

/* listdir(path) -> sorted array of names (without . and ..), or nil, message */
static int l_listdir(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  DIR *d = opendir(path);
  struct dirent *e;
  int n = 0;
  if(!d)
    return luaL_fileresult(L, 0, path);
  lua_newtable(L);
  while((e = readdir(d)) != NULL) {
    if(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -2, ++n);
  }
  closedir(d);
  /* sort for a stable order */
  lua_getglobal(L, "table");
  if(lua_istable(L, -1)) {
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, -3);
    lua_call(L, 1, 0);
  }
  lua_pop(L, 1);
  return 1;
}

static int l_isatty(lua_State *L)
{
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

static const luaL_Reg funcs[] = {
  {"write_private", l_write_private}, {"mkdir", l_mkdir}, {"sleep", l_sleep}, {"now", l_now},
  {"isatty", l_isatty}, {"kind", l_kind}, {"listdir", l_listdir}, {NULL, NULL}
};

int luaopen_sceplab_core_sys(lua_State *L)
{
  luaL_newlib(L, funcs);
  return 1;
}
