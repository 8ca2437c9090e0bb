/* sceplab: an NDES-faithful SCEP server over the embedded CA (ca.h). HTTP and HTTPS on libevent
 * (OpenSSL bufferevents), one event loop on the calling thread: the challenge policy callback
 * runs there too, so a front end may call into a single-threaded interpreter from it. */
#ifndef SCEPLAB_SERVE_H
#define SCEPLAB_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "sceplab/ca.h"
#include "sceplab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a challenge policy decides on: a PKCSReq or RenewalReq whose message checked out. */
typedef struct sceplab_policy_request {
  const char *transaction_id;
  const char *message_type;     /* "PKCSReq" or "RenewalReq" */
  const char *challenge;        /* the CSR's challengePassword, or NULL */
  const unsigned char *csr;     /* DER */
  size_t csr_len;
  X509_REQ *req;                /* the same, parsed and its signature verified */
  X509 *signer;                 /* the certificate that signed the request */
  int renewal;                  /* renews the certificate that signed it: one this CA issued, valid
                                 * now, not revoked, whose subject and SANs the request asks for */
  const char *renewal_refused;  /* signed by a certificate this CA issued that it does not renew:
                                 * why (revoked, expired, another identity), or NULL */
  const char *client_ip;
  const char *user_agent;
} sceplab_policy_request;

/* DEFER: no decision yet (the policy waits for an answer from elsewhere, Intune's API): nothing is
 * recorded, the request waits without holding the loop, and the policy is asked again when the
 * server is woken (params' wake_fd). */
typedef enum { SCEPLAB_POLICY_ALLOW, SCEPLAB_POLICY_DENY, SCEPLAB_POLICY_PENDING, SCEPLAB_POLICY_DEFER } sceplab_policy_decision;

typedef struct sceplab_policy_answer {
  sceplab_policy_decision decision;
  int fail_info;                /* with DENY: badRequest (2) unless said */
  char reason[256];             /* with DENY: logged, never sent */
  int event;                    /* with DENY: the NDES Application event it logs (28 no password for a
                                 * renewal, 29 a password it cannot verify), or 0 */
  int days;                     /* with ALLOW: lifetime (0: 365) */
  char ekus[8][64];             /* with ALLOW: EKUs to set instead of the CSR's */
  size_t nekus;
  char template_name[64];       /* with ALLOW: Microsoft template name extension, or "" */
  sceplab_cert_profile profile; /* with ALLOW and has_profile: what the request may ask for */
  int has_profile;              /* 0: the CA's default profile */
  /* A policy that verifies as the Intune connector does says what each phase of VerifyRequest
   * found (1 signature/decryption, 2 expiry, 3 the CSR against the challenge) and whom the
   * challenge was issued to: the server logs them as the connector does (serve params' connector). */
  struct { int phase, ok; char message[384]; char code[48]; } phases[4];
  size_t nphases;
  char device_id[64], user_id[128], request_id[256]; /* with ALLOW, a request ID gives one certificate */
} sceplab_policy_answer;

/* 0 with ans filled, or -1 with err: the request is answered with HTTP 500 and the error logged. */
typedef int (*sceplab_policy_fn)(void *ud, const sceplab_policy_request *rq, sceplab_policy_answer *ans,
                                 sceplab_error *err);

/* Faults the server can play, each as the real system shows it (its own logs included): for
 * reproducing a customer's failure. Names are the CLI's and the scenarios' (--fault NAME). */
enum {
  SCEPLAB_FAULT_APP_POOL_STOPPED = 1u << 0, /* SCEP requests get 503 (the SCEP application pool stopped) */
  SCEPLAB_FAULT_IMPERSONATION = 1u << 1,    /* SCEP requests get 500, win32 1346 (IIS_IUSRS lacks the right) */
  SCEPLAB_FAULT_ROOT_STORE = 1u << 2,       /* VerifyRequest 403.16, CERT_E_UNTRUSTEDROOT */
  SCEPLAB_FAULT_CLIENT_AUTH = 1u << 3,      /* VerifyRequest 403 (the policy certificate lacks Client Authentication) */
  SCEPLAB_FAULT_SIGNING_CERT = 1u << 4,     /* the CRP cannot retrieve its signing certificate */
  SCEPLAB_FAULT_TEMPLATE = 1u << 5,         /* the CA refuses the template (0x80094800) */
  SCEPLAB_FAULT_KEY_SIZE = 1u << 6,         /* the CA refuses the key size (0x80094811) */
  SCEPLAB_FAULT_CA_DOWN = 1u << 7,          /* the CA does not answer (0x800706ba, NDES event 31) */
  SCEPLAB_FAULT_CONNECTOR_STOPPED = 1u << 8,/* CRS files stay in Processing */
  SCEPLAB_FAULT_UPLOAD = 1u << 9,           /* the connector's upload fails: CRS files go to Failed */
  SCEPLAB_FAULT_SLOW_CA = 1u << 10,         /* the CA takes two seconds to issue */
  SCEPLAB_FAULT_QUERY_LIMIT = 1u << 11,     /* IIS request filtering's default: a query over 2048 bytes gets 414 */
  SCEPLAB_FAULT_PROXY_502 = 1u << 12,       /* a reverse proxy in front answers 502 */
  SCEPLAB_FAULT_PROXY_504 = 1u << 13,      /* a reverse proxy in front times out: 504 */
  SCEPLAB_FAULT_SCEP_404 = 1u << 14,        /* the SCEP application is missing from IIS: 404 */
  SCEPLAB_FAULT_BODY_413 = 1u << 15,        /* request filtering's content length set too low: a POST over 2 KB gets 413 */
  SCEPLAB_FAULT_CRP_404 = 1u << 16,         /* the CertificateRegistrationSvc application is missing: VerifyRequest 404 */
  SCEPLAB_FAULT_CRP_TEMP = 1u << 17,        /* the CRP's pool cannot write C:\Windows\TEMP: VerifyRequest 500, WAS 5009, ASP.NET 1310 */
  SCEPLAB_FAULT_CRP_CN = 1u << 18,          /* the SSL certificate does not name the host NDESPlugin calls (12175) */
  SCEPLAB_FAULT_TEMPLATE_ACL = 1u << 19,    /* the template's permissions refuse NDES's account (0x80094012) */
  SCEPLAB_FAULT_NOT_INSTALLED = 1u << 20,   /* no Intune connector: the bare URL answers 200, NDES checks its own passwords */
  SCEPLAB_FAULT_POLICY_EXPIRED = 1u << 21,  /* the policy module's certificate expired: Initialize fails, 503 */
  SCEPLAB_FAULT_RA_UNTRUSTED = 1u << 22,    /* the RA certificates chain to a root no longer trusted: NDES event 2, 500 */
  SCEPLAB_FAULT_CRL_OFFLINE = 1u << 23,     /* the policy certificate's CRL is unreachable: CAPI2 0x80092013, 503 */
  SCEPLAB_FAULT_CRL_EXPIRED = 1u << 24,     /* the CDP serves a CRL past its nextUpdate (publication stopped) */
  SCEPLAB_FAULT_CDP_DOWN = 1u << 25,        /* the CDP closes every connection unanswered (the web server is down) */
  SCEPLAB_FAULT_OCSP_SILENT = 1u << 26      /* the OCSP responder accepts and never answers */
};

typedef struct sceplab_fault_info {
  const char *name;             /* "app-pool-stopped" */
  unsigned bit;
  const char *finding;          /* the finding id a diagnosis names for it, or NULL */
  const char *doc;              /* one line */
  const char *stage;            /* where it plays: "start-up", "request", "verify-request", "ca-submit", "reply",
                                 * "publish" */
} sceplab_fault_info;

/* Every fault, in a fixed order; *n is set to their number. */
const sceplab_fault_info *sceplab_serve_faults(size_t *n);

typedef struct sceplab_serve_params {
  sceplab_ca *ca;
  const char *bind;             /* address to listen on; default 127.0.0.1 */
  unsigned port;                /* 0: any free port (said through ready) */
  const char *tls_cert;         /* PEM files for HTTPS, or NULL for HTTP */
  const char *tls_key;
  const char *caps;             /* the GetCACaps body, one capability a line */
  int ca_only;                  /* GetCACert: the CA alone instead of NDES's RA certificates and chain */
  int allow_des;                /* accept requests enveloped with single DES (replies use 3DES) */
  const char *log_dir;          /* where the IIS W3C log goes (u_exYYMMDD.log), or NULL */
  int connector;                /* the policy stands for the Intune connector: log_dir also gets the
                                 * NDESPlugin.log, the CRP .svclog and CRS files, as that setup writes them */
  int crs_hold;                 /* CRS files stay in Processing (the connector service is stopped) */
  const char *host;             /* the server's name in its logs (default NDES01) */
  int admin_page;               /* /certsrv/mscep_admin/ hands out one-time passwords, as NDES's admin page */
  const char *admin_user;       /* HTTP Basic credentials the admin page asks for (NDES: Windows
                                 * authentication), or NULL: open to whoever reaches it */
  const char *admin_password;
  int admin_get_compat;         /* a GET of the admin page makes a password, as NDES's does (default: a
                                 * GET shows a form whose POST, with its token, makes one) */
  int password_max;             /* NDES's password cache: at most this many outstanding (default 5) */
  int ca_latency_ms;            /* a test knob: each write transaction of the CA's store waits this long
                                 * before it commits (a crash test kills the server in that window) */
  unsigned faults;              /* SCEPLAB_FAULT_* bits */
  const char *public_url;       /* where clients fetch the CRL, the CA certificate and OCSP, written into
                                 * every certificate (ca.h): NULL: the CA's own (ca init --public-url),
                                 * else serve's address */
  const char *clock_file;       /* a virtual clock: the file holds seconds to add to real time (a
                                 * replay advances it); read at start and when it is written (inotify),
                                 * for the server, the CA and the policy's clock. NULL: real time */
  size_t max_body;              /* largest request accepted (default 64 KiB; a 2 KB key's request is ~3 KB) */
  /* Limits against a hostile network (docs/security.md); 0 for each default. */
  unsigned max_connections;     /* open at once (default: what RLIMIT_NOFILE holds after a reserve, at most 1024) */
  unsigned max_per_client;      /* open at once from one client address (64) */
  unsigned header_timeout;      /* seconds for a request line and headers, from their first byte (20) */
  unsigned body_timeout;        /* seconds for a body, from the end of the headers (60) */
  unsigned idle_timeout;        /* seconds a keep-alive connection may idle between requests (120, as IIS) */
  /* Workers (sceplab/workers.h): sockets a supervisor made and shares, instead of bind and port. */
  int listen_fd;                /* > 0: the SCEP listener */
  int metrics_fd;               /* > 0: the admin listener, plain HTTP: GET /metrics (Prometheus text) */
  unsigned drain_seconds;       /* SIGTERM: how long requests in flight may take to finish (0: 10) */
  void (*reload)(void *ud);     /* SIGHUP, on the loop (ud), or NULL: SIGHUP is not watched */
  sceplab_policy_fn policy;
  void *policy_ud;
  /* called once listening, with the port; and for each request answered, with its log line */
  void (*ready)(void *ud, unsigned port);
  void (*logged)(void *ud, const char *line);
  /* what the operator must hear about (connections refused, out of descriptors), at most one
   * line of a kind every 10 s */
  void (*warn)(void *ud, const char *line);
  /* the outcome of a request the policy allowed: the certificate issued (cert), or the CA's
   * refusal (cert NULL, its HRESULT and why), for a policy that reports it (Intune's API) */
  void (*issued)(void *ud, const char *transaction_id, X509 *cert, unsigned refusal, const char *why);
  /* called every tick_seconds on the loop (Intune's revocation requests polled), or NULL */
  void (*tick)(void *ud);
  unsigned tick_seconds;
  /* with wake: when wake_fd (an eventfd another thread writes) becomes readable, the server drains
   * it, calls wake, then asks the policy again about every request it deferred */
  int wake_fd;
  void (*wake)(void *ud);
  /* work in flight besides the requests (calls to Intune's API whose outcome the policy reports, a
   * successNotification among them): how much; a SIGTERM's drain waits for it as for a request
   * (within drain_seconds), checked again at each wake. NULL: none */
  int (*pending)(void *ud);
  void *ud;
} sceplab_serve_params;

/* Unix seconds on the clock serve and its CA use: real time, plus the offset of the clock file
 * (clock_file) while a server follows it. */
int64_t sceplab_serve_now(void);

/* A listening socket for listen_fd or metrics_fd, made before the workers fork: the descriptor
 * with *bound its port, or -1 with err (SCEPLAB_E_NETWORK: the address cannot be bound). */
int sceplab_serve_listen(const char *bind, unsigned port, unsigned *bound, sceplab_error *err);

/* Serves until SIGINT (at once) or SIGTERM (drained: requests in flight answered first): 0, or -1 with err when it cannot start (address in use,
 * unreadable TLS files, libevent missing, limits the descriptors cannot hold, an admin page
 * without credentials on an address other than loopback). */
int sceplab_serve(const sceplab_serve_params *p, sceplab_error *err);

#ifdef __cplusplus
}
#endif
#endif
