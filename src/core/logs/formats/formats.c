/* The format table: every format, in detection order. The first whose rule the text meets is the
 * format. Specific signatures come first (directives, XML roots, export headers), line shapes
 * after; .evtx (binary) is found by its signature before any text rule. The reader's core reaches
 * the formats through this table and nothing else.
 * Part of the log reader's formats (src/core/logs/formats/): see logs_int.h. */
#include "logs/formats/formats.h"

const logs_format *const logs_formats[] = {
  &logs_fmt_jsonl, &logs_fmt_intuneapi, &logs_fmt_iis, &logs_fmt_msi, &logs_fmt_registry, &logs_fmt_crs, &logs_fmt_svclog,
  /* a pasted event block may carry its event XML: the block is the record */
  &logs_fmt_eventblock, &logs_fmt_eventxml, &logs_fmt_eventtext, &logs_fmt_eventcsv, &logs_fmt_android, &logs_fmt_ios, &logs_fmt_syslog,
  &logs_fmt_radius,
  &logs_fmt_cmtrace, &logs_fmt_evtx,
};
const size_t logs_nformats = sizeof(logs_formats) / sizeof(logs_formats[0]);
