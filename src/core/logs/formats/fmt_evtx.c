/* Binary .evtx files, read with libevtx; each record's XML is parsed by the core (xmlrec.c).
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libevtx.h>

#include "logs/formats/formats.h"

/* what the reader keeps for an .evtx file (lg->fstate) */
typedef struct evtx_state {
  libevtx_file_t *file;
  int count, index;
} evtx_state;

/* libevtx's error text, as one line, into err: "<path>: <what>: <libevtx's reason>". */
static int evtx_error(sceplab_error *err, libevtx_error_t *e, const char *what, const char *path)
{
  char msg[256] = "";
  if(e) {
    libevtx_error_sprint(e, msg, sizeof(msg));
    libevtx_error_free(&e);
  }
  return sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: %s: %s", path, what, msg);
}

/* An archive member has no name libevtx can open: its bytes (what detection read, then the rest of
 * the stream, bounded as every member is) go to an unlinked file, which libevtx opens through
 * /proc/self/fd. A member already spooled to such a file is opened where it is. The descriptor to
 * open, or -1 with err. */
static int member_fd(sceplab_log *lg, sceplab_error *err)
{
  struct stat st;
  char buf[65536];
  size_t got;
  int fd = fileno(lg->f);
  if(fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    return dup(fd);
  if((fd = logs_tmpfd(lg->path, err)) < 0)
    return -1;
  /* detection read the first chunk as it is (no UTF-8 repair for a binary format) */
  if(write(fd, lg->buf + lg->start, lg->end - lg->start) != (ssize_t)(lg->end - lg->start))
    goto failed;
  while((got = fread(buf, 1, sizeof(buf), lg->f)) > 0)
    if(write(fd, buf, got) != (ssize_t)got)
      goto failed;
  if(ferror(lg->f)) {
    close(fd);
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: the archive member could not be read whole", lg->path), -1;
  }
  return fd;
failed:
  close(fd);
  return sceplab_err_set(err, SCEPLAB_E_INPUT, "%s: cannot spool the member: %s", lg->path, strerror(errno)), -1;
}

static int evtx_open(sceplab_log *lg, const char *path, sceplab_error *err)
{
  libevtx_error_t *e = NULL;
  char proc[64];
  int fd = -1, opened;
  evtx_state *st = calloc(1, sizeof(*st));
  if(!st)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
  lg->fstate = st;
  lg->fmt = FMT_EVTX;
  if(lg->in_archive) {
    if((fd = member_fd(lg, err)) < 0)
      return -1;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    path = proc;
  }
  if(lg->f) {
    fclose(lg->f);
    lg->f = NULL;
  }
  if(sceplab_optlib_need(SCEPLAB_LIB_EVTX, err) != 0) {
    if(fd >= 0)
      close(fd);
    return -1;
  }
  if(libevtx_file_initialize(&st->file, &e) != 1) {
    if(fd >= 0)
      close(fd);
    return evtx_error(err, e, "cannot read EVTX", lg->path);
  }
  opened = libevtx_file_open(st->file, path, LIBEVTX_OPEN_READ, &e) == 1;
  if(fd >= 0)
    close(fd); /* libevtx holds a descriptor of its own: the unlinked file lives as long as it does */
  if(!opened) {
    libevtx_file_free(&st->file, NULL);
    st->file = NULL;
    return evtx_error(err, e, "cannot open EVTX", lg->path);
  }
  if(libevtx_file_get_number_of_records(st->file, &st->count, &e) != 1)
    return evtx_error(err, e, "cannot count EVTX records", lg->path);
  return 0;
}

/* The next EVTX record: its XML, parsed as a Windows event. 1, 0 at end. */
static int logs_evtx_next(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
{
  evtx_state *st = lg->fstate;
  while(st && st->index < st->count) {
    libevtx_record_t *rec = NULL;
    libevtx_error_t *e = NULL;
    size_t size = 0;
    int index = st->index++, got;
    char why[200];
    r->line = (uint64_t)index + 1;
    if(libevtx_file_get_record_by_index(st->file, index, &rec, &e) != 1 ||
       libevtx_record_get_utf8_xml_string_size(rec, &size, &e) != 1 || size == 0 || size > MAX_FRAGMENT) {
      char msg[160] = "no XML";
      if(e) {
        libevtx_error_sprint(e, msg, sizeof(msg));
        libevtx_error_free(&e);
      }
      snprintf(why, sizeof(why), "record unreadable (%s)", msg);
      logs_skip(lg, r->line, why);
      libevtx_record_free(&rec, NULL);
      continue;
    }
    if(size > lg->xmlcap) {
      char *nx = realloc(lg->xml, size);
      if(!nx) {
        libevtx_record_free(&rec, NULL);
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
      }
      lg->xml = nx;
      lg->xmlcap = size;
    }
    got = libevtx_record_get_utf8_xml_string(rec, (uint8_t *)lg->xml, size, &e) == 1;
    libevtx_record_free(&rec, NULL);
    if(!got) {
      libevtx_error_free(&e);
      logs_skip(lg, r->line, "record XML unreadable");
      continue;
    }
    lg->arena_used = 0;
    size = strlen(lg->xml);
    if(sceplab_utf8_valid(lg->xml, size) < size) {
      /* an unpaired surrogate in the record's UTF-16: U+FFFD, as in every text input */
      size_t cap = 3 * size + 1;
      char *fixed = malloc(cap);
      if(!fixed)
        return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), -1;
      size = sceplab_utf8_repair(lg->xml, size, fixed);
      fixed[size] = '\0';
      free(lg->xml);
      lg->xml = fixed;
      lg->xmlcap = cap;
    }
    if(logs_parse_fragment(lg, lg->xml, size, r))
      return 1;
  }
  return 0;
}

static void evtx_close(sceplab_log *lg)
{
  evtx_state *st = lg->fstate;
  if(!st)
    return;
  if(st->file) {
    libevtx_file_close(st->file, NULL);
    libevtx_file_free(&st->file, NULL);
  }
  free(st);
  lg->fstate = NULL;
}

static const char *detect_evtx(const char *p, size_t n)
{
  return n >= 8 && memcmp(p, "ElfFile", 8) == 0 ? "binary Windows event log (ElfFile signature), read with libevtx" : NULL;
}

/* found by its "ElfFile" signature before any text rule */
const logs_format logs_fmt_evtx = {.id = FMT_EVTX, .name = "evtx", .flags = LOGS_XML2 | LOGS_BINARY,
  .detect = detect_evtx, .record = logs_evtx_next, .open = evtx_open, .close = evtx_close};
