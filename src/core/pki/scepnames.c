/* SCEP's numbers and their names (RFC 8894 section 3.2.1): messageType, pkiStatus and failInfo, in
 * one table for the decoder, the client's reply checks and the Lua side. */
#include <string.h>

#include "sceplab/pki.h"

typedef struct { int code; const char *name; } scep_name;

static const scep_name message_types[] = {
  {SCEPLAB_MSG_CERTREP, "CertRep"}, {SCEPLAB_MSG_RENEWALREQ, "RenewalReq"}, {SCEPLAB_MSG_PKCSREQ, "PKCSReq"},
  {SCEPLAB_MSG_CERTPOLL, "CertPoll"}, {SCEPLAB_MSG_GETCERT, "GetCert"}, {SCEPLAB_MSG_GETCRL, "GetCRL"}, {0, NULL}};
static const scep_name statuses[] = {
  {SCEPLAB_STATUS_SUCCESS, "SUCCESS"}, {SCEPLAB_STATUS_FAILURE, "FAILURE"}, {SCEPLAB_STATUS_PENDING, "PENDING"}, {0, NULL}};
static const scep_name fail_infos[] = {
  {SCEPLAB_FAIL_BADALG, "badAlg"}, {SCEPLAB_FAIL_BADMESSAGECHECK, "badMessageCheck"},
  {SCEPLAB_FAIL_BADREQUEST, "badRequest"}, {SCEPLAB_FAIL_BADTIME, "badTime"}, {SCEPLAB_FAIL_BADCERTID, "badCertId"},
  {0, NULL}};

static const scep_name *table_of(sceplab_scep_names kind)
{
  return kind == SCEPLAB_NAMES_MESSAGE_TYPE ? message_types : kind == SCEPLAB_NAMES_PKI_STATUS ? statuses
       : kind == SCEPLAB_NAMES_FAIL_INFO ? fail_infos : NULL;
}

const char *sceplab_scep_name(sceplab_scep_names kind, int code)
{
  const scep_name *t = table_of(kind);
  for(; t && t->name; t++)
    if(t->code == code)
      return t->name;
  return NULL;
}

int sceplab_scep_code(sceplab_scep_names kind, const char *name)
{
  const scep_name *t = table_of(kind);
  for(; t && t->name && name; t++)
    if(strcmp(t->name, name) == 0)
      return t->code;
  return -1;
}

const char *sceplab_scep_name_at(sceplab_scep_names kind, size_t i, int *code)
{
  const scep_name *t = table_of(kind);
  size_t k;
  for(k = 0; t && t[k].name; k++)
    if(k == i) {
      *code = t[k].code;
      return t[k].name;
    }
  return NULL;
}
