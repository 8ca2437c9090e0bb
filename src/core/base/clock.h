/* The one clock of `sceplab serve` and the CA: real time plus an offset that a replay advances
 * (its virtual clock), so that the server's logs, the CA's certificates and records, and the
 * device's logs agree. Reading it costs a load and time(). */
#ifndef SCEPLAB_CLOCK_H
#define SCEPLAB_CLOCK_H

#include <stdint.h>

#include "sceplab/error.h"

/* Unix seconds on the clock, and its offset from real time. */
int64_t sceplab_clock_now(void);
int64_t sceplab_clock_offset(void);
void sceplab_clock_set_offset(int64_t seconds);

/* A clock file (what `sceplab replay` writes: the offset in seconds, as text) followed without
 * reading it per request: follow reads it once and returns a descriptor (inotify) that becomes
 * readable when the file is written again; refresh, called then, reads it again. -1 with err
 * when it cannot be watched. */
int sceplab_clock_follow(const char *path, sceplab_error *err);
void sceplab_clock_refresh(int fd, const char *path);

#endif
