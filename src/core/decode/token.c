/* Intune CertEnrollToken: the challenge Intune puts in the SCEP profile. It is base64 of a small
 * XML document that real tokens do not always keep well-formed (the seed sample closes <DeviceID>
 * with </DeviceId>), so fields are read with a tolerant tag scanner and every irregularity becomes
 * a warning rather than a failure. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "decode/decode_int.h"

typedef struct span { const char *p; size_t n; int found; int case_mismatch; char close[64]; } span;

/* Finds <name>...</name> with case-insensitive tag names. */
static span find_elem(const char *s, size_t n, const char *name)
{
  span r;
  char open[80], close[80];
  const char *o, *c;
  memset(&r, 0, sizeof(r));
  snprintf(open, sizeof(open), "<%s>", name);
  snprintf(close, sizeof(close), "</%s>", name);
  o = sceplab_memcasestr(s, n, open);
  if(!o)
    return r;
  o += strlen(open);
  c = sceplab_memcasestr(o, n - (size_t)(o - s), close);
  if(!c)
    return r;
  r.p = o;
  r.n = (size_t)(c - o);
  r.found = 1;
  /* Compare the tags as written with the canonical name. */
  if(memcmp(o - strlen(open), open, strlen(open)) != 0 || memcmp(c, close, strlen(close)) != 0) {
    r.case_mismatch = 1;
    snprintf(r.close, sizeof(r.close), "%.*s", (int)strlen(close), c);
  }
  return r;
}

static char *trimmed(span sp)
{
  size_t a = 0, b = sp.n;
  char *out;
  while(a < b && isspace((unsigned char)sp.p[a]))
    a++;
  while(b > a && isspace((unsigned char)sp.p[b - 1]))
    b--;
  out = malloc(b - a + 1);
  if(out) {
    memcpy(out, sp.p + a, b - a);
    out[b - a] = '\0';
  }
  return out;
}

static void note_case(sceplab_val *v, const char *name, span sp)
{
  if(sp.case_mismatch)
    sceplab_warn(v, "element %s has mismatched tag case (closed as %s); read anyway", name, sp.close);
}

/* A plain text field: stored under key when present, its tag case checked. */
static char *text_field(sceplab_val *v, span root, const char *name, const char *key)
{
  span sp = find_elem(root.p, root.n, name);
  char *text;
  if(!sp.found || !(text = trimmed(sp)))
    return NULL;
  note_case(v, name, sp);
  if(key)
    sceplab_obj_set_str(v, key, text);
  return text;
}

static void challenge_field(sceplab_val *v, const char *text, const sceplab_decode_opts *opts)
{
  sceplab_val *c = sceplab_val_obj();
  size_t len = 0, bad = 0;
  unsigned char *der = sceplab_b64_decode(text, strlen(text), &len, &bad);
  sceplab_obj_set_int(c, "encoded_length", (int64_t)strlen(text));
  if(opts && opts->show_secrets)
    sceplab_obj_set_str(c, "value", text);
  if(!der)
    sceplab_warn(v, "CertEnrollChallenge is not base64 (offset %zu)", bad);
  else {
    sceplab_error e;
    sceplab_val *cms = sceplab_cms_describe(der, len, &e);
    sceplab_obj_set_int(c, "length", (int64_t)len);
    if(cms)
      sceplab_obj_set(c, "cms", cms);
    else
      sceplab_warn(v, "CertEnrollChallenge does not parse as CMS: %s", e.msg);
  }
  free(der);
  sceplab_obj_set(v, "challenge", c);
}

static void signature_field(sceplab_val *v, const char *text, const sceplab_decode_opts *opts)
{
  sceplab_val *s = sceplab_val_obj();
  size_t len = 0;
  unsigned char *der = sceplab_hex_decode(text, strlen(text), &len);
  if(opts && opts->show_secrets)
    sceplab_obj_set_str(s, "value", text);
  if(!der) {
    /* Some tokens carry the signature in base64 instead of hex. */
    der = sceplab_b64_decode(text, strlen(text), &len, NULL);
    sceplab_obj_set_str(s, "encoding", der ? "base64" : "unknown");
  }
  else
    sceplab_obj_set_str(s, "encoding", "hex");
  if(der) {
    sceplab_val *cms = sceplab_cms_describe(der, len, NULL);
    sceplab_obj_set_int(s, "length", (int64_t)len);
    if(cms)
      sceplab_obj_set(s, "cms", cms);
    else
      sceplab_obj_set_str(s, "structure", len && der[0] == 0x30 ? "DER SEQUENCE" : "raw");
  }
  else
    sceplab_warn(v, "Signature is neither hex nor base64");
  free(der);
  sceplab_obj_set(v, "signature", s);
}

sceplab_val *sceplab_token_parse(const unsigned char *buf, size_t n, const sceplab_decode_opts *opts,
                                 sceplab_error *err)
{
  const char *s = (const char *)buf;
  unsigned char *decoded = NULL;
  size_t i = 0, len = n;
  sceplab_val *v;
  span root, sp;
  char *text;
  xmlDoc *doc;
  sceplab_error xerr;

  while(i < n && isspace((unsigned char)s[i]))
    i++;
  v = sceplab_val_obj();
  if(i < n && s[i] != '<') {
    size_t bad = 0;
    decoded = sceplab_b64_decode(s, n, &len, &bad);
    if(!decoded) {
      sceplab_val_free(v);
      sceplab_err_set(err, SCEPLAB_E_INPUT, "CertEnrollToken: not base64 (bad character at offset %zu)", bad);
      return NULL;
    }
    sceplab_obj_set_int(v, "encoded_length", (int64_t)n);
    s = (const char *)decoded;
  }
  sceplab_obj_set_int(v, "xml_length", (int64_t)len);
  root = find_elem(s, len, "CertEnrollToken");
  if(!root.found) {
    free(decoded);
    sceplab_val_free(v);
    sceplab_err_set(err, SCEPLAB_E_INPUT, "CertEnrollToken: no <CertEnrollToken> element");
    return NULL;
  }
  doc = sceplab_xml_read((const unsigned char *)s, len, "CertEnrollToken", &xerr);
  sceplab_obj_set_bool(v, "well_formed", doc != NULL);
  if(!doc)
    sceplab_warn(v, "token XML is not well-formed (%s); fields read with the tolerant reader", xerr.msg);
  xmlFreeDoc(doc);

  sp = find_elem(root.p, root.n, "CertEnrollChallenge");
  if(sp.found && (text = trimmed(sp))) {
    note_case(v, "CertEnrollChallenge", sp);
    challenge_field(v, text, opts);
    free(text);
  }
  else
    sceplab_warn(v, "CertEnrollChallenge missing");

  free(text_field(v, root, "SignerThumbprint", "signer_thumbprint"));
  if((text = text_field(v, root, "Signature", NULL))) {
    signature_field(v, text, opts);
    free(text);
  }
  else
    sceplab_warn(v, "Signature missing");
  free(text_field(v, root, "DeviceID", "device_id"));
  free(text_field(v, root, "UserID", "user_id"));
  if((text = text_field(v, root, "CertificateRequestId", "certificate_request_id"))) {
    sceplab_intune_id id;
    if(sceplab_intune_id_scan(text, strlen(text), &id))
      sceplab_obj_set(v, "request", sceplab_intune_id_to_val(&id));
    else
      sceplab_warn(v, "CertificateRequestId is not an Intune request identifier");
    free(text);
  }
  free(text_field(v, root, "Timestamp", "timestamp"));
  free(decoded);
  return sceplab_done(v, err);
}
