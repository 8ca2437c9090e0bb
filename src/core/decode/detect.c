/* Content detection. Users paste whatever they have: a SyncML trace, the base64 Challenge node,
 * a GET URL copied from an IIS log, a PEM file, a DER blob. The kind is decided from the content,
 * never from a file name, peeling one transport layer at a time and recording each. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/cms.h>
#include <openssl/pkcs7.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "decode/decode_int.h"

#define MAX_LAYERS 6

static const char *const kind_names[] = {
  "unknown", "syncml", "token", "intune-id", "certificates", "csr", "pkimessage", "crs", "mobileconfig"
};

const char *sceplab_kind_name(sceplab_kind k)
{
  return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "unknown";
}

sceplab_kind sceplab_kind_from_name(const char *name)
{
  size_t i;
  for(i = 1; name && i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
    if(strcmp(name, kind_names[i]) == 0)
      return (sceplab_kind)i;
  return SCEPLAB_KIND_UNKNOWN;
}

static void add_layer(sceplab_detected *d, const char *layer)
{
  size_t used = strlen(d->layers);
  snprintf(d->layers + used, sizeof(d->layers) - used, "%s%s", used ? "," : "", layer);
}

static void take(sceplab_detected *d, sceplab_kind k, const unsigned char *p, size_t n, const char *why)
{
  d->kind = k;
  d->data = malloc(n + 1);
  if(d->data) {
    memcpy(d->data, p, n);
    d->data[n] = '\0';
    d->len = n;
  }
  snprintf(d->why, sizeof(d->why), "%s", why);
}

/* Name of the first element of an XML text, skipping the prolog, comments and DOCTYPE. */
static int xml_root(const char *s, size_t n, char *name, size_t namelen)
{
  size_t i = 0, k = 0;
  while(i < n) {
    while(i < n && isspace((unsigned char)s[i]))
      i++;
    if(i >= n || s[i] != '<')
      return 0;
    if(i + 1 < n && (s[i + 1] == '?' || s[i + 1] == '!')) {
      const char *end;
      if(s[i + 1] == '!' && i + 3 < n && s[i + 2] == '-' && s[i + 3] == '-')
        end = sceplab_memcasestr(s + i, n - i, "-->");
      else {
        /* a DOCTYPE may carry an internal subset in [...] with '>' inside */
        const char *gt = memchr(s + i, '>', n - i), *br = memchr(s + i, '[', n - i);
        end = gt;
        if(br && gt && br < gt) {
          const char *close = sceplab_memcasestr(br, n - (size_t)(br - s), "]>");
          end = close ? close + 1 : NULL;
        }
      }
      if(!end)
        return 0;
      i = (size_t)(end - s) + 1;
      continue;
    }
    i++;
    while(i < n && k + 1 < namelen && !isspace((unsigned char)s[i]) && s[i] != '>' && s[i] != '/')
      name[k++] = s[i++];
    name[k] = '\0';
    /* drop a namespace prefix */
    {
      char *colon = strchr(name, ':');
      if(colon)
        memmove(name, colon + 1, strlen(colon));
    }
    return k > 0;
  }
  return 0;
}

static int has_scep_messagetype(CMS_ContentInfo *cms)
{
  STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
  int i, j;
  for(i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
    for(j = 0; j < CMS_signed_get_attr_count(si); j++) {
      char oid[80];
      OBJ_obj2txt(oid, sizeof(oid), X509_ATTRIBUTE_get0_object(CMS_signed_get_attr(si, j)), 1);
      if(strcmp(oid, "2.16.840.1.113733.1.9.2") == 0)
        return 1;
    }
  }
  return 0;
}

/* A degenerate PKCS#7: SignedData with certificates and no signers. */
static int is_certs_only(const unsigned char *p0, size_t n)
{
  const unsigned char *p = p0;
  PKCS7 *p7 = n <= 0x7fffffff ? d2i_PKCS7(NULL, &p, (long)n) : NULL;
  int yes = p7 && PKCS7_type_is_signed(p7) && p7->d.sign && p7->d.sign->cert &&
            sk_X509_num(p7->d.sign->cert) > 0 && sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info) == 0;
  PKCS7_free(p7);
  return yes;
}

static int classify_der(const unsigned char *p0, size_t n, sceplab_detected *d)
{
  const unsigned char *p = p0;
  X509 *x;
  X509_REQ *req;
  CMS_ContentInfo *cms;
  int ok = 0;
  if(n > 0x7fffffff)
    return 0;
  if((x = d2i_X509(NULL, &p, (long)n))) {
    X509_free(x);
    take(d, SCEPLAB_KIND_CERTIFICATES, p0, n, "DER X.509 certificate");
    return 1;
  }
  p = p0;
  if((req = d2i_X509_REQ(NULL, &p, (long)n))) {
    X509_REQ_free(req);
    take(d, SCEPLAB_KIND_CSR, p0, n, "DER PKCS#10 certification request");
    return 1;
  }
  p = p0;
  if((cms = d2i_CMS_ContentInfo(NULL, &p, (long)n))) {
    if(OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed) {
      STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
      ASN1_OCTET_STRING **content = CMS_get0_content(cms);
      if(has_scep_messagetype(cms)) {
        take(d, SCEPLAB_KIND_PKIMESSAGE, p0, n, "CMS SignedData with a SCEP messageType attribute");
        ok = 1;
      }
      else if(sk_CMS_SignerInfo_num(sis) == 0) {
        take(d, SCEPLAB_KIND_CERTIFICATES, p0, n, "degenerate PKCS#7 (certificates only, no signers)");
        ok = 1;
      }
      else if(content && *content &&
              (sceplab_memcasestr((const char *)ASN1_STRING_get0_data(*content),
                                  (size_t)ASN1_STRING_length(*content) < 512 ? (size_t)ASN1_STRING_length(*content) : 512,
                                  "<plist"))) {
        take(d, SCEPLAB_KIND_MOBILECONFIG, p0, n, "CMS SignedData whose content is a plist (signed profile)");
        ok = 1;
      }
      else if(content && *content && is_certs_only((*content)->data, (size_t)(*content)->length)) {
        /* GetNextCACert's answer: what a user wants to see is the certificates inside. */
        take(d, SCEPLAB_KIND_CERTIFICATES, (*content)->data, (size_t)(*content)->length,
             "CMS SignedData over a certificates-only PKCS#7 (GetNextCACert answer): its certificates");
        ok = 1;
      }
    }
    CMS_ContentInfo_free(cms);
  }
  ERR_clear_error();
  return ok;
}

static int pem_label(const char *s, size_t n, char *label, size_t len)
{
  const char *b = sceplab_memcasestr(s, n < 256 ? n : 256, "-----BEGIN ");
  size_t k = 0;
  if(!b)
    return 0;
  b += 11;
  while((size_t)(b - s) < n && *b != '-' && k + 1 < len)
    label[k++] = *b++;
  label[k] = '\0';
  return 1;
}

/* Long text that is base64 but for a few characters: worth a precise error rather than "unknown". */
static int mostly_b64(const char *s, size_t n)
{
  size_t i, good = 0, bad = 0;
  for(i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if(c == '\r' || c == '\n' || c == '=')
      continue;
    if(isalnum(c) || c == '+' || c == '/' || c == '-' || c == '_')
      good++;
    else
      bad++;
  }
  return good >= 64 && bad * 50 < good;
}

static int detect_layer(const unsigned char *buf, size_t n, sceplab_detected *d, int depth, sceplab_error *err)
{
  const char *s = (const char *)buf;
  size_t i = 0, outlen, skip;
  unsigned char *conv;
  char name[64];
  int r;

  if(depth >= MAX_LAYERS)
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "too many nested encodings (%s)", d->layers);
  conv = sceplab_to_utf8(buf, n, &outlen, &skip);
  if(conv) {
    add_layer(d, "utf-16");
    r = detect_layer(conv, outlen, d, depth + 1, err);
    free(conv);
    return r;
  }
  if(skip) {
    add_layer(d, "utf-8-bom");
    buf += skip;
    n -= skip;
    s = (const char *)buf;
  }
  while(i < n && isspace((unsigned char)s[i]))
    i++;
  if(i == n)
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "input is empty");

  if(n - i >= 8 && memcmp(s + i, "bplist00", 8) == 0) {
    take(d, SCEPLAB_KIND_MOBILECONFIG, buf + i, n - i, "binary property list");
    return 0;
  }
  if(pem_label(s + i, n - i, name, sizeof(name))) {
    add_layer(d, "pem");
    if(strstr(name, "CERTIFICATE REQUEST")) {
      take(d, SCEPLAB_KIND_CSR, buf + i, n - i, "PEM block CERTIFICATE REQUEST");
      return 0;
    }
    if(strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "TRUSTED CERTIFICATE") == 0 ||
       strcmp(name, "X509 CERTIFICATE") == 0) {
      take(d, SCEPLAB_KIND_CERTIFICATES, buf + i, n - i, "PEM block CERTIFICATE");
      return 0;
    }
    if(strcmp(name, "PKCS7") == 0 || strcmp(name, "CMS") == 0) {
      BIO *b = BIO_new_mem_buf(buf + i, (int)(n - i));
      char *nm = NULL, *hdr = NULL;
      unsigned char *der = NULL;
      long len = 0;
      r = -1;
      if(b && PEM_read_bio(b, &nm, &hdr, &der, &len) && classify_der(der, (size_t)len, d)) {
        add_layer(d, "der");
        r = 0;
      }
      BIO_free(b);
      OPENSSL_free(nm);
      OPENSSL_free(hdr);
      OPENSSL_free(der);
      ERR_clear_error();
      if(r == 0)
        return 0;
      return sceplab_err_set(err, SCEPLAB_E_INPUT, "PEM %s block is neither a pkiMessage nor a certificate chain", name);
    }
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "PEM block '%s' is not a kind sceplab decodes", name);
  }
  if(s[i] == '<') {
    if(!xml_root(s + i, n - i, name, sizeof(name)))
      return sceplab_err_set(err, SCEPLAB_E_INPUT, "text starts like XML but has no root element");
    add_layer(d, "xml");
    if(strcmp(name, "SyncML") == 0 || strcmp(name, "SyncBody") == 0)
      take(d, SCEPLAB_KIND_SYNCML, buf + i, n - i, "XML root element <SyncML>");
    else if(strcasecmp(name, "CertEnrollToken") == 0)
      take(d, SCEPLAB_KIND_TOKEN, buf + i, n - i, "XML root element <CertEnrollToken>");
    else if(strcmp(name, "CertRequestStatus") == 0)
      take(d, SCEPLAB_KIND_CRS, buf + i, n - i, "XML root element <CertRequestStatus>");
    else if(strcmp(name, "plist") == 0)
      take(d, SCEPLAB_KIND_MOBILECONFIG, buf + i, n - i, "XML root element <plist>");
    else
      return sceplab_err_set(err, SCEPLAB_E_INPUT, "XML document with root <%s> is not a kind sceplab decodes", name);
    return 0;
  }
  if((unsigned char)s[i] == 0x30) {
    const unsigned char *p = buf + i;
    long len = 0;
    int tag, cls, ret;
    if(classify_der(buf + i, n - i, d)) {
      add_layer(d, "der");
      return 0;
    }
    ret = ASN1_get_object(&p, &len, &tag, &cls, (long)(n - i));
    ERR_clear_error();
    if((ret & 0x80) && len > 0 && (size_t)len > n - i - (size_t)(p - (buf + i)))
      return sceplab_err_set(err, SCEPLAB_E_INPUT, "truncated DER: the outer SEQUENCE declares %ld bytes, only %zu present",
                             len, n - i - (size_t)(p - (buf + i)));
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "binary data is not a certificate, CSR, pkiMessage or signed profile");
  }
  /* Text from here on. */
  {
    sceplab_intune_id id;
    size_t end = n;
    while(end > i && isspace((unsigned char)s[end - 1]))
      end--;
    if(end - i < 1024 && sceplab_intune_id_scan(s + i, end - i, &id) && id.start == 0 && !memchr(s + i, '\n', end - i)) {
      take(d, SCEPLAB_KIND_INTUNE_ID, buf + i, end - i, "an Intune request identifier (ModelName...)");
      return 0;
    }
    {
      const char *m = sceplab_memcasestr(s + i, end - i, "message=");
      if(m) {
        const char *v = m + 8;
        const char *stop = s + end;
        size_t vlen = 0;
        char *dec;
        /* bounded by the buffer: it is not NUL-terminated */
        while(v + vlen < stop && !strchr("& \t\r\n", v[vlen] ? v[vlen] : '&'))
          vlen++;
        dec = sceplab_url_decode(v, vlen, &outlen, 0);
        if(!dec)
          return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
        add_layer(d, "message-parameter");
        r = detect_layer((unsigned char *)dec, outlen, d, depth + 1, err);
        free(dec);
        return r;
      }
    }
    if(memchr(s + i, '%', end - i)) {
      char *dec = sceplab_url_decode(s + i, end - i, &outlen, 0);
      if(dec && outlen < end - i) {
        add_layer(d, "url-encoded");
        r = detect_layer((unsigned char *)dec, outlen, d, depth + 1, err);
        free(dec);
        return r;
      }
      free(dec);
    }
    /* Base64 as pasted has line breaks but no spaces between words: that keeps prose out. */
    if((sceplab_looks_b64(s + i, end - i, 16) && !memchr(s + i, ' ', end - i) && !memchr(s + i, '\t', end - i)) ||
       mostly_b64(s + i, end - i)) {
      size_t bad = 0;
      unsigned char *bin = sceplab_b64_decode(s + i, end - i, &outlen, &bad);
      if(!bin)
        return sceplab_err_set(err, SCEPLAB_E_INPUT, "base64 text is malformed at offset %zu", i + bad);
      add_layer(d, "base64");
      r = detect_layer(bin, outlen, d, depth + 1, err);
      free(bin);
      return r;
    }
  }
  return sceplab_err_set(err, SCEPLAB_E_INPUT,
                         "unrecognised content (not SyncML, a CertEnrollToken, a certificate, CSR, "
                         "pkiMessage, CRS file, Apple profile or Intune request identifier)");
}

int sceplab_detect(const unsigned char *buf, size_t n, sceplab_detected *out, sceplab_error *err)
{
  int r;
  memset(out, 0, sizeof(*out));
  if(n > SCEPLAB_DECODE_MAX_INPUT)
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "input larger than %u MiB", SCEPLAB_DECODE_MAX_INPUT >> 20);
  r = detect_layer(buf, n, out, 0, err);
  if(r == 0 && !out->data)
    return sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
  return r;
}

void sceplab_detected_free(sceplab_detected *d)
{
  if(d) {
    free(d->data);
    d->data = NULL;
    d->len = 0;
  }
}
