/* base/: what every layer above uses (errors, document trees, codecs, escaping, the optional
 * libraries, the clock). This is its private header: helpers that are not public API. */
#ifndef SCEPLAB_BASE_INT_H
#define SCEPLAB_BASE_INT_H

#include <stdint.h>

#include "sceplab/codec.h"
#include "sceplab/error.h"
#include "sceplab/value.h"

/* A decoder's last step: the tree, or NULL with "out of memory" when any part failed to allocate. */
sceplab_val *sceplab_done(sceplab_val *v, sceplab_error *err);

/* Parse a decimal integer field strictly; returns 0 on success. */
int sceplab_parse_i64(const char *s, int64_t *out);

/* A secret rendered for display: the value itself with show, else a redaction marker. */
sceplab_val *sceplab_secret_val(const char *s, size_t n, int show);

/* Counters a higher layer shows (serve's /metrics), counted where the event happens: the CA's store
 * counts its errors. Where they live is the server's choice (sceplab_tally_place: memory shared by
 * its workers, SCEPLAB_TALLY_N slots); until then, a private copy. */
typedef enum {
  SCEPLAB_TALLY_DB_ERROR, SCEPLAB_TALLY_DB_RECONNECT,
  SCEPLAB_TALLY_DB_SYNC, SCEPLAB_TALLY_DB_SYNC_COMMITS, SCEPLAB_TALLY_DB_SYNC_US, /* syncs behind serve's loop */
  SCEPLAB_TALLY_N
} sceplab_tally_kind;
void sceplab_tally(sceplab_tally_kind which);
void sceplab_tally_add(sceplab_tally_kind which, uint64_t n);
void sceplab_tally_place(uint64_t *shared);
uint64_t sceplab_tally_get(sceplab_tally_kind which);

#endif
