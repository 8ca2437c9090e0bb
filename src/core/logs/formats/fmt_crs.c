/* CRS files of the Intune connector: one record per file, the folder is the status.
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logs/formats/formats.h"
#include "sceplab/decode.h"

static int logs_parse_crs(sceplab_log *lg, sceplab_record *r, sceplab_error *err)
{
  sceplab_val *v;
  sceplab_error e;
  const char *slash, *prev, *folder = "", *f;
  size_t flen = 0, len = 0;
  char line[600];
  if(lg->done)
    return 0;
  lg->done = 1;
  while(!lg->eof && lg->end - lg->start < MAX_LINE) {
    int rc = logs_refill(lg, err);
    if(rc < 0)
      return -1;
  }
  r->line = 1;
  if(!lg->buf || lg->end == lg->start) {
    logs_skip(lg, 1, "empty file");
    return 0;
  }
  v = sceplab_crs_parse((const unsigned char *)lg->buf + lg->start, lg->end - lg->start, &e);
  if(!v) {
    logs_skip(lg, 1, e.msg);
    return 0;
  }
  /* .../CertificateRequestStatus/<Folder>/<id>.CRS */
  slash = strrchr(lg->path, '/');
  if(slash && slash > lg->path) {
    for(prev = slash - 1; prev > lg->path && *prev != '/' && *prev != '!'; prev--)
      ;
    folder = (*prev == '/' || *prev == '!') ? prev + 1 : prev;
    flen = (size_t)(slash - folder);
  }
  lg->arena_used = 0;
  {
    char fb[64];
    snprintf(fb, sizeof(fb), "%.*s", (int)(flen < 60 ? flen : 60), folder);
    r->component = logs_arena_str(lg, fb);
  }
  r->time_us = lg->mtime_us;
  /* no time of its own: the file's (or its zip entry's) */
  logs_time_sources(r, lg->clock.origin_src, lg->clock.origin_src);
  r->time_text = logs_arena_str(lg, "file modification time");
  r->step = 6;
  r->level = flen == 6 && strncasecmp(folder, "Failed", 6) == 0 ? SCEPLAB_LVL_ERROR
           : flen == 10 && strncasecmp(folder, "Processing", 10) == 0 ? SCEPLAB_LVL_WARNING : SCEPLAB_LVL_INFO;
  if((f = sceplab_obj_get_str(v, "hresult")) && strcmp(f, "0x00000000") != 0) {
    r->level = SCEPLAB_LVL_ERROR;
    snprintf(r->hresult, sizeof(r->hresult), "%s", f);
    r->hresult_name = sceplab_hresult_name((uint32_t)strtoul(f + 2, NULL, 16));
  }
  if((f = sceplab_path(v, "request.canonical") ? sceplab_path(v, "request.canonical")->u.s.p : NULL))
    snprintf(r->request_id, sizeof(r->request_id), "%s", f);
  if((f = sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "TransactionID")))
    snprintf(r->transaction_id, sizeof(r->transaction_id), "%.95s", f);
  if((f = sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "DeviceID")) && strlen(f) == 36)
    snprintf(r->device_id, sizeof(r->device_id), "%s", f);
  if((f = sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "UserID")) && strlen(f) == 36)
    snprintf(r->user_id, sizeof(r->user_id), "%s", f);
  if((f = sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "Thumbprint")) && (strlen(f) == 40 || strlen(f) == 64))
    snprintf(r->thumbprint, sizeof(r->thumbprint), "%s", f);
  snprintf(line, sizeof(line), "CRS in %.*s: Status=%s HResult=%s UploadStatus=%s Thumbprint=%s",
           (int)(flen < 60 ? flen : 60), folder, sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "Status") ? sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "Status") : "?",
           sceplab_obj_get_str(v, "hresult") ? sceplab_obj_get_str(v, "hresult") : "?",
           sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "UploadStatus") ? sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "UploadStatus") : "?",
           sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "Thumbprint") ? sceplab_obj_get_str(sceplab_obj_get(v, "fields"), "Thumbprint") : "-");
  logs_msg_append(lg, &len, line, strlen(line));
  r->message.p = lg->msg;
  r->message.n = len;
  sceplab_val_free(v);
  return 1;
}

static const char *detect(const char *p, size_t n)
{
  if(sceplab_memcasestr(p, n < 4096 ? n : 4096, "<CertRequestStatus"))
    return "Intune connector CRS file (<CertRequestStatus>)";
  return NULL;
}

const logs_format logs_fmt_crs = {.id = FMT_CRS, .name = "crs", .flags = LOGS_FORCEABLE,
  .detect = detect, .record = logs_parse_crs};
