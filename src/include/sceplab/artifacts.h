/* sceplab: the logs a device writes during a SCEP enrollment, written from one event model, each
 * by its format's writer beside its reader (src/core/logs/formats/): Windows' DeviceManagement
 * Admin channel as `wevtutil qe /f:RenderedXml` prints it, Android Company Portal's OMADMLog,
 * and an iOS Console copy of profiled's lines. `sceplab replay`'s device simulators say what
 * happened; these say it as the device's log does. */
#ifndef SCEPLAB_ARTIFACTS_H
#define SCEPLAB_ARTIFACTS_H

#include "sceplab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SCEPLAB_DEVICE_WINDOWS, SCEPLAB_DEVICE_ANDROID, SCEPLAB_DEVICE_IOS } sceplab_device;

/* One event of a device's log. */
typedef struct sceplab_device_event {
  double time;                  /* Unix seconds (UTC), with its fraction */
  int id;                       /* Windows: the event ID */
  int level;                    /* Windows: 2 error, 3 warning, 4 information */
  const char *severity;         /* Android: VERB, INFO, WARN, ERROR, ...; iOS: default, error, debug, ... */
  const char *component;        /* Android: the class that logs it */
  const char *text;
} sceplab_device_event;

/* "windows", "android", "ios": 0 with *d, or -1. */
int sceplab_device_named(const char *name, sceplab_device *d);
/* The name of the platform's log file in a collected bundle. */
const char *sceplab_device_log_file(sceplab_device d);
/* The event as the platform's log writes it: one line ending in '\n' (the text escaped as the
 * format needs: XML for Windows, a line break folded to a space for the line formats), malloc'd;
 * NULL with err (SCEPLAB_E_USAGE) when the event lacks what the format needs. */
char *sceplab_device_log_line(sceplab_device d, const sceplab_device_event *e, sceplab_error *err);

/* serve's own log of its calls to Intune's API (the intune-api policy), read back by timeline as
 * the "intune-api" format: one call of one HTTP exchange. */
typedef struct sceplab_api_call {
  double time;                  /* Unix seconds (UTC), with its fraction */
  const char *transaction_id;   /* the SCEP transaction the call is for, or NULL */
  const char *client_request_id;
  const char *endpoint;         /* token:graph, token:intune, discovery, validateRequest, ... */
  int attempt;                  /* 1 for the first try */
  int status;                   /* HTTP status, 0 when none came */
  const char *code;             /* the service's code, Entra ID's AADSTS..., timeout, ... or NULL */
  long duration_ms;
  const char *message;          /* a description (never a secret), or NULL */
} sceplab_api_call;

/* The log's header lines, then each call as one line (fields escaped as W3C logs escape them),
 * malloc'd; NULL with err when a field is too long or the endpoint missing. */
const char *sceplab_api_log_header(void);
char *sceplab_api_log_line(const sceplab_api_call *c, sceplab_error *err);

#ifdef __cplusplus
}
#endif
#endif
