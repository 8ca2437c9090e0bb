/* sceplab.core.sys: the few operating-system services the Lua side needs and Lua lacks: files
 * only the owner can read (keys, poll state), directories (temporary ones too), a sleep, a monotonic
 * clock, and a time limit on user scripts (limit). */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
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

/* read_file(path, limit) -> bytes | nil, message: the whole file ("-": standard input), refused
 * as soon as it is known to exceed limit bytes (at once for a regular file, while reading for a
 * pipe or a device), so memory never holds more than the limit. */
static int l_read_file(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  lua_Integer limit = luaL_checkinteger(L, 2);
  int is_stdin = strcmp(path, "-") == 0;
  const char *name = is_stdin ? "standard input" : path;
  int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  luaL_Buffer b;
  size_t total = 0;
  luaL_argcheck(L, limit >= 0, 2, "must not be negative");
  if(fd < 0)
    return luaL_fileresult(L, 0, path);
  if(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > limit) {
    if(!is_stdin)
      close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: larger than %d MiB", name, (int)(limit >> 20));
    return 2;
  }
  luaL_buffinit(L, &b);
  for(;;) {
    char *p = luaL_prepbuffsize(&b, 65536);
    ssize_t r = read(fd, p, 65536);
    if(r < 0 && errno == EINTR)
      continue;
    if(r < 0) {
      int e = errno;
      if(!is_stdin)
        close(fd);
      lua_pushnil(L);
      lua_pushfstring(L, "%s: %s", name, strerror(e));
      return 2;
    }
    if(r == 0)
      break;
    total += (size_t)r;
    if(total > (size_t)limit) {
      if(!is_stdin)
        close(fd);
      lua_pushnil(L);
      lua_pushfstring(L, "%s: larger than %d MiB", name, (int)(limit >> 20));
      return 2;
    }
    luaL_addsize(&b, (size_t)r);
  }
  if(!is_stdin)
    close(fd);
  luaL_pushresult(&b);
  return 1;
}

/* ---- reserve(path [, private]) -> output ------------------------------------------------------
 * An output file checked and opened before the work that fills it (an enrollment: a CA that
 * issues, a one-time challenge spent), so an unwritable --cert-out is found before the request,
 * not after. The data goes to a temporary file beside the target, renamed over it on commit: the
 * target is never half-written, and is left as it was when the work fails. A private output
 * (a key) is mode 0600 and refuses a symlink at the target, so a key is never written through a
 * link to somewhere else. */
#define OUTPUT_MT "sceplab.output"

typedef struct {
  int fd;       /* -1 once committed or aborted */
  char *path;   /* the target */
  char *tmp;    /* the temporary file beside it */
} loutput;

static void output_release(loutput *o, int unlink_tmp)
{
  if(o->fd >= 0) {
    close(o->fd);
    o->fd = -1;
    if(unlink_tmp && o->tmp)
      unlink(o->tmp);
  }
  free(o->path);
  free(o->tmp);
  o->path = o->tmp = NULL;
}

static int output_fail(lua_State *L, loutput *o, const char *what, int e)
{
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s: %s", o->path ? o->path : "?", what, strerror(e));
  return 2;
}

static int l_reserve(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  int private_ = lua_toboolean(L, 2);
  loutput *o = (loutput *)lua_newuserdatauv(L, sizeof(*o), 0);
  const char *slash = strrchr(path, '/');
  struct stat st;
  size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
  o->fd = -1;
  o->path = o->tmp = NULL;
  luaL_setmetatable(L, OUTPUT_MT);
  if(lstat(path, &st) == 0) {
    if(S_ISDIR(st.st_mode))
      return lua_pushnil(L), lua_pushfstring(L, "%s: is a directory", path), 2;
    if(private_ && S_ISLNK(st.st_mode))
      return lua_pushnil(L), lua_pushfstring(L, "%s: is a symbolic link; a private key is not written through one", path), 2;
    if(access(path, W_OK) != 0)
      return lua_pushnil(L), lua_pushfstring(L, "%s: %s", path, strerror(errno)), 2;
  }
  o->path = strdup(path);
  o->tmp = malloc(dirlen + strlen(path + dirlen) + 32);
  if(!o->path || !o->tmp)
    return luaL_error(L, "out of memory");
  memcpy(o->tmp, path, dirlen);
  sprintf(o->tmp + dirlen, ".%s.sceplab-XXXXXX", path + dirlen);
  o->fd = mkostemp(o->tmp, O_CLOEXEC);
  if(o->fd < 0) {
    int e = errno;
    free(o->tmp);
    o->tmp = NULL;
    return output_fail(L, o, "cannot write there", e);
  }
  /* mkostemp makes 0600; a public file gets what the umask allows, as with fopen */
  if(!private_) {
    mode_t um = umask(0);
    umask(um);
    if(fchmod(o->fd, 0666 & ~um) != 0) {
      int e = errno;
      output_release(o, 1);
      return lua_pushnil(L), lua_pushfstring(L, "%s: %s", path, strerror(e)), 2;
    }
  }
  return 1;
}

static loutput *check_output(lua_State *L)
{
  loutput *o = (loutput *)luaL_checkudata(L, 1, OUTPUT_MT);
  if(o->fd < 0)
    luaL_argerror(L, 1, "the output was committed or aborted already");
  return o;
}

/* output:commit(data) -> true | nil, message: writes, syncs and renames over the target. */
static int m_output_commit(lua_State *L)
{
  loutput *o = check_output(L);
  size_t n, off = 0;
  const char *data = luaL_checklstring(L, 2, &n);
  while(off < n) {
    ssize_t w = write(o->fd, data + off, n - off);
    if(w < 0 && errno == EINTR)
      continue;
    if(w < 0) {
      int e = errno;
      lua_pushnil(L);
      lua_pushfstring(L, "%s: %s", o->path, strerror(e));
      output_release(o, 1);
      return 2;
    }
    off += (size_t)w;
  }
  if(fsync(o->fd) != 0 || rename(o->tmp, o->path) != 0) {
    int e = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", o->path, strerror(e));
    output_release(o, 1);
    return 2;
  }
  output_release(o, 0);
  lua_pushboolean(L, 1);
  return 1;
}

static int m_output_abort(lua_State *L)
{
  loutput *o = (loutput *)luaL_checkudata(L, 1, OUTPUT_MT);
  output_release(o, 1);
  return 0;
}

static int m_output_path(lua_State *L)
{
  loutput *o = (loutput *)luaL_checkudata(L, 1, OUTPUT_MT);
  lua_pushstring(L, o->path ? o->path : "");
  return 1;
}

static int m_output_tostring(lua_State *L)
{
  loutput *o = (loutput *)luaL_checkudata(L, 1, OUTPUT_MT);
  if(o->fd >= 0)
    lua_pushfstring(L, "sceplab.output (%s, reserved)", o->path);
  else
    lua_pushliteral(L, "sceplab.output (closed)");
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

/* mkdtemp([prefix]) -> path | nil, message: a new directory, mode 0700, under $TMPDIR (else /tmp),
 * named prefix (default "sceplab-") and six random characters. mkdtemp(3) makes it or fails: a
 * name chosen first and made later (os.tmpname, then mkdir) can be made by someone else in
 * between, and mkdir() takes a directory that exists. */
static int l_mkdtemp(lua_State *L)
{
  const char *prefix = luaL_optstring(L, 1, "sceplab-");
  const char *dir = getenv("TMPDIR");
  char path[PATH_MAX];
  int n;
  luaL_argcheck(L, !strchr(prefix, '/') && strlen(prefix) <= 64, 1, "a name prefix, no '/', at most 64 bytes");
  if(!dir || !*dir)
    dir = "/tmp";
  n = snprintf(path, sizeof(path), "%s%s%sXXXXXX", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", prefix);
  if(n < 0 || (size_t)n >= sizeof(path)) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot make a temporary directory in %s (TMPDIR): the path is too long", dir);
    return 2;
  }
  if(!mkdtemp(path)) {
    int e = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "cannot make a temporary directory in %s (TMPDIR): %s", dir, strerror(e));
    return 2;
  }
  lua_pushstring(L, path);
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
/* executable() -> the path of the running sceplab (to start workers of itself), or nil */
static int l_executable(lua_State *L)
{
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if(n <= 0)
    return 0;
  lua_pushlstring(L, exe, (size_t)n);
  return 1;
}

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

/* Bytes of the regular files at path, a directory walked (symbolic links not followed); *zip is
 * set when one of them starts as a zip does (what the readers count for those is what they
 * unpack, not the file's size). */
static int du_walk(const char *path, int depth, long long *total, int *zip)
{
  struct stat st;
  if(lstat(path, &st) != 0)
    return -1;
  if(S_ISREG(st.st_mode)) {
    char magic[4];
    FILE *f = fopen(path, "rb");
    if(f) {
      if(fread(magic, 1, 4, f) == 4 && memcmp(magic, "PK\3\4", 4) == 0)
        *zip = 1;
      fclose(f);
    }
    *total += (long long)st.st_size;
  } else if(S_ISDIR(st.st_mode) && depth < 32) {
    DIR *d = opendir(path);
    struct dirent *e;
    char sub[4096];
    if(!d)
      return 0;
    while((e = readdir(d)) != NULL) {
      if(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      if((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) < sizeof(sub))
        du_walk(sub, depth + 1, total, zip);
    }
    closedir(d);
  }
  return 0;
}

/* du(path) -> bytes, has_zip | nil, message: what a log reader will read under path, for a
 * progress line with a total. */
static int l_du(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  long long total = 0;
  int zip = 0;
  if(du_walk(path, 0, &total, &zip) != 0)
    return luaL_fileresult(L, 0, path);
  lua_pushinteger(L, (lua_Integer)total);
  lua_pushboolean(L, zip);
  return 2;
}

/* set_zone(name) -> true | nil, message: makes the IANA zone `name` (Europe/Berlin) the
 * process's local zone, so localtime_r, mktime, os.date and os.time work in it (the log writer's
 * "local" display, --since read in that zone). The name must be a TZif file of the zone database
 * ($TZDIR, else /usr/share/zoneinfo); it is checked here because glibc silently takes an unknown
 * TZ as UTC. Called by the CLI before any thread exists; children inherit TZ, as they should. */
static int l_set_zone(lua_State *L)
{
  const char *name = luaL_checkstring(L, 1);
  const char *dir = getenv("TZDIR");
  char path[4096], magic[4];
  FILE *f;
  size_t n;
  if(!*name || name[0] == '/' || strstr(name, "..") || strlen(name) > 200) {
    lua_pushnil(L);
    lua_pushstring(L, "not a zone name (such as Europe/Berlin)");
    return 2;
  }
  snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
  f = fopen(path, "rb");
  if(!f) {
    lua_pushnil(L);
    lua_pushfstring(L, "no such zone in %s", dir && *dir ? dir : "/usr/share/zoneinfo");
    return 2;
  }
  n = fread(magic, 1, sizeof(magic), f);
  fclose(f);
  if(n != sizeof(magic) || memcmp(magic, "TZif", 4) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, "not a zone of the zone database");
    return 2;
  }
  if(setenv("TZ", name, 1) != 0)
    return luaL_fileresult(L, 0, "TZ");
  tzset();
  lua_pushboolean(L, 1);
  return 1;
}

static int l_isatty(lua_State *L)
{
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* ---- limit(seconds, f, ...) -------------------------------------------------------------------
 * Calls f like pcall, but a script that is still running after `seconds` gets an error. A count
 * hook looks at the clock every HOOK_EVERY instructions; once the deadline has passed it fires on
 * every instruction, so a script that catches the error with pcall gets it again the moment it
 * runs anything outside that pcall, and it unwinds to here. Threads created inside inherit the
 * hook. Work inside one C call (a long string.rep) is not interrupted until it returns. */
#define HOOK_EVERY 10000
#define DEADLINE_KEY "sceplab.sys.deadline"

typedef struct {
  double deadline; /* CLOCK_MONOTONIC seconds */
  double seconds;
  int expired;
} limit_state;

static double monotonic(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void limit_hook(lua_State *L, lua_Debug *ar)
{
  limit_state *st;
  (void)ar;
  lua_getfield(L, LUA_REGISTRYINDEX, DEADLINE_KEY);
  st = (limit_state *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  if(!st)
    return;
  if(!st->expired && monotonic() < st->deadline)
    return;
  if(!st->expired) {
    st->expired = 1;
    lua_sethook(L, limit_hook, LUA_MASKCOUNT, 1);
  }
  {
    char msg[64];
    snprintf(msg, sizeof(msg), "time limit of %g s exceeded", st->seconds);
    luaL_error(L, "%s", msg);
  }
}

static int l_limit(lua_State *L)
{
  double seconds = luaL_checknumber(L, 1);
  int n = lua_gettop(L), status, prev_mask = lua_gethookmask(L), prev_count = lua_gethookcount(L);
  lua_Hook prev_hook = lua_gethook(L);
  limit_state *st, *outer;
  luaL_argcheck(L, seconds > 0, 1, "must be positive");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_getfield(L, LUA_REGISTRYINDEX, DEADLINE_KEY);
  outer = (limit_state *)lua_touserdata(L, -1); /* kept on the stack, below f */
  st = (limit_state *)lua_newuserdatauv(L, sizeof(*st), 0);
  st->seconds = seconds;
  st->deadline = monotonic() + seconds;
  st->expired = 0;
  if(outer && outer->deadline < st->deadline) { /* a nested limit never extends the outer one */
    st->deadline = outer->deadline;
    st->seconds = outer->seconds;
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, DEADLINE_KEY);
  lua_rotate(L, 2, 2); /* seconds, outer, st, f, args... */
  lua_sethook(L, limit_hook, LUA_MASKCOUNT, HOOK_EVERY);
  status = lua_pcall(L, n - 2, LUA_MULTRET, 0);
  lua_sethook(L, prev_hook, prev_mask, prev_count);
  lua_pushvalue(L, 2);
  lua_setfield(L, LUA_REGISTRYINDEX, DEADLINE_KEY);
  lua_pushboolean(L, status == LUA_OK);
  lua_replace(L, 3);
  return lua_gettop(L) - 2;
}

static const luaL_Reg funcs[] = {
  {"write_private", l_write_private}, {"mkdir", l_mkdir}, {"mkdtemp", l_mkdtemp}, {"sleep", l_sleep}, {"now", l_now},
  {"isatty", l_isatty}, {"set_zone", l_set_zone}, {"du", l_du}, {"kind", l_kind}, {"executable", l_executable}, {"listdir", l_listdir}, {"limit", l_limit},
  {"read_file", l_read_file}, {"reserve", l_reserve}, {NULL, NULL}
};

static const luaL_Reg output_methods[] = {
  {"commit", m_output_commit}, {"abort", m_output_abort}, {"path", m_output_path}, {NULL, NULL}
};
static const luaL_Reg output_meta[] = {
  {"__gc", m_output_abort}, {"__close", m_output_abort}, {"__tostring", m_output_tostring}, {NULL, NULL}
};

int luaopen_sceplab_core_sys(lua_State *L)
{
  sceplab_lua_newclass(L, OUTPUT_MT, output_meta, output_methods);
  luaL_newlib(L, funcs);
  return 1;
}
