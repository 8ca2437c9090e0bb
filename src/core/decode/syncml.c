/* OMA-DM SyncML 1.2: every command, and the ClientCertificateInstall SCEP enrollments and
 * RootCATrustedCertificates entries they carry, decoded into what the device will do. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <openssl/x509.h>

#include "decode/decode_int.h"

#define ITEM_DATA_MAX (1u << 20)  /* longer Data is cut in the command list (never in decoding) */

static const char *const commands[] = {
  "Add", "Replace", "Delete", "Get", "Exec", "Status", "Results", "Alert", "Copy", "Atomic", "Sequence", NULL
};

static int is_command(const xmlNode *n)
{
  int i;
  for(i = 0; commands[i]; i++)
    if(sceplab_xml_is(n, commands[i]))
      return 1;
  return 0;
}

static void set_text(sceplab_val *v, const char *key, const xmlNode *node)
{
  char *t;
  if(!node)
    return;
  t = sceplab_xml_text(node);
  sceplab_obj_set_str(v, key, t);
  free(t);
}

static int ends_with(const char *s, const char *suffix)
{
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A node that carries a secret: the SCEP challenge, or a PFX password. */
static int secret_uri(const char *uri)
{
  return ends_with(uri, "/Install/Challenge") || ends_with(uri, "/PFXCertPassword");
}

static sceplab_val *item_val(const xmlNode *item, const xmlNode *cmd_meta, const sceplab_decode_opts *opts)
{
  sceplab_val *v = sceplab_val_obj();
  xmlNode *meta = sceplab_xml_child(item, "Meta");
  xmlNode *fmt, *type, *data;
  char *target = sceplab_xml_text(sceplab_xml_path(item, "Target/LocURI"));
  if(!meta)
    meta = (xmlNode *)cmd_meta;
  if(target && *target)
    sceplab_obj_set_str(v, "target", target);
  set_text(v, "source", sceplab_xml_path(item, "Source/LocURI"));
  fmt = sceplab_xml_child(meta, "Format");
  type = sceplab_xml_child(meta, "Type");
  set_text(v, "format", fmt);
  set_text(v, "type", type);
  data = sceplab_xml_child(item, "Data");
  if(data) {
    char *d = sceplab_xml_text(data);
    size_t n = d ? strlen(d) : 0;
    sceplab_obj_set_int(v, "data_length", (int64_t)n);
    if(target && secret_uri(target))
      sceplab_obj_set(v, "data", sceplab_secret_val(d ? d : "", n, opts && opts->show_secrets));
    else if(n > ITEM_DATA_MAX) {
      sceplab_obj_set_strn(v, "data", d, ITEM_DATA_MAX);
      sceplab_obj_set_bool(v, "data_truncated", 1);
    }
    else
      sceplab_obj_set_str(v, "data", d);
    free(d);
  }
  free(target);
  return v;
}

static void walk(const xmlNode *parent, const char *parent_id, sceplab_val *out,
                 const sceplab_decode_opts *opts)
{
  const xmlNode *n;
  for(n = parent->children; n; n = n->next) {
    sceplab_val *c;
    xmlNode *it;
    char *cmd_id;
    if(!is_command(n))
      continue;
    c = sceplab_val_obj();
    cmd_id = sceplab_xml_text(sceplab_xml_child(n, "CmdID"));
    sceplab_obj_set_str(c, "command", (const char *)n->name);
    sceplab_obj_set_str(c, "cmd_id", cmd_id);
    sceplab_obj_set_int(c, "line", xmlGetLineNo(n));
    if(parent_id)
      sceplab_obj_set_str(c, "parent", parent_id);
    if(sceplab_xml_is(n, "Status") || sceplab_xml_is(n, "Results")) {
      set_text(c, "msg_ref", sceplab_xml_child(n, "MsgRef"));
      set_text(c, "cmd_ref", sceplab_xml_child(n, "CmdRef"));
      set_text(c, "cmd", sceplab_xml_child(n, "Cmd"));
      set_text(c, "target_ref", sceplab_xml_child(n, "TargetRef"));
      if(sceplab_xml_is(n, "Status"))
        set_text(c, "status", sceplab_xml_child(n, "Data"));
    }
    if(sceplab_xml_is(n, "Alert"))
      set_text(c, "alert", sceplab_xml_child(n, "Data"));
    if(!sceplab_xml_is(n, "Atomic") && !sceplab_xml_is(n, "Sequence")) {
      sceplab_val *items = sceplab_val_arr();
      const xmlNode *meta = sceplab_xml_child(n, "Meta");
      for(it = n->children; it; it = it->next)
        if(sceplab_xml_is(it, "Item"))
          sceplab_arr_push(items, item_val(it, meta, opts));
      sceplab_obj_set(c, "items", items);
    }
    sceplab_arr_push(out, c);
    if(sceplab_xml_is(n, "Atomic") || sceplab_xml_is(n, "Sequence"))
      walk(n, cmd_id, out, opts);
    free(cmd_id);
  }
}

/* ---- ClientCertificateInstall SCEP --------------------------------------------------------- */

static const char *san_type_name(int code)
{
  /* Microsoft's AlternativeNameType (XCN_CERT_ALT_NAME_*), which the CSP's "name format" uses. */
  switch(code) {
  case 1: return "othername";
  case 2: return "email";
  case 3: return "dns";
  case 4: return "x400";
  case 5: return "dirname";
  case 6: return "edi-party";
  case 7: return "uri";
  case 8: return "ip";
  case 9: return "registered-id";
  case 10: return "guid";
  case 11: return "upn";
  }
  return NULL;
}

static const char *key_protection_name(int64_t v)
{
  switch(v) {
  case 1: return "TPM";
  case 2: return "TPM if present, else software";
  case 3: return "software KSP";
  case 4: return "Windows Hello for Business";
  }
  return NULL;
}

/* Splits text on sep into an array of trimmed, non-empty strings. */
static sceplab_val *split(const char *s, char sep)
{
  sceplab_val *arr = sceplab_val_arr();
  while(s && *s) {
    const char *e = strchr(s, sep);
    size_t n = e ? (size_t)(e - s) : strlen(s);
    size_t a = 0;
    while(a < n && isspace((unsigned char)s[a]))
      a++;
    while(n > a && isspace((unsigned char)s[n - 1]))
      n--;
    if(n > a)
      sceplab_arr_push(arr, sceplab_val_strn(s + a, n - a));
    s = e ? e + 1 : NULL;
  }
  return arr;
}

static sceplab_val *eku_list(const char *s)
{
  sceplab_val *parts = split(s, '+'), *out = sceplab_val_arr();
  size_t i;
  for(i = 0; i < parts->u.c.n; i++) {
    const char *oid = parts->u.c.items[i]->u.s.p;
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    if(o) {
      sceplab_arr_push(out, sceplab_oid_val(o));
      ASN1_OBJECT_free(o);
    }
    else {
      sceplab_val *bad = sceplab_val_obj();
      sceplab_obj_set_str(bad, "oid", oid);
      sceplab_obj_set_str(bad, "name", "(not an OID)");
      sceplab_arr_push(out, bad);
    }
  }
  sceplab_val_free(parts);
  return out;
}

static sceplab_val *key_usage_val(sceplab_val *enr, const char *s)
{
  static const struct { int bit; const char *name; } bits[] = {
    {0x80, "digitalSignature"}, {0x40, "nonRepudiation"}, {0x20, "keyEncipherment"},
    {0x10, "dataEncipherment"}, {0x08, "keyAgreement"}, {0x04, "keyCertSign"}, {0x02, "cRLSign"},
    {0x01, "encipherOnly"}, {0x8000, "decipherOnly"}
  };
  sceplab_val *v = sceplab_val_obj(), *names = sceplab_val_arr();
  int64_t ku;
  size_t i;
  if(sceplab_parse_i64(s, &ku) != 0) {
    sceplab_warn(enr, "KeyUsage '%s' is not a decimal integer", s);
    sceplab_val_free(names);
    sceplab_obj_set_str(v, "text", s);
    return v;
  }
  sceplab_obj_set_int(v, "value", ku);
  for(i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
    if(ku & bits[i].bit)
      sceplab_arr_push_str(names, bits[i].name);
  sceplab_obj_set(v, "bits", names);
  if(!(ku & 0xA0))
    sceplab_warn(enr, "KeyUsage %lld sets neither digitalSignature (0x80) nor keyEncipherment (0x20): "
                      "the device rejects the profile", (long long)ku);
  return v;
}

static sceplab_val *sans_val(sceplab_val *enr, const char *s)
{
  sceplab_val *parts = split(s, ';'), *out = sceplab_val_arr();
  size_t i;
  for(i = 0; i < parts->u.c.n; i++) {
    const char *p = parts->u.c.items[i]->u.s.p;
    const char *plus = strchr(p, '+');
    sceplab_val *san = sceplab_val_obj();
    int64_t code;
    char num[16];
    if(plus && (size_t)(plus - p) < sizeof(num)) {
      memcpy(num, p, (size_t)(plus - p));
      num[plus - p] = '\0';
    }
    else
      num[0] = '\0';
    if(plus && sceplab_parse_i64(num, &code) == 0) {
      const char *name = san_type_name((int)code);
      sceplab_obj_set_int(san, "code", code);
      sceplab_obj_set_str(san, "type", name ? name : "unknown");
      sceplab_obj_set_str(san, "value", plus + 1);
      if(!name)
        sceplab_warn(enr, "SubjectAlternativeNames: unknown name format %lld", (long long)code);
    }
    else {
      sceplab_obj_set_str(san, "type", "unknown");
      sceplab_obj_set_str(san, "value", p);
      sceplab_warn(enr, "SubjectAlternativeNames entry '%s' has no 'format+' prefix", p);
    }
    sceplab_arr_push(out, san);
  }
  sceplab_val_free(parts);
  return out;
}

static void set_int_node(sceplab_val *enr, const char *key, const char *node, const char *s)
{
  int64_t v;
  if(sceplab_parse_i64(s, &v) == 0)
    sceplab_obj_set_int(enr, key, v);
  else {
    sceplab_obj_set_str(enr, key, s);
    sceplab_warn(enr, "%s '%s' is not an integer", node, s);
  }
}

/* Interprets one Install/<node> value into the enrollment's decoded fields. */
static void install_node(sceplab_val *enr, const char *node, const char *data, const sceplab_decode_opts *opts)
{
  if(strcmp(node, "ServerURL") == 0)
    sceplab_obj_set(enr, "server_urls", split(data, ';'));
  else if(strcmp(node, "Challenge") == 0) {
    sceplab_val *ch = sceplab_val_obj();
    sceplab_error e;
    sceplab_val *tok = sceplab_token_parse((const unsigned char *)data, strlen(data), opts, &e);
    sceplab_obj_set_int(ch, "length", (int64_t)strlen(data));
    if(tok) {
      sceplab_obj_set_str(ch, "kind", "intune-token");
      sceplab_obj_set(ch, "token", tok);
    }
    else
      sceplab_obj_set_str(ch, "kind", "static");
    sceplab_obj_set(ch, "value", sceplab_secret_val(data, strlen(data), opts && opts->show_secrets));
    sceplab_obj_set(enr, "challenge", ch);
  }
  else if(strcmp(node, "EKUMapping") == 0)
    sceplab_obj_set(enr, "eku", eku_list(data));
  else if(strcmp(node, "KeyUsage") == 0)
    sceplab_obj_set(enr, "key_usage", key_usage_val(enr, data));
  else if(strcmp(node, "SubjectName") == 0)
    sceplab_obj_set_str(enr, "subject_name", data);
  else if(strcmp(node, "SubjectAlternativeNames") == 0)
    sceplab_obj_set(enr, "sans", sans_val(enr, data));
  else if(strcmp(node, "KeyProtection") == 0) {
    int64_t v;
    sceplab_val *kp = sceplab_val_obj();
    if(sceplab_parse_i64(data, &v) == 0) {
      const char *name = key_protection_name(v);
      sceplab_obj_set_int(kp, "value", v);
      sceplab_obj_set_str(kp, "name", name ? name : "unknown");
    }
    else {
      sceplab_obj_set_str(kp, "text", data);
      sceplab_warn(enr, "KeyProtection '%s' is not an integer", data);
    }
    sceplab_obj_set(enr, "key_protection", kp);
  }
  else if(strcmp(node, "KeyLength") == 0)
    set_int_node(enr, "key_length", node, data);
  else if(strcmp(node, "HashAlgorithm") == 0)
    sceplab_obj_set(enr, "hash_algorithms", split(data, '+'));
  else if(strcmp(node, "CAThumbprint") == 0)
    sceplab_obj_set_str(enr, "ca_thumbprint", data);
  else if(strcmp(node, "RetryCount") == 0)
    set_int_node(enr, "retry_count", node, data);
  else if(strcmp(node, "RetryDelay") == 0)
    set_int_node(enr, "retry_delay", node, data);
  else if(strcmp(node, "TemplateName") == 0)
    sceplab_obj_set_str(enr, "template_name", data);
  else if(strcmp(node, "ValidPeriod") == 0)
    sceplab_obj_set_str(enr, "valid_period", data);
  else if(strcmp(node, "ValidPeriodUnits") == 0)
    set_int_node(enr, "valid_period_units", node, data);
  else if(strcmp(node, "ContainerName") == 0)
    sceplab_obj_set_str(enr, "container_name", data);
  else if(strcmp(node, "CustomTextToShowInPrompt") == 0)
    sceplab_obj_set_str(enr, "custom_text", data);
  else if(strcmp(node, "AADKeyIdentifierList") == 0)
    sceplab_obj_set(enr, "aad_key_identifiers", split(data, ';'));
}

/* Splits a LocURI into scope, CSP-relative part. Returns the offset after "<csp>/" or -1. */
static long csp_offset(const char *uri, const char *csp, const char **scope)
{
  const char *p = strstr(uri, csp);
  if(!p)
    return -1;
  *scope = strstr(uri, "/User/") || strncmp(uri, "./User", 6) == 0 ? "user" : "device";
  return (long)(p - uri) + (long)strlen(csp);
}

/* The enrollment of scope/uid, found through index (an object keyed "scope/uid" whose values are
 * positions in list, hashed once it grows), or added. */
static sceplab_val *find_or_add_enrollment(sceplab_val *list, sceplab_val *index, const char *scope, const char *uid)
{
  char key[600];
  const sceplab_val *at;
  sceplab_val *e;
  sceplab_intune_id id;
  snprintf(key, sizeof(key), "%s/%s", scope, uid);
  at = sceplab_obj_get(index, key);
  if(at && at->type == SCEPLAB_VINT && (size_t)at->u.i < list->u.c.n)
    return list->u.c.items[at->u.i];
  sceplab_obj_set_int(index, key, (int64_t)list->u.c.n);
  e = sceplab_val_obj();
  sceplab_obj_set_str(e, "scope", scope);
  sceplab_obj_set_str(e, "unique_id", uid);
  if(sceplab_intune_id_scan(uid, strlen(uid), &id))
    sceplab_obj_set(e, "request", sceplab_intune_id_to_val(&id));
  sceplab_obj_set(e, "nodes", sceplab_val_obj());
  sceplab_obj_set_bool(e, "enroll_executed", 0);
  if(sceplab_arr_push(list, e) != 0)
    return NULL;
  return e;
}

static void scep_item(sceplab_val *list, sceplab_val *index, const char *cmd, const char *uri, const char *data,
                      const sceplab_decode_opts *opts)
{
  const char *scope, *rest, *slash;
  char uid[512];
  long off = csp_offset(uri, "ClientCertificateInstall/SCEP/", &scope);
  sceplab_val *e;
  if(off < 0)
    return;
  rest = uri + off;
  slash = strchr(rest, '/');
  snprintf(uid, sizeof(uid), "%.*s", (int)(slash ? (size_t)(slash - rest) : strlen(rest)), rest);
  if(!*uid)
    return;
  e = find_or_add_enrollment(list, index, scope, uid);
  if(!e)
    return;
  if(!slash) {
    if(strcmp(cmd, "Delete") == 0)
      sceplab_obj_set_bool(e, "deleted", 1);
    return;
  }
  rest = slash + 1;
  if(strcmp(rest, "Install/Enroll") == 0) {
    if(strcmp(cmd, "Exec") == 0)
      sceplab_obj_set_bool(e, "enroll_executed", 1);
    return;
  }
  if(strncmp(rest, "Install/", 8) == 0 && data && (strcmp(cmd, "Add") == 0 || strcmp(cmd, "Replace") == 0)) {
    const char *node = rest + 8;
    sceplab_val *nodes = (sceplab_val *)sceplab_obj_get(e, "nodes");
    if(strcmp(node, "Challenge") == 0)
      sceplab_obj_set(nodes, node, sceplab_secret_val(data, strlen(data), opts && opts->show_secrets));
    else
      sceplab_obj_set_str(nodes, node, data);
    install_node(e, node, data, opts);
  }
  else if(data && strcmp(cmd, "Results") == 0)
    sceplab_obj_set_str(e, rest, data); /* CertThumbprint, Status, ErrorCode, RespondentServerUrl */
}

static void trusted_item(sceplab_val *list, const char *uri, const char *data)
{
  const char *scope, *rest;
  char store[64], thumb[128];
  long off = csp_offset(uri, "RootCATrustedCertificates/", &scope);
  sceplab_val *t;
  size_t len = 0;
  unsigned char *der;
  if(off < 0 || !data)
    return;
  rest = uri + off;
  if(sscanf(rest, "%63[^/]/%127[^/]/EncodedCertificate", store, thumb) != 2)
    return;
  t = sceplab_val_obj();
  sceplab_obj_set_str(t, "scope", scope);
  sceplab_obj_set_str(t, "store", store);
  sceplab_obj_set_str(t, "uri_thumbprint", thumb);
  der = sceplab_b64_decode(data, strlen(data), &len, NULL);
  if(der) {
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if(x) {
      sceplab_val *c = sceplab_x509_describe(x);
      const char *sha1 = sceplab_obj_get_str(c, "sha1");
      sceplab_obj_set_bool(t, "thumbprint_matches_uri", sha1 && strcasecmp(sha1, thumb) == 0);
      sceplab_obj_set(t, "certificate", c);
      X509_free(x);
    }
    else
      sceplab_warn(t, "EncodedCertificate for %s is not a DER certificate", thumb);
    free(der);
  }
  else
    sceplab_warn(t, "EncodedCertificate for %s is not base64", thumb);
  sceplab_arr_push(list, t);
}

/* Normalises a thumbprint for comparison: hex digits only, upper case. */
static void norm_thumb(const char *in, char *out, size_t outlen)
{
  size_t o = 0;
  for(; in && *in && o + 1 < outlen; in++)
    if(isxdigit((unsigned char)*in))
      out[o++] = (char)toupper((unsigned char)*in);
  out[o] = '\0';
}

static void check_ca_thumbprints(sceplab_val *doc, sceplab_val *enrollments, sceplab_val *trusted)
{
  size_t i, j;
  for(i = 0; i < enrollments->u.c.n; i++) {
    sceplab_val *e = enrollments->u.c.items[i];
    sceplab_val *chk = sceplab_val_obj();
    const char *want = sceplab_obj_get_str(e, "ca_thumbprint");
    char w[160];
    if(!want) {
      sceplab_obj_set_str(chk, "status", "no-ca-thumbprint");
      sceplab_obj_set(e, "ca_thumbprint_check", chk);
      continue;
    }
    norm_thumb(want, w, sizeof(w));
    if(strlen(w) != 40 && strlen(w) != 64)
      sceplab_warn(e, "CAThumbprint '%s' is not a SHA-1 (40 hex digits) or SHA-256 thumbprint", want);
    if(trusted->u.c.n == 0) {
      sceplab_obj_set_str(chk, "status", "no-trusted-certificates-in-message");
      sceplab_obj_set(e, "ca_thumbprint_check", chk);
      continue;
    }
    sceplab_obj_set_str(chk, "status", "no-match");
    for(j = 0; j < trusted->u.c.n; j++) {
      const sceplab_val *c = sceplab_obj_get(trusted->u.c.items[j], "certificate");
      char h1[160], h2[160];
      norm_thumb(sceplab_obj_get_str(c, "sha1"), h1, sizeof(h1));
      norm_thumb(sceplab_obj_get_str(c, "sha256"), h2, sizeof(h2));
      if(c && (strcmp(w, h1) == 0 || strcmp(w, h2) == 0)) {
        const char *role = sceplab_obj_get_str(c, "role");
        sceplab_obj_set_str(chk, "status", role && strcmp(role, "root") == 0 ? "matches-root" : "matches-intermediate");
        sceplab_obj_set_str(chk, "store", sceplab_obj_get_str(trusted->u.c.items[j], "store"));
        sceplab_obj_set_str(chk, "subject", sceplab_obj_get_str(c, "subject"));
        break;
      }
    }
    if(strcmp(sceplab_obj_get_str(chk, "status"), "no-match") == 0) {
      sceplab_warn(e, "CAThumbprint %s matches none of the %zu trusted certificate(s) delivered in this "
                      "message: the device will fail with \"The hash value is not correct\"", want, trusted->u.c.n);
      sceplab_warn(doc, "SCEP profile %s: CAThumbprint matches no delivered trusted certificate",
                   sceplab_obj_get_str(e, "unique_id"));
    }
    sceplab_obj_set(e, "ca_thumbprint_check", chk);
  }
}

static void check_required(sceplab_val *enrollments)
{
  static const char *const required[] = {
    "ServerURL", "Challenge", "EKUMapping", "KeyUsage", "SubjectName", "KeyLength", "HashAlgorithm",
    "CAThumbprint", NULL
  };
  size_t i;
  int r;
  for(i = 0; i < enrollments->u.c.n; i++) {
    sceplab_val *e = enrollments->u.c.items[i];
    const sceplab_val *nodes = sceplab_obj_get(e, "nodes");
    const sceplab_val *ex = sceplab_obj_get(e, "enroll_executed");
    sceplab_val *missing = sceplab_val_arr();
    for(r = 0; required[r]; r++)
      if(!sceplab_obj_get(nodes, required[r]))
        sceplab_arr_push_str(missing, required[r]);
    if(missing->u.c.n && ex && ex->u.b)
      sceplab_warn(e, "Enroll was executed but %zu required node(s) were not set in this message",
                   missing->u.c.n);
    sceplab_obj_set(e, "missing_nodes", missing);
  }
}

sceplab_val *sceplab_syncml_parse(const unsigned char *buf, size_t n, const sceplab_decode_opts *opts,
                                  sceplab_error *err)
{
  xmlDoc *doc = sceplab_xml_read(buf, n, "SyncML", err);
  xmlNode *root, *hdr, *body;
  sceplab_val *v, *cmds, *enrollments, *trusted;
  size_t i, j;
  if(!doc)
    return NULL;
  root = sceplab_xml_root(doc, "SyncML", "SyncML", err);
  if(!root) {
    xmlFreeDoc(doc);
    return NULL;
  }
  v = sceplab_val_obj();
  if(root->ns && root->ns->href) {
    sceplab_obj_set_str(v, "namespace", (const char *)root->ns->href);
    if(strcasecmp((const char *)root->ns->href, "SYNCML:SYNCML1.2") != 0)
      sceplab_warn(v, "unexpected namespace '%s' (expected SYNCML:SYNCML1.2)", (const char *)root->ns->href);
  }
  else
    sceplab_obj_set(v, "namespace", sceplab_val_null());
  hdr = sceplab_xml_child(root, "SyncHdr");
  if(hdr) {
    sceplab_val *h = sceplab_val_obj();
    set_text(h, "ver_dtd", sceplab_xml_child(hdr, "VerDTD"));
    set_text(h, "ver_proto", sceplab_xml_child(hdr, "VerProto"));
    set_text(h, "session_id", sceplab_xml_child(hdr, "SessionID"));
    set_text(h, "msg_id", sceplab_xml_child(hdr, "MsgID"));
    set_text(h, "target", sceplab_xml_path(hdr, "Target/LocURI"));
    set_text(h, "source", sceplab_xml_path(hdr, "Source/LocURI"));
    sceplab_obj_set(v, "header", h);
  }
  /* A bare fragment (SyncBody commands directly under SyncML) is accepted as well. */
  body = sceplab_xml_child(root, "SyncBody");
  cmds = sceplab_val_arr();
  walk(body ? body : root, NULL, cmds, opts);
  if(cmds->u.c.n == 0)
    sceplab_warn(v, "no SyncML commands found");

  /* Second pass over the raw items for the CSPs we understand (secrets not yet redacted). */
  enrollments = sceplab_val_arr();
  trusted = sceplab_val_arr();
  {
    static const sceplab_decode_opts reveal = { NULL, 0, NULL, 1 };
    sceplab_decode_opts o = opts ? *opts : reveal;
    sceplab_val *raw = sceplab_val_arr(), *index = sceplab_val_obj();
    walk(body ? body : root, NULL, raw, &reveal);
    for(i = 0; i < raw->u.c.n; i++) {
      const sceplab_val *c = raw->u.c.items[i];
      const sceplab_val *items = sceplab_obj_get(c, "items");
      const char *cmd = sceplab_obj_get_str(c, "command");
      for(j = 0; items && j < items->u.c.n; j++) {
        const char *uri = sceplab_obj_get_str(items->u.c.items[j], "target");
        const char *data = sceplab_obj_get_str(items->u.c.items[j], "data");
        if(!uri && strcmp(cmd, "Results") == 0)
          uri = sceplab_obj_get_str(items->u.c.items[j], "source");
        if(!uri)
          continue;
        if(strstr(uri, "ClientCertificateInstall/SCEP/"))
          scep_item(enrollments, index, cmd, uri, data, &o);
        else if(strstr(uri, "RootCATrustedCertificates/") && cmd && strcmp(cmd, "Get") != 0 &&
                strcmp(cmd, "Delete") != 0)
          trusted_item(trusted, uri, data);
      }
    }
    sceplab_val_free(raw);
    sceplab_val_free(index);
  }
  check_required(enrollments);
  check_ca_thumbprints(v, enrollments, trusted);
  sceplab_obj_set_int(v, "command_count", (int64_t)cmds->u.c.n);
  sceplab_obj_set(v, "commands", cmds);
  sceplab_obj_set(v, "scep_enrollments", enrollments);
  sceplab_obj_set(v, "trusted_certificates", trusted);
  xmlFreeDoc(doc);
  return sceplab_done(v, err);
}
