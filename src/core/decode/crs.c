/* CRS files: the CertRequestStatus XML the Intune connector drops per request (Processing,
 * Succeed, Failed). Every field is kept as written; the ones that matter are decoded too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "decode/decode_int.h"

sceplab_val *sceplab_crs_parse(const unsigned char *buf, size_t n, sceplab_error *err)
{
  xmlDoc *doc = sceplab_xml_read(buf, n, "CRS", err);
  xmlNode *root, *c;
  sceplab_val *v, *fields;
  const char *s;
  int64_t num;
  if(!doc)
    return NULL;
  root = sceplab_xml_root(doc, "CertRequestStatus", "CRS", err);
  if(!root) {
    xmlFreeDoc(doc);
    return NULL;
  }
  v = sceplab_val_obj();
  fields = sceplab_val_obj();
  for(c = root->children; c; c = c->next) {
    char *t;
    if(c->type != XML_ELEMENT_NODE)
      continue;
    t = sceplab_xml_text(c);
    sceplab_obj_set_str(fields, (const char *)c->name, t);
    free(t);
  }
  sceplab_obj_set(v, "fields", fields);
  if((s = sceplab_obj_get_str(fields, "CertificateRequestID"))) {
    sceplab_intune_id id;
    if(sceplab_intune_id_scan(s, strlen(s), &id))
      sceplab_obj_set(v, "request", sceplab_intune_id_to_val(&id));
    else
      sceplab_warn(v, "CertificateRequestID is not an Intune request identifier");
  }
  if((s = sceplab_obj_get_str(fields, "HResult")) && sceplab_parse_i64(s, &num) == 0) {
    char hex[16];
    snprintf(hex, sizeof(hex), "0x%08X", (unsigned)(uint32_t)num);
    sceplab_obj_set_str(v, "hresult", hex);
    sceplab_obj_set_bool(v, "failed", num != 0);
  }
  if((s = sceplab_obj_get_str(fields, "Status")) && sceplab_parse_i64(s, &num) == 0)
    sceplab_obj_set_int(v, "status", num);
  if((s = sceplab_obj_get_str(fields, "UploadStatus")) && sceplab_parse_i64(s, &num) == 0)
    sceplab_obj_set_int(v, "upload_status", num);
  if(!sceplab_obj_get(fields, "CertificateRequestID") && !sceplab_obj_get(fields, "TransactionID"))
    sceplab_warn(v, "neither CertificateRequestID nor TransactionID present");
  xmlFreeDoc(doc);
  return sceplab_done(v, err);
}
