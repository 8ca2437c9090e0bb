/* The server side of a PKIOperation (RFC 8894 section 3): a pkiMessage opened with the RA's key,
 * and the CertRep that answers it, built with the request's own algorithms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "scep/scep_int.h"

/* A signed attribute's first value: its bytes, or -1. */
static int signed_attr(CMS_SignerInfo *si, const char *oid, unsigned char *out, size_t outlen, size_t *len)
{
  ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
  int idx = o ? CMS_signed_get_attr_by_OBJ(si, o, -1) : -1;
  ASN1_TYPE *t;
  ASN1_OBJECT_free(o);
  if(idx < 0)
    return -1;
  t = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, idx), 0);
  if(!t || (t->type != V_ASN1_PRINTABLESTRING && t->type != V_ASN1_OCTET_STRING && t->type != V_ASN1_UTF8STRING))
    return -1;
  *len = (size_t)ASN1_STRING_length(t->value.asn1_string);
  if(*len >= outlen)
    return -1;
  memcpy(out, ASN1_STRING_get0_data(t->value.asn1_string), *len);
  out[*len] = 0;
  return 0;
}

/* Marks the request as one to answer with FAILURE: why, then ": detail" when given. */
static void refuse(sceplab_scep_request *rq, int fail_info, const char *why, const char *detail)
{
  if(rq->fail_info >= 0)
    return; /* the first reason stands */
  rq->fail_info = fail_info;
  if(snprintf(rq->why, sizeof(rq->why), "%s%s%s", why, detail ? ": " : "", detail ? detail : "") >= (int)sizeof(rq->why))
    memcpy(rq->why + sizeof(rq->why) - 4, "...", 4); /* cut, and said to be */
}

/* The envelope's content cipher and key transport, read through the PKCS7 view. */
static void envelope_algorithms(const unsigned char *der, size_t n, sceplab_scep_request *rq)
{
  const unsigned char *p = der;
  PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)n);
  int i;
  if(!p7 || !PKCS7_type_is_enveloped(p7) || !p7->d.enveloped || !p7->d.enveloped->enc_data ||
     !p7->d.enveloped->enc_data->algorithm) {
    PKCS7_free(p7);
    return;
  }
  switch(OBJ_obj2nid(p7->d.enveloped->enc_data->algorithm->algorithm)) {
  case NID_aes_128_cbc: snprintf(rq->cipher, sizeof(rq->cipher), "aes128"); break;
  case NID_aes_192_cbc: snprintf(rq->cipher, sizeof(rq->cipher), "aes192"); break;
  case NID_aes_256_cbc: snprintf(rq->cipher, sizeof(rq->cipher), "aes256"); break;
  case NID_des_ede3_cbc: snprintf(rq->cipher, sizeof(rq->cipher), "des3"); break;
  case NID_des_cbc: snprintf(rq->cipher, sizeof(rq->cipher), "des"); break;
  default: snprintf(rq->cipher, sizeof(rq->cipher), "unknown"); break;
  }
  for(i = 0; i < sk_PKCS7_RECIP_INFO_num(p7->d.enveloped->recipientinfo); i++) {
    PKCS7_RECIP_INFO *ri = sk_PKCS7_RECIP_INFO_value(p7->d.enveloped->recipientinfo, i);
    if(ri->key_enc_algor && OBJ_obj2nid(ri->key_enc_algor->algorithm) == NID_rsaesOaep)
      rq->oaep = 1;
  }
  PKCS7_free(p7);
}

static char *challenge_of(X509_REQ *req)
{
  int idx = X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, -1);
  ASN1_TYPE *t = idx >= 0 ? X509_ATTRIBUTE_get0_type(X509_REQ_get_attr(req, idx), 0) : NULL;
  const ASN1_STRING *s;
  char *out;
  if(!t || (t->type != V_ASN1_PRINTABLESTRING && t->type != V_ASN1_UTF8STRING && t->type != V_ASN1_IA5STRING &&
            t->type != V_ASN1_T61STRING && t->type != V_ASN1_BMPSTRING))
    return NULL;
  s = t->value.asn1_string;
  if(t->type == V_ASN1_BMPSTRING) {
    out = OPENSSL_uni2utf8(ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
    if(out) {
      char *copy = strdup(out);
      OPENSSL_free(out);
      return copy;
    }
    return NULL;
  }
  out = malloc((size_t)ASN1_STRING_length(s) + 1);
  if(out) {
    memcpy(out, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
    out[ASN1_STRING_length(s)] = '\0';
  }
  return out;
}

int sceplab_scep_request_open(const unsigned char *der, size_t n, EVP_PKEY *ra_key, X509 *ra_cert, unsigned flags,
                              sceplab_scep_request *rq, sceplab_error *err)
{
  const unsigned char *p = der;
  CMS_ContentInfo *cms = NULL;
  STACK_OF(CMS_SignerInfo) *sis;
  CMS_SignerInfo *si;
  STACK_OF(X509) *certs = NULL;
  unsigned char mt[16];
  size_t len = 0;
  ASN1_OCTET_STRING **content;
  X509_ALGOR *dig = NULL;
  memset(rq, 0, sizeof(*rq));
  rq->fail_info = -1;
  rq->message_type = -1;
  if(n > (1u << 24))
    return sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage too large (%zu bytes)", n), -1;
  {
    int fast = sceplab_pki_rsa_decode_enter(); /* the signer's certificate: pki/rsa_decode.c */
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)n);
    sceplab_pki_rsa_decode_leave(fast);
  }
  if(!cms || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
    CMS_ContentInfo_free(cms);
    sceplab_err_openssl(err, SCEPLAB_E_INPUT, "not a pkiMessage (CMS SignedData)");
    return -1;
  }
  sis = CMS_get0_SignerInfos(cms);
  certs = CMS_get1_certs(cms);
  if(sk_CMS_SignerInfo_num(sis) != 1) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage: expected one signer, found %d", sk_CMS_SignerInfo_num(sis));
    goto fail;
  }
  si = sk_CMS_SignerInfo_value(sis, 0);
  /* the requester's certificate: the one the signer info names, among those the message carries */
  {
    int i;
    for(i = 0; i < sk_X509_num(certs) && !rq->signer; i++)
      if(CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0) {
        rq->signer = sk_X509_value(certs, i);
        X509_up_ref(rq->signer);
      }
  }
  if(!rq->signer) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage: the signer's certificate is not in the message");
    goto fail;
  }
  if(signed_attr(si, OID_SCEP_TRANSID, (unsigned char *)rq->transaction_id, sizeof(rq->transaction_id), &len) != 0 || !len) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage: no transactionID");
    goto fail;
  }
  if(signed_attr(si, OID_SCEP_MESSAGETYPE, mt, sizeof(mt), &len) != 0) {
    sceplab_err_set(err, SCEPLAB_E_INPUT, "pkiMessage: no messageType");
    goto fail;
  }
  rq->message_type = atoi((const char *)mt);
  if(signed_attr(si, OID_SCEP_SENDERNONCE, rq->sender_nonce, sizeof(rq->sender_nonce) + 1, &len) == 0 &&
     len == SCEPLAB_NONCE_LEN)
    rq->has_nonce = 1;
  CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
  switch(dig ? OBJ_obj2nid(dig->algorithm) : NID_undef) {
  case NID_sha1: snprintf(rq->digest, sizeof(rq->digest), "sha1"); break;
  case NID_sha512: snprintf(rq->digest, sizeof(rq->digest), "sha512"); break;
  default: snprintf(rq->digest, sizeof(rq->digest), "sha256"); break;
  }
  /* whatever follows can be answered with a CertRep FAILURE: the requester is known */
  if(!sceplab_scep_name(SCEPLAB_NAMES_MESSAGE_TYPE, rq->message_type) || rq->message_type == SCEPLAB_MSG_CERTREP)
    refuse(rq, SCEPLAB_FAIL_BADREQUEST, "messageType is not a request", (const char *)mt);
  if(!rq->has_nonce)
    refuse(rq, SCEPLAB_FAIL_BADREQUEST, "no senderNonce of 16 bytes", NULL);
  {
    BIO *sink = BIO_new(BIO_s_mem());
    rq->signature_ok = CMS_verify(cms, NULL, NULL, NULL, sink, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) == 1;
    BIO_free(sink);
    if(!rq->signature_ok)
      refuse(rq, SCEPLAB_FAIL_BADMESSAGECHECK, "the signature does not verify", NULL);
    ERR_clear_error();
  }
  content = CMS_get0_content(cms);
  if(content && *content && ASN1_STRING_length(*content) > 0 && rq->fail_info < 0) {
    const unsigned char *ed = ASN1_STRING_get0_data(*content);
    size_t elen = (size_t)ASN1_STRING_length(*content);
    BIO *out = BIO_new(BIO_s_mem());
    int legacy = 0;
    sceplab_error e;
    envelope_algorithms(ed, elen, rq);
    if((!strcmp(rq->cipher, "des") && !(flags & SCEPLAB_SCEP_ALLOW_DES)) || !strcmp(rq->cipher, "unknown"))
      refuse(rq, SCEPLAB_FAIL_BADALG, "content cipher not accepted", rq->cipher);
    else if(out && sceplab_envelope_open(ed, elen, ra_key, ra_cert, out, &legacy, &e) == 0) {
      char *d = NULL;
      long dl = BIO_get_mem_data(out, &d);
      if(dl > 0 && (rq->content = malloc((size_t)dl)) != NULL) {
        memcpy(rq->content, d, (size_t)dl);
        rq->content_len = (size_t)dl;
      }
    }
    else
      refuse(rq, SCEPLAB_FAIL_BADMESSAGECHECK, "the envelope does not open with the RA key", e.msg);
    BIO_free(out);
  }
  else if(rq->fail_info < 0 && rq->message_type != SCEPLAB_MSG_CERTREP)
    refuse(rq, SCEPLAB_FAIL_BADREQUEST, "no enveloped content", NULL);
  if(rq->content && (rq->message_type == SCEPLAB_MSG_PKCSREQ || rq->message_type == SCEPLAB_MSG_RENEWALREQ)) {
    const unsigned char *c = rq->content;
    int fast = sceplab_pki_rsa_decode_enter();
    X509_REQ *req = d2i_X509_REQ(NULL, &c, (long)rq->content_len);
    sceplab_pki_rsa_decode_leave(fast);
    if(!req)
      refuse(rq, SCEPLAB_FAIL_BADREQUEST, "the envelope holds no PKCS#10 request", NULL);
    else if(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1)
      refuse(rq, SCEPLAB_FAIL_BADMESSAGECHECK, "the PKCS#10 request's signature does not verify", NULL);
    else {
      rq->challenge = challenge_of(req);
      rq->csr = req; /* kept: parsing a request costs OpenSSL 3.0 a key decoder, once is enough */
      req = NULL;
    }
    X509_REQ_free(req);
  }
  if(rq->content && (rq->message_type == SCEPLAB_MSG_GETCERT || rq->message_type == SCEPLAB_MSG_GETCRL)) {
    const unsigned char *c = rq->content;
    PKCS7_ISSUER_AND_SERIAL *ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &c, (long)rq->content_len);
    if(!ias)
      refuse(rq, SCEPLAB_FAIL_BADREQUEST, "the envelope holds no IssuerAndSerialNumber", NULL);
    else
      rq->serial = ASN1_INTEGER_dup(ias->serial);
    PKCS7_ISSUER_AND_SERIAL_free(ias);
  }
  sk_X509_pop_free(certs, X509_free);
  CMS_ContentInfo_free(cms);
  ERR_clear_error();
  return 0;
fail:
  sk_X509_pop_free(certs, X509_free);
  CMS_ContentInfo_free(cms);
  sceplab_scep_request_free(rq);
  ERR_clear_error();
  return -1;
}

void sceplab_scep_request_free(sceplab_scep_request *rq)
{
  if(!rq)
    return;
  X509_free(rq->signer);
  X509_REQ_free(rq->csr);
  ASN1_INTEGER_free(rq->serial);
  free(rq->content);
  if(rq->challenge)
    OPENSSL_cleanse(rq->challenge, strlen(rq->challenge));
  free(rq->challenge);
  rq->signer = NULL;
  rq->csr = NULL;
  rq->serial = NULL;
  rq->content = NULL;
  rq->challenge = NULL;
}

unsigned char *sceplab_degenerate(X509 *const *certs, size_t ncerts, const unsigned char *crl_der, size_t crl_len,
                                  size_t *len, sceplab_error *err)
{
  PKCS7 *p7 = PKCS7_new();
  X509_CRL *crl = NULL;
  unsigned char *der = NULL, *p;
  size_t i;
  int n, ok = p7 && PKCS7_set_type(p7, NID_pkcs7_signed) && PKCS7_content_new(p7, NID_pkcs7_data);
  for(i = 0; ok && i < ncerts; i++)
    ok = PKCS7_add_certificate(p7, certs[i]);
  if(ok && crl_der) {
    const unsigned char *c = crl_der;
    ok = (crl = d2i_X509_CRL(NULL, &c, (long)crl_len)) != NULL && PKCS7_add_crl(p7, crl);
  }
  ok = ok && (n = i2d_PKCS7(p7, NULL)) > 0 && (der = malloc((size_t)n)) != NULL;
  if(ok) {
    p = der;
    i2d_PKCS7(p7, &p);
    *len = (size_t)n;
  }
  else
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot build a certificates-only PKCS#7");
  X509_CRL_free(crl);
  PKCS7_free(p7);
  return der;
}

unsigned char *sceplab_scep_reply(const sceplab_scep_request *rq, int pki_status, int fail_info,
                                  const unsigned char *content, size_t content_len, X509 *ra_cert, EVP_PKEY *ra_key,
                                  size_t *len, sceplab_error *err)
{
  sceplab_pkimsg_params pp;
  unsigned char nonce[SCEPLAB_NONCE_LEN];
  if(RAND_bytes(nonce, sizeof(nonce)) != 1)
    return (void)sceplab_err_set(err, SCEPLAB_E_CRYPTO, "no random bytes"), NULL;
  memset(&pp, 0, sizeof(pp));
  pp.message_type = SCEPLAB_MSG_CERTREP;
  pp.content = content;
  pp.content_len = content_len;
  pp.recipient = rq->signer;
  /* the reply uses the request's algorithms; AES-192 becomes AES-128, and single DES (accepted only
   * when allowed) 3DES: a reply is never weaker than 3DES */
  pp.cipher = !strcmp(rq->cipher, "aes256") || !strcmp(rq->cipher, "des3") ? rq->cipher
            : !strcmp(rq->cipher, "des") ? "des3" : "aes128";
  pp.oaep = rq->oaep;
  pp.digest = rq->digest[0] ? rq->digest : "sha256";
  pp.signer_cert = ra_cert;
  pp.signer_key = ra_key;
  pp.transaction_id = rq->transaction_id;
  pp.sender_nonce = nonce;
  pp.recipient_nonce = rq->has_nonce ? rq->sender_nonce : NULL;
  pp.pki_status = pki_status;
  pp.fail_info = pki_status == SCEPLAB_STATUS_FAILURE ? fail_info : -1;
  pp.no_content = pki_status != SCEPLAB_STATUS_SUCCESS || !content;
  return sceplab_pkimsg_build(&pp, len, err);
}
