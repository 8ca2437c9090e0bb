/* CertEnrollToken, made and verified as Intune and its connector do (see intune.h). The token
 * is text the connector reads with string matching (real ones are not always well-formed XML),
 * so the signed <Data> element is taken as the exact bytes between its tags. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>

#include "decode/decode_int.h"
#include "sceplab/intune.h"

static void put_bio(void *b, const char *p, size_t n) { BIO_write(b, p, (int)n); }

/* The challenge's inner document: what the certificate may be issued for, as XML text. */
static void put_esc(BIO *b, const char *s) { sceplab_esc_put(sceplab_esc_xml, s, put_bio, b); }

static void put_elem(BIO *b, const char *name, const char *value)
{
  if(!value)
    return;
  BIO_printf(b, "<%s>", name);
  put_esc(b, value);
  BIO_printf(b, "</%s>", name);
}

/* .NET's round-trip form, as Intune writes its Timestamp. */
static void iso_time(int64_t t, char *out, size_t n)
{
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, n, "%Y-%m-%dT%H:%M:%S.0000000Z", &tm);
}

static int64_t parse_iso(const char *s)
{
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  if(!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec) != 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm);
}

static char *bio_text(BIO *b)
{
  char *p = NULL, *out;
  long n = BIO_get_mem_data(b, &p);
  if(n < 0 || !(out = malloc((size_t)n + 1)))
    return NULL;
  memcpy(out, p, (size_t)n);
  out[n] = '\0';
  return out;
}

static char *challenge_xml(const sceplab_intune_claims *c, const char *request_id, int64_t issued, int64_t expires)
{
  BIO *b = BIO_new(BIO_s_mem());
  char t[40], nonce[40], bits[16];
  size_t i;
  char *out;
  if(!b)
    return NULL;
  if(sceplab_guid(nonce, sizeof(nonce), '-', 0) != 0) {
    BIO_free(b);
    return NULL;
  }
  BIO_puts(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Challenge Version=\"1\">");
  put_elem(b, "DeviceID", c->device_id);
  put_elem(b, "UserID", c->user_id);
  put_elem(b, "CertificateRequestId", request_id);
  put_elem(b, "SubjectName", c->subject);
  BIO_puts(b, "<SubjectAlternativeNames>");
  for(i = 0; i < c->nsan; i++) {
    const char *colon = strchr(c->san[i], ':');
    BIO_puts(b, "<SubjectAlternativeName Type=\"");
    if(colon) {
      char *type = strndup(c->san[i], (size_t)(colon - c->san[i]));
      put_esc(b, type ? type : "");
      free(type);
      BIO_puts(b, "\">");
      put_esc(b, colon + 1);
    }
    else {
      BIO_puts(b, "upn\">");
      put_esc(b, c->san[i]);
    }
    BIO_puts(b, "</SubjectAlternativeName>");
  }
  BIO_puts(b, "</SubjectAlternativeNames>");
  if(c->key_bits > 0) {
    snprintf(bits, sizeof(bits), "%d", c->key_bits);
    put_elem(b, "KeyLength", bits);
  }
  put_elem(b, "KeyUsage", c->key_usage);
  if(c->nekus) {
    BIO_puts(b, "<ExtendedKeyUsages>");
    for(i = 0; i < c->nekus; i++) {
      /* as OIDs, the form the connector compares ("clientAuth" -> 1.3.6.1.5.5.7.3.2) */
      ASN1_OBJECT *o = OBJ_txt2obj(c->ekus[i], 0);
      char oid[128];
      if(o && OBJ_obj2txt(oid, sizeof(oid), o, 1) > 0)
        put_elem(b, "ExtendedKeyUsage", oid);
      else
        put_elem(b, "ExtendedKeyUsage", c->ekus[i]);
      ASN1_OBJECT_free(o);
    }
    BIO_puts(b, "</ExtendedKeyUsages>");
  }
  iso_time(issued, t, sizeof(t));
  put_elem(b, "IssuedAt", t);
  iso_time(expires, t, sizeof(t));
  put_elem(b, "ExpiresAt", t);
  put_elem(b, "Nonce", nonce);
  BIO_puts(b, "</Challenge>");
  out = bio_text(b);
  BIO_free(b);
  return out;
}

static unsigned char *cms_der(CMS_ContentInfo *cms, size_t *n)
{
  unsigned char *der = NULL;
  int len = cms ? i2d_CMS_ContentInfo(cms, &der) : -1;
  if(len <= 0)
    return NULL;
  *n = (size_t)len;
  return der;
}

char *sceplab_intune_token(const sceplab_intune_keys *k, const sceplab_intune_claims *c, sceplab_error *err)
{
  X509 *signer = k->sign_cert, *enc = k->enc_cert;
  EVP_PKEY *skey = k->sign_key;
  int64_t issued = c->issued_at ? c->issued_at : (int64_t)time(NULL);
  char rid[256], g1[40], g2[40], ts[40], devid[40];
  sceplab_intune_claims cl;
  char *inner = NULL, *chal64 = NULL, *sighex = NULL, *thumb = NULL, *data = NULL, *out = NULL, *tok = NULL;
  unsigned char *der = NULL;
  size_t dlen = 0;
  BIO *in = NULL, *b = NULL;
  CMS_ContentInfo *cms = NULL;
  STACK_OF(X509) *recips = NULL;

  if(!signer || !skey) {
    sceplab_err_set(err, SCEPLAB_E_USAGE,
                    "%s: no intune-sign.pem (a state directory made before tokens existed): make a new one with `sceplab ca init`",
                    k->source ? k->source : "the CA");
    return NULL;
  }
  if(!c->subject || !*c->subject) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "a token needs the subject the profile resolved to");
    return NULL;
  }
  if(!c->device_id) {
    /* a device Intune has not named yet: a new device ID, as enrollment gives one */
    if(sceplab_guid(devid, sizeof(devid), '-', 0) != 0)
      goto rng;
    cl = *c;
    cl.device_id = devid;
    c = &cl;
  }
  if(c->request_id)
    snprintf(rid, sizeof(rid), "%s", c->request_id);
  else {
    /* Intune's form: the profile's model and logical names, a version and a hash */
    uint32_t h;
    if(sceplab_guid(g1, sizeof(g1), '-', 0) != 0 || sceplab_guid(g2, sizeof(g2), '_', 0) != 0 ||
       RAND_bytes((unsigned char *)&h, sizeof(h)) != 1)
      goto rng;
    snprintf(rid, sizeof(rid), "ModelName=AC_%s/LogicalName_%s;Version=1;Hash=%d", g1, g2, (int)(h & 0x7fffffff));
  }
  inner = challenge_xml(c, rid, issued, issued + 60 * (int64_t)(c->minutes > 0 ? c->minutes : 60));
  if(!inner || !(in = BIO_new_mem_buf(inner, (int)strlen(inner))) || !(recips = sk_X509_new_null()) ||
     !sk_X509_push(recips, enc))
    goto oom;
  cms = CMS_encrypt(recips, in, EVP_aes_256_cbc(), CMS_BINARY);
  if(!(der = cms_der(cms, &dlen)) || !(chal64 = sceplab_b64_encode(der, dlen))) {
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot encrypt the challenge");
    goto out;
  }
  OPENSSL_free(der);
  der = NULL;
  CMS_ContentInfo_free(cms);
  cms = NULL;
  if(!(thumb = sceplab_thumbprint(signer, EVP_sha1())))
    goto oom;
  b = BIO_new(BIO_s_mem());
  if(!b)
    goto oom;
  BIO_printf(b, "<Data><CertEnrollChallenge>%s</CertEnrollChallenge><SignerThumbprint>%s</SignerThumbprint></Data>",
             chal64, thumb);
  if(!(data = bio_text(b)))
    goto oom;
  BIO_free(in);
  in = BIO_new_mem_buf(data, (int)strlen(data));
  cms = in ? CMS_sign(signer, skey, NULL, in, CMS_DETACHED | CMS_BINARY | CMS_NOCERTS) : NULL;
  if(!(der = cms_der(cms, &dlen)) || !(sighex = sceplab_hex_encode(der, dlen, 0))) {
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot sign the token");
    goto out;
  }
  iso_time(issued, ts, sizeof(ts));
  BIO_reset(b);
  BIO_printf(b, "<CertEnrollToken>%s<Signature>%s</Signature>", data, sighex);
  put_elem(b, "DeviceID", c->device_id);
  put_elem(b, "UserID", c->user_id);
  put_elem(b, "CertificateRequestId", rid);
  put_elem(b, "Timestamp", ts);
  BIO_puts(b, "</CertEnrollToken>");
  if(!(tok = bio_text(b)) || !(out = sceplab_b64_encode((const unsigned char *)tok, strlen(tok))))
    goto oom;
  goto out;
oom:
  sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
  goto out;
rng:
  sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "no random bytes");
out:
  ERR_clear_error();
  OPENSSL_free(der);
  CMS_ContentInfo_free(cms);
  sk_X509_free(recips);
  BIO_free(in);
  BIO_free(b);
  free(inner);
  free(chal64);
  free(sighex);
  free(thumb);
  free(data);
  free(tok);
  return out;
}

/* ---- verification ------------------------------------------------------------------------ */

/* The bytes of <name>...</name> in s (outer: with the tags), or NULL. */
static const char *elem(const char *s, size_t n, const char *name, int outer, size_t *len)
{
  char open[64], close[64];
  const char *o, *c;
  snprintf(open, sizeof(open), "<%s>", name);
  snprintf(close, sizeof(close), "</%s>", name);
  if(!(o = sceplab_memcasestr(s, n, open)) ||
     !(c = sceplab_memcasestr(o + strlen(open), n - (size_t)(o + strlen(open) - s), close)))
    return NULL;
  if(outer) {
    *len = (size_t)(c + strlen(close) - o);
    return o;
  }
  o += strlen(open);
  while(o < c && isspace((unsigned char)*o))
    o++;
  while(c > o && isspace((unsigned char)c[-1]))
    c--;
  *len = (size_t)(c - o);
  return o;
}

static int fail(sceplab_intune_failure *f, sceplab_error *err, int phase, const char *code, const char *msg)
{
  f->phase = phase;
  snprintf(f->code, sizeof(f->code), "%s", code);
  f->error = phase == 2 ? "CRPSCEPChallenge_Expired" : "CRPSCEPDeserialize_Failed";
  f->hresult = phase == 2 ? 0x411 : 0x410;
  sceplab_err_set(err, SCEPLAB_E_FAILED, "%s", msg);
  ERR_clear_error();
  return -1;
}

/* The text of a child element, or NULL when there is none (an absent element is not "") */
static char *child_text(xmlNode *root, const char *name)
{
  xmlNode *c = sceplab_xml_child(root, name);
  return c ? sceplab_xml_text(c) : NULL;
}

static void text_child(sceplab_val *v, xmlNode *root, const char *name, const char *key)
{
  char *t = child_text(root, name);
  if(t)
    sceplab_obj_set_str(v, key, t);
  free(t);
}

/* The inner document as claims. */
static sceplab_val *claims_of(const char *xml, size_t n, sceplab_error *err)
{
  sceplab_error xerr;
  xmlDoc *doc = sceplab_xml_read((const unsigned char *)xml, n, "challenge", &xerr);
  xmlNode *root = doc ? sceplab_xml_root(doc, "Challenge", "challenge", &xerr) : NULL, *k;
  sceplab_val *v, *san, *ekus, *ku;
  char *t;
  if(!root) {
    sceplab_err_set(err, SCEPLAB_E_FAILED, "%s", xerr.msg);
    xmlFreeDoc(doc);
    return NULL;
  }
  v = sceplab_val_obj();
  text_child(v, root, "DeviceID", "device_id");
  text_child(v, root, "UserID", "user_id");
  text_child(v, root, "CertificateRequestId", "request_id");
  text_child(v, root, "SubjectName", "subject");
  if((t = (char *)sceplab_obj_get_str(v, "subject")) != NULL) {
    /* the subject as the device's CSR would encode it, when it parses (an unescaped comma in a
     * CN makes a name no CSR from the same profile matches: the classic phase 3 failure) */
    X509_NAME *nm = sceplab_dn_parse(t, NULL);
    if(nm)
      sceplab_obj_set(v, "subject_rdns", sceplab_name_rdns(nm));
    X509_NAME_free(nm);
  }
  text_child(v, root, "IssuedAt", "issued_at");
  text_child(v, root, "ExpiresAt", "expires_at");
  san = sceplab_val_arr();
  if((k = sceplab_xml_child(root, "SubjectAlternativeNames")))
    for(k = k->children; k; k = k->next)
      if(k->type == XML_ELEMENT_NODE && sceplab_xml_is(k, "SubjectAlternativeName")) {
        sceplab_val *e = sceplab_val_obj();
        char *type = (char *)xmlGetProp(k, (const xmlChar *)"Type");
        t = sceplab_xml_text(k);
        sceplab_obj_set_str(e, "type", type ? type : "upn");
        sceplab_obj_set_str(e, "value", t ? t : "");
        sceplab_arr_push(san, e);
        xmlFree(type);
        free(t);
      }
  sceplab_obj_set(v, "san", san);
  if((t = child_text(root, "KeyLength"))) {
    int64_t bits = 0;
    if(sceplab_parse_i64(t, &bits) == 0)
      sceplab_obj_set_int(v, "key_bits", bits);
    free(t);
  }
  if((t = child_text(root, "KeyUsage"))) {
    char *save = NULL, *p;
    ku = sceplab_val_arr();
    for(p = strtok_r(t, ", ", &save); p; p = strtok_r(NULL, ", ", &save))
      sceplab_arr_push_str(ku, p);
    sceplab_obj_set(v, "key_usage", ku);
    free(t);
  }
  if((k = sceplab_xml_child(root, "ExtendedKeyUsages"))) {
    ekus = sceplab_val_arr();
    for(k = k->children; k; k = k->next)
      if(k->type == XML_ELEMENT_NODE && (t = sceplab_xml_text(k))) {
        sceplab_arr_push_str(ekus, t);
        free(t);
      }
    sceplab_obj_set(v, "ekus", ekus);
  }
  xmlFreeDoc(doc);
  return sceplab_done(v, err);
}

sceplab_val *sceplab_intune_verify(const sceplab_intune_keys *k, const char *token, size_t n, int64_t now,
                                   sceplab_intune_failure *f, sceplab_error *err)
{
  X509 *signer = k->sign_cert;
  const char *s = token, *data, *p;
  unsigned char *decoded = NULL, *sig = NULL, *chal = NULL;
  size_t len = n, dlen = 0, plen = 0, slen = 0, clen = 0;
  char thumb_given[64], *thumb = NULL, *xml = NULL;
  BIO *dbio = NULL, *out = NULL;
  CMS_ContentInfo *cms = NULL;
  STACK_OF(X509) *certs = NULL;
  sceplab_val *v = NULL;
  const unsigned char *q;
  int64_t expires;
  size_t i = 0;
  int legacy = 0;

  memset(f, 0, sizeof(*f));
  while(i < n && isspace((unsigned char)s[i]))
    i++;
  if(i < n && s[i] != '<') {
    if(!(decoded = sceplab_b64_decode(s, n, &len, NULL))) {
      fail(f, err, 1, "ChallengeMalformed", "the challenge is not a CertEnrollToken (not base64)");
      return NULL;
    }
    s = (const char *)decoded;
  }
  if(!(data = elem(s, len, "Data", 1, &dlen))) {
    fail(f, err, 1, "ChallengeMalformed", "the challenge is not a CertEnrollToken (no <Data> element)");
    goto out;
  }
  if(!signer) {
    fail(f, err, 1, "SignatureVerificationFailed", "no signing certificate is registered (intune-sign.pem)");
    goto out;
  }
  /* phase 1: the signer is the registered certificate, the signature holds, the challenge opens */
  thumb = sceplab_thumbprint(signer, EVP_sha1());
  p = elem(data, dlen, "SignerThumbprint", 0, &plen);
  snprintf(thumb_given, sizeof(thumb_given), "%.*s", p ? (int)(plen < 60 ? plen : 60) : 0, p ? p : "");
  if(!thumb || strcasecmp(thumb, thumb_given) != 0) {
    char m[160];
    snprintf(m, sizeof(m), "the token is signed by %s, not the registered signing certificate",
             thumb_given[0] ? thumb_given : "no certificate");
    fail(f, err, 1, "SignatureVerificationFailed", m);
    goto out;
  }
  p = elem(s, len, "Signature", 0, &plen);
  q = sig = p ? sceplab_hex_decode(p, plen, &slen) : NULL;
  cms = sig ? d2i_CMS_ContentInfo(NULL, &q, (long)slen) : NULL;
  certs = sk_X509_new_null();
  dbio = BIO_new_mem_buf(data, (int)dlen);
  if(!cms || !certs || !sk_X509_push(certs, signer) || !dbio ||
     CMS_verify(cms, certs, NULL, dbio, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
    fail(f, err, 1, "SignatureVerificationFailed", "the token's signature does not verify");
    goto out;
  }
  p = elem(data, dlen, "CertEnrollChallenge", 0, &plen);
  chal = p ? sceplab_b64_decode(p, plen, &clen, NULL) : NULL;
  out = BIO_new(BIO_s_mem());
  if(!chal || !out ||
     sceplab_envelope_open(chal, clen, k->enc_key, k->enc_cert, out, &legacy, err) != 0) {
    fail(f, err, 1, "ChallengeDecryptionFailed", "the challenge cannot be decrypted with this server's encryption certificate");
    goto out;
  }
  if(!(xml = bio_text(out)) || !(v = claims_of(xml, strlen(xml), err))) {
    fail(f, err, 1, "ChallengeMalformed", "the decrypted challenge is not a challenge document");
    goto out;
  }
  sceplab_obj_set_str(v, "signer_thumbprint", thumb);
  /* phase 2: expiry */
  expires = parse_iso(sceplab_obj_get_str(v, "expires_at"));
  if(expires < 0) {
    fail(f, err, 1, "ChallengeMalformed", "the challenge has no expiry");
    sceplab_val_free(v);
    v = NULL;
    goto out;
  }
  if((now ? now : (int64_t)time(NULL)) >= expires) {
    char m[96];
    snprintf(m, sizeof(m), "the challenge expired at %s", sceplab_obj_get_str(v, "expires_at"));
    fail(f, err, 2, "ChallengeExpired", m);
    sceplab_val_free(v);
    v = NULL;
  }
out:
  ERR_clear_error();
  CMS_ContentInfo_free(cms);
  sk_X509_free(certs);
  BIO_free(dbio);
  BIO_free(out);
  free(decoded);
  free(sig);
  free(chal);
  free(thumb);
  free(xml);
  return v;
}
