/* The faults `sceplab serve` plays (--fault NAME), each as the real system shows it, its own logs
 * included. One table (faults.c): each fault acts at one stage of the server's work, and the
 * server calls the hook once per stage; a fault plays by answering for that stage (an HTTP
 * status, a denial, the CA's refusal) or by setting what the emulated NDES is like at start-up.
 * Nothing outside this file and faults.c tests which faults are on. */
#ifndef SCEPLAB_NDES_FAULTS_H
#define SCEPLAB_NDES_FAULTS_H

#include <stddef.h>

#include "ndes/httpd.h"
#include "sceplab/serve.h"

typedef enum {
  NDES_STAGE_START,   /* start-up: what NDES and the connector are like (installed, trusted, certificates) */
  NDES_STAGE_REQUEST, /* a request to the SCEP URL, before it is routed to its operation (IIS, a proxy, the pool) */
  NDES_STAGE_VERIFY,  /* the policy module's VerifyRequest call to the CRP, before any policy runs */
  NDES_STAGE_CA,      /* the request submitted to the CA, before the CA's transaction */
  NDES_STAGE_REPLY,   /* the connector's report of the outcome (CRS files, the upload) */
  NDES_STAGE_PUBLISH, /* a request to where revocation is published (the CDP, the CA certificate, OCSP) */
  NDES_STAGES
} ndes_stage;

struct ndes_server;

/* What a stage's hook gets and what a fault sets. */
typedef struct ndes_fault_ctx {
  struct ndes_server *s;          /* for its events (artifacts.h) */
  /* START */
  int installed;                  /* the Intune connector's setup succeeded */
  int trust_root;                 /* NDES's Trusted Root store holds the CA's root */
  int policy_backdate_days;       /* the policy module's certificate was made this long ago */
  unsigned policy_crl;            /* its CRL cannot be had: the revocation error Initialize meets, or 0 */
  /* REQUEST */
  const sceplab_httpd_req *rq;
  const char *operation;          /* the operation parameter, or NULL */
  sceplab_httpd_resp *resp;       /* the answer a fault gives */
  /* VERIFY */
  const char *activity;           /* the connector's activity ID */
  double started_ms;              /* when the request's processing started (for IIS's time-taken) */
  sceplab_policy_answer *answer;  /* a denial a fault gives */
  /* CA */
  unsigned refusal;               /* the CA's error a fault plays */
  /* REPLY */
  int upload_attempts;            /* the connector's tries to upload the report */
  int upload_failed;              /* the report cannot be uploaded: its CRS file goes to Failed */
  int stays_processing;           /* the connector service is stopped: CRS files stay in Processing */
  /* PUBLISH (rq and resp as for REQUEST) */
  const char *published;          /* what is asked for: "crl", "crt" or "ocsp" */
  int crl_expired;                /* the CRL served is past its nextUpdate */
} ndes_fault_ctx;

/* Plays the faults on (SCEPLAB_FAULT_* bits) that act at stage, in the order a stage settles them:
 * the first that answers for the stage ends it (1); 0 when none did. */
int ndes_faults_play(unsigned faults, ndes_stage stage, ndes_fault_ctx *c);

/* The stage a fault acts at, by name (for listings), and its bit; -1 / 0 when unknown. */
int ndes_fault_stage(const char *name);
const char *ndes_stage_name(ndes_stage stage);

#endif
