#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

unsigned char *fixture(const char *rel, size_t *len)
{
  char path[1024];
  FILE *f;
  long n;
  unsigned char *buf;
  snprintf(path, sizeof(path), "%s/%s", SCEPLAB_FIXTURES, rel);
  f = fopen(path, "rb");
  if(!f)
    fail_msg("missing fixture %s", path);
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

const char *str_at(const sceplab_val *v, const char *path)
{
  const sceplab_val *x = sceplab_path(v, path);
  return (x && x->type == SCEPLAB_VSTR) ? x->u.s.p : NULL;
}

int64_t int_at(const sceplab_val *v, const char *path)
{
  const sceplab_val *x = sceplab_path(v, path);
  if(!x || x->type != SCEPLAB_VINT)
    fail_msg("no integer at %s", path);
  return x->u.i;
}

int bool_at(const sceplab_val *v, const char *path)
{
  const sceplab_val *x = sceplab_path(v, path);
  if(!x || x->type != SCEPLAB_VBOOL)
    fail_msg("no boolean at %s", path);
  return x->u.b;
}

int has_warning(const sceplab_val *v, const char *path, const char *needle)
{
  const sceplab_val *base = path && *path ? sceplab_path(v, path) : v;
  const sceplab_val *w = sceplab_obj_get(base, "warnings");
  size_t i;
  if(!w)
    return 0;
  for(i = 0; i < w->u.c.n; i++)
    if(strstr(w->u.c.items[i]->u.s.p, needle))
      return 1;
  return 0;
}

sceplab_val *decode_fixture(decoder_fn fn, const char *rel, int show_secrets)
{
  size_t n;
  unsigned char *buf = fixture(rel, &n);
  sceplab_decode_opts o = {0};
  sceplab_error err;
  sceplab_val *v;
  o.show_secrets = show_secrets;
  v = fn(buf, n, &o, &err);
  if(!v)
    fail_msg("%s: %s", rel, err.msg);
  free(buf);
  return v;
}

sceplab_ca *scratch_ca(char *dir)
{
  sceplab_error err;
  if(!mkdtemp(dir) || sceplab_ca_init(dir, NULL, &err) != 0)
    return NULL;
  return sceplab_ca_open(dir, &err);
}

int scratch_ca_remove(sceplab_ca *ca, const char *dir)
{
  char cmd[4200];
  sceplab_ca_close(ca);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}
