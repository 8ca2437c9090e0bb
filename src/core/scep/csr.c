/* The client's requests: PKCS#10 CSRs (subject, SANs with the Microsoft UPN otherName, EKU,
 * key usage, challengePassword, template name), the self-signed signer, the transaction ID. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "scep/scep_int.h"

const EVP_MD *sceplab_digest_by_name(const char *name)
{
  if(!name || strcasecmp(name, "sha256") == 0 || strcasecmp(name, "SHA-256") == 0)
    return EVP_sha256();
  if(strcasecmp(name, "sha512") == 0 || strcasecmp(name, "SHA-512") == 0)
    return EVP_sha512();
  if(strcasecmp(name, "sha1") == 0 || strcasecmp(name, "SHA-1") == 0)
    return EVP_sha1();
  return NULL;
}

static int add_ext(STACK_OF(X509_EXTENSION) **exts, int nid, int crit, void *value)
{
  X509_EXTENSION *ext = X509V3_EXT_i2d(nid, crit, value);
  if(!ext)
    return -1;
  if(!X509v3_add_ext(exts, ext, -1)) {
    X509_EXTENSION_free(ext);
    return -1;
  }
  X509_EXTENSION_free(ext);
  return 0;
}

static GENERAL_NAME *make_san(const sceplab_san *s, sceplab_error *err)
{
  GENERAL_NAME *gn = NULL;
  if(strcmp(s->type, "email") == 0 || strcmp(s->type, "dns") == 0 || strcmp(s->type, "uri") == 0) {
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    int t = strcmp(s->type, "email") == 0 ? GEN_EMAIL : strcmp(s->type, "dns") == 0 ? GEN_DNS : GEN_URI;
    if(!ia5 || !ASN1_STRING_set(ia5, s->value, -1) || !(gn = GENERAL_NAME_new())) {
      ASN1_IA5STRING_free(ia5);
      return NULL;
    }
    GENERAL_NAME_set0_value(gn, t, ia5);
  }
  else if(strcmp(s->type, "ip") == 0) {
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s->value);
    if(!ip) {
      sceplab_err_set(err, SCEPLAB_E_INPUT, "SAN ip:%s is not an IP address", s->value);
      return NULL;
    }
    gn = GENERAL_NAME_new();
    if(gn)
      GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
    else
      ASN1_OCTET_STRING_free(ip);
  }
  else if(strcmp(s->type, "upn") == 0) {
    /* Microsoft UPN: otherName 1.3.6.1.4.1.311.20.2.3 with a UTF8String */
    ASN1_TYPE *val = ASN1_TYPE_new();
    ASN1_UTF8STRING *u = ASN1_UTF8STRING_new();
    ASN1_OBJECT *oid = OBJ_txt2obj(OID_MS_UPN, 1);
    gn = GENERAL_NAME_new();
    if(!val || !u || !oid || !gn || !ASN1_STRING_set(u, s->value, -1)) {
      ASN1_TYPE_free(val);
      ASN1_UTF8STRING_free(u);
      ASN1_OBJECT_free(oid);
      GENERAL_NAME_free(gn);
      return NULL;
    }
    ASN1_TYPE_set(val, V_ASN1_UTF8STRING, u);
    GENERAL_NAME_set0_othername(gn, oid, val);
  }
  else
    sceplab_err_set(err, SCEPLAB_E_INPUT, "SAN type '%s': expected email, dns, uri, upn or ip", s->type);
  return gn;
}

static int key_usage_bit(const char *name)
{
  static const char *const names[] = {"digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
                                      "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"};
  int i;
  for(i = 0; i < 9; i++)
    if(strcmp(name, names[i]) == 0)
      return i;
  return -1;
}

unsigned char *sceplab_csr_build(const sceplab_csr_params *p, EVP_PKEY *key, size_t *len, sceplab_error *err)
{
  X509_REQ *req = X509_REQ_new();
  X509_NAME *name = NULL;
  STACK_OF(X509_EXTENSION) *exts = NULL;
  const EVP_MD *md = sceplab_digest_by_name(p->digest);
  unsigned char *der = NULL, *out = NULL;
  size_t i;
  int n;
  if(!req)
    return (void)sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory"), NULL;
  if(!md) {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "digest '%s': expected sha256, sha512 or sha1", p->digest);
    goto done;
  }
  if(!(name = sceplab_dn_parse(p->subject, err)))
    goto done;
  if(!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, key))
    goto ossl;
  if(p->nsans) {
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    for(i = 0; gens && i < p->nsans; i++) {
      GENERAL_NAME *gn = make_san(&p->sans[i], err);
      if(!gn) {
        GENERAL_NAMES_free(gens);
        if(err && err->code == SCEPLAB_OK)
          sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
        goto done;
      }
      if(!sk_GENERAL_NAME_push(gens, gn)) {
        GENERAL_NAME_free(gn);
        GENERAL_NAMES_free(gens);
        goto ossl;
      }
    }
    if(!gens)
      goto ossl;
    n = add_ext(&exts, NID_subject_alt_name, 0, gens);
    GENERAL_NAMES_free(gens);
    if(n)
      goto ossl;
  }
  if(p->nekus) {
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    for(i = 0; eku && i < p->nekus; i++) {
      ASN1_OBJECT *o = OBJ_txt2obj(p->ekus[i], 0);
      if(!o) {
        sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
        sceplab_err_set(err, SCEPLAB_E_INPUT, "EKU '%s' is not an OID or a known name", p->ekus[i]);
        goto done;
      }
      if(!sk_ASN1_OBJECT_push(eku, o)) {
        ASN1_OBJECT_free(o);
        sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
        goto ossl;
      }
    }
    if(!eku)
      goto ossl;
    n = add_ext(&exts, NID_ext_key_usage, 0, eku);
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    if(n)
      goto ossl;
  }
  if(p->nkey_usage) {
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    for(i = 0; ku && i < p->nkey_usage; i++) {
      int bit = key_usage_bit(p->key_usage[i]);
      if(bit < 0) {
        ASN1_BIT_STRING_free(ku);
        sceplab_err_set(err, SCEPLAB_E_INPUT, "key usage '%s' is not a key usage name", p->key_usage[i]);
        goto done;
      }
      if(!ASN1_BIT_STRING_set_bit(ku, bit, 1)) {
        ASN1_BIT_STRING_free(ku);
        goto ossl;
      }
    }
    if(!ku)
      goto ossl;
    n = add_ext(&exts, NID_key_usage, 1, ku);
    ASN1_BIT_STRING_free(ku);
    if(n)
      goto ossl;
  }
  if(p->template_name) {
    /* Microsoft "certificate template name" (v1): UTF-16 of the whole name, as the CA writes it */
    X509_EXTENSION *ext = sceplab_template_name_ext(p->template_name);
    if(!ext) {
      sceplab_err_set(err, SCEPLAB_E_INPUT, "template name '%s' is not UTF-8 text", p->template_name);
      goto done;
    }
    n = X509v3_add_ext(&exts, ext, -1) != NULL;
    X509_EXTENSION_free(ext);
    if(!n)
      goto ossl;
  }
  if(exts && !X509_REQ_add_extensions(req, exts))
    goto ossl;
  if(p->challenge) {
    int printable = 1;
    const char *c;
    for(c = p->challenge; *c; c++)
      if(!isalnum((unsigned char)*c) && !strchr(" '()+,-./:=?", *c))
        printable = 0;
    if(!X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
                                  printable ? V_ASN1_PRINTABLESTRING : MBSTRING_UTF8,
                                  (const unsigned char *)p->challenge, (int)strlen(p->challenge)))
      goto ossl;
  }
  if(!X509_REQ_sign(req, key, EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : md))
    goto ossl;
  n = i2d_X509_REQ(req, &der);
  if(n <= 0)
    goto ossl;
  out = malloc((size_t)n);
  if(out) {
    memcpy(out, der, (size_t)n);
    *len = (size_t)n;
  }
  goto done;
ossl:
  sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot build the certificate request");
done:
  OPENSSL_free(der);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_NAME_free(name);
  X509_REQ_free(req);
  ERR_clear_error();
  return out;
}

X509 *sceplab_selfsigned(EVP_PKEY *key, const X509_NAME *subject, const char *digest, sceplab_error *err)
{
  X509 *x = X509_new();
  X509_NAME *name = NULL;
  unsigned char serial[8];
  BIGNUM *bn = NULL;
  const EVP_MD *md = sceplab_digest_by_name(digest);
  if(!x || !md)
    goto fail;
  if(!X509_set_version(x, 2) || RAND_bytes(serial, sizeof(serial)) != 1)
    goto fail;
  serial[0] &= 0x7f;
  bn = BN_bin2bn(serial, sizeof(serial), NULL);
  if(!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
    goto fail;
  if(subject && X509_NAME_entry_count(subject) > 0)
    name = X509_NAME_dup(subject);
  else {
    /* An empty subject is legal in a CSR but makes a useless signer: name it. */
    name = X509_NAME_new();
    if(name && !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sceplab SCEP signer", -1, -1, 0))
      goto fail;
  }
  if(!name || !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name))
    goto fail;
  if(!X509_gmtime_adj(X509_getm_notBefore(x), -3600) || !X509_gmtime_adj(X509_getm_notAfter(x), 86400) ||
     !X509_set_pubkey(x, key) || !X509_sign(x, key, md))
    goto fail;
  X509_NAME_free(name);
  BN_free(bn);
  return x;
fail:
  sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot create the self-signed signer certificate");
  X509_NAME_free(name);
  BN_free(bn);
  X509_free(x);
  return NULL;
}

char *sceplab_transaction_id(EVP_PKEY *key)
{
  unsigned char *der = NULL, md[32];
  unsigned int mdlen = 0;
  int n = i2d_PUBKEY(key, &der);
  char *hex = NULL;
  if(n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL))
    hex = sceplab_hex_encode(md, mdlen, 1);
  OPENSSL_free(der);
  return hex;
}
