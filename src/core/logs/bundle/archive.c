/* Zip bundles, read in place through libarchive.
 * Part of the log bundle (src/core/logs/bundle/): see logs_int.h and bundle.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>

#include <archive.h>
#include <archive_entry.h>

#include "logs/bundle/bundle.h"

typedef struct member_cookie { struct archive *a; } member_cookie;

static int by_path(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static ssize_t member_read(void *c, char *buf, size_t n)
{
  la_ssize_t r = archive_read_data(((member_cookie *)c)->a, buf, n);
  return r < 0 ? -1 : (ssize_t)r;
}

static int member_close(void *c)
{
  archive_read_free(((member_cookie *)c)->a);
  free(c);
  return 0;
}

int logs_archive_magic(const unsigned char *p, size_t n)
{
  if(n >= 4 && (memcmp(p, "PK\3\4", 4) == 0 || memcmp(p, "PK\5\6", 4) == 0)) /* a zip, or an empty one */
    return 1;
  if(n >= 4 && memcmp(p, "MSCF", 4) == 0) /* a Microsoft cabinet (libarchive reads MSZIP and LZX) */
    return 2;
  return 0;
}

static int file_magic(const char *path)
{
  FILE *f = fopen(path, "rb");
  unsigned char magic[4];
  size_t got = f ? fread(magic, 1, 4, f) : 0;
  if(f)
    fclose(f);
  return logs_archive_magic(magic, got);
}

struct archive *logs_archive_new(int kind, sceplab_error *err)
{
  struct archive *a;
  if(sceplab_optlib_need(SCEPLAB_LIB_ARCHIVE, err) != 0)
    return NULL;
  if(!(a = archive_read_new())) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  if(kind == 2)
    archive_read_support_format_cab(a);
  else
    archive_read_support_format_zip(a);
  archive_read_support_filter_all(a);
  return a;
}

void logs_member_name(char *out, size_t outlen, const char *outer, struct archive_entry *e)
{
  /* the name as the archive wrote it in UTF-8, else its bytes; shown, never opened: as UTF-8 */
  const char *name = archive_entry_pathname_utf8(e);
  char raw[1024], fixed[3 * sizeof(raw)];
  size_t n;
  if(!name)
    name = archive_entry_pathname(e);
  snprintf(raw, sizeof(raw), "%s", name ? name : "?");
  n = sceplab_utf8_repair(raw, sceplab_utf8_boundary(raw, strlen(raw), sizeof(raw) - 1), fixed);
  snprintf(out, outlen, "%s!%.*s", outer, (int)n, fixed);
  out[sceplab_utf8_boundary(out, strlen(out), outlen - 1)] = '\0';
}

/* An archive handle positioned at regular-file member index (or walking all when each is set). */
static struct archive *archive_at(const char *path, int index, void (*each)(void *, int, const char *), void *u,
                                  struct archive_entry **entry, int *count, sceplab_error *err)
{
  struct archive *a;
  struct archive_entry *e;
  int i = 0, rc, kind = file_magic(path);
  if(!(a = logs_archive_new(kind, err)))
    return NULL;
  if(archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: not a %s archive (%s)", path, kind == 2 ? "cab" : "zip",
                    archive_error_string(a));
    archive_read_free(a);
    return NULL;
  }
  while((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    if(archive_entry_filetype(e) != AE_IFREG)
      continue;
    if(each) {
      char name[2048];
      logs_member_name(name, sizeof(name), "", e);
      each(u, i, name + 1); /* without the "!" of an empty outer name */
    }
    else if(i == index) {
      *entry = e;
      return a;
    }
    i++;
  }
  if(rc != ARCHIVE_EOF) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: damaged archive (%s)", path, archive_error_string(a));
    archive_read_free(a);
    return NULL;
  }
  if(count)
    *count = i;
  if(!each)
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: no member %d", path, index);
  archive_read_free(a);
  return NULL;
}

int sceplab_archive_members(const char *path, void (*each)(void *u, int index, const char *name), void *u,
                            sceplab_error *err)
{
  int count = 0;
  if(!file_magic(path))
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: not a zip archive", path), -1;
  sceplab_err_clear(err);
  archive_at(path, -1, each, u, NULL, &count, err);
  return err && err->code != SCEPLAB_OK ? -1 : count;
}

sceplab_log *sceplab_log_open_member(const char *archive, int index, const sceplab_log_filter *filter,
                                     const sceplab_log_opts *opts, sceplab_error *err)
{
  struct archive_entry *e = NULL;
  struct archive *a = archive_at(archive, index, NULL, NULL, &e, NULL, err);
  member_cookie *c;
  cookie_io_functions_t io = {member_read, NULL, NULL, member_close};
  char name[2048];
  int64_t mtime;
  FILE *f;
  sceplab_log *lg;
  if(!a)
    return NULL;
  logs_member_name(name, sizeof(name), archive, e);
  mtime = archive_entry_mtime_is_set(e) ? (int64_t)archive_entry_mtime(e) : -1;
  c = malloc(sizeof(*c));
  f = c ? fopencookie(c, "rb", io) : NULL;
  if(!f) {
    free(c);
    archive_read_free(a);
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  c->a = a;
  lg = logs_open_stream(f, name, err);
  if(lg)
    lg->in_archive = 1;
  return lg ? logs_finish_open(lg, name, filter, opts, mtime, NULL, err) : NULL;
}

/* ---- writing: a bundle folder as a zip, as collections are sent --------------------------- */

static int zip_add(struct archive *a, const char *root, const char *rel, sceplab_error *err, int depth)
{
  char path[4096];
  struct stat st;
  DIR *d;
  struct dirent *de;
  if(depth > 16 || snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel) >= (int)sizeof(path))
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: path too long or nested too deep", root), -1;
  if(lstat(path, &st) != 0)
    return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno)), -1;
  if(S_ISDIR(st.st_mode)) {
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int rc = 0;
    if(!(d = opendir(path)))
      return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno)), -1;
    while((de = readdir(d)) != NULL) {
      char *name;
      if(de->d_name[0] == '.')
        continue; /* . and .., and hidden working files */
      if(n == cap) {
        char **grown = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));
        if(!grown)
          break;
        names = grown;
      }
      if(!(name = malloc(strlen(rel) + strlen(de->d_name) + 2)))
        break;
      sprintf(name, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
      names[n++] = name;
    }
    closedir(d);
    if(n)
      qsort(names, n, sizeof(*names), by_path);
    for(i = 0; i < n; i++) {
      if(rc == 0)
        rc = zip_add(a, root, names[i], err, depth + 1);
      free(names[i]);
    }
    free(names);
    return rc;
  }
  if(S_ISREG(st.st_mode)) {
    FILE *f = fopen(path, "rb");
    struct archive_entry *e = archive_entry_new();
    char buf[65536];
    size_t got;
    int rc = 0;
    if(!f || !e) {
      if(f)
        fclose(f);
      archive_entry_free(e);
      return sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, strerror(errno)), -1;
    }
    archive_entry_set_pathname(e, rel);
    archive_entry_set_size(e, st.st_size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, st.st_mtime, 0);
    if(archive_write_header(a, e) != ARCHIVE_OK)
      rc = -1;
    while(rc == 0 && (got = fread(buf, 1, sizeof(buf), f)) > 0)
      if(archive_write_data(a, buf, got) < 0)
        rc = -1;
    fclose(f);
    archive_entry_free(e);
    if(rc != 0)
      sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", path, archive_error_string(a));
    return rc;
  }
  return 0; /* links, sockets: not part of a bundle */
}

int sceplab_zip_dir(const char *dir, const char *zip_path, sceplab_error *err)
{
  struct archive *a;
  int rc;
  if(sceplab_optlib_need(SCEPLAB_LIB_ARCHIVE, err) != 0)
    return -1;
  if(!(a = archive_write_new()) || archive_write_set_format_zip(a) != ARCHIVE_OK ||
     archive_write_open_filename(a, zip_path) != ARCHIVE_OK) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", zip_path, a ? archive_error_string(a) : "out of memory");
    archive_write_free(a);
    return -1;
  }
  rc = zip_add(a, dir, "", err, 0);
  if(archive_write_close(a) != ARCHIVE_OK && rc == 0) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s: %s", zip_path, archive_error_string(a));
    rc = -1;
  }
  archive_write_free(a);
  if(rc != 0)
    remove(zip_path);
  return rc;
}
