/* sceplab.core.codec: the tolerant base64, hex and URL codecs, and text escaped for the terminal and XML. */
#include <stdlib.h>

#include "lutil.h"

static int push_owned(lua_State *L, void *p, size_t n)
{
  lua_pushlstring(L, (const char *)p, n);
  free(p);
  return 1;
}

static int l_b64decode(lua_State *L)
{
  size_t n, outlen = 0, bad = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char *out = sceplab_b64_decode(s, n, &outlen, &bad);
  if(!out) {
    lua_pushnil(L);
    lua_pushfstring(L, "not base64 (offset %d)", (int)bad);
    return 2;
  }
  return push_owned(L, out, outlen);
}

static int l_b64encode(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char *out = sceplab_b64_encode((const unsigned char *)s, n);
  if(!out)
    return luaL_error(L, "out of memory");
  lua_pushstring(L, out);
  free(out);
  return 1;
}

static int l_hexencode(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char *out = sceplab_hex_encode((const unsigned char *)s, n, lua_toboolean(L, 2));
  if(!out)
    return luaL_error(L, "out of memory");
  return push_owned(L, out, n * 2);
}

static int l_hexdecode(lua_State *L)
{
  size_t n, outlen = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char *out = sceplab_hex_decode(s, n, &outlen);
  if(!out) {
    lua_pushnil(L);
    lua_pushliteral(L, "not hex");
    return 2;
  }
  return push_owned(L, out, outlen);
}

static int l_urldecode(lua_State *L)
{
  size_t n, outlen = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  char *out = sceplab_url_decode(s, n, &outlen, lua_toboolean(L, 2));
  if(!out)
    return luaL_error(L, "out of memory");
  return push_owned(L, out, outlen);
}

/* visible(s [, one_line]) -> s with control characters, bidirectional overrides and invalid UTF-8
 * escaped (with one_line, tab, CR and newline too: one field on one line); s itself (no copy)
 * when nothing needs escaping. */
static int l_visible(lua_State *L)
{
  size_t n, need, used;
  const char *s = luaL_checklstring(L, 1, &n);
  int one_line = lua_toboolean(L, 2);
  luaL_Buffer b;
  need = one_line ? sceplab_visible_line_len(s, n) : sceplab_visible_len(s, n);
  if(need == 0) {
    lua_settop(L, 1);
    return 1;
  }
  luaL_buffinit(L, &b);
  if(one_line)
    sceplab_visible_line(s, n, luaL_prepbuffsize(&b, need + 1), need + 1, &used);
  else
    sceplab_visible(s, n, luaL_prepbuffsize(&b, need + 1), need + 1, &used);
  luaL_addsize(&b, need);
  luaL_pushresult(&b);
  return 1;
}

/* xml(s) -> s as XML text or an attribute value (codec.h's sceplab_esc_xml): markup escaped, what
 * XML cannot carry replaced with U+FFFD. The writers of XML in Lua use it, as those in C do. */
static int l_xml(lua_State *L)
{
  size_t n, used = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  while(n) {
    char *o = luaL_prepbuffsize(&b, 512);
    luaL_addsize(&b, sceplab_esc_xml(s, n, o, 512, &used));
    s += used;
    n -= used;
  }
  luaL_pushresult(&b);
  return 1;
}

/* normalize_quotes(s) -> s with every form of apostrophe and quote as ' and " (codec.h). */
static int l_normalize_quotes(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char *o = luaL_buffinitsize(L, &b, n + 1);
  luaL_pushresultsize(&b, sceplab_normalize_quotes(s, n, o));
  return 1;
}

static const luaL_Reg funcs[] = {
  {"visible", l_visible}, {"xml", l_xml}, {"normalize_quotes", l_normalize_quotes}, {"b64decode", l_b64decode}, {"b64encode", l_b64encode}, {"hexencode", l_hexencode},
  {"hexdecode", l_hexdecode}, {"urldecode", l_urldecode}, {NULL, NULL}
};

int luaopen_sceplab_core_codec(lua_State *L)
{
  luaL_newlib(L, funcs);
  return 1;
}
