/* What the store keeps instead of the thing itself: a request's identity (the digests of its
 * keys and of its CSR, ca.h's sceplab_req_id) and a one-time password's digest. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca_int.h"

static void hex_of(const unsigned char *md, unsigned n, char *out)
{
  unsigned i;
  for(i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  out[2 * n] = '\0';
}

static int sha256_hex(const unsigned char *d, size_t n, char out[65])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if(EVP_Digest(d, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
    return -1;
  hex_of(md, mdlen, out);
  return 0;
}

int ca_key_id(EVP_PKEY *k, char out[65])
{
  unsigned char *der = NULL;
  int n = k ? i2d_PUBKEY(k, &der) : -1, rc;
  if(n <= 0)
    return -1;
  rc = sha256_hex(der, (size_t)n, out);
  OPENSSL_free(der);
  return rc;
}

/* ca_key_id for a key parsed with its SubjectPublicKeyInfo, without OpenSSL 3's encoder (whose
 * lookups by name cost as much as a tenth of an enrollment): the structure as parsed, written out
 * again, is what i2d_PUBKEY writes for an RSA key with its NULL parameters (the decoder took the
 * key, so its integers were minimal DER). Anything else goes through the encoder. */
static int spki_id(X509_PUBKEY *xp, EVP_PKEY *k, char out[65])
{
  ASN1_OBJECT *obj = NULL;
  X509_ALGOR *alg = NULL;
  const void *pval = NULL;
  unsigned char *der = NULL;
  int ptype = V_ASN1_UNDEF, n, rc;
  if(!xp || !X509_PUBKEY_get0_param(&obj, NULL, NULL, &alg, xp))
    return ca_key_id(k, out);
  X509_ALGOR_get0((const ASN1_OBJECT **)&obj, &ptype, &pval, alg);
  if(OBJ_obj2nid(obj) != NID_rsaEncryption || ptype != V_ASN1_NULL || (n = i2d_X509_PUBKEY(xp, &der)) <= 0)
    return ca_key_id(k, out);
  rc = sha256_hex(der, (size_t)n, out);
  OPENSSL_free(der);
  return rc;
}

/* The digest of a CSR's CertificationRequestInfo, sliced from its DER as it came: a client that
 * signs the same request again (ECDSA signatures differ each time) sends the same request. */
int ca_csr_id(const unsigned char *der, size_t n, char out[65])
{
  const unsigned char *p = der, *tbs;
  long len = 0;
  int tag = 0, cls = 0;
  /* anything but definite-length SEQUENCEs (BER a parser let through): the whole request */
  if(n > 0x7fffffff || (ASN1_get_object(&p, &len, &tag, &cls, (long)n) & 0x81) || tag != V_ASN1_SEQUENCE)
    return sha256_hex(der, n, out);
  tbs = p;
  if((ASN1_get_object(&p, &len, &tag, &cls, (long)(n - (size_t)(p - der))) & 0x81) || tag != V_ASN1_SEQUENCE)
    return sha256_hex(der, n, out);
  return sha256_hex(tbs, (size_t)(p - tbs) + (size_t)len, out);
}

int sceplab_req_id_make(sceplab_req_id *id, const char *txid, const char *message_type, X509_REQ *req,
                        const unsigned char *csr, size_t csrlen, EVP_PKEY *signer, sceplab_error *err)
{
  EVP_PKEY *key = X509_REQ_get0_pubkey(req);
  memset(id, 0, sizeof(*id));
  id->transaction_id = txid;
  id->message_type = message_type;
  if(spki_id(X509_REQ_get_X509_PUBKEY(req), key, id->key) != 0 || ca_csr_id(csr, csrlen, id->csr) != 0 ||
     /* a self-signed requester signs with the CSR's key: its digest is the same */
     (signer && key && EVP_PKEY_eq(signer, key) == 1 ? (memcpy(id->signer, id->key, sizeof(id->signer)), 0)
                                                     : ca_key_id(signer, id->signer)) != 0) {
    ERR_clear_error();
    return sceplab_err_set(err, SCEPLAB_E_CRYPTO, "cannot digest the request's keys or CSR"), -1;
  }
  return 0;
}

int ca_csr_ids(const unsigned char *der, size_t n, char key[65], char csr[65])
{
  const unsigned char *p = der;
  int fast = sceplab_pki_rsa_decode_enter(); /* pki/rsa_decode.c */
  X509_REQ *req = n < 0x7fffffff ? d2i_X509_REQ(NULL, &p, (long)n) : NULL;
  int rc;
  sceplab_pki_rsa_decode_leave(fast);
  rc = req && spki_id(X509_REQ_get_X509_PUBKEY(req), X509_REQ_get0_pubkey(req), key) == 0 && ca_csr_id(der, n, csr) == 0 ? 0 : -1;
  X509_REQ_free(req);
  ERR_clear_error();
  return rc;
}

void ca_challenge_digest(const char *pw, char out[CA_CHALLENGE_DIGEST_LEN])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0, i;
  EVP_Digest(pw, strlen(pw), md, &len, EVP_sha256(), NULL);
  snprintf(out, CA_CHALLENGE_DIGEST_LEN, CA_CHALLENGE_PREFIX);
  for(i = 0; i < len && i < 32; i++)
    snprintf(out + strlen(CA_CHALLENGE_PREFIX) + 2 * i, 3, "%02x", md[i]);
  OPENSSL_cleanse(md, sizeof(md));
}
