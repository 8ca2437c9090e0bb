/* pkiMessages (RFC 8894 3.2): the content enveloped to the recipient, in a SignedData with the
 * SCEP attributes; CertRep's attributes for the server side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "scep/scep_int.h"

static const EVP_CIPHER *cipher_by_name(const char *name)
{
  if(!name || strcmp(name, "aes128") == 0)
    return EVP_aes_128_cbc();
  if(strcmp(name, "aes256") == 0)
    return EVP_aes_256_cbc();
  if(strcmp(name, "des3") == 0)
    return EVP_des_ede3_cbc();
  return NULL;
}

static int add_attr(CMS_SignerInfo *si, const char *oid, int type, const void *data, int len)
{
  return CMS_signed_add1_attr_by_txt(si, oid, type, data, len);
}

unsigned char *sceplab_pkimsg_build(const sceplab_pkimsg_params *p, size_t *len, sceplab_error *err)
{
  const EVP_CIPHER *cipher = cipher_by_name(p->cipher);
  const EVP_MD *md = sceplab_digest_by_name(p->digest);
  STACK_OF(X509) *recips = NULL;
  CMS_ContentInfo *env = NULL, *sd = NULL;
  CMS_SignerInfo *si;
  BIO *in = NULL, *envbio = NULL;
  unsigned char *envder = NULL, *der = NULL, *out = NULL;
  int envlen, n;
  char mt[16];
  if(!cipher)
    return (void)sceplab_err_set(err, SCEPLAB_E_USAGE, "cipher '%s': expected aes128, aes256 or des3", p->cipher), NULL;
  if(!md)
    return (void)sceplab_err_set(err, SCEPLAB_E_USAGE, "digest '%s': expected sha256, sha512 or sha1", p->digest), NULL;
  if(p->content_len > 0x7fffffff)
    return (void)sceplab_err_set(err, SCEPLAB_E_USAGE, "content too large"), NULL;

  /* The envelope: the inner content encrypted to the RA/CA certificate. */
  in = BIO_new_mem_buf(p->content ? p->content : (const unsigned char *)"", (int)p->content_len);
  recips = sk_X509_new_null();
  if(!in || !recips || !sk_X509_push(recips, p->recipient))
    goto ossl;
  if(p->no_content)
    envlen = 0;
  else if(p->oaep) {
    CMS_RecipientInfo *ri;
    EVP_PKEY_CTX *pctx;
    env = CMS_encrypt(NULL, NULL, cipher, CMS_BINARY | CMS_PARTIAL);
    if(!env || !(ri = CMS_add1_recipient_cert(env, p->recipient, CMS_KEY_PARAM)))
      goto ossl;
    pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
    /* CMS_final generates the content key and wraps it with the padding set here. */
    if(!pctx || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
       !CMS_final(env, in, NULL, CMS_BINARY))
      goto ossl;
  }
  else if(!(env = CMS_encrypt(recips, in, cipher, CMS_BINARY)))
    goto ossl;
  if(!p->no_content && (envlen = i2d_CMS_ContentInfo(env, &envder)) <= 0)
    goto ossl;

  /* The signed message around it, with the SCEP attributes. */
  envbio = BIO_new_mem_buf(envder ? envder : (unsigned char *)"", envlen);
  sd = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
  if(!envbio || !sd)
    goto ossl;
  si = CMS_add1_signer(sd, p->signer_cert, p->signer_key, md, CMS_NOSMIMECAP | CMS_BINARY);
  if(!si)
    goto ossl;
  snprintf(mt, sizeof(mt), "%d", p->message_type);
  if(!add_attr(si, OID_SCEP_MESSAGETYPE, V_ASN1_PRINTABLESTRING, mt, (int)strlen(mt)) ||
     !add_attr(si, OID_SCEP_TRANSID, V_ASN1_PRINTABLESTRING, p->transaction_id, (int)strlen(p->transaction_id)) ||
     !add_attr(si, OID_SCEP_SENDERNONCE, V_ASN1_OCTET_STRING, p->sender_nonce, SCEPLAB_NONCE_LEN))
    goto ossl;
  if(p->recipient_nonce &&
     !add_attr(si, OID_SCEP_RECIPIENTNONCE, V_ASN1_OCTET_STRING, p->recipient_nonce, SCEPLAB_NONCE_LEN))
    goto ossl;
  if(p->pki_status >= 0) {
    char st[16];
    snprintf(st, sizeof(st), "%d", p->pki_status);
    if(!add_attr(si, OID_SCEP_PKISTATUS, V_ASN1_PRINTABLESTRING, st, (int)strlen(st)))
      goto ossl;
  }
  if(p->fail_info >= 0) {
    char fi[16];
    snprintf(fi, sizeof(fi), "%d", p->fail_info);
    if(!add_attr(si, OID_SCEP_FAILINFO, V_ASN1_PRINTABLESTRING, fi, (int)strlen(fi)))
      goto ossl;
  }
  if(!CMS_final(sd, envbio, NULL, CMS_BINARY))
    goto ossl;
  n = i2d_CMS_ContentInfo(sd, &der);
  if(n <= 0)
    goto ossl;
  out = malloc((size_t)n);
  if(!out) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    goto done;
  }
  memcpy(out, der, (size_t)n);
  *len = (size_t)n;
  goto done;
ossl:
  sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot build the pkiMessage");
done:
  OPENSSL_free(der);
  OPENSSL_free(envder);
  CMS_ContentInfo_free(sd);
  CMS_ContentInfo_free(env);
  BIO_free(in);
  BIO_free(envbio);
  sk_X509_free(recips);
  ERR_clear_error();
  return out;
}
