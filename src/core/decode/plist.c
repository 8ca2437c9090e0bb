/* Apple configuration profiles: XML plists, plain or inside a CMS signature, and the
 * com.apple.security.scep payloads they carry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>

#include "decode/decode_int.h"

#define PLIST_MAX_DEPTH 64

static sceplab_val *plist_node(const xmlNode *n, int depth, sceplab_error *err);

static sceplab_val *plist_dict(const xmlNode *n, int depth, sceplab_error *err)
{
  sceplab_val *d = sceplab_val_obj();
  const xmlNode *c;
  char *key = NULL;
  for(c = n->children; c; c = c->next) {
    if(c->type != XML_ELEMENT_NODE)
      continue;
    if(sceplab_xml_is(c, "key")) {
      free(key);
      key = sceplab_xml_text(c);
    }
    else {
      sceplab_val *child = plist_node(c, depth + 1, err);
      if(!child) {
        free(key);
        sceplab_val_free(d);
        return NULL;
      }
      if(!key) {
        sceplab_val_free(child);
        sceplab_err_set(err, SCEPLAB_E_INPUT, "plist: <%s> at line %ld without a <key>", (const char *)c->name,
                        xmlGetLineNo(c));
        sceplab_val_free(d);
        return NULL;
      }
      sceplab_obj_set(d, key, child);
      free(key);
      key = NULL;
    }
  }
  free(key);
  return d;
}

static sceplab_val *plist_node(const xmlNode *n, int depth, sceplab_error *err)
{
  char *t;
  sceplab_val *v;
  if(depth > PLIST_MAX_DEPTH) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "plist: nesting deeper than %d", PLIST_MAX_DEPTH);
    return NULL;
  }
  if(sceplab_xml_is(n, "dict"))
    return plist_dict(n, depth, err);
  if(sceplab_xml_is(n, "array")) {
    const xmlNode *c;
    sceplab_val *a = sceplab_val_arr();
    for(c = n->children; c; c = c->next) {
      sceplab_val *child;
      if(c->type != XML_ELEMENT_NODE)
        continue;
      child = plist_node(c, depth + 1, err);
      if(!child) {
        sceplab_val_free(a);
        return NULL;
      }
      sceplab_arr_push(a, child);
    }
    return a;
  }
  if(sceplab_xml_is(n, "true"))
    return sceplab_val_bool(1);
  if(sceplab_xml_is(n, "false"))
    return sceplab_val_bool(0);
  t = sceplab_xml_text(n);
  if(!t)
    return NULL;
  if(sceplab_xml_is(n, "integer")) {
    int64_t i;
    if(sceplab_parse_i64(t, &i) != 0) {
      sceplab_err_set(err, SCEPLAB_E_INPUT, "plist: <integer> '%.40s' at line %ld is not an integer", t,
                      xmlGetLineNo(n));
      free(t);
      return NULL;
    }
    v = sceplab_val_int(i);
  }
  else if(sceplab_xml_is(n, "data")) {
    /* Binary data is kept as upper-case hex (fingerprints read naturally that way). */
    size_t len = 0;
    unsigned char *bin = sceplab_b64_decode(t, strlen(t), &len, NULL);
    if(!bin) {
      sceplab_err_set(err, SCEPLAB_E_INPUT, "plist: <data> at line %ld is not base64", xmlGetLineNo(n));
      free(t);
      return NULL;
    }
    v = sceplab_val_hex(bin, len, 1);
    free(bin);
  }
  else if(sceplab_xml_is(n, "string") || sceplab_xml_is(n, "date") || sceplab_xml_is(n, "real"))
    v = sceplab_val_str(t);
  else {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "plist: unknown element <%s> at line %ld", (const char *)n->name,
                    xmlGetLineNo(n));
    v = NULL;
  }
  free(t);
  return v;
}

static void redact_challenges(sceplab_val *content, const sceplab_decode_opts *opts)
{
  const char *ch = sceplab_obj_get_str(content, "Challenge");
  if(ch && !(opts && opts->show_secrets))
    sceplab_obj_set(content, "Challenge", sceplab_secret_val(ch, strlen(ch), opts && opts->show_secrets));
}

/* Collects the SCEP payloads, whether top-level or inside PayloadContent. */
static void collect_scep(sceplab_val *out, const sceplab_val *node, const sceplab_decode_opts *opts)
{
  size_t i;
  const char *type;
  if(!node)
    return;
  if(node->type == SCEPLAB_VARR) {
    for(i = 0; i < node->u.c.n; i++)
      collect_scep(out, node->u.c.items[i], opts);
    return;
  }
  if(node->type != SCEPLAB_VOBJ)
    return;
  type = sceplab_obj_get_str(node, "PayloadType");
  if(type && strcmp(type, "com.apple.security.scep") == 0) {
    sceplab_val *p = sceplab_val_obj();
    const sceplab_val *content = sceplab_obj_get(node, "PayloadContent");
    sceplab_obj_set_str(p, "identifier", sceplab_obj_get_str(node, "PayloadIdentifier"));
    sceplab_obj_set_str(p, "uuid", sceplab_obj_get_str(node, "PayloadUUID"));
    sceplab_obj_set_str(p, "display_name", sceplab_obj_get_str(node, "PayloadDisplayName"));
    if(content && content->type == SCEPLAB_VOBJ) {
      sceplab_val *copy = sceplab_val_copy(content);
      redact_challenges(copy, opts);
      sceplab_obj_set(p, "content", copy);
    }
    sceplab_arr_push(out, p);
  }
  collect_scep(out, sceplab_obj_get(node, "PayloadContent"), opts);
}

static sceplab_val *parse_plist_xml(const unsigned char *buf, size_t n, sceplab_error *err)
{
  xmlDoc *doc;
  xmlNode *root, *c;
  sceplab_val *v = NULL;
  if(n >= 8 && memcmp(buf, "bplist00", 8) == 0) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "binary plist: convert with 'plutil -convert xml1' first");
    return NULL;
  }
  doc = sceplab_xml_read(buf, n, "plist", err);
  if(!doc)
    return NULL;
  root = sceplab_xml_root(doc, "plist", "plist", err);
  if(!root) {
    xmlFreeDoc(doc);
    return NULL;
  }
  for(c = root->children; c; c = c->next)
    if(c->type == XML_ELEMENT_NODE) {
      v = plist_node(c, 0, err);
      break;
    }
  if(!c)
    sceplab_err_set(err, SCEPLAB_E_INPUT, "plist: empty <plist>");
  xmlFreeDoc(doc);
  return v;
}

sceplab_val *sceplab_mobileconfig_parse(const unsigned char *buf, size_t n,
                                        const sceplab_decode_opts *opts, sceplab_error *err)
{
  sceplab_val *v = sceplab_val_obj(), *plist, *scep, *redacted;
  unsigned char *inner = NULL;
  size_t inner_len = 0;
  size_t i = 0;
  while(i < n && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
    i++;
  if(i < n && buf[i] == 0x30) {
    /* A signed profile: CMS SignedData around the XML plist. */
    const unsigned char *p = buf + i;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)(n - i));
    BIO *out = BIO_new(BIO_s_mem());
    sceplab_val *desc = sceplab_cms_describe(buf + i, n - i, NULL);
    int ok;
    if(!cms || !out) {
      BIO_free(out);
      CMS_ContentInfo_free(cms);
      sceplab_val_free(desc);
      sceplab_val_free(v);
      sceplab_err_openssl(err, SCEPLAB_E_INPUT, "signed profile: not CMS");
      return NULL;
    }
    ok = CMS_verify(cms, NULL, NULL, NULL, out, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY);
    if(!ok) {
      /* Extract the content even when the signature does not verify, and say so. */
      ASN1_OCTET_STRING **pos = CMS_get0_content(cms);
      ERR_clear_error();
      if(pos && *pos)
        BIO_write(out, ASN1_STRING_get0_data(*pos), ASN1_STRING_length(*pos));
      sceplab_warn(v, "profile signature does not verify");
    }
    sceplab_obj_set_bool(v, "signed", 1);
    sceplab_obj_set_bool(v, "signature_valid", ok == 1);
    if(desc)
      sceplab_obj_set(v, "signature", desc);
    {
      char *data = NULL;
      long len = BIO_get_mem_data(out, &data);
      if(len > 0 && (inner = malloc((size_t)len))) {
        memcpy(inner, data, (size_t)len);
        inner_len = (size_t)len;
      }
    }
    BIO_free(out);
    CMS_ContentInfo_free(cms);
    ERR_clear_error();
    if(!inner) {
      sceplab_val_free(v);
      sceplab_err_set(err, SCEPLAB_E_INPUT, "signed profile: no embedded content");
      return NULL;
    }
    buf = inner;
    n = inner_len;
  }
  else
    sceplab_obj_set_bool(v, "signed", 0);
  plist = parse_plist_xml(buf, n, err);
  free(inner);
  if(!plist) {
    sceplab_val_free(v);
    return NULL;
  }
  scep = sceplab_val_arr();
  collect_scep(scep, plist, opts);
  sceplab_obj_set_str(v, "payload_type", sceplab_obj_get_str(plist, "PayloadType"));
  sceplab_obj_set_str(v, "display_name", sceplab_obj_get_str(plist, "PayloadDisplayName"));
  sceplab_obj_set_str(v, "identifier", sceplab_obj_get_str(plist, "PayloadIdentifier"));
  sceplab_obj_set(v, "scep_payloads", scep);
  if(scep->u.c.n == 0)
    sceplab_warn(v, "no com.apple.security.scep payload in this profile");
  /* The full plist, with every Challenge redacted unless asked. */
  redacted = plist;
  if(!(opts && opts->show_secrets)) {
    const sceplab_val *pc = sceplab_obj_get(plist, "PayloadContent");
    size_t k;
    if(pc && pc->type == SCEPLAB_VARR)
      for(k = 0; k < pc->u.c.n; k++) {
        sceplab_val *content = (sceplab_val *)sceplab_obj_get(pc->u.c.items[k], "PayloadContent");
        if(content && content->type == SCEPLAB_VOBJ)
          redact_challenges(content, opts);
      }
  }
  sceplab_obj_set(v, "plist", redacted);
  return sceplab_done(v, err);
}
