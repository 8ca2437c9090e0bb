/* Shared helpers of the cmocka tests. */
#ifndef SCEPLAB_TEST_HELPERS_H
#define SCEPLAB_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sceplab/sceplab.h"

/* Reads tests/fixtures/<rel>; fails the test when missing. Caller frees. */
unsigned char *fixture(const char *rel, size_t *len);

/* A decoder taking a buffer and decode options, as sceplab_syncml_parse. */
typedef sceplab_val *(*decoder_fn)(const unsigned char *buf, size_t n, const sceplab_decode_opts *opts,
                                   sceplab_error *err);
/* Decodes tests/fixtures/<rel> with fn (show_secrets as given); fails the test on an error. */
sceplab_val *decode_fixture(decoder_fn fn, const char *rel, int show_secrets);

/* String at a dotted path ("scep_enrollments.0.subject_name"), or NULL. */
const char *str_at(const sceplab_val *v, const char *path);
/* Integer at a dotted path; fails the test when absent or not an integer. */
int64_t int_at(const sceplab_val *v, const char *path);
/* Boolean at a dotted path; fails the test when absent. */
int bool_at(const sceplab_val *v, const char *path);
/* True when any string in the "warnings" array at path contains needle. */
int has_warning(const sceplab_val *v, const char *path, const char *needle);

/* A CA made in a new scratch directory (dir: a mkdtemp template, filled in), opened: NULL when it
 * cannot be made. scratch_ca_remove closes it and removes the directory: 0, or -1. */
sceplab_ca *scratch_ca(char *dir);
int scratch_ca_remove(sceplab_ca *ca, const char *dir);

#endif
