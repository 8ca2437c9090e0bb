/* The request events of `sceplab serve`, and their observers. The server says what happened
 * (a request answered, a challenge verified, a certificate issued, a request refused, the
 * connector notified, ...) and each observer writes what it keeps of it: the console (the -v
 * lines), IIS's W3C log, and the artifact writer that writes NDES's and the Intune connector's
 * own logs as the real components do (NDESPlugin.log, the CRP's .svclog, NDES's Application and
 * System events, CAPI2, CRS files, SetupMsi.log). A server without a log directory and without
 * a console runs with no observer at all: nothing is formatted. */
#ifndef SCEPLAB_NDES_ARTIFACTS_H
#define SCEPLAB_NDES_ARTIFACTS_H

#include <stddef.h>

#include <openssl/x509.h>

#include "ndes/ndeslog.h"
#include "sceplab/serve.h"

typedef enum {
  NDES_EV_HTTP,            /* a request IIS answered (the SCEP URL, the admin page, the CRP's calls) */
  NDES_EV_REFUSED,         /* a pkiMessage refused before any record was made */
  NDES_EV_SETUP_FAILED,    /* the Intune connector's installation failed */
  NDES_EV_POLICY_START,    /* the policy module loaded, its certificate's thumbprint checked */
  NDES_EV_POLICY_INIT,     /* its Initialize returned (hresult) */
  NDES_EV_CHAIN,           /* Windows built a certificate chain (CAPI2), and checked its policy when revocation failed */
  NDES_EV_APP_EVENT,       /* an event of NDES in the Application log */
  NDES_EV_SYSTEM_EVENT,    /* an event of another service in the System log (WAS, ASP.NET) */
  NDES_EV_VERIFY_CALLED,   /* the policy module calls VerifyRequest */
  NDES_EV_VERIFY_FAILED,   /* VerifyRequest failed before any policy ran (how) */
  NDES_EV_CRP_TRACE,       /* a record of the Certificate Registration Point's trace */
  NDES_EV_VERIFIED,        /* the challenge policy answered (answer) */
  NDES_EV_CA_REFUSED,      /* the CA refused a request the policy allowed (hresult) */
  NDES_EV_ISSUED,          /* the CA issued a certificate (cert) */
  NDES_EV_NOTIFIED         /* the connector reports the outcome to Intune (cert, or hresult) */
} ndes_event_kind;

/* How VerifyRequest failed, as NDESPlugin.log shows it. */
typedef enum {
  NDES_VERIFY_FORBIDDEN,   /* IIS answered 403 */
  NDES_VERIFY_UNREACHABLE, /* WinHTTP 12175: the CRP's TLS name is not the host called */
  NDES_VERIFY_FALSE        /* the CRP answered, and said no */
} ndes_verify_failure;

typedef struct ndes_event {
  ndes_event_kind kind;
  /* HTTP: the line IIS writes */
  const char *method, *stem, *query, *client, *user_agent;
  int status, substatus;
  unsigned win32;
  long taken_ms;
  /* requests */
  const char *transaction_id;
  const char *message_type;      /* REFUSED */
  const char *fail_info;         /* REFUSED */
  const char *activity;          /* the connector's activity ID for the request */
  const sceplab_policy_answer *answer;
  X509 *cert;                    /* ISSUED, NOTIFIED: the certificate; POLICY_START: the policy certificate */
  X509 *issuer;                  /* NOTIFIED: the CA that issued it */
  unsigned hresult;              /* POLICY_INIT, CA_REFUSED, NOTIFIED (the CA's error) */
  int upload_attempts;           /* NOTIFIED: tries to upload the CRS (0: 1) */
  const char *crs_folder;        /* NOTIFIED: where the CRS file goes (Succeed, Failed), or NULL: it stays in Processing */
  ndes_verify_failure verify;    /* VERIFY_FAILED */
  /* APP_EVENT, SYSTEM_EVENT, CRP_TRACE */
  unsigned id;
  int level;                     /* SYSTEM_EVENT: 1 critical .. 4 information */
  int error;                     /* APP_EVENT, CRP_TRACE */
  const char *provider;          /* SYSTEM_EVENT */
  const char *text;              /* APP_EVENT, SYSTEM_EVENT, CRP_TRACE; REFUSED: why */
  /* CHAIN: from the end certificate up; the chain's result; revocation: the end's check failed */
  const sceplab_art_cert *chain;
  size_t nchain;
  const char *process;
  unsigned result, revocation;
  const char *result_text;
} ndes_event;

typedef struct ndes_observer {
  void (*event)(void *ud, const ndes_event *ev);
  void (*close)(void *ud);
  void *ud;
} ndes_observer;

/* The observers a server has: each event goes to each, in order. */
#define NDES_OBSERVERS_MAX 4
typedef struct ndes_observers {
  ndes_observer o[NDES_OBSERVERS_MAX];
  size_t n;
} ndes_observers;

void ndes_emit(const ndes_observers *obs, const ndes_event *ev);
void ndes_observers_close(ndes_observers *obs);

/* The artifact writer: NDES's logs in dir, and the Intune connector's for the connector's events
 * (the server tells those only when the connector is installed). host names the server. */
int ndes_artifacts_observer(ndes_observers *obs, const char *dir, const char *host);

/* iislog.c: IIS's W3C log in dir (u_exYYMMDD.log, one file per UTC day), and the console: each
 * HTTP line and each refusal to logged. bind and port are what IIS logs as s-ip and s-port. */
int ndes_iis_observer(ndes_observers *obs, const char *dir, const char *bind, unsigned port);
int ndes_console_observer(ndes_observers *obs, void (*logged)(void *ud, const char *line), void *ud, const char *bind,
                          unsigned port);

#endif
