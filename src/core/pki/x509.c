/* Certificates and certification requests, described field by field; certificates read from
 * PEM, DER and PKCS#7, and written as PEM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "pki/pki_int.h"

#define OID_MS_UPN "1.3.6.1.4.1.311.20.2.3"
#define OID_MS_TEMPLATE_NAME "1.3.6.1.4.1.311.20.2"
#define OID_MS_TEMPLATE_V2 "1.3.6.1.4.1.311.21.7"

void sceplab_asn1_time_iso(const ASN1_TIME *t, char *out, size_t outlen)
{
  struct tm tm;
  out[0] = '\0';
  if(t && ASN1_TIME_to_tm(t, &tm) == 1)
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *bio_take(BIO *b)
{
  char *data = NULL, *out;
  long len = BIO_get_mem_data(b, &data);
  out = malloc(len > 0 ? (size_t)len + 1 : 1);
  if(out) {
    if(len > 0)
      memcpy(out, data, (size_t)len);
    out[len > 0 ? len : 0] = '\0';
  }
  return out;
}

sceplab_val *sceplab_name_val(const X509_NAME *name)
{
  BIO *b = BIO_new(BIO_s_mem());
  char *s;
  sceplab_val *v;
  if(!b)
    return NULL;
  /* RFC 4514 escaping, in the order the name is encoded (as Windows displays it), UTF-8 kept. */
  X509_NAME_print_ex(b, name, 0, (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) |
                                 XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN);
  s = bio_take(b);
  BIO_free(b);
  v = sceplab_val_str(s);
  free(s);
  return v;
}

static sceplab_val *asn1_string_val(const ASN1_STRING *s)
{
  unsigned char *utf8 = NULL;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  sceplab_val *v;
  if(n < 0) {
    ERR_clear_error();
    return sceplab_val_hex(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), 1);
  }
  v = sceplab_val_strn((const char *)utf8, (size_t)n);
  OPENSSL_free(utf8);
  return v;
}

sceplab_val *sceplab_name_rdns(const X509_NAME *name)
{
  sceplab_val *arr = sceplab_val_arr();
  int i;
  for(i = 0; i < X509_NAME_entry_count(name); i++) {
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
    const ASN1_OBJECT *o = X509_NAME_ENTRY_get_object(e);
    int nid = OBJ_obj2nid(o);
    char oid[80];
    sceplab_val *rdn = sceplab_val_obj();
    OBJ_obj2txt(oid, sizeof(oid), o, 1);
    sceplab_obj_set_str(rdn, "type", nid != NID_undef ? OBJ_nid2sn(nid) : oid);
    sceplab_obj_set_str(rdn, "oid", oid);
    sceplab_obj_set(rdn, "value", asn1_string_val(X509_NAME_ENTRY_get_data(e)));
    sceplab_arr_push(arr, rdn);
  }
  return arr;
}

sceplab_val *sceplab_oid_val(const ASN1_OBJECT *obj)
{
  char oid[80];
  int nid = OBJ_obj2nid(obj);
  sceplab_val *v = sceplab_val_obj();
  OBJ_obj2txt(oid, sizeof(oid), obj, 1);
  sceplab_obj_set_str(v, "oid", oid);
  sceplab_obj_set_str(v, "name", nid != NID_undef ? OBJ_nid2ln(nid) : oid);
  return v;
}

char *sceplab_thumbprint(X509 *x, const EVP_MD *md)
{
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dl = 0;
  if(!X509_digest(x, md, d, &dl))
    return NULL;
  return sceplab_hex_encode(d, dl, 1);
}

static sceplab_val *key_val(EVP_PKEY *pk)
{
  sceplab_val *v = sceplab_val_obj();
  char curve[64];
  size_t clen = 0;
  if(!pk) {
    sceplab_obj_set_str(v, "type", "unknown");
    return v;
  }
  switch(EVP_PKEY_get_base_id(pk)) {
  case EVP_PKEY_RSA: sceplab_obj_set_str(v, "type", "RSA"); break;
  case EVP_PKEY_EC: sceplab_obj_set_str(v, "type", "EC"); break;
  case EVP_PKEY_ED25519: sceplab_obj_set_str(v, "type", "Ed25519"); break;
  default: sceplab_obj_set_str(v, "type", EVP_PKEY_get0_type_name(pk)); break;
  }
  sceplab_obj_set_int(v, "bits", EVP_PKEY_get_bits(pk));
  if(EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
     EVP_PKEY_get_utf8_string_param(pk, "group", curve, sizeof(curve), &clen))
    sceplab_obj_set_str(v, "curve", curve);
  ERR_clear_error();
  return v;
}

/* One GeneralName as {type, value}; the Microsoft UPN otherName is decoded to its string. */
static sceplab_val *general_name_val(const GENERAL_NAME *gn)
{
  sceplab_val *v = sceplab_val_obj();
  char buf[64];
  switch(gn->type) {
  case GEN_EMAIL:
    sceplab_obj_set_str(v, "type", "email");
    sceplab_obj_set(v, "value", asn1_string_val(gn->d.rfc822Name));
    break;
  case GEN_DNS:
    sceplab_obj_set_str(v, "type", "dns");
    sceplab_obj_set(v, "value", asn1_string_val(gn->d.dNSName));
    break;
  case GEN_URI:
    sceplab_obj_set_str(v, "type", "uri");
    sceplab_obj_set(v, "value", asn1_string_val(gn->d.uniformResourceIdentifier));
    break;
  case GEN_IPADD: {
    const unsigned char *p = ASN1_STRING_get0_data(gn->d.iPAddress);
    int len = ASN1_STRING_length(gn->d.iPAddress);
    sceplab_obj_set_str(v, "type", "ip");
    if(len == 4)
      snprintf(buf, sizeof(buf), "%u.%u.%u.%u", p[0], p[1], p[2], p[3]);
    else if(len == 16) {
      int i, o = 0;
      for(i = 0; i < 16; i += 2)
        o += snprintf(buf + o, sizeof(buf) - (size_t)o, "%s%x", i ? ":" : "", p[i] << 8 | p[i + 1]);
    }
    else
      snprintf(buf, sizeof(buf), "(%d bytes)", len);
    sceplab_obj_set_str(v, "value", buf);
    break;
  }
  case GEN_DIRNAME:
    sceplab_obj_set_str(v, "type", "dirname");
    sceplab_obj_set(v, "value", sceplab_name_val(gn->d.directoryName));
    break;
  case GEN_RID:
    sceplab_obj_set_str(v, "type", "rid");
    OBJ_obj2txt(buf, sizeof(buf), gn->d.registeredID, 1);
    sceplab_obj_set_str(v, "value", buf);
    break;
  case GEN_OTHERNAME: {
    const OTHERNAME *on = gn->d.otherName;
    OBJ_obj2txt(buf, sizeof(buf), on->type_id, 1);
    if(strcmp(buf, OID_MS_UPN) == 0 && on->value && on->value->type == V_ASN1_UTF8STRING) {
      sceplab_obj_set_str(v, "type", "upn");
      sceplab_obj_set(v, "value", asn1_string_val(on->value->value.utf8string));
    }
    else {
      sceplab_obj_set_str(v, "type", "othername");
      sceplab_obj_set_str(v, "oid", buf);
    }
    break;
  }
  default:
    sceplab_obj_set_str(v, "type", "other");
    break;
  }
  return v;
}

static sceplab_val *sans_val(const GENERAL_NAMES *gens)
{
  sceplab_val *arr = sceplab_val_arr();
  int i;
  for(i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++)
    sceplab_arr_push(arr, general_name_val(sk_GENERAL_NAME_value(gens, i)));
  return arr;
}

static const char *const ku_names[] = {
  "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement",
  "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"
};

static sceplab_val *ku_val(const ASN1_BIT_STRING *ku)
{
  sceplab_val *arr = sceplab_val_arr();
  int i;
  for(i = 0; i < 9; i++)
    if(ASN1_BIT_STRING_get_bit(ku, i))
      sceplab_arr_push_str(arr, ku_names[i]);
  return arr;
}

static sceplab_val *eku_val(const EXTENDED_KEY_USAGE *eku)
{
  sceplab_val *arr = sceplab_val_arr();
  int i;
  for(i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
    sceplab_arr_push(arr, sceplab_oid_val(sk_ASN1_OBJECT_value(eku, i)));
  return arr;
}

/* Template extensions: the v1 name (BMPString) and the v2 {oid, major, minor}. */
static void template_ext(sceplab_val *out, X509_EXTENSION *ext)
{
  char oid[80];
  const ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(ext);
  const unsigned char *p = ASN1_STRING_get0_data(data);
  long len = ASN1_STRING_length(data);
  OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1);
  if(strcmp(oid, OID_MS_TEMPLATE_NAME) == 0) {
    ASN1_TYPE *t = d2i_ASN1_TYPE(NULL, &p, len);
    if(t && (t->type == V_ASN1_BMPSTRING || t->type == V_ASN1_UTF8STRING ||
             t->type == V_ASN1_PRINTABLESTRING || t->type == V_ASN1_IA5STRING))
      sceplab_obj_set(out, "template_name", asn1_string_val(t->value.asn1_string));
    ASN1_TYPE_free(t);
  }
  else if(strcmp(oid, OID_MS_TEMPLATE_V2) == 0) {
    ASN1_TYPE *t = d2i_ASN1_TYPE(NULL, &p, len);
    /* SEQUENCE { templateID OID, majorVersion INTEGER, minorVersion INTEGER OPTIONAL } */
    if(t && t->type == V_ASN1_SEQUENCE) {
      const unsigned char *q = t->value.sequence->data;
      long qlen = t->value.sequence->length, inner;
      int tag, cls;
      if(ASN1_get_object(&q, &inner, &tag, &cls, qlen) == 0x20 && tag == V_ASN1_SEQUENCE) {
        ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &q, inner);
        if(o) {
          char buf[80];
          OBJ_obj2txt(buf, sizeof(buf), o, 1);
          sceplab_obj_set_str(out, "template_oid", buf);
          ASN1_OBJECT_free(o);
        }
      }
    }
    ASN1_TYPE_free(t);
  }
  ERR_clear_error();
}

static sceplab_val *extensions_val(const STACK_OF(X509_EXTENSION) *exts, sceplab_val *out)
{
  sceplab_val *arr = sceplab_val_arr();
  int i;
  for(i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
    X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
    sceplab_val *e = sceplab_oid_val(X509_EXTENSION_get_object(ext));
    sceplab_obj_set_bool(e, "critical", X509_EXTENSION_get_critical(ext));
    sceplab_arr_push(arr, e);
    template_ext(out, ext);
  }
  return arr;
}

/* Apply the extensions every description shares: key usage, EKU, SAN. */
static void common_exts(sceplab_val *v, const STACK_OF(X509_EXTENSION) *exts)
{
  int idx;
  idx = X509v3_get_ext_by_NID(exts, NID_key_usage, -1);
  if(idx >= 0) {
    ASN1_BIT_STRING *ku = X509V3_EXT_d2i(X509v3_get_ext(exts, idx));
    if(ku) {
      sceplab_obj_set(v, "key_usage", ku_val(ku));
      ASN1_BIT_STRING_free(ku);
    }
  }
  idx = X509v3_get_ext_by_NID(exts, NID_ext_key_usage, -1);
  if(idx >= 0) {
    EXTENDED_KEY_USAGE *eku = X509V3_EXT_d2i(X509v3_get_ext(exts, idx));
    if(eku) {
      sceplab_obj_set(v, "eku", eku_val(eku));
      EXTENDED_KEY_USAGE_free(eku);
    }
  }
  idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
  if(idx >= 0) {
    GENERAL_NAMES *g = X509V3_EXT_d2i(X509v3_get_ext(exts, idx));
    if(g) {
      sceplab_obj_set(v, "san", sans_val(g));
      GENERAL_NAMES_free(g);
    }
  }
  ERR_clear_error();
}

sceplab_val *sceplab_x509_describe(X509 *x)
{
  sceplab_val *v = sceplab_val_obj();
  const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
  BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  char nb[32], na[32];
  EVP_PKEY *pk = X509_get0_pubkey(x);
  int self_issued = X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
  int self_signed = self_issued && pk && X509_verify(x, pk) == 1;
  int is_ca = X509_check_ca(x) > 0;
  char *t1 = sceplab_thumbprint(x, EVP_sha1());
  char *t256 = sceplab_thumbprint(x, EVP_sha256());
  const STACK_OF(X509_EXTENSION) *exts = X509_get0_extensions(x);
  time_t now = time(NULL);

  sceplab_obj_set(v, "subject", sceplab_name_val(X509_get_subject_name(x)));
  sceplab_obj_set(v, "issuer", sceplab_name_val(X509_get_issuer_name(x)));
  sceplab_obj_set_str(v, "serial", hex ? hex : "");
  sceplab_asn1_time_iso(X509_get0_notBefore(x), nb, sizeof(nb));
  sceplab_asn1_time_iso(X509_get0_notAfter(x), na, sizeof(na));
  sceplab_obj_set_str(v, "not_before", nb);
  sceplab_obj_set_str(v, "not_after", na);
  sceplab_obj_set_bool(v, "expired", X509_cmp_time(X509_get0_notAfter(x), &now) < 0);
  sceplab_obj_set_bool(v, "not_yet_valid", X509_cmp_time(X509_get0_notBefore(x), &now) > 0);
  sceplab_obj_set(v, "key", key_val(pk));
  sceplab_obj_set_str(v, "signature_algorithm", OBJ_nid2ln(X509_get_signature_nid(x)));
  sceplab_obj_set_bool(v, "ca", is_ca);
  sceplab_obj_set_bool(v, "self_signed", self_signed);
  sceplab_obj_set_str(v, "role", self_signed ? "root" : is_ca ? "intermediate" : "end-entity");
  sceplab_obj_set_str(v, "sha1", t1 ? t1 : "");
  sceplab_obj_set_str(v, "sha256", t256 ? t256 : "");
  common_exts(v, exts);
  sceplab_obj_set(v, "extensions", extensions_val(exts, v));
  sceplab_obj_set(v, "subject_rdns", sceplab_name_rdns(X509_get_subject_name(x)));
  OPENSSL_free(hex);
  BN_free(bn);
  free(t1);
  free(t256);
  ERR_clear_error();
  return v;
}

sceplab_val *sceplab_x509_req_describe(X509_REQ *req, int show_secrets)
{
  sceplab_val *v = sceplab_val_obj();
  sceplab_val *attrs = sceplab_val_arr();
  EVP_PKEY *pk = X509_REQ_get0_pubkey(req);
  STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
  int i;

  sceplab_obj_set(v, "subject", sceplab_name_val(X509_REQ_get_subject_name(req)));
  sceplab_obj_set(v, "subject_rdns", sceplab_name_rdns(X509_REQ_get_subject_name(req)));
  sceplab_obj_set(v, "key", key_val(pk));
  sceplab_obj_set_str(v, "signature_algorithm", OBJ_nid2ln(X509_REQ_get_signature_nid(req)));
  sceplab_obj_set_bool(v, "signature_valid", pk && X509_REQ_verify(req, pk) == 1);
  common_exts(v, exts);
  sceplab_obj_set(v, "extensions", extensions_val(exts, v));
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);

  for(i = 0; i < X509_REQ_get_attr_count(req); i++) {
    X509_ATTRIBUTE *a = X509_REQ_get_attr(req, i);
    ASN1_OBJECT *o = X509_ATTRIBUTE_get0_object(a);
    int nid = OBJ_obj2nid(o);
    ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(a, 0);
    sceplab_val *av = sceplab_oid_val(o);
    if(nid == NID_pkcs9_challengePassword && t &&
       (t->type == V_ASN1_PRINTABLESTRING || t->type == V_ASN1_UTF8STRING ||
        t->type == V_ASN1_IA5STRING || t->type == V_ASN1_T61STRING || t->type == V_ASN1_BMPSTRING)) {
      unsigned char *utf8 = NULL;
      int n = ASN1_STRING_to_UTF8(&utf8, t->value.asn1_string);
      sceplab_val *cp = sceplab_val_obj();
      sceplab_obj_set_bool(cp, "present", 1);
      sceplab_obj_set_int(cp, "length", n > 0 ? n : 0);
      sceplab_obj_set(cp, "value", sceplab_secret_val(n > 0 ? (const char *)utf8 : "",
                                                      n > 0 ? (size_t)n : 0, show_secrets));
      sceplab_obj_set(v, "challenge_password", cp);
      OPENSSL_free(utf8);
    }
    else if(nid != NID_ext_req && t && (t->type == V_ASN1_UTF8STRING || t->type == V_ASN1_PRINTABLESTRING ||
                                        t->type == V_ASN1_IA5STRING || t->type == V_ASN1_BMPSTRING))
      sceplab_obj_set(av, "value", asn1_string_val(t->value.asn1_string));
    sceplab_arr_push(attrs, av);
  }
  if(!sceplab_obj_get(v, "challenge_password")) {
    sceplab_val *cp = sceplab_val_obj();
    sceplab_obj_set_bool(cp, "present", 0);
    sceplab_obj_set(v, "challenge_password", cp);
  }
  sceplab_obj_set(v, "attributes", attrs);
  ERR_clear_error();
  return v;
}

int sceplab_is_pem(const unsigned char *buf, size_t n)
{
  return sceplab_memcasestr((const char *)buf, n < 4096 ? n : 4096, "-----BEGIN ") != NULL;
}

/* Counts "-----BEGIN " lines: a chain whose last block was cut (a paste, a truncated download)
 * reads fewer blocks than it starts. */
static int pem_begins(const unsigned char *buf, size_t n)
{
  const char *p = (const char *)buf, *end = p + n;
  int count = 0;
  while(p < end && (p = sceplab_memcasestr(p, (size_t)(end - p), "-----BEGIN ")) != NULL) {
    count++;
    p += 11;
  }
  return count;
}

/* The certificates of a PEM, DER or PKCS#7 input; *problem (when not NULL) gets what could not be
 * read of it, or stays empty. */
/* x onto sk; freed when the stack cannot take it (no memory), so nothing leaks and no certificate
 * is counted that is not there. */
static void keep(STACK_OF(X509) *sk, X509 *x)
{
  if(!sk_X509_push(sk, x))
    X509_free(x);
}

STACK_OF(X509) *sceplab_read_certs_noted(const unsigned char *buf, size_t n, char *problem, size_t plen,
                                         sceplab_error *err)
{
  STACK_OF(X509) *sk = sk_X509_new_null();
  int blocks = 0;
  if(problem && plen)
    problem[0] = '\0';
  if(!sk) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  if(n > 0x7fffffff) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "certificate input too large");
    sk_X509_free(sk);
    return NULL;
  }
  if(sceplab_is_pem(buf, n)) {
    BIO *b = BIO_new_mem_buf(buf, (int)n);
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    /* Walk every PEM block so a chain file with a PKCS#7 inside still reads. */
    while(b && PEM_read_bio(b, &name, &header, &data, &len)) {
      const unsigned char *p = data;
      blocks++;
      if(strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0 ||
         strcmp(name, "TRUSTED CERTIFICATE") == 0) {
        X509 *x = strcmp(name, "TRUSTED CERTIFICATE") == 0 ? d2i_X509_AUX(NULL, &p, len) : d2i_X509(NULL, &p, len);
        if(x)
          keep(sk, x);
      }
      else if(strcmp(name, "PKCS7") == 0 || strcmp(name, "CMS") == 0) {
        PKCS7 *p7 = d2i_PKCS7(NULL, &p, len);
        if(p7 && PKCS7_type_is_signed(p7) && p7->d.sign && p7->d.sign->cert) {
          int i;
          for(i = 0; i < sk_X509_num(p7->d.sign->cert); i++)
            if(X509_up_ref(sk_X509_value(p7->d.sign->cert, i)))
              keep(sk, sk_X509_value(p7->d.sign->cert, i));
        }
        PKCS7_free(p7);
      }
      OPENSSL_free(name);
      OPENSSL_free(header);
      OPENSSL_free(data);
      name = header = NULL;
      data = NULL;
    }
    BIO_free(b);
    ERR_clear_error();
    if(problem && plen) {
      int begins = pem_begins(buf, n);
      if(begins > blocks)
        snprintf(problem, plen, "PEM block %d of %d is cut short or damaged (no matching -----END line): "
                 "the input ends inside it", blocks + 1, begins);
    }
  }
  else {
    const unsigned char *p = buf;
    X509 *x = d2i_X509(NULL, &p, (long)n);
    if(x) {
      keep(sk, x);
      /* Several DER certificates back to back are accepted too. */
      while((size_t)(p - buf) < n && (x = d2i_X509(NULL, &p, (long)(n - (size_t)(p - buf)))))
        keep(sk, x);
    }
    else {
      PKCS7 *p7;
      p = buf;
      p7 = d2i_PKCS7(NULL, &p, (long)n);
      if(p7 && PKCS7_type_is_signed(p7) && p7->d.sign && p7->d.sign->cert) {
        int i;
        for(i = 0; i < sk_X509_num(p7->d.sign->cert); i++)
          if(X509_up_ref(sk_X509_value(p7->d.sign->cert, i)))
            keep(sk, sk_X509_value(p7->d.sign->cert, i));
      }
      PKCS7_free(p7);
    }
    ERR_clear_error();
  }
  if(sk_X509_num(sk) == 0) {
    if(problem && problem[0])
      sceplab_err_set(err, SCEPLAB_E_INPUT, "no certificate could be read: %s", problem);
    else
      sceplab_err_set(err, SCEPLAB_E_INPUT, "no certificate could be read (expected PEM, DER or PKCS#7)");
    sk_X509_free(sk);
    return NULL;
  }
  return sk;
}

STACK_OF(X509) *sceplab_read_certs(const unsigned char *buf, size_t n, sceplab_error *err)
{
  return sceplab_read_certs_noted(buf, n, NULL, 0, err);
}

char *sceplab_certs_pem(STACK_OF(X509) *sk)
{
  BIO *b = BIO_new(BIO_s_mem());
  char *data = NULL, *out;
  long n;
  int i;
  if(!b)
    return NULL;
  for(i = 0; i < sk_X509_num(sk); i++)
    PEM_write_bio_X509(b, sk_X509_value(sk, i));
  n = BIO_get_mem_data(b, &data);
  out = malloc((size_t)n + 1);
  if(out) {
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
  }
  BIO_free(b);
  return out;
}

X509 *sceplab_cert_load(const unsigned char *buf, size_t n, sceplab_error *err)
{
  STACK_OF(X509) *sk = sceplab_read_certs(buf, n, err);
  X509 *x;
  if(!sk)
    return NULL;
  x = sk_X509_shift(sk);
  sk_X509_pop_free(sk, X509_free);
  return x;
}

char *sceplab_cert_pem(X509 *x)
{
  STACK_OF(X509) *one = sk_X509_new_null();
  char *pem;
  if(!one || !sk_X509_push(one, x)) {
    sk_X509_free(one);
    return NULL;
  }
  pem = sceplab_certs_pem(one);
  sk_X509_free(one);
  return pem;
}

char *sceplab_serial_hex(const ASN1_INTEGER *s)
{
  BIGNUM *bn = ASN1_INTEGER_to_BN(s, NULL);
  char *h = bn ? BN_bn2hex(bn) : NULL, *out = h ? strdup(h) : NULL;
  OPENSSL_free(h);
  BN_free(bn);
  return out;
}

X509_EXTENSION *sceplab_template_name_ext(const char *name)
{
  ASN1_BMPSTRING *bmp = ASN1_BMPSTRING_new();
  ASN1_OBJECT *oid = OBJ_txt2obj(OID_MS_TEMPLATE_NAME, 1);
  ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
  unsigned char *der = NULL, *u = NULL;
  int len, ulen = 0;
  X509_EXTENSION *e = NULL;
  /* UTF-16BE from UTF-8 (OPENSSL_utf82uni ends it with two zero bytes, not part of the string);
   * what is no UTF-8 is refused here, as OpenSSL would take a stray byte for a character */
  if(sceplab_utf8_valid(name, strlen(name)) == strlen(name) && bmp && oid && os && OPENSSL_utf82uni(name, (int)strlen(name), &u, &ulen) && ulen >= 2 &&
     ASN1_STRING_set(bmp, u, ulen - 2) && (len = i2d_ASN1_BMPSTRING(bmp, &der)) > 0 && ASN1_OCTET_STRING_set(os, der, len))
    e = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
  OPENSSL_free(der);
  OPENSSL_free(u);
  ASN1_OCTET_STRING_free(os);
  ASN1_OBJECT_free(oid);
  ASN1_BMPSTRING_free(bmp);
  ERR_clear_error();
  return e;
}
