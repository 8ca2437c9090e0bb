/* A CertRep verified strictly, one named check at a time, and GetNextCACert's answer. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "scep/scep_int.h"

static void check(sceplab_val *checks, const char *name, int ok, const char *detail)
{
  sceplab_val *c = sceplab_val_obj();
  sceplab_obj_set_str(c, "name", name);
  sceplab_obj_set_bool(c, "ok", ok);
  if(detail)
    sceplab_obj_set_str(c, "detail", detail);
  sceplab_arr_push(checks, c);
}

/* Value of a signed attribute as bytes (octets) or text; NULL when absent. */
static const ASN1_STRING *signed_attr(CMS_SignerInfo *si, const char *oid, int *type)
{
  ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
  int idx = o ? CMS_signed_get_attr_by_OBJ(si, o, -1) : -1;
  ASN1_TYPE *t;
  ASN1_OBJECT_free(o);
  if(idx < 0)
    return NULL;
  t = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, idx), 0);
  if(!t || (t->type != V_ASN1_PRINTABLESTRING && t->type != V_ASN1_OCTET_STRING && t->type != V_ASN1_UTF8STRING &&
            t->type != V_ASN1_IA5STRING))
    return NULL;
  *type = t->type;
  return t->value.asn1_string;
}

static int attr_text(CMS_SignerInfo *si, const char *oid, char *out, size_t outlen)
{
  int type;
  const ASN1_STRING *s = signed_attr(si, oid, &type);
  if(!s || type == V_ASN1_OCTET_STRING)
    return -1;
  snprintf(out, outlen, "%.*s", ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
  return 0;
}

sceplab_val *sceplab_reply_verify(const unsigned char *der, size_t n, const sceplab_reply_expect *x,
                                  sceplab_error *err)
{
  const unsigned char *p = der;
  CMS_ContentInfo *cms = NULL;
  sceplab_val *v = sceplab_val_obj(), *checks = sceplab_val_arr();
  const char *failed = NULL;
  char failmsg[SCEPLAB_ERRMSG_MAX] = "", buf[256];
  STACK_OF(CMS_SignerInfo) *sis;
  CMS_SignerInfo *si;
  ASN1_OCTET_STRING **content;
  int status = -1, type;
  const ASN1_STRING *rn;

#define FAIL(name, ...)                                    \
  do {                                                     \
    snprintf(failmsg, sizeof(failmsg), __VA_ARGS__);       \
    check(checks, name, 0, failmsg);                       \
    failed = name;                                         \
    goto out;                                              \
  } while(0)

  sceplab_obj_set(v, "checks", checks);
  if(n <= 0x7fffffff) {
    int fast = sceplab_pki_rsa_decode_enter(); /* the certificates it carries: pki/rsa_decode.c */
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)n);
    sceplab_pki_rsa_decode_leave(fast);
  }
  if(!cms)
    FAIL("structure", "reply is not a CMS structure (%zu bytes)", n);
  if(OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
    FAIL("structure", "reply is not SignedData");
  sis = CMS_get0_SignerInfos(cms);
  if(sk_CMS_SignerInfo_num(sis) != 1)
    FAIL("structure", "reply has %d signers, expected 1", sk_CMS_SignerInfo_num(sis));
  si = sk_CMS_SignerInfo_value(sis, 0);
  check(checks, "structure", 1, NULL);

  /* Signature, by a certificate we expect (RA signer or CA) and not just by whatever is embedded. */
  {
    BIO *sink = BIO_new(BIO_s_mem());
    int ok = x->signers && CMS_verify(cms, x->signers, NULL, NULL, sink, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY | CMS_NOINTERN);
    if(!ok) {
      int embedded;
      ERR_clear_error();
      (void)BIO_reset(sink);
      embedded = CMS_verify(cms, NULL, NULL, NULL, sink, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY);
      BIO_free(sink);
      ERR_clear_error();
      if(embedded)
        FAIL("signer", "the reply is signed by a certificate that is neither the RA nor the CA from GetCACert");
      FAIL("signature", "the reply's signature does not verify");
    }
    BIO_free(sink);
    check(checks, "signature", 1, NULL);
  }

  if(attr_text(si, OID_SCEP_MESSAGETYPE, buf, sizeof(buf)) != 0)
    FAIL("message-type", "messageType attribute missing");
  if(strcmp(buf, "3") != 0)
    FAIL("message-type", "messageType is %s, expected 3 (CertRep)", buf);
  check(checks, "message-type", 1, NULL);

  if(attr_text(si, OID_SCEP_TRANSID, buf, sizeof(buf)) != 0)
    FAIL("transaction-id", "transactionID attribute missing");
  if(!x->transaction_id || strcmp(buf, x->transaction_id) != 0)
    FAIL("transaction-id", "transactionID '%s' is not ours ('%s')", buf, x->transaction_id ? x->transaction_id : "");
  sceplab_obj_set_str(v, "transaction_id", buf);
  check(checks, "transaction-id", 1, NULL);

  rn = signed_attr(si, OID_SCEP_RECIPIENTNONCE, &type);
  if(!rn || type != V_ASN1_OCTET_STRING)
    FAIL("recipient-nonce", "recipientNonce attribute missing");
  if(!x->sender_nonce || ASN1_STRING_length(rn) != SCEPLAB_NONCE_LEN ||
     memcmp(ASN1_STRING_get0_data(rn), x->sender_nonce, SCEPLAB_NONCE_LEN) != 0)
    FAIL("recipient-nonce", "recipientNonce does not equal our senderNonce");
  check(checks, "recipient-nonce", 1, NULL);
  if(!signed_attr(si, OID_SCEP_SENDERNONCE, &type) || type != V_ASN1_OCTET_STRING)
    FAIL("sender-nonce", "senderNonce attribute missing");
  check(checks, "sender-nonce", 1, NULL);

  if(attr_text(si, OID_SCEP_PKISTATUS, buf, sizeof(buf)) != 0)
    FAIL("pki-status", "pkiStatus attribute missing");
  status = buf[0] && !buf[1] && sceplab_scep_name(SCEPLAB_NAMES_PKI_STATUS, buf[0] - '0') ? buf[0] - '0' : -1;
  if(status < 0)
    FAIL("pki-status", "unknown pkiStatus '%s'", buf);
  sceplab_obj_set_str(v, "status", sceplab_scep_name(SCEPLAB_NAMES_PKI_STATUS, status));
  check(checks, "pki-status", 1, NULL);

  if(status == 2) {
    if(attr_text(si, OID_SCEP_FAILINFO, buf, sizeof(buf)) == 0) {
      const char *name = isdigit((unsigned char)buf[0]) ? sceplab_scep_name(SCEPLAB_NAMES_FAIL_INFO, atoi(buf)) : NULL;
      sceplab_obj_set_str(v, "fail_info", name ? name : buf);
    }
    if(attr_text(si, OID_FAILINFOTEXT, buf, sizeof(buf)) == 0)
      sceplab_obj_set_str(v, "fail_info_text", buf);
    goto out;
  }
  if(status == 3)
    goto out;

  /* SUCCESS: open the envelope, find our certificate. */
  content = CMS_get0_content(cms);
  if(!content || !*content || ASN1_STRING_length(*content) <= 0)
    FAIL("envelope", "SUCCESS reply without content");
  {
    BIO *plain = BIO_new(BIO_s_mem());
    sceplab_error e;
    int legacy = 0;
    char *data = NULL;
    long plen;
    const unsigned char *q;
    PKCS7 *p7;
    STACK_OF(X509) *certs;
    STACK_OF(X509_CRL) *crls;
    if(!plain || sceplab_envelope_open(ASN1_STRING_get0_data(*content), (size_t)ASN1_STRING_length(*content), x->key,
                                       x->cert, plain, &legacy, &e) != 0) {
      BIO_free(plain);
      FAIL("envelope", "%.400s", plain ? e.msg : "out of memory");
    }
    check(checks, "envelope", 1, legacy ? "single DES" : NULL);
    if(legacy)
      sceplab_warn(v, "the server encrypted its reply with single DES");
    plen = BIO_get_mem_data(plain, &data);
    q = (const unsigned char *)data;
    {
      int fast = sceplab_pki_rsa_decode_enter(); /* the issued certificate and its chain */
      p7 = d2i_PKCS7(NULL, &q, plen);
      sceplab_pki_rsa_decode_leave(fast);
    }
    if(!p7 || !PKCS7_type_is_signed(p7) || !p7->d.sign) {
      PKCS7_free(p7);
      BIO_free(plain);
      FAIL("envelope", "decrypted content is not a degenerate PKCS#7");
    }
    certs = p7->d.sign->cert;
    crls = p7->d.sign->crl;
    if(sk_X509_num(certs) > 0) {
      int i, found = -1;
      char *chain = sceplab_certs_pem(certs);
      sceplab_obj_set_str(v, "chain_pem", chain);
      free(chain);
      for(i = 0; x->request_key && i < sk_X509_num(certs); i++)
        if(EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(certs, i)), x->request_key) == 1)
          found = i;
      if(x->request_key && found < 0) {
        PKCS7_free(p7);
        BIO_free(plain);
        FAIL("public-key", "no certificate in the reply carries our public key");
      }
      if(found < 0)
        found = 0;
      {
        STACK_OF(X509) *one = sk_X509_new_null();
        char *pem = one && sk_X509_push(one, sk_X509_value(certs, found)) ? sceplab_certs_pem(one) : NULL;
        sceplab_obj_set_str(v, "certificate_pem", pem);
        sceplab_obj_set(v, "certificate", sceplab_x509_describe(sk_X509_value(certs, found)));
        free(pem);
        sk_X509_free(one);
      }
      if(x->request_key)
        check(checks, "public-key", 1, NULL);
    }
    if(sk_X509_CRL_num(crls) > 0) {
      BIO *b = BIO_new(BIO_s_mem());
      char *cd = NULL;
      long cl;
      PEM_write_bio_X509_CRL(b, sk_X509_CRL_value(crls, 0));
      cl = BIO_get_mem_data(b, &cd);
      sceplab_obj_set_strn(v, "crl_pem", cd, (size_t)cl);
      BIO_free(b);
    }
    PKCS7_free(p7);
    BIO_free(plain);
  }
out:
#undef FAIL
  CMS_ContentInfo_free(cms);
  ERR_clear_error();
  if(failed) {
    sceplab_err_set(err, SCEPLAB_E_CRYPTO, "reply refused: %s: %.440s", failed, failmsg);
    sceplab_val_free(v);
    return NULL;
  }
  return sceplab_done(v, err);
}

sceplab_val *sceplab_next_ca_verify(const unsigned char *buf, size_t n, STACK_OF(X509) *signers, sceplab_error *err)
{
  const unsigned char *p = buf;
  CMS_ContentInfo *cms;
  BIO *content = NULL;
  STACK_OF(X509) *certs = NULL, *by = NULL;
  sceplab_val *v = NULL, *list;
  char *data = NULL;
  long len;
  int i;
  if(n > 0x7fffffff) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "GetNextCACert answer too large");
    return NULL;
  }
  cms = d2i_CMS_ContentInfo(NULL, &p, (long)n);
  if(!cms || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
    sceplab_err_openssl(err, SCEPLAB_E_INPUT, "GetNextCACert answer is not a CMS SignedData");
    goto done;
  }
  content = BIO_new(BIO_s_mem());
  /* Only the given certificates may have signed it (CMS_NOINTERN): the current CA or its RA. */
  if(!content || !CMS_verify(cms, signers, NULL, NULL, content, CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY)) {
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "GetNextCACert answer refused: signer: not signed by the current CA or RA");
    goto done;
  }
  len = BIO_get_mem_data(content, &data);
  certs = len > 0 ? sceplab_read_certs((const unsigned char *)data, (size_t)len, err) : NULL;
  if(!certs) {
    if(len <= 0)
      sceplab_err_set(err, SCEPLAB_E_INPUT, "GetNextCACert answer carries no certificate");
    goto done;
  }
  v = sceplab_val_obj();
  list = sceplab_val_arr();
  for(i = 0; i < sk_X509_num(certs); i++) {
    char *pem = sceplab_cert_pem(sk_X509_value(certs, i));
    sceplab_arr_push_str(list, pem ? pem : "");
    free(pem);
  }
  sceplab_obj_set(v, "certificates", list);
  by = CMS_get0_signers(cms);
  if(by && sk_X509_num(by) > 0)
    sceplab_obj_set(v, "signer", sceplab_name_val(X509_get_subject_name(sk_X509_value(by, 0))));
done:
  sk_X509_free(by);
  sk_X509_pop_free(certs, X509_free);
  BIO_free(content);
  CMS_ContentInfo_free(cms);
  return v;
}
