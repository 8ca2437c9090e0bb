/* The writers of the formats a device's log is written in, each in its format's file beside the
 * reader (fmt_xml.c, fmt_android.c, fmt_ios.c); devices.c says which platform writes which. Each
 * appends one record (a line) to a buffer of out_cap bytes: the length, or 0 when it does not fit. */
#ifndef SCEPLAB_LOGS_WRITERS_H
#define SCEPLAB_LOGS_WRITERS_H

#include <stddef.h>

#include "logs/formats/formats.h"
#include "sceplab/artifacts.h"

size_t logs_write_device_event(char *out, size_t out_cap, const sceplab_device_event *e); /* fmt_xml.c */
size_t logs_write_omadm(char *out, size_t out_cap, const sceplab_device_event *e);        /* fmt_android.c */
size_t logs_write_console(char *out, size_t out_cap, const sceplab_device_event *e);      /* fmt_ios.c */

#endif
