/* Registry exports (.reg).
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/formats/formats.h"

/* One record per value: component is the key, message "name=value"; no times, so the file's. */
static int logs_parse_reg(sceplab_log *lg, const char *p, size_t n, sceplab_record *r, sceplab_error *err)
{
  size_t len = 0;
  if(n && p[0] == '[') {
    snprintf(lg->regkey, sizeof(lg->regkey), "%.*s", (int)(n > 2 ? n - 2 : 0), p + 1);
    return 0;
  }
  if(!n || p[0] == ';' || (strncmp(p, "Windows Registry", 16) == 0) || strncmp(p, "REGEDIT4", 8) == 0)
    return 0;
  if(p[0] != '"' && p[0] != '@') {
    logs_skip(lg, r->line, "not a registry value line");
    return 0;
  }
  logs_msg_append(lg, &len, p, n);
  /* hex values continue with a trailing backslash */
  while(len && lg->msg[len - 1] == '\\') {
    int rc = logs_next_line(lg, &p, &n, err);
    len--;
    if(rc < 0)
      return -1;
    if(rc == 0)
      break;
    while(n && (*p == ' ' || *p == '\t')) {
      p++;
      n--;
    }
    logs_msg_append(lg, &len, p, n);
  }
  r->message.p = lg->msg;
  r->message.n = len;
  lg->arena_used = 0;
  r->component = logs_arena_str(lg, lg->regkey);
  r->time_us = lg->mtime_us;
  /* no time of its own: the file's (or its zip entry's) */
  logs_time_sources(r, lg->clock.origin_src, lg->clock.origin_src);
  r->time_text = logs_arena_str(lg, "file modification time");
  r->level = SCEPLAB_LVL_INFO;
  return 1;
}

static const char *detect(const char *p, size_t n)
{
  if(n > 20 && (strncmp(p, "Windows Registry Editor Version", 31) == 0 || strncmp(p, "REGEDIT4", 8) == 0))
    return "registry export (.reg)";
  return NULL;
}

const logs_format logs_fmt_registry = {.id = FMT_REG, .name = "registry", .flags = LOGS_FORCEABLE,
  .detect = detect, .line = logs_parse_reg};
