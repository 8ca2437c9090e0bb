/* The dispatcher: detection, then the kind's decoder, under one result shape. */
#include <stdio.h>
#include <string.h>

#include "decode/decode_int.h"

static sceplab_val *run(sceplab_kind kind, const unsigned char *p, size_t n, const sceplab_decode_opts *opts,
                        sceplab_error *err)
{
  switch(kind) {
  case SCEPLAB_KIND_SYNCML: return sceplab_syncml_parse(p, n, opts, err);
  case SCEPLAB_KIND_TOKEN: return sceplab_token_parse(p, n, opts, err);
  case SCEPLAB_KIND_INTUNE_ID: return sceplab_intune_id_parse((const char *)p, n, err);
  case SCEPLAB_KIND_CERTIFICATES: return sceplab_certs_parse(p, n, err);
  case SCEPLAB_KIND_CSR: return sceplab_csr_parse(p, n, opts, err);
  case SCEPLAB_KIND_PKIMESSAGE: return sceplab_pkimsg_parse(p, n, opts, err);
  case SCEPLAB_KIND_CRS: return sceplab_crs_parse(p, n, err);
  case SCEPLAB_KIND_MOBILECONFIG: return sceplab_mobileconfig_parse(p, n, opts, err);
  case SCEPLAB_KIND_UNKNOWN: break;
  }
  sceplab_err_set(err, SCEPLAB_E_USAGE, "unknown kind");
  return NULL;
}

/* Puts kind, layers and detected_by first, then the decoder's fields in their order. */
static sceplab_val *wrap(const sceplab_detected *d, sceplab_kind kind, sceplab_val *body, sceplab_error *err)
{
  sceplab_val *v = sceplab_val_obj();
  size_t i;
  sceplab_obj_set_str(v, "kind", sceplab_kind_name(kind));
  sceplab_obj_set_str(v, "layers", d->layers);
  sceplab_obj_set_str(v, "detected_by", d->why);
  for(i = 0; i < body->u.c.n; i++) {
    sceplab_obj_set(v, body->u.c.keys[i], body->u.c.items[i]);
    body->u.c.items[i] = NULL;
  }
  sceplab_val_free(body); /* the children moved; this frees the shell and its keys */
  return sceplab_done(v, err);
}

sceplab_val *sceplab_decode_as(sceplab_kind kind, const unsigned char *buf, size_t n,
                               const sceplab_decode_opts *opts, sceplab_error *err)
{
  sceplab_detected d;
  sceplab_val *body;
  sceplab_kind use;
  sceplab_err_clear(err);
  if(sceplab_detect(buf, n, &d, err) != 0) {
    /* Detection failed; a forced kind still gets a try on the raw bytes. */
    if(kind == SCEPLAB_KIND_UNKNOWN)
      return NULL;
    memset(&d, 0, sizeof(d));
    snprintf(d.why, sizeof(d.why), "forced as %s", sceplab_kind_name(kind));
    body = run(kind, buf, n, opts, err);
    return body ? wrap(&d, kind, body, err) : NULL;
  }
  use = kind == SCEPLAB_KIND_UNKNOWN ? d.kind : kind;
  body = run(use, d.data, d.len, opts, err);
  if(body)
    body = wrap(&d, use, body, err);
  sceplab_detected_free(&d);
  return body;
}

sceplab_val *sceplab_decode(const unsigned char *buf, size_t n, const sceplab_decode_opts *opts,
                            sceplab_error *err)
{
  return sceplab_decode_as(SCEPLAB_KIND_UNKNOWN, buf, n, opts, err);
}
