/* The artifact writer: an observer of the server's events (artifacts.h) that writes what NDES and
 * the Intune connector log for each, in their own words and formats (the records: ndeslog.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ndes/artifacts.h"
#include "pki/pki_int.h"

typedef struct writer {
  sceplab_art art;
  unsigned thread;              /* the policy module's thread ID in its log */
} writer;

/* What the connector logs once the policy answered: each phase in the CRP's .svclog, its result
 * in NDESPlugin.log (the VerifyRequest call itself is IIS's line). */
static void verified(writer *w, const ndes_event *ev)
{
  const sceplab_policy_answer *ans = ev->answer;
  int ok = ans->decision == SCEPLAB_POLICY_ALLOW;
  size_t i;
  for(i = 0; i < ans->nphases && i < 4; i++) {
    const char *code = ans->phases[i].code;
    if(ans->phases[i].ok)
      sceplab_art_crp(&w->art, 0, ev->activity, "VerifyRequest: Phase %d validation succeeded: %s", ans->phases[i].phase,
                      ans->phases[i].message);
    else
      sceplab_art_crp(&w->art, 1, ev->activity, "VerifyRequest: Phase %d validation failed: %s%s%s", ans->phases[i].phase,
                      ans->phases[i].message, code[0] ? " Reason: " : "", code);
  }
  sceplab_art_plugin(&w->art, 1, w->thread, "Verify challenge returns %s", ok ? "true" : "false");
  sceplab_art_plugin(&w->art, ok ? 1 : 3, w->thread, "Exiting VerifyRequest with 0x%s", ok ? "0" : "80070057");
}

/* The connector's report of a request the CA answered: Notify, and its CRS file from Processing
 * to the folder the outcome says (none: it stays in Processing, the connector service stopped). */
static void notified(writer *w, const ndes_event *ev)
{
  const sceplab_policy_answer *ans = ev->answer;
  sceplab_art_crs c;
  char name[64], issuer[256], cn[128] = "";
  char *serial = ev->cert ? sceplab_serial_hex(X509_get0_serialNumber(ev->cert)) : NULL;
  char *thumb = ev->cert ? sceplab_thumbprint(ev->cert, EVP_sha1()) : NULL;
  struct tm tm;
  memset(&c, 0, sizeof(c));
  if(ev->issuer)
    X509_NAME_get_text_by_NID(X509_get_subject_name(ev->issuer), NID_commonName, cn, sizeof(cn));
  snprintf(issuer, sizeof(issuer), "%s\\%s", w->art.host, cn);
  c.serial_hex = serial;
  c.thumbprint = thumb;
  c.issuer_ca = issuer;
  c.transaction_id = ev->transaction_id;
  c.user_id = ans ? ans->user_id : "";
  c.device_id = ans ? ans->device_id : "";
  c.request_id = ans ? ans->request_id : "";
  c.status = ev->cert ? 0 : 1;
  c.hresult = ev->hresult;
  c.upload_attempts = ev->upload_attempts;
  if(ev->cert && ASN1_TIME_to_tm(X509_get0_notAfter(ev->cert), &tm))
    c.not_after = (int64_t)timegm(&tm);
  sceplab_art_plugin(&w->art, 1, w->thread, "Calling Notify ...");
  if(sceplab_art_crs_write(&w->art, &c, name, sizeof(name)) == 0) {
    sceplab_art_plugin(&w->art, 1, w->thread, "Certificate request status written for transaction %s", ev->transaction_id);
    if(ev->crs_folder)
      sceplab_art_crs_move(&w->art, name, ev->crs_folder);
  }
  sceplab_art_plugin(&w->art, 1, w->thread, "Exiting Notify with 0x0");
  free(serial);
  free(thumb);
}

static void on_event(void *ud, const ndes_event *ev)
{
  writer *w = ud;
  switch(ev->kind) {
  case NDES_EV_SETUP_FAILED:
    sceplab_art_setup_failed(&w->art);
    break;
  case NDES_EV_POLICY_START: {
    char *thumb = ev->cert ? sceplab_thumbprint(ev->cert, EVP_sha1()) : NULL, *c;
    for(c = thumb; c && *c; c++)
      *c = (char)tolower((unsigned char)*c);
    sceplab_art_plugin(&w->art, 1, w->thread, "==========[ NDES policy module started in process %u ]==========", w->art.pid);
    sceplab_art_plugin(&w->art, 1, w->thread, "Calling Initialize...");
    sceplab_art_plugin(&w->art, 1, w->thread, "NDES thumbprint is %s.", thumb ? thumb : "");
    free(thumb);
    break;
  }
  case NDES_EV_POLICY_INIT:
    if(ev->hresult)
      sceplab_art_plugin(&w->art, 3, w->thread, "Exiting Initialize with 0x%08x", ev->hresult);
    else
      sceplab_art_plugin(&w->art, 1, w->thread, "Exiting Initialize with 0x0");
    break;
  case NDES_EV_CHAIN:
    sceplab_art_capi2_chain(&w->art, ev->chain, ev->nchain, ev->process, ev->result, ev->result_text);
    if(ev->revocation && ev->nchain)
      sceplab_art_capi2_policy(&w->art, &ev->chain[0], ev->process, ev->revocation, ev->chain[0].revocation_text);
    break;
  case NDES_EV_APP_EVENT:
    sceplab_art_event(&w->art, ev->id, ev->error, ev->text);
    break;
  case NDES_EV_SYSTEM_EVENT:
    sceplab_art_system_event(&w->art, ev->provider, ev->id, ev->level, ev->text);
    break;
  case NDES_EV_VERIFY_CALLED:
    sceplab_art_plugin(&w->art, 1, w->thread, "Calling VerifyRequest ...");
    sceplab_art_plugin(&w->art, 1, w->thread, "Sending request to certificate registration point.");
    break;
  case NDES_EV_VERIFY_FAILED:
    if(ev->verify == NDES_VERIFY_FORBIDDEN)
      sceplab_art_plugin(&w->art, 3, w->thread, "Verify challenge returns -- 403 - Forbidden: Access is denied.");
    else if(ev->verify == NDES_VERIFY_UNREACHABLE)
      sceplab_art_plugin(&w->art, 3, w->thread, "Error 12175: WINHTTP_CALLBACK_STATUS_FLAG_CERT_CN_INVALID while sending "
                         "the request to https://%s/CertificateRegistrationSvc", w->art.host);
    else
      sceplab_art_plugin(&w->art, 3, w->thread, "Verify challenge returns false");
    break;
  case NDES_EV_CRP_TRACE:
    sceplab_art_crp(&w->art, ev->error, ev->activity, "%s", ev->text);
    break;
  case NDES_EV_VERIFIED:
    verified(w, ev);
    break;
  case NDES_EV_CA_REFUSED:
    sceplab_art_plugin(&w->art, 3, w->thread, "CA failed request 0x%08X", ev->hresult);
    break;
  case NDES_EV_NOTIFIED:
    notified(w, ev);
    break;
  case NDES_EV_HTTP:
  case NDES_EV_REFUSED:
  case NDES_EV_ISSUED:
    break; /* IIS's and the console's; the connector reports an issuance in its Notify */
  }
}

static void on_close(void *ud)
{
  writer *w = ud;
  sceplab_art_close(&w->art);
  free(w);
}

int ndes_artifacts_observer(ndes_observers *obs, const char *dir, const char *host)
{
  writer *w;
  if(obs->n >= NDES_OBSERVERS_MAX || !(w = calloc(1, sizeof(*w))))
    return -1;
  sceplab_art_init(&w->art, dir, host);
  w->thread = 4000 + w->art.pid % 1000;
  obs->o[obs->n].event = on_event;
  obs->o[obs->n].close = on_close;
  obs->o[obs->n].ud = w;
  obs->n++;
  return 0;
}
