/* SCEP client protocol (RFC 8894): keys, requests, pkiMessages and strict reply verification. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "internal.h"

#define OID_SCEP_MESSAGETYPE "2.16.840.1.113733.1.9.2"
#define OID_SCEP_PKISTATUS "2.16.840.1.113733.1.9.3"
#define OID_SCEP_FAILINFO "2.16.840.1.113733.1.9.4"
#define OID_SCEP_SENDERNONCE "2.16.840.1.113733.1.9.5"
#define OID_SCEP_RECIPIENTNONCE "2.16.840.1.113733.1.9.6"
#define OID_SCEP_TRANSID "2.16.840.1.113733.1.9.7"
#define OID_FAILINFOTEXT "1.3.6.1.5.5.7.24.1"
#define OID_MS_UPN "1.3.6.1.4.1.311.20.2.3"
#define OID_MS_TEMPLATE_NAME "1.3.6.1.4.1.311.20.2"

/* ---- keys ---------------------------------------------------------------------------------- */

EVP_PKEY *sceplab_key_generate(const char *spec, sceplab_error *err)
{
  EVP_PKEY *pk = NULL;
  if(spec && strncmp(spec, "rsa:", 4) == 0) {
    int bits = atoi(spec + 4);
    if(bits != 1024 && bits != 2048 && bits != 3072 && bits != 4096) {
      sceplab_err_set(err, SCEPLAB_E_USAGE, "key type '%s': RSA size must be 1024, 2048, 3072 or 4096", spec);
      return NULL;
    }
    pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
  }
  else if(spec && (strcmp(spec, "ec:p256") == 0 || strcmp(spec, "ec:p384") == 0))
    pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", strcmp(spec, "ec:p256") == 0 ? "P-256" : "P-384");
  else {
    sceplab_err_set(err, SCEPLAB_E_USAGE, "key type '%s': expected rsa:2048, rsa:4096, ec:p256 or ec:p384",
                    spec ? spec : "(none)");
    return NULL;
  }
  if(!pk)
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "key generation failed");
  return pk;
}

char *sceplab_key_pem(EVP_PKEY *key, int public_only, size_t *len)
{
  BIO *b = BIO_new(BIO_s_mem());
  char *data = NULL, *out = NULL;
  long n;
  if(!b)
    return NULL;
  if(public_only ? PEM_write_bio_PUBKEY(b, key) : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
    n = BIO_get_mem_data(b, &data);
    out = malloc((size_t)n + 1);
    if(out) {
      memcpy(out, data, (size_t)n);
      out[n] = '\0';
      if(len)
        *len = (size_t)n;
    }
  }
  BIO_free(b);
  return out;
}

/* ---- distinguished names ------------------------------------------------------------------- */

static int hexv(int c)
{
  return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

X509_NAME *sceplab_dn_parse(const char *dn, sceplab_error *err)
{
  X509_NAME *name = X509_NAME_new();
  const char *p = dn ? dn : "";
  char type[64], value[1024];
  int plus = 0;
  if(!name) {
    sceplab_err_set(err, SCEPLAB_E_NOMEM, "out of memory");
    return NULL;
  }
  while(*p == ' ')
    p++;
  while(*p) {
    size_t t = 0, v = 0;
    int quoted = 0;
    while(*p == ' ')
      p++;
    while(*p && *p != '=' && t + 1 < sizeof(type))
      type[t++] = *p++;
    while(t && type[t - 1] == ' ')
      t--;
    type[t] = '\0';
    if(*p != '=' || !t) {
      sceplab_err_set(err, SCEPLAB_E_INPUT, "subject '%s': expected TYPE=value at offset %ld", dn, (long)(p - dn));
      goto fail;
    }
    p++;
    while(*p == ' ')
      p++;
    if(*p == '"') {
      quoted = 1;
      p++;
    }
    for(;;) {
      if(!*p) {
        if(quoted) {
          sceplab_err_set(err, SCEPLAB_E_INPUT, "subject '%s': unterminated quote", dn);
          goto fail;
        }
        break;
      }
      if(quoted && *p == '"') {
        p++;
        while(*p == ' ')
          p++;
        break;
      }
      if(!quoted && (*p == ',' || *p == ';' || *p == '+'))
        break;
      if(*p == '\\' && p[1]) {
        if(hexv((unsigned char)p[1]) >= 0 && p[2] && hexv((unsigned char)p[2]) >= 0) {
          if(v + 1 < sizeof(value))
            value[v++] = (char)(hexv((unsigned char)p[1]) << 4 | hexv((unsigned char)p[2]));
          p += 3;
        }
        else {
          if(v + 1 < sizeof(value))
            value[v++] = p[1];
          p += 2;
        }
        continue;
      }
      if(v + 1 < sizeof(value))
        value[v++] = *p;
      p++;
    }
    if(!quoted)
      while(v && value[v - 1] == ' ')
        v--;
    value[v] = '\0';
    /* '+' continues the RDN just added; anything else starts a new one at the end. */
    if(!X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8, (const unsigned char *)value, (int)v, -1, plus ? -1 : 0)) {
      sceplab_err_openssl(err, SCEPLAB_E_INPUT, "subject '%s': unknown attribute type '%s'", dn, type);
      goto fail;
    }
    plus = *p == '+';
    if(*p == ',' || *p == ';' || *p == '+')
      p++;
  }
  return name;
fail:
  X509_NAME_free(name);
  return NULL;
}

/* ---- requests ------------------------------------------------------------------------------ */

static const EVP_MD *digest_by_name(const char *name)
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
  const EVP_MD *md = digest_by_name(p->digest);
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
  X509_REQ_set_version(req, 0);
  X509_REQ_set_subject_name(req, name);
  X509_REQ_set_pubkey(req, key);
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
      sk_GENERAL_NAME_push(gens, gn);
    }
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
      sk_ASN1_OBJECT_push(eku, o);
    }
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
      ASN1_BIT_STRING_set_bit(ku, bit, 1);
    }
    n = add_ext(&exts, NID_key_usage, 1, ku);
    ASN1_BIT_STRING_free(ku);
    if(n)
      goto ossl;
  }
  if(p->template_name) {
    /* Microsoft "certificate template name" (v1), a BMPString */
    ASN1_OBJECT *oid = OBJ_txt2obj(OID_MS_TEMPLATE_NAME, 1);
    ASN1_TYPE *t = ASN1_TYPE_new();
    ASN1_STRING *bmp = ASN1_STRING_type_new(V_ASN1_BMPSTRING);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    unsigned char *enc = NULL;
    int elen = -1;
    size_t tl = strlen(p->template_name), k;
    unsigned char *u16 = malloc(tl * 2 + 1);
    for(k = 0; u16 && k < tl; k++) {
      u16[2 * k] = 0;
      u16[2 * k + 1] = (unsigned char)p->template_name[k];
    }
    if(u16 && t && bmp && ASN1_STRING_set(bmp, u16, (int)(tl * 2))) {
      ASN1_TYPE_set(t, V_ASN1_BMPSTRING, bmp);
      bmp = NULL;
      elen = i2d_ASN1_TYPE(t, &enc);
    }
    if(elen > 0 && oid && os && ASN1_OCTET_STRING_set(os, enc, elen)) {
      X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
      if(ext) {
        X509v3_add_ext(&exts, ext, -1);
        X509_EXTENSION_free(ext);
      }
    }
    free(u16);
    OPENSSL_free(enc);
    ASN1_STRING_free(bmp);
    ASN1_TYPE_free(t);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(oid);
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
  const EVP_MD *md = digest_by_name(digest);
  if(!x || !md)
    goto fail;
  X509_set_version(x, 2);
  if(RAND_bytes(serial, sizeof(serial)) != 1)
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
    if(name)
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sceplab SCEP signer", -1, -1, 0);
  }
  if(!name || !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name))
    goto fail;
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  if(!X509_set_pubkey(x, key) || !X509_sign(x, key, md))
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

/* ---- pkiMessage ---------------------------------------------------------------------------- */

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
  const EVP_MD *md = digest_by_name(p->digest);
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

/* ---- replies ------------------------------------------------------------------------------- */

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

static char *certs_pem(STACK_OF(X509) *sk)
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
  if(n > 0x7fffffff || !(cms = d2i_CMS_ContentInfo(NULL, &p, (long)n)))
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
    p7 = d2i_PKCS7(NULL, &q, plen);
    if(!p7 || !PKCS7_type_is_signed(p7) || !p7->d.sign) {
      PKCS7_free(p7);
      BIO_free(plain);
      FAIL("envelope", "decrypted content is not a degenerate PKCS#7");
    }
    certs = p7->d.sign->cert;
    crls = p7->d.sign->crl;
    if(sk_X509_num(certs) > 0) {
      int i, found = -1;
      char *chain = certs_pem(certs);
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
        char *pem;
        sk_X509_push(one, sk_X509_value(certs, found));
        pem = certs_pem(one);
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

/* ---- GetCACaps and GetCACert --------------------------------------------------------------- */

sceplab_val *sceplab_caps_parse(const char *text, size_t n)
{
  sceplab_val *v = sceplab_val_obj(), *list = sceplab_val_arr();
  int aes = 0, des3 = 0, sha256 = 0, sha512 = 0, sha1 = 0, post = 0, renewal = 0, next = 0, std = 0, update = 0;
  size_t i = 0;
  while(i < n) {
    size_t s = i, e;
    char word[64];
    while(i < n && text[i] != '\n' && text[i] != '\r')
      i++;
    e = i;
    while(i < n && (text[i] == '\n' || text[i] == '\r'))
      i++;
    while(s < e && isspace((unsigned char)text[s]))
      s++;
    while(e > s && isspace((unsigned char)text[e - 1]))
      e--;
    if(e == s || e - s >= sizeof(word))
      continue;
    memcpy(word, text + s, e - s);
    word[e - s] = '\0';
    sceplab_arr_push_str(list, word);
    if(!strcasecmp(word, "AES")) aes = 1;
    else if(!strcasecmp(word, "DES3")) des3 = 1;
    else if(!strcasecmp(word, "SHA-256")) sha256 = 1;
    else if(!strcasecmp(word, "SHA-512")) sha512 = 1;
    else if(!strcasecmp(word, "SHA-1")) sha1 = 1;
    else if(!strcasecmp(word, "POSTPKIOperation")) post = 1;
    else if(!strcasecmp(word, "Renewal")) renewal = 1;
    else if(!strcasecmp(word, "GetNextCACert")) next = 1;
    else if(!strcasecmp(word, "SCEPStandard")) std = 1;
    else if(!strcasecmp(word, "Update")) update = 1;
  }
  if(std)
    aes = post = sha256 = 1;
  sceplab_obj_set(v, "caps", list);
  sceplab_obj_set_bool(v, "aes", aes);
  sceplab_obj_set_bool(v, "des3", des3);
  sceplab_obj_set_bool(v, "sha256", sha256);
  sceplab_obj_set_bool(v, "sha512", sha512);
  sceplab_obj_set_bool(v, "sha1", sha1);
  sceplab_obj_set_bool(v, "post", post);
  sceplab_obj_set_bool(v, "renewal", renewal);
  sceplab_obj_set_bool(v, "getnextca", next);
  sceplab_obj_set_bool(v, "scep_standard", std);
  sceplab_obj_set_bool(v, "update", update);
  return v;
}

static int has_ku(X509 *x, uint32_t bits)
{
  return (X509_get_extension_flags(x) & EXFLAG_KUSAGE) && (X509_get_key_usage(x) & bits);
}

static int is_ca(X509 *x)
{
  return X509_check_ca(x) > 0;
}

sceplab_val *sceplab_ca_select(const unsigned char *buf, size_t n, int ndes, sceplab_error *err)
{
  STACK_OF(X509) *sk = sceplab_read_certs(buf, n, err);
  sceplab_val *v, *reasons, *all;
  X509 *ca = NULL, *recip = NULL, *signer = NULL;
  int i;
  char *pem;
  if(!sk)
    return NULL;
  v = sceplab_val_obj();
  reasons = sceplab_val_arr();
  all = sceplab_val_arr();
  /* The CA: the CA certificate that issued the RA certificates, else the first CA certificate,
   * else the only certificate there is. */
  for(i = 0; i < sk_X509_num(sk) && !ca; i++) {
    X509 *c = sk_X509_value(sk, i);
    int j;
    for(j = 0; is_ca(c) && j < sk_X509_num(sk) && !ca; j++)
      if(!is_ca(sk_X509_value(sk, j)) && X509_check_issued(c, sk_X509_value(sk, j)) == X509_V_OK)
        ca = c;
  }
  for(i = 0; i < sk_X509_num(sk) && !ca; i++)
    if(is_ca(sk_X509_value(sk, i)))
      ca = sk_X509_value(sk, i);
  if(!ca)
    ca = sk_X509_value(sk, 0);
  for(i = 0; i < sk_X509_num(sk); i++) {
    X509 *c = sk_X509_value(sk, i);
    if(is_ca(c))
      continue;
    if(!recip && has_ku(c, KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT))
      recip = c;
    if(!signer && has_ku(c, KU_DIGITAL_SIGNATURE))
      signer = c;
  }
  if(ndes) {
    /* NDES: RA certificates whose key usage does not say what they are for are still the RA. */
    for(i = 0; i < sk_X509_num(sk); i++) {
      X509 *c = sk_X509_value(sk, i);
      if(is_ca(c))
        continue;
      if(!recip) {
        recip = c;
        sceplab_arr_push_str(reasons, "recipient: first RA certificate (NDES mode ignores its key usage)");
      }
      if(!signer) {
        signer = c;
        sceplab_arr_push_str(reasons, "signer: first RA certificate (NDES mode ignores its key usage)");
      }
    }
  }
  if(recip)
    sceplab_arr_push_str(reasons, "recipient: RA certificate with keyEncipherment/dataEncipherment");
  else {
    recip = ca;
    sceplab_arr_push_str(reasons, "recipient: the CA (no RA encryption certificate)");
  }
  if(signer)
    sceplab_arr_push_str(reasons, "signer: RA certificate with digitalSignature");
  else {
    signer = ca;
    sceplab_arr_push_str(reasons, "signer: the CA (no RA signing certificate)");
  }
  for(i = 0; i < sk_X509_num(sk); i++) {
    pem = sceplab_cert_pem(sk_X509_value(sk, i));
    sceplab_arr_push_str(all, pem);
    free(pem);
  }
  pem = sceplab_cert_pem(ca);
  sceplab_obj_set_str(v, "ca", pem);
  free(pem);
  pem = sceplab_cert_pem(recip);
  sceplab_obj_set_str(v, "recipient", pem);
  free(pem);
  pem = sceplab_cert_pem(signer);
  sceplab_obj_set_str(v, "signer", pem);
  free(pem);
  sceplab_obj_set(v, "certificates", all);
  sceplab_obj_set(v, "reasons", reasons);
  sk_X509_pop_free(sk, X509_free);
  return sceplab_done(v, err);
}

unsigned char *sceplab_issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject, size_t *len)
{
  unsigned char *a = NULL, *b = NULL, *out = NULL, *p;
  int la = i2d_X509_NAME(issuer, &a), lb = i2d_X509_NAME(subject, &b);
  int total;
  if(la > 0 && lb > 0) {
    total = ASN1_object_size(1, la + lb, V_ASN1_SEQUENCE);
    out = malloc((size_t)total);
    if(out) {
      p = out;
      ASN1_put_object(&p, 1, la + lb, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
      memcpy(p, a, (size_t)la);
      memcpy(p + la, b, (size_t)lb);
      *len = (size_t)total;
    }
  }
  OPENSSL_free(a);
  OPENSSL_free(b);
  return out;
}

unsigned char *sceplab_issuer_and_serial(const X509_NAME *issuer, const ASN1_INTEGER *serial, size_t *len)
{
  PKCS7_ISSUER_AND_SERIAL *ias = PKCS7_ISSUER_AND_SERIAL_new();
  unsigned char *der = NULL, *out = NULL;
  int n;
  if(!ias)
    return NULL;
  X509_NAME_set(&ias->issuer, (X509_NAME *)issuer);
  ASN1_INTEGER_free(ias->serial);
  ias->serial = ASN1_INTEGER_dup(serial);
  n = i2d_PKCS7_ISSUER_AND_SERIAL(ias, &der);
  if(n > 0 && (out = malloc((size_t)n))) {
    memcpy(out, der, (size_t)n);
    *len = (size_t)n;
  }
  OPENSSL_free(der);
  PKCS7_ISSUER_AND_SERIAL_free(ias);
  return out;
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

int sceplab_key_matches_cert(EVP_PKEY *key, const unsigned char *cert, size_t n, sceplab_error *err)
{
  X509 *x = sceplab_cert_load(cert, n, err);
  EVP_PKEY *pub;
  int same;
  if(!x)
    return -1;
  pub = X509_get0_pubkey(x);
  same = pub && EVP_PKEY_eq(pub, key) == 1;
  X509_free(x);
  return same;
}

char *sceplab_cert_pem(X509 *x)
{
  STACK_OF(X509) *one = sk_X509_new_null();
  char *pem;
  if(!one)
    return NULL;
  sk_X509_push(one, x);
  pem = certs_pem(one);
  sk_X509_free(one);
  return pem;
}
