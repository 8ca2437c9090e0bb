/* SCEP pkiMessage (RFC 8894 section 3): the signed attributes, the signature, the envelope and,
 * given the recipient's key, what the envelope carries. */
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "decode/decode_int.h"

#define OID_SCEP_PREFIX "2.16.840.1.113733.1.9."
#define OID_FAILINFOTEXT "1.3.6.1.5.5.7.24.1"

static const char *msgtype_name(int t) { return sceplab_scep_name(SCEPLAB_NAMES_MESSAGE_TYPE, t); }
static const char *status_name(int s) { return sceplab_scep_name(SCEPLAB_NAMES_PKI_STATUS, s); }
static const char *failinfo_name(int f) { return sceplab_scep_name(SCEPLAB_NAMES_FAIL_INFO, f); }

/* The attribute's first value as text (printable) or hex (octets). */
static int attr_string(X509_ATTRIBUTE *a, char *out, size_t outlen, int *is_octets)
{
  ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(a, 0);
  const ASN1_STRING *s;
  if(!t)
    return -1;
  *is_octets = t->type == V_ASN1_OCTET_STRING;
  if(t->type != V_ASN1_PRINTABLESTRING && t->type != V_ASN1_UTF8STRING && t->type != V_ASN1_IA5STRING &&
     t->type != V_ASN1_OCTET_STRING)
    return -1;
  s = t->value.asn1_string;
  if(*is_octets) {
    char *h = sceplab_hex_encode(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), 0);
    if(!h)
      return -1;
    snprintf(out, outlen, "%s", h);
    free(h);
  }
  else
    snprintf(out, outlen, "%.*s", ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
  return 0;
}

/* Reads messageType, pkiStatus, failInfo, nonces, transactionID and failInfoText into v.
 * Unknown messageType or pkiStatus values are errors, as RFC 8894 requires. */
static int scep_attributes(sceplab_val *v, CMS_SignerInfo *si, sceplab_error *err, int *msgtype)
{
  int i, status = -1;
  *msgtype = -1;
  for(i = 0; i < CMS_signed_get_attr_count(si); i++) {
    X509_ATTRIBUTE *a = CMS_signed_get_attr(si, i);
    char oid[80], val[600];
    int octets = 0;
    OBJ_obj2txt(oid, sizeof(oid), X509_ATTRIBUTE_get0_object(a), 1);
    if(strcmp(oid, OID_FAILINFOTEXT) == 0) {
      if(attr_string(a, val, sizeof(val), &octets) == 0)
        sceplab_obj_set_str(v, "fail_info_text", val);
      continue;
    }
    if(strncmp(oid, OID_SCEP_PREFIX, strlen(OID_SCEP_PREFIX)) != 0)
      continue;
    if(attr_string(a, val, sizeof(val), &octets) != 0) {
      sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage: signed attribute %s has an unexpected type", oid);
      return -1;
    }
    switch(atoi(oid + strlen(OID_SCEP_PREFIX))) {
    case 2: {
      const char *name;
      *msgtype = atoi(val);
      name = msgtype_name(*msgtype);
      if(!name) {
        sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage: unknown messageType '%s'", val);
        return -1;
      }
      sceplab_obj_set_int(v, "message_type_code", *msgtype);
      sceplab_obj_set_str(v, "message_type", name);
      break;
    }
    case 3:
      status = atoi(val);
      if(!status_name(status) || !*val) {
        sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage: unknown pkiStatus '%s'", val);
        return -1;
      }
      sceplab_obj_set_str(v, "pki_status", status_name(status));
      break;
    case 4: {
      const char *name = failinfo_name(atoi(val));
      sceplab_obj_set_str(v, "fail_info", name ? name : val);
      break;
    }
    case 5: sceplab_obj_set_str(v, "sender_nonce", val); break;
    case 6: sceplab_obj_set_str(v, "recipient_nonce", val); break;
    case 7: sceplab_obj_set_str(v, "transaction_id", val); break;
    default: break;
    }
  }
  if(*msgtype < 0) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage: signed attribute messageType missing");
    return -1;
  }
  if(*msgtype == 3 && status < 0) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage: CertRep without pkiStatus");
    return -1;
  }
  return 0;
}

/* Decode what the envelope carried, by message type. */
static void describe_inner(sceplab_val *out, int msgtype, const unsigned char *p, size_t n,
                           const sceplab_decode_opts *opts)
{
  sceplab_error e;
  if(msgtype == 19 || msgtype == 17) {
    sceplab_val *csr = sceplab_csr_parse(p, n, opts, &e);
    if(csr)
      sceplab_obj_set(out, "csr", csr);
    else
      sceplab_warn(out, "envelope content is not a CSR: %s", e.msg);
  }
  else if(msgtype == 3) {
    sceplab_val *certs = sceplab_certs_parse(p, n, &e);
    if(certs)
      sceplab_obj_set(out, "issued", certs);
    else
      sceplab_warn(out, "envelope content has no certificate: %s", e.msg);
  }
  else if(msgtype == 21 || msgtype == 22) {
    const unsigned char *q = p;
    PKCS7_ISSUER_AND_SERIAL *ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &q, (long)n);
    if(ias) {
      BIGNUM *bn = ASN1_INTEGER_to_BN(ias->serial, NULL);
      char *hex = bn ? BN_bn2hex(bn) : NULL;
      sceplab_obj_set(out, "issuer", sceplab_name_val(ias->issuer));
      sceplab_obj_set_str(out, "serial", hex ? hex : "");
      OPENSSL_free(hex);
      BN_free(bn);
      PKCS7_ISSUER_AND_SERIAL_free(ias);
    }
  }
  else if(msgtype == 20) {
    /* IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name } */
    const unsigned char *q = p;
    long len;
    int tag, cls;
    if(ASN1_get_object(&q, &len, &tag, &cls, (long)n) == 0x20 && tag == V_ASN1_SEQUENCE) {
      X509_NAME *issuer = d2i_X509_NAME(NULL, &q, len);
      X509_NAME *subject = issuer ? d2i_X509_NAME(NULL, &q, (long)(n - (size_t)(q - p))) : NULL;
      if(issuer)
        sceplab_obj_set(out, "issuer", sceplab_name_val(issuer));
      if(subject)
        sceplab_obj_set(out, "subject", sceplab_name_val(subject));
      X509_NAME_free(issuer);
      X509_NAME_free(subject);
    }
  }
  ERR_clear_error();
}

static void open_envelope(sceplab_val *v, int msgtype, const unsigned char *der, size_t n,
                          const sceplab_decode_opts *opts)
{
  sceplab_val *inner = sceplab_val_obj();
  sceplab_error e;
  EVP_PKEY *pk = sceplab_key_load(opts->key, opts->keylen, opts->key_pass, &e);
  BIO *out = BIO_new(BIO_s_mem());
  int legacy = 0;
  if(!pk) {
    char msg[sizeof(e.msg) + 8];
    snprintf(msg, sizeof(msg), "--key: %s", e.msg);
    if(strstr(msg, "give its passphrase"))
      snprintf(msg, sizeof(msg), "--key: the key is encrypted; give its passphrase with --key-pass");
    sceplab_obj_set_str(inner, "error", msg);
  }
  else if(out && sceplab_envelope_open(der, n, pk, NULL, out, &legacy, &e) == 0) {
    char *data = NULL;
    long len = BIO_get_mem_data(out, &data);
    sceplab_obj_set_int(inner, "length", len);
    describe_inner(inner, msgtype, (const unsigned char *)data, len > 0 ? (size_t)len : 0, opts);
    if(legacy)
      sceplab_warn(v, "envelope uses a legacy cipher (single DES): accepted for decoding only");
  }
  else
    sceplab_obj_set_str(inner, "error", out ? e.msg : "out of memory");
  sceplab_obj_set(v, "decrypted", inner);
  BIO_free(out);
  EVP_PKEY_free(pk);
  ERR_clear_error();
}

sceplab_val *sceplab_pkimsg_parse(const unsigned char *buf, size_t n, const sceplab_decode_opts *opts,
                                  sceplab_error *err)
{
  const unsigned char *p = buf;
  CMS_ContentInfo *cms;
  STACK_OF(CMS_SignerInfo) *sis;
  CMS_SignerInfo *si;
  sceplab_val *v, *outer;
  int msgtype = -1;
  ASN1_OCTET_STRING **content;
  static const sceplab_decode_opts noopts;

  if(!opts)
    opts = &noopts;
  if(n > 0x7fffffff)
    return (void)sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage too large"), NULL;
  cms = d2i_CMS_ContentInfo(NULL, &p, (long)n);
  if(!cms) {
    sceplab_err_openssl(err, SCEPLAB_E_INPUT, "pkiMessage: not a CMS structure");
    return NULL;
  }
  if(OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage: outer layer is not SignedData");
    CMS_ContentInfo_free(cms);
    return NULL;
  }
  sis = CMS_get0_SignerInfos(cms);
  if(sk_CMS_SignerInfo_num(sis) != 1) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage: expected one signer, found %d", sk_CMS_SignerInfo_num(sis));
    CMS_ContentInfo_free(cms);
    return NULL;
  }
  si = sk_CMS_SignerInfo_value(sis, 0);
  v = sceplab_val_obj();
  if(scep_attributes(v, si, err, &msgtype) != 0) {
    sceplab_val_free(v);
    CMS_ContentInfo_free(cms);
    ERR_clear_error();
    return NULL;
  }

  /* The signer and certificates as the generic CMS description sees them. */
  outer = sceplab_cms_describe(buf, (size_t)(p - buf), NULL);
  if(outer) {
    sceplab_val *signers = sceplab_obj_take(outer, "signers");
    sceplab_val *certs = sceplab_obj_take(outer, "certificates");
    if(signers && signers->u.c.n)
      sceplab_obj_set(v, "signer", sceplab_arr_take(signers, 0));
    if(certs)
      sceplab_obj_set(v, "certificates", certs);
    sceplab_val_free(signers);
    sceplab_val_free(outer);
  }

  /* The signature, checked with the certificate the message carries (no chain building here). */
  {
    BIO *sink = BIO_new(BIO_s_mem());
    int ok = CMS_verify(cms, NULL, NULL, NULL, sink, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY);
    sceplab_obj_set_bool(v, "signature_valid", ok == 1);
    if(ok != 1) {
      sceplab_error e;
      sceplab_err_openssl(&e, SCEPLAB_E_CRYPTO, "signature does not verify");
      sceplab_obj_set_str(v, "signature_error", e.msg);
    }
    BIO_free(sink);
  }

  content = CMS_get0_content(cms);
  if(content && *content && ASN1_STRING_length(*content) > 0) {
    const unsigned char *ed = ASN1_STRING_get0_data(*content);
    size_t elen = (size_t)ASN1_STRING_length(*content);
    sceplab_val *env = sceplab_cms_describe(ed, elen, NULL);
    if(env)
      sceplab_obj_set(v, "envelope", env);
    else
      sceplab_warn(v, "signed content is not an EnvelopedData (%zu bytes)", elen);
    if(env && opts->key && opts->keylen)
      open_envelope(v, msgtype, ed, elen, opts);
  }
  else
    sceplab_obj_set(v, "envelope", sceplab_val_null());
  CMS_ContentInfo_free(cms);
  ERR_clear_error();
  return sceplab_done(v, err);
}
