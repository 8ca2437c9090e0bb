/* sceplab: a small HTTP(S) service on serve's HTTP/1.1 server (its limits, one event loop on the
 * calling thread), each request handed whole to a callback: what `sceplab intune cloud` answers
 * as Entra ID, Microsoft Graph and Intune's services. */
#ifndef SCEPLAB_WEB_H
#define SCEPLAB_WEB_H

#include <stddef.h>

#include "sceplab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sceplab_web_request {
  const char *method;           /* as sent */
  const char *path;             /* percent-decoded, or NULL when it does not decode */
  const char *query;            /* as sent, or NULL */
  char *const *headers;         /* name, value, name, value, ... */
  size_t nheaders;
  const unsigned char *body;
  size_t body_len;
  const char *peer;
} sceplab_web_request;

typedef struct sceplab_web_answer {
  int status;
  char content_type[96];        /* "" for none */
  unsigned char *body;          /* malloc'd; the server frees it */
  size_t len;
  char headers[256];            /* more lines, each "Name: value\r\n" */
  unsigned delay_ms;            /* sent this much later, without holding the loop (a slow service) */
} sceplab_web_answer;

/* 0 with the answer set, or -1: the request gets 500. */
typedef int (*sceplab_web_fn)(void *ud, const sceplab_web_request *rq, sceplab_web_answer *ans);

typedef struct sceplab_web_params {
  const char *bind;             /* default 127.0.0.1 */
  unsigned port;                /* 0: any free port, said through ready */
  const char *tls_cert, *tls_key; /* PEM files for HTTPS, or NULL */
  size_t max_body;              /* default 1 MiB */
  sceplab_web_fn handler;
  void (*ready)(void *ud, unsigned port);
  void *ud;
} sceplab_web_params;

/* Serves until SIGINT or SIGTERM: 0, or -1 with err when it cannot start. */
int sceplab_web_serve(const sceplab_web_params *p, sceplab_error *err);

#ifdef __cplusplus
}
#endif
#endif
