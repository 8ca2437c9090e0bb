/* Zip and cab bundles, and the archives inside them, read in one pass, each member an input of
 * the merge (inputs.c). Part of the log bundle (src/core/logs/bundle/): see bundle.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "logs/bundle/bundle.h"

/* ---- archives: zip and cab bundles, and the archives inside them, in one pass ------------------
 *
 * A case zip often holds the device's own zip (a Windows MDM diagnostic archive, "Laptop-logs.zip")
 * and sometimes a cab: an archive member that is an archive is spooled and walked in turn, its
 * members named "case.zip!Laptop-logs.zip!path". What an archive may cost is bounded, so a bomb is
 * refused with a message and the rest is still read:
 *  - archives inside archives are followed MAX_NESTING levels deep (a quine, r.zip, ends there);
 *  - a member expanding more than MEMBER_RATIO times its compressed size (past its first MiB:
 *    logs compress 5 to 50 times, a bomb's zeros 1,000) is refused;
 *  - everything an outermost archive expands to, at every depth, stays within EXPAND_RATIO times
 *    its size, and at least EXPAND_FLOOR: past that the rest of it is not read;
 *  - at most MAX_MEMBERS members are read from one outermost archive. */
#define MAX_NESTING 4
#define MEMBER_RATIO 500
#define MEMBER_RATIO_AFTER (1u << 20)
#define EXPAND_RATIO 100
#define EXPAND_FLOOR (1ull << 30)
#define MAX_MEMBERS 100000

/* One outermost archive being walked, whatever the depth reached. */
typedef struct archive_walk {
  const char *top;          /* the outermost archive's name, for messages */
  uint64_t expanded, budget;
  size_t members;
  int depth_limit;
  int asked;                /* the budget is the caller's (opts.archive_budget) */
  int spent;                /* the budget is spent: nothing more of it is read */
} archive_walk;

/* A member as it is read: the bytes it expanded to, what the archive had consumed at its start. */
typedef struct entry_cookie {
  struct archive *a;
  archive_walk *w;
  uint64_t out;
  int64_t raw0;
  unsigned char peek[8];    /* its first bytes, read to see whether it is an archive itself */
  size_t npeek, ppos;
  char refused[320];        /* why its reading was stopped (a bomb), or empty */
} entry_cookie;


static void walk_archive(sceplab_merge *m, archive_walk *w, struct archive *a, const char *name, int depth);
static void open_member(sceplab_merge *m, archive_walk *w, struct archive *a, struct archive_entry *e,
                        const char *outer, int depth);

static ssize_t entry_read(void *cv, char *buf, size_t n)
{
  entry_cookie *c = cv;
  la_ssize_t r;
  if(c->ppos < c->npeek) {
    size_t k = c->npeek - c->ppos < n ? c->npeek - c->ppos : n;
    memcpy(buf, c->peek + c->ppos, k);
    c->ppos += k;
    return (ssize_t)k;
  }
  if(c->refused[0])
    return -1;
  r = archive_read_data(c->a, buf, n);
  if(r <= 0)
    return r < 0 ? -1 : 0;
  c->out += (uint64_t)r;
  c->w->expanded += (uint64_t)r;
  if(c->w->expanded > c->w->budget) {
    uint64_t b = c->w->budget;
    char limit[64];
    if(c->w->asked)
      snprintf(limit, sizeof(limit), "the budget asked for");
    else
      snprintf(limit, sizeof(limit), "%d times its size, %llu GiB at least", EXPAND_RATIO,
               (unsigned long long)(EXPAND_FLOOR >> 30));
    snprintf(c->refused, sizeof(c->refused), "refused: %.80s expands past %llu %s (%s): a zip bomb? the rest of it is "
             "not read", c->w->top, (unsigned long long)(b >= 1u << 20 ? b >> 20 : b), b >= 1u << 20 ? "MiB" : "bytes",
             limit);
    c->w->spent = 1;
    return -1;
  }
  if(c->out > MEMBER_RATIO_AFTER) {
    int64_t raw = archive_filter_bytes(c->a, -1) - c->raw0;
    if(raw <= 0 || c->out / MEMBER_RATIO > (uint64_t)raw) {
      snprintf(c->refused, sizeof(c->refused),
               "refused: expands more than %d times its compressed size (a zip bomb?); not read", MEMBER_RATIO);
      return -1;
    }
  }
  return (ssize_t)r;
}

static int entry_close(void *cv)
{
  (void)cv; /* the cookie is the caller's; the archive goes on to the next member */
  return 0;
}

/* A temporary file, already unlinked, holding the rest of the member: large members are spooled so
 * they can be streamed in step with the other inputs, nested archives so they can be walked. A
 * member damaged in the middle keeps what came before the damage (*damaged set, err saying where);
 * NULL when nothing could be spooled. */
static FILE *spool(FILE *from, const char *name, int *damaged, sceplab_error *err)
{
  char buf[65536];
  size_t n;
  uint64_t total = 0;
  int fd;
  FILE *to;
  *damaged = 0;
  if((fd = logs_tmpfd(name, err)) < 0)
    return NULL;
  to = fdopen(fd, "w+b");
  if(!to) {
    close(fd);
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  while((n = fread(buf, 1, sizeof(buf), from)) > 0) {
    if(fwrite(buf, 1, n, to) != n) {
      sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: cannot spool the member: %s", name, strerror(errno));
      fclose(to);
      return NULL;
    }
    total += n;
  }
  if(ferror(from)) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: damaged archive member: reading stopped after %llu bytes", name,
                    (unsigned long long)total);
    *damaged = 1;
  }
  rewind(to);
  return to;
}

/* A member whose reading was refused (a bomb): none of it is read, the input says why. */
static void refuse(sceplab_merge *m, merge_input *in, const char *why)
{
  sceplab_error e;
  if(in->lg) {
    sceplab_log_close(in->lg);
    in->lg = NULL;
  }
  if(in->kept.n || in->kept.len) {
    m->kept_bytes -= in->kept.len;
    logs_store_free(&in->kept);
  }
  memset(&in->info.steps, 0, sizeof(in->info.steps));
  in->info.format = in->info.why = NULL;
  in->info.records = in->info.skipped = 0;
  in->info.read_error = in->info.sorted = in->info.partly_sorted = 0;
  in->info.refused = 1;
  sceplab_err_set(&e, SCEPLAB_E_INPUT, "%s: %s", in->path, why);
  logs_input_error(in, &e);
}

/* Every regular member of an open archive, in the order it holds them. An archive with none is
 * said to be empty, never silently nothing. */
static void walk_archive(sceplab_merge *m, archive_walk *w, struct archive *a, const char *name, int depth)
{
  struct archive_entry *e;
  sceplab_error err;
  size_t before = m->n;
  int rc;
  while(!w->spent && (rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    if(archive_entry_filetype(e) != AE_IFREG)
      continue;
    if(++w->members > MAX_MEMBERS) {
      merge_input *in = logs_add_input(m, name, 0);
      sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: more than %d members: the rest are not read", name, MAX_MEMBERS);
      if(in) {
        logs_input_error(in, &err);
        in->info.refused = 1;
      }
      w->spent = 1;
      return;
    }
    open_member(m, w, a, e, name, depth);
  }
  if(!w->spent && rc != ARCHIVE_EOF) {
    merge_input *in = logs_add_input(m, name, 0);
    sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: damaged archive (%s)", name, archive_error_string(a));
    if(in) {
      logs_input_error(in, &err);
      in->info.named = depth == 0; /* the outermost archive's damage is an error wherever it was found */
    }
  }
  else if(m->n == before) {
    merge_input *in = logs_add_input(m, name, 0);
    sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: an empty archive (no files in it)", name);
    if(in)
      logs_input_error(in, &err);
  }
}

/* An input for a member that could not be read, with why. */
static merge_input *member_error(sceplab_merge *m, const char *name, const sceplab_error *err)
{
  merge_input *in = logs_add_input(m, name, 0);
  if(in)
    logs_input_error(in, err);
  return in;
}

/* An archive inside an archive, at the member the cookie reads (f): spooled, then walked; its
 * members are the inputs. It is listed itself only when it cannot be read. */
static void open_nested(sceplab_merge *m, const char *name, FILE *f, entry_cookie *c, int kind, int depth)
{
  sceplab_error err;
  int damaged = 0;
  FILE *s;
  struct archive *na;
  merge_input *in;
  sceplab_err_clear(&err);
  if(depth + 1 > c->w->depth_limit) {
    fclose(f);
    sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: a %s archive nested %d deep: not opened (archives inside archives "
                    "are followed %d levels deep)", name, kind == 2 ? "cab" : "zip", depth + 1, c->w->depth_limit);
    if((in = member_error(m, name, &err)))
      in->info.refused = 1;
    return;
  }
  s = spool(f, name, &damaged, &err);
  fclose(f);
  if(c->refused[0] || !s || damaged) {
    if(s)
      fclose(s);
    if(c->refused[0]) {
      sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: %s", name, c->refused);
      if((in = member_error(m, name, &err)))
        in->info.refused = 1;
    }
    else
      member_error(m, name, &err);
    return;
  }
  if(!(na = logs_archive_new(kind, &err)) || archive_read_open_fd(na, fileno(s), 65536) != ARCHIVE_OK) {
    if(na)
      sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: not a %s archive (%s)", name, kind == 2 ? "cab" : "zip",
                      archive_error_string(na));
    member_error(m, name, &err);
    if(na)
      archive_read_free(na);
    fclose(s);
    return;
  }
  walk_archive(m, c->w, na, name, depth + 1);
  archive_read_free(na);
  fclose(s);
}

static void open_member(sceplab_merge *m, archive_walk *w, struct archive *a, struct archive_entry *e,
                        const char *outer, int depth)
{
  char name[4096];
  int64_t mtime = archive_entry_mtime_is_set(e) ? (int64_t)archive_entry_mtime(e) : -1;
  uint64_t size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : UINT64_MAX;
  cookie_io_functions_t io = {entry_read, NULL, NULL, entry_close};
  entry_cookie c; /* every path below closes the stream over it before returning */
  merge_input *in;
  sceplab_error err;
  const char *binary = NULL;
  int damaged = 0, kind;
  la_ssize_t got;
  FILE *f;
  logs_member_name(name, sizeof(name), outer, e);
  sceplab_err_clear(&err);
  memset(&c, 0, sizeof(c));
  c.a = a;
  c.w = w;
  c.raw0 = archive_filter_bytes(a, -1);
  /* the first bytes say whether the member is an archive itself */
  got = archive_read_data(a, c.peek, sizeof(c.peek));
  c.npeek = got > 0 ? (size_t)got : 0;
  c.out = c.npeek;
  w->expanded += c.npeek;
  if(!(f = fopencookie(&c, "rb", io))) {
    sceplab_err_set(&err, SCEPLAB_E_NOMEM, "out of memory");
    member_error(m, name, &err);
    return;
  }
  if((kind = logs_archive_magic(c.peek, c.npeek)) != 0) {
    open_nested(m, name, f, &c, kind, depth);
    return;
  }
  if(!(in = logs_add_input(m, name, 0))) {
    fclose(f);
    return;
  }
  if(size > SMALL_INPUT) {
    FILE *s = spool(f, name, &damaged, &err);
    fclose(f);
    if(c.refused[0] || !s) {
      if(s)
        fclose(s);
      if(c.refused[0])
        refuse(m, in, c.refused);
      else
        logs_input_error(in, &err);
      return;
    }
    if(damaged) {
      /* what came before the damage is read; the input says where it stopped */
      logs_input_error(in, &err);
      in->info.read_error = 1;
    }
    f = s;
  }
  {
    sceplab_error oerr;
    sceplab_err_clear(&oerr);
    in->lg = logs_open_stream(f, name, &oerr);
    if(in->lg) {
      in->lg->in_archive = 1;
      in->lg = logs_finish_open(in->lg, name, &m->filter, &m->opts, mtime, &binary, &oerr);
    }
    if(!in->lg) {
      if(c.refused[0])
        refuse(m, in, c.refused);
      else if(!damaged)
        logs_input_error(in, &oerr);
      in->info.binary = binary != NULL;
      return;
    }
  }
  in->size = size;
  if(size <= SMALL_INPUT && logs_defer(m, in))
    return; /* read ahead whole while the archive is on it */
  if(size <= SMALL_INPUT) {
    /* a small member must be read now, while the archive is on it */
    int whole = logs_read_whole(m, in, (in->lg->ft->flags & LOGS_UNORDERED) != 0);
    if(c.refused[0]) {
      refuse(m, in, c.refused);
      return;
    }
    if(whole == 0) {
      /* over the buffer cap: spool the rest and stream it */
      FILE *s = spool(in->lg->f, name, &damaged, &err);
      if(c.refused[0] || !s) {
        if(s)
          fclose(s);
        if(c.refused[0])
          refuse(m, in, c.refused);
        else {
          logs_input_error(in, &err);
          sceplab_log_close(in->lg);
          in->lg = NULL;
        }
        return;
      }
      if(damaged) {
        logs_input_error(in, &err);
        in->info.read_error = 1;
      }
      fclose(in->lg->f);
      in->lg->f = s;
    }
    return;
  }
  logs_start_input(m, in, size);
}

/* 1 when path is an archive this walked (its members added), 0 when it is none, -1 when it is one
 * that cannot be read (the error on an input named after it). */
int logs_open_zip(sceplab_merge *m, const char *path, int named)
{
  FILE *f = fopen(path, "rb");
  unsigned char magic[4];
  size_t got = f ? fread(magic, 1, 4, f) : 0;
  struct archive *a;
  sceplab_error err;
  archive_walk w;
  struct stat st;
  int kind;
  if(f)
    fclose(f);
  if(!(kind = logs_archive_magic(magic, got)))
    return 0;
  sceplab_err_clear(&err);
  if(!(a = logs_archive_new(kind, &err))) {
    merge_input *in = logs_add_input(m, path, named);
    if(in) {
      logs_input_error(in, &err);
      in->info.named = 1; /* an archive that cannot be opened is an error wherever it was found */
    }
    return -1;
  }
  if(archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
    merge_input *in = logs_add_input(m, path, named);
    sceplab_err_set(&err, SCEPLAB_E_INPUT, "%s: not a %s archive (%s)", path, kind == 2 ? "cab" : "zip",
                    archive_error_string(a));
    if(in)
      logs_input_error(in, &err);
    archive_read_free(a);
    return -1;
  }
  memset(&w, 0, sizeof(w));
  w.top = path;
  w.depth_limit = m->opts.archive_depth > 0 ? m->opts.archive_depth : MAX_NESTING;
  if(m->opts.archive_budget) {
    w.budget = m->opts.archive_budget;
    w.asked = 1;
  }
  else {
    uint64_t size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    w.budget = size > EXPAND_FLOOR / EXPAND_RATIO ? size * EXPAND_RATIO : EXPAND_FLOOR;
  }
  walk_archive(m, &w, a, path, 0);
  archive_read_free(a);
  return 1;
}
