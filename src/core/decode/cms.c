/* Structural description of CMS / PKCS#7 blobs: what a support engineer needs to see about an
 * Intune CertEnrollChallenge or a SCEP envelope without the keys to open it. */
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "decode/decode_int.h"

static sceplab_val *alg_name(const X509_ALGOR *alg)
{
  const ASN1_OBJECT *obj = NULL;
  if(!alg)
    return sceplab_val_null();
  X509_ALGOR_get0(&obj, NULL, NULL, alg);
  return sceplab_oid_val(obj);
}

static sceplab_val *issuer_serial_val(X509_NAME *issuer, ASN1_INTEGER *serial)
{
  sceplab_val *v = sceplab_val_obj();
  BIGNUM *bn = serial ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  sceplab_obj_set(v, "issuer", issuer ? sceplab_name_val(issuer) : sceplab_val_null());
  sceplab_obj_set_str(v, "serial", hex ? hex : "");
  OPENSSL_free(hex);
  BN_free(bn);
  return v;
}

static void describe_signed(sceplab_val *v, PKCS7 *p7)
{
  PKCS7_SIGNED *sd = p7->d.sign;
  sceplab_val *certs = sceplab_val_arr(), *signers = sceplab_val_arr(), *digests = sceplab_val_arr();
  int i, j;
  if(!sd)
    return;
  for(i = 0; i < sk_X509_ALGOR_num(sd->md_algs); i++)
    sceplab_arr_push(digests, alg_name(sk_X509_ALGOR_value(sd->md_algs, i)));
  sceplab_obj_set(v, "digest_algorithms", digests);
  for(i = 0; i < sk_X509_num(sd->cert); i++) {
    X509 *x = sk_X509_value(sd->cert, i);
    sceplab_val *c = sceplab_val_obj();
    char *t = sceplab_thumbprint(x, EVP_sha1());
    sceplab_obj_set(c, "subject", sceplab_name_val(X509_get_subject_name(x)));
    sceplab_obj_set(c, "issuer", sceplab_name_val(X509_get_issuer_name(x)));
    sceplab_obj_set_str(c, "sha1", t ? t : "");
    free(t);
    sceplab_arr_push(certs, c);
  }
  sceplab_obj_set(v, "certificates", certs);
  sceplab_obj_set_int(v, "crls", sk_X509_CRL_num(sd->crl));
  for(i = 0; i < sk_PKCS7_SIGNER_INFO_num(sd->signer_info); i++) {
    PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(sd->signer_info, i);
    sceplab_val *s = issuer_serial_val(si->issuer_and_serial ? si->issuer_and_serial->issuer : NULL,
                                       si->issuer_and_serial ? si->issuer_and_serial->serial : NULL);
    sceplab_val *attrs = sceplab_val_arr();
    sceplab_obj_set(s, "digest_algorithm", alg_name(si->digest_alg));
    sceplab_obj_set(s, "signature_algorithm", alg_name(si->digest_enc_alg));
    sceplab_obj_set_int(s, "signature_length", si->enc_digest ? ASN1_STRING_length(si->enc_digest) : 0);
    for(j = 0; j < sk_X509_ATTRIBUTE_num(si->auth_attr); j++)
      sceplab_arr_push(attrs, sceplab_oid_val(X509_ATTRIBUTE_get0_object(sk_X509_ATTRIBUTE_value(si->auth_attr, j))));
    sceplab_obj_set(s, "signed_attributes", attrs);
    sceplab_arr_push(signers, s);
  }
  sceplab_obj_set(v, "signers", signers);
  if(sd->contents) {
    sceplab_obj_set(v, "content_type", sceplab_oid_val(sd->contents->type));
    if(PKCS7_type_is_data(sd->contents)) {
      ASN1_OCTET_STRING *os = sd->contents->d.data;
      sceplab_obj_set_bool(v, "detached", os == NULL);
      sceplab_obj_set_int(v, "content_length", os ? ASN1_STRING_length(os) : 0);
    }
  }
}

static void describe_enveloped(sceplab_val *v, PKCS7 *p7)
{
  PKCS7_ENVELOPE *env = p7->d.enveloped;
  sceplab_val *recips = sceplab_val_arr();
  int i;
  if(!env)
    return;
  for(i = 0; i < sk_PKCS7_RECIP_INFO_num(env->recipientinfo); i++) {
    PKCS7_RECIP_INFO *ri = sk_PKCS7_RECIP_INFO_value(env->recipientinfo, i);
    sceplab_val *r = issuer_serial_val(ri->issuer_and_serial ? ri->issuer_and_serial->issuer : NULL,
                                       ri->issuer_and_serial ? ri->issuer_and_serial->serial : NULL);
    sceplab_obj_set(r, "key_encryption_algorithm", alg_name(ri->key_enc_algor));
    sceplab_obj_set_int(r, "encrypted_key_length", ri->enc_key ? ASN1_STRING_length(ri->enc_key) : 0);
    sceplab_arr_push(recips, r);
  }
  sceplab_obj_set(v, "recipients", recips);
  if(env->enc_data) {
    sceplab_obj_set(v, "content_encryption_algorithm", alg_name(env->enc_data->algorithm));
    sceplab_obj_set_int(v, "encrypted_content_length",
                        env->enc_data->enc_data ? ASN1_STRING_length(env->enc_data->enc_data) : 0);
  }
}

sceplab_val *sceplab_cms_describe(const unsigned char *der, size_t n, sceplab_error *err)
{
  const unsigned char *p = der;
  PKCS7 *p7;
  sceplab_val *v;
  if(n > 0x7fffffff)
    return (void)sceplab_err_set(err, SCEPLAB_E_INPUT, "CMS blob too large"), NULL;
  p7 = d2i_PKCS7(NULL, &p, (long)n);
  if(!p7) {
    /* Not PKCS#7-compatible (e.g. CMS with subjectKeyIdentifier recipients): say what CMS sees. */
    CMS_ContentInfo *cms;
    p = der;
    ERR_clear_error();
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)n);
    if(!cms) {
      sceplab_err_openssl(err, SCEPLAB_E_INPUT, "not a CMS/PKCS#7 structure");
      return NULL;
    }
    v = sceplab_val_obj();
    sceplab_obj_set(v, "type", sceplab_oid_val(CMS_get0_type(cms)));
    sceplab_obj_set_int(v, "length", (int64_t)n);
    CMS_ContentInfo_free(cms);
    ERR_clear_error();
    return v;
  }
  v = sceplab_val_obj();
  sceplab_obj_set(v, "type", sceplab_oid_val(p7->type));
  sceplab_obj_set_int(v, "length", (int64_t)n);
  if(PKCS7_type_is_signed(p7))
    describe_signed(v, p7);
  else if(PKCS7_type_is_enveloped(p7))
    describe_enveloped(v, p7);
  PKCS7_free(p7);
  ERR_clear_error();
  return sceplab_done(v, err);
}
