/* The certificate profile: what a request may ask for, as a CA template allows, and the
 * certificate issued for it (ca.h says the rules). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca_int.h"

#define KU_CA ((1u << 5) | (1u << 6)) /* keyCertSign, cRLSign: a CA's */

static const char *const ku_names[9] = {"digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
                                        "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"};

static const struct { const char *name; unsigned bit; } san_names[] = {
  {"email", SCEPLAB_SAN_EMAIL}, {"dns", SCEPLAB_SAN_DNS}, {"uri", SCEPLAB_SAN_URI}, {"ip", SCEPLAB_SAN_IP},
  {"upn", SCEPLAB_SAN_UPN}, {"dirname", SCEPLAB_SAN_DIRNAME}, {"rid", SCEPLAB_SAN_RID}, {"othername", SCEPLAB_SAN_OTHERNAME},
};

int sceplab_key_usage_bit(const char *name)
{
  int i;
  for(i = 0; i < 9; i++)
    if(name && !strcmp(name, ku_names[i]))
      return i;
  return -1;
}

unsigned sceplab_san_type(const char *name)
{
  size_t i;
  for(i = 0; i < sizeof(san_names) / sizeof(san_names[0]); i++)
    if(name && !strcmp(name, san_names[i].name))
      return san_names[i].bit;
  return 0;
}

void sceplab_cert_profile_default(sceplab_cert_profile *p)
{
  static const char *const ekus[] = {"clientAuth", "serverAuth", "emailProtection", "1.3.6.1.5.5.8.2.2" /* ipsecIKE */};
  size_t i;
  memset(p, 0, sizeof(*p));
  p->key_usage = 0x1f; /* digitalSignature .. keyAgreement */
  for(i = 0; i < sizeof(ekus) / sizeof(ekus[0]); i++)
    snprintf(p->eku[p->neku++], sizeof(p->eku[0]), "%s", ekus[i]);
  p->san = SCEPLAB_SAN_DNS | SCEPLAB_SAN_EMAIL | SCEPLAB_SAN_IP | SCEPLAB_SAN_URI;
}

static unsigned san_type_of(const GENERAL_NAME *gn)
{
  char oid[64];
  switch(gn->type) {
  case GEN_EMAIL: return SCEPLAB_SAN_EMAIL;
  case GEN_DNS: return SCEPLAB_SAN_DNS;
  case GEN_URI: return SCEPLAB_SAN_URI;
  case GEN_IPADD: return SCEPLAB_SAN_IP;
  case GEN_DIRNAME: return SCEPLAB_SAN_DIRNAME;
  case GEN_RID: return SCEPLAB_SAN_RID;
  case GEN_OTHERNAME:
    OBJ_obj2txt(oid, sizeof(oid), gn->d.otherName->type_id, 1);
    return !strcmp(oid, "1.3.6.1.4.1.311.20.2.3") ? SCEPLAB_SAN_UPN : SCEPLAB_SAN_OTHERNAME;
  }
  return 0; /* x400Address, ediPartyName: never issued */
}

static const char *san_type_name(unsigned t)
{
  size_t i;
  for(i = 0; i < sizeof(san_names) / sizeof(san_names[0]); i++)
    if(san_names[i].bit == t)
      return san_names[i].name;
  return "x400/ediParty";
}

static int has_star(const ASN1_STRING *s)
{
  return s && memchr(ASN1_STRING_get0_data(s), '*', (size_t)ASN1_STRING_length(s)) != NULL;
}

/* Whether the profile refuses req: 1 with why and the CA's error code, 0 when it may be issued.
 * Names the device chose stay out of why: it reaches logs and listings. */
static int refuses(sceplab_ca *ca, X509_REQ *req, const STACK_OF(X509_EXTENSION) *exts, const sceplab_cert_profile *pf,
                   char *why, size_t n, unsigned *code)
{
  const X509_NAME *subj = X509_REQ_get_subject_name(req);
  X509 *own[SCEPLAB_CA_TIERS + 1];
  BASIC_CONSTRAINTS *bc;
  ASN1_BIT_STRING *ku;
  GENERAL_NAMES *gens;
  int i, refused = 0;
  for(i = 0; i < SCEPLAB_CA_TIERS; i++)
    own[i] = ca->cert[i];
  own[SCEPLAB_CA_TIERS] = ca->next;
  *code = 0x80094001u; /* CERTSRV_E_BAD_REQUESTSUBJECT */
  for(i = 0; i <= SCEPLAB_CA_TIERS; i++)
    if(own[i] && X509_NAME_entry_count(subj) > 0 && X509_NAME_cmp(subj, X509_get_subject_name(own[i])) == 0) {
      char *t = ca_name_text(X509_get_subject_name(own[i]));
      snprintf(why, n, "the subject is the CA's (%s: %s)", i == SCEPLAB_CA_TIERS ? "next-ca" : ca_tier_file[i], t ? t : "?");
      free(t);
      return 1;
    }
  for(i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1); i >= 0 && !pf->wildcard;
      i = X509_NAME_get_index_by_NID(subj, NID_commonName, i))
    if(has_star(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i))))
      return snprintf(why, n, "a wildcard in the subject's common name, outside the profile"), 1;
  *code = 0x80094802u; /* CERTSRV_E_TEMPLATE_CONFLICT */
  /* an extension asked twice would be read once here (OpenSSL's lookup then finds none) and
   * copied twice into the certificate: RFC 5280 allows one of each */
  for(i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
    const ASN1_OBJECT *o = X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i));
    int j;
    for(j = i + 1; j < sk_X509_EXTENSION_num(exts); j++)
      if(OBJ_cmp(o, X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, j))) == 0) {
        char oid[80];
        OBJ_obj2txt(oid, sizeof(oid), o, 1);
        return snprintf(why, n, "the request asks for extension %s twice", oid), 1;
      }
  }
  if((bc = X509V3_get_d2i(exts, NID_basic_constraints, NULL, NULL)) != NULL) {
    refused = bc->ca != 0;
    BASIC_CONSTRAINTS_free(bc);
    if(refused)
      return snprintf(why, n, "the request asks for basicConstraints CA:TRUE: this CA issues end entities only"), 1;
  }
  else if(X509v3_get_ext_by_NID(exts, NID_basic_constraints, -1) >= 0)
    return snprintf(why, n, "the request's basicConstraints extension does not decode"), 1;
  if((ku = X509V3_get_d2i(exts, NID_key_usage, NULL, NULL)) != NULL) {
    int sign = ASN1_BIT_STRING_get_bit(ku, 5), crl = ASN1_BIT_STRING_get_bit(ku, 6);
    ASN1_BIT_STRING_free(ku);
    if(sign || crl)
      return snprintf(why, n, "the request asks for %s%s%s, a CA's key usage", sign ? "keyCertSign" : "",
                      sign && crl ? " and " : "", crl ? "cRLSign" : ""), 1;
  }
  else if(X509v3_get_ext_by_NID(exts, NID_key_usage, -1) >= 0)
    return snprintf(why, n, "the request's keyUsage extension does not decode"), 1;
  *code = 0x80094001u;
  if(!(gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL)) && X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1) >= 0)
    return snprintf(why, n, "the request's subjectAltName extension does not decode"), 1;
  if(gens) {
    for(i = 0; i < sk_GENERAL_NAME_num(gens) && !refused; i++) {
      const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
      unsigned t = san_type_of(gn);
      if(!(t & pf->san)) {
        char allowed[128] = "";
        size_t k;
        for(k = 0; k < sizeof(san_names) / sizeof(san_names[0]); k++)
          if(pf->san & san_names[k].bit)
            snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed), "%s%s", allowed[0] ? ", " : "",
                     san_names[k].name);
        snprintf(why, n, "the request asks for a %s SAN, outside the profile (%s)", san_type_name(t),
                 allowed[0] ? allowed : "no SANs");
        refused = 1;
      }
      else if(gn->type == GEN_DNS && !pf->wildcard && has_star(gn->d.dNSName)) {
        snprintf(why, n, "the request asks for a wildcard DNS name, outside the profile");
        refused = 1;
      }
    }
    GENERAL_NAMES_free(gens);
  }
  ERR_clear_error();
  return refused;
}

/* Appends name to a comma-separated list. */
static void list_add(char *list, size_t n, const char *name)
{
  snprintf(list + strlen(list), n - strlen(list), "%s%s", list[0] ? "," : "", name);
}

/* The key usages issued: those asked that the profile allows, else what the key does (RSA signs
 * and takes key transport, others sign), within the profile. */
static void issued_key_usage(X509_REQ *req, const STACK_OF(X509_EXTENSION) *exts, const sceplab_cert_profile *pf,
                             char *out, size_t n)
{
  ASN1_BIT_STRING *ku = X509V3_get_d2i(exts, NID_key_usage, NULL, NULL);
  unsigned bits = 0, allowed = pf->key_usage & ~KU_CA;
  int i;
  for(i = 0; ku && i < 9; i++)
    if(ASN1_BIT_STRING_get_bit(ku, i))
      bits |= 1u << i;
  ASN1_BIT_STRING_free(ku);
  if(!(bits &= allowed)) {
    /* RSA: digitalSignature and keyEncipherment; EC and others: digitalSignature */
    bits = (EVP_PKEY_get_base_id(X509_REQ_get0_pubkey(req)) == EVP_PKEY_RSA ? 0x5u : 0x1u) & allowed;
    if(!bits)
      bits = allowed;
  }
  snprintf(out, n, "critical");
  for(i = 0; i < 9; i++)
    if(bits & (1u << i))
      list_add(out, n, ku_names[i]);
  ERR_clear_error();
}

/* The EKUs issued: the policy's, else those asked that the profile allows, else the profile's
 * first: a certificate without an EKU would be good for any purpose. "" when there are none. */
static void issued_ekus(const STACK_OF(X509_EXTENSION) *exts, const sceplab_issue_params *ip,
                        const sceplab_cert_profile *pf, char *out, size_t n)
{
  EXTENDED_KEY_USAGE *eku;
  size_t k;
  int i;
  out[0] = '\0';
  if(ip && ip->nekus) {
    for(k = 0; k < ip->nekus; k++)
      list_add(out, n, ip->ekus[k]);
    return;
  }
  if((eku = X509V3_get_d2i(exts, NID_ext_key_usage, NULL, NULL)) != NULL) {
    for(i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
      const ASN1_OBJECT *asked = sk_ASN1_OBJECT_value(eku, i);
      for(k = 0; k < pf->neku; k++) {
        ASN1_OBJECT *o = OBJ_txt2obj(pf->eku[k], 0);
        int same = o && OBJ_cmp(o, asked) == 0;
        ASN1_OBJECT_free(o);
        if(same) {
          char oid[80];
          OBJ_obj2txt(oid, sizeof(oid), asked, 1);
          list_add(out, n, oid);
          break;
        }
      }
    }
    EXTENDED_KEY_USAGE_free(eku);
  }
  if(!out[0] && pf->neku)
    list_add(out, n, pf->eku[0]);
  ERR_clear_error();
}

/* The request's SubjectPublicKeyInfo copied into x as it was parsed: X509_set_pubkey would encode
 * the key anew and parse it back, through OpenSSL 3's encoder and decoder lookups (a tenth of an
 * enrollment). RSA (NULL parameters) and named-curve EC keys; anything else through the key. */
static int copy_pubkey(X509 *x, X509_REQ *req, EVP_PKEY *pub)
{
  X509_PUBKEY *from = X509_REQ_get_X509_PUBKEY(req), *to = X509_get_X509_PUBKEY(x);
  ASN1_OBJECT *obj = NULL;
  const unsigned char *bits = NULL;
  int nbits = 0, ptype = V_ASN1_UNDEF;
  const void *pval = NULL;
  X509_ALGOR *alg = NULL;
  unsigned char *copy;
  void *param = NULL;
  if(!from || !to || !X509_PUBKEY_get0_param(&obj, &bits, &nbits, &alg, from) || nbits <= 0)
    return X509_set_pubkey(x, pub);
  X509_ALGOR_get0(NULL, &ptype, &pval, alg);
  if(ptype == V_ASN1_OBJECT)
    param = OBJ_dup(pval);
  else if(ptype != V_ASN1_NULL)
    return X509_set_pubkey(x, pub);
  if((ptype == V_ASN1_OBJECT && !param) || !(copy = OPENSSL_memdup(bits, (size_t)nbits))) {
    ASN1_OBJECT_free(param);
    return 0;
  }
  if(!X509_PUBKEY_set0_param(to, OBJ_dup(obj), ptype, param, copy, nbits)) {
    ASN1_OBJECT_free(param);
    OPENSSL_free(copy);
    return 0;
  }
  return 1;
}

/* The certificate for a request, as the profile shapes it: the request's subject, key and SANs,
 * the key usages and EKUs it may have, never CA:TRUE. NULL with *refused set when the profile
 * refuses it (err says why), or with err alone when it cannot be made. */
X509 *ca_cert_for(sceplab_ca *ca, X509_REQ *req, const sceplab_issue_params *ip, unsigned *refused,
                  sceplab_error *err)
{
  X509 *issuer = ca->cert[SCEPLAB_CA_ISSUING], *x = NULL;
  EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
  STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
  sceplab_cert_profile dflt;
  const sceplab_cert_profile *pf = ip && ip->profile ? ip->profile : (sceplab_cert_profile_default(&dflt), &dflt);
  char why[256], ku[192], ekus[1100];
  int i, ok;
  if(refuses(ca, req, exts, pf, why, sizeof(why), refused)) {
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    sceplab_err_set(err, SCEPLAB_E_INPUT, "refused by the certificate profile: %s", why);
    return NULL;
  }
  *refused = 0;
  issued_key_usage(req, exts, pf, ku, sizeof(ku));
  issued_ekus(exts, ip, pf, ekus, sizeof(ekus));
  x = X509_new();
  ok = x && pub && X509_set_version(x, 2) && X509_set_subject_name(x, X509_REQ_get_subject_name(req)) &&
       X509_set_issuer_name(x, X509_get_subject_name(issuer)) && copy_pubkey(x, req, pub);
  if(ok) {
    time_t t = (time_t)ca_now(ip);
    ok = ca_random_serial(X509_get_serialNumber(x)) == 0 && X509_time_adj_ex(X509_getm_notBefore(x), 0, -300, &t) &&
         X509_time_adj_ex(X509_getm_notAfter(x), ip && ip->days > 0 ? ip->days : 365, 0, &t);
  }
  /* the SANs as the profile read them, encoded anew; every other requested extension is dropped */
  if(ok && (i = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1)) >= 0) {
    GENERAL_NAMES *gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
    ok = gens && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, X509_EXTENSION_get_critical(sk_X509_EXTENSION_value(exts, i)),
                               X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(gens);
  }
  if(ok && strcmp(ku, "critical") != 0)
    ok = ca_add_ext(x, issuer, NID_key_usage, ku) == 0;
  if(ok && ekus[0])
    ok = ca_add_ext(x, issuer, NID_ext_key_usage, ekus) == 0;
  ok = ok && ca_add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
       ca_add_ext(x, issuer, NID_subject_key_identifier, "hash") == 0 &&
       ca_add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") == 0 && ca_add_revinfo(ca, x) == 0;
  if(ok && ip && ip->template_name) {
    X509_EXTENSION *tmpl = sceplab_template_name_ext(ip->template_name);
    ok = tmpl && X509_add_ext(x, tmpl, -1);
    X509_EXTENSION_free(tmpl);
  }
  ok = ok && X509_sign(x, ca->key[SCEPLAB_CA_ISSUING], EVP_sha256()) > 0;
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if(!ok) {
    sceplab_err_openssl(err, SCEPLAB_E_CRYPTO, "cannot issue the certificate");
    X509_free(x);
    return NULL;
  }
  return x;
}
