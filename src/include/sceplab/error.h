/* sceplab: error reporting shared by every layer of the C core. */
#ifndef SCEPLAB_ERROR_H
#define SCEPLAB_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error classes. The numeric values are the CLI's exit codes where one applies. */
typedef enum sceplab_code {
  SCEPLAB_OK = 0,
  SCEPLAB_E_FAILED = 1,   /* the operation ran and reports a failure */
  SCEPLAB_E_USAGE = 2,    /* the caller passed something that cannot be right */
  SCEPLAB_E_INPUT = 3,    /* unreadable or invalid input */
  SCEPLAB_E_NETWORK = 4,  /* network or transport failure */
  SCEPLAB_E_NOMEM = 5,    /* out of memory */
  SCEPLAB_E_CRYPTO = 6    /* a cryptographic operation failed (key mismatch, bad signature) */
} sceplab_code;

#define SCEPLAB_ERRMSG_MAX 512

typedef struct sceplab_error {
  sceplab_code code;
  char msg[SCEPLAB_ERRMSG_MAX];
} sceplab_error;

/* Set err (when not NULL) to code and a printf-style one-line message; returns code. */
int sceplab_err_set(sceplab_error *err, sceplab_code code, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;

/* Like sceplab_err_set, then appends OpenSSL's queued errors (and clears the queue). */
int sceplab_err_openssl(sceplab_error *err, sceplab_code code, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;

void sceplab_err_clear(sceplab_error *err);

/* Name of an error class ("input", "network", ...). */
const char *sceplab_code_name(sceplab_code code);

#ifdef __cplusplus
}
#endif
#endif
