/* The logs an NDES server with the Intune connector writes, written by `sceplab serve` in the
 * forms the real components use, so sceplab timeline and diagnose read a served run as they
 * read a customer's: the policy module's NDESPlugin.log (CMTrace), the Certificate Registration
 * Point's .svclog (WCF E2ETraceEvent records), NDES's Application events (rendered event XML)
 * and the certificate request status (CRS) files the connector moves from Processing to
 * Succeed or Failed. Files are opened on first use and flushed per record; times are the
 * clock's (base/clock.h). What to write and when is the artifact writer's (artifacts.c). */
#ifndef SCEPLAB_NDESLOG_H
#define SCEPLAB_NDESLOG_H

#include <stdint.h>
#include <stdio.h>

typedef struct sceplab_art {
  char dir[4096];
  char host[64];
  FILE *plugin, *crp, *events, *system, *capi2;
  unsigned pid;
  unsigned long record;          /* EventRecordID */
} sceplab_art;

/* What a CRS file says about one request. */
typedef struct sceplab_art_crs {
  const char *serial_hex, *thumbprint, *issuer_ca, *transaction_id;
  const char *user_id, *device_id, *request_id;
  int64_t not_after;             /* Unix seconds */
  int status;                    /* 0 issued, 1 failed */
  int upload_attempts;           /* 0: 1 */
  unsigned hresult;
} sceplab_art_crs;

/* Logs name devices and hold their requests' details: a log directory is 0750 and a log file
 * 0640 whatever the umask (an existing one with wider bits is narrowed). mode is fopen's ("a",
 * "w"). */
int sceplab_art_mkdir(const char *dir);
FILE *sceplab_art_fopen(const char *path, const char *mode);

void sceplab_art_init(sceplab_art *a, const char *dir, const char *host);
void sceplab_art_close(sceplab_art *a);

/* NDESPlugin.log: type 1 information, 2 warning, 3 error. */
void sceplab_art_plugin(sceplab_art *a, int type, unsigned thread, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 4, 5)))
#endif
  ;
/* The CRP's .svclog: one record in the activity (a GUID in braces). */
void sceplab_art_crp(sceplab_art *a, int error, const char *activity, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 4, 5)))
#endif
  ;
/* An NDES Application event (Microsoft-Windows-NetworkDeviceEnrollmentService). */
void sceplab_art_event(sceplab_art *a, unsigned id, int error, const char *message);
/* An event of another provider in the System log (WAS, ASP.NET), into NDES-System.xml. */
void sceplab_art_system_event(sceplab_art *a, const char *provider, unsigned id, int level, const char *message);
/* One certificate of a chain in a CAPI2 event: its subject (CN), SHA-1 thumbprint, and its
 * CERT_TRUST_* error bits. */
typedef struct sceplab_art_cert {
  const char *subject, *thumbprint;
  unsigned error;
  unsigned revocation;            /* its revocation check's result (HRESULT), or 0 */
  const char *revocation_text;
} sceplab_art_cert;
/* A CAPI2 Operational event 11 (CertGetCertificateChain) as Windows writes it, into NDES-CAPI2.xml:
 * the chain from the end certificate up, the chain's error bits and the result (HRESULT, its text). */
void sceplab_art_capi2_chain(sceplab_art *a, const sceplab_art_cert *chain, size_t n, const char *process,
                             unsigned result, const char *result_text);
/* A CAPI2 Operational event 30 (CertVerifyCertificateChainPolicy) for the chain of end. */
void sceplab_art_capi2_policy(sceplab_art *a, const sceplab_art_cert *end, const char *process, unsigned result,
                              const char *result_text);
/* SetupMsi.log of an Intune connector installation that failed (1603), as Windows Installer logs it. */
void sceplab_art_setup_failed(sceplab_art *a);
/* Writes the CRS file in Processing under a new name (out, 33+ bytes); then moves it. */
int sceplab_art_crs_write(sceplab_art *a, const sceplab_art_crs *c, char *name, size_t namelen);
int sceplab_art_crs_move(sceplab_art *a, const char *name, const char *folder);
/* A new activity ID, "{xxxxxxxx-...}": 0, or -1 when no random bytes were to be had. */
int sceplab_art_activity(char *out, size_t n);

#endif
