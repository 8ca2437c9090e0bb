/* The log formats' private header: each format's table entry (formats/fmt_<name>.c), for the
 * table in formats.c. A format calls the reader's core only (logs_int.h). */
#ifndef SCEPLAB_LOGS_FORMATS_H
#define SCEPLAB_LOGS_FORMATS_H

#include "logs/core/logs_int.h"

extern const logs_format logs_fmt_iis, logs_fmt_cmtrace, logs_fmt_svclog, logs_fmt_eventxml, logs_fmt_android,
  logs_fmt_ios, logs_fmt_syslog, logs_fmt_eventtext, logs_fmt_eventcsv, logs_fmt_evtx, logs_fmt_crs, logs_fmt_msi,
  logs_fmt_registry, logs_fmt_jsonl, logs_fmt_eventblock, logs_fmt_intuneapi, logs_fmt_radius;

#endif
