/* The SCEP client protocol: names, requests, messages, and the strict verification of replies. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "helpers.h"
#include "pki/pki_int.h"

static X509 *cert_fixture(const char *rel)
{
  size_t n;
  unsigned char *b = fixture(rel, &n);
  sceplab_error err;
  X509 *x = sceplab_cert_load(b, n, &err);
  free(b);
  assert_non_null(x);
  return x;
}

static EVP_PKEY *key_fixture(const char *rel)
{
  size_t n;
  unsigned char *b = fixture(rel, &n);
  sceplab_error err;
  EVP_PKEY *k = sceplab_key_load(b, n, NULL, &err);
  free(b);
  assert_non_null(k);
  return k;
}

/* Every form a user hands --key: what it decodes to is the same key. */
typedef enum { FORM_PKCS8_PEM, FORM_TRAD_PEM, FORM_PKCS8_DER, FORM_TRAD_DER, FORM_ENC_PEM } key_form;

static unsigned char *key_in_form(EVP_PKEY *k, key_form form, size_t *n)
{
  BIO *b = BIO_new(BIO_s_mem());
  char *data = NULL;
  unsigned char *out;
  long len;
  switch(form) {
  case FORM_PKCS8_PEM: PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL); break;
  case FORM_TRAD_PEM: PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL); break;
  case FORM_PKCS8_DER: i2d_PKCS8PrivateKey_bio(b, k, NULL, NULL, 0, NULL, NULL); break;
  case FORM_TRAD_DER: i2d_PrivateKey_bio(b, k); break;
  case FORM_ENC_PEM: PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"pw"); break;
  }
  len = BIO_get_mem_data(b, &data);
  assert_true(len > 0);
  out = malloc((size_t)len);
  memcpy(out, data, (size_t)len);
  *n = (size_t)len;
  BIO_free(b);
  return out;
}

static void key_forms(void **state)
{
  EVP_PKEY *keys[2];
  int i, f;
  (void)state;
  keys[0] = key_fixture("pki/device.key");
  keys[1] = EVP_EC_gen("P-256");
  assert_non_null(keys[1]);
  for(i = 0; i < 2; i++) {
    for(f = FORM_PKCS8_PEM; f <= FORM_ENC_PEM; f++) {
      size_t n;
      unsigned char *b = key_in_form(keys[i], (key_form)f, &n);
      sceplab_error err;
      EVP_PKEY *k = sceplab_key_load(b, n, f == FORM_ENC_PEM ? "pw" : NULL, &err);
      assert_non_null(k);
      assert_int_equal(1, EVP_PKEY_eq(k, keys[i]));
      EVP_PKEY_free(k);
      if(f == FORM_ENC_PEM) {
        k = sceplab_key_load(b, n, NULL, &err);
        assert_null(k);
        assert_string_equal("the key is encrypted; give its passphrase", err.msg);
        k = sceplab_key_load(b, n, "wrong", &err);
        assert_null(k);
        assert_non_null(strstr(err.msg, "wrong passphrase"));
      }
      free(b);
    }
    EVP_PKEY_free(keys[i]);
  }
}

/* The DN as the decoders print it (encoded order, RFC 4514 escaping). */
static char *dn_text(const char *dn)
{
  sceplab_error err;
  X509_NAME *n = sceplab_dn_parse(dn, &err);
  BIO *b;
  char *data = NULL, *s;
  long len;
  if(!n)
    return NULL;
  b = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(b, n, 0, (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN);
  len = BIO_get_mem_data(b, &data);
  s = calloc(1, (size_t)len + 1);
  if(len > 0)
    memcpy(s, data, (size_t)len);
  BIO_free(b);
  X509_NAME_free(n);
  return s;
}

static void distinguished_names(void **state)
{
  char *s;
  sceplab_error err;
  (void)state;
  s = dn_text("CN=joymalya,O=Contoso");
  assert_string_equal(s, "CN=joymalya, O=Contoso"); /* encoded in the order written */
  free(s);
  s = dn_text("CN=Doe\\, John,OU=IT");           /* the escaped comma Intune profiles carry */
  assert_string_equal(s, "CN=Doe\\, John, OU=IT");
  free(s);
  s = dn_text("CN=\"Doe, John\",O=X");
  assert_string_equal(s, "CN=Doe\\, John, O=X");
  free(s);
  s = dn_text("CN=a+UID=b,O=c");
  assert_string_equal(s, "CN=a + UID=b, O=c");
  free(s);
  s = dn_text("CN=caf\\C3\\A9");
  assert_string_equal(s, "CN=caf\xC3\xA9");
  free(s);
  s = dn_text("");
  assert_string_equal(s, "");
  free(s);
  assert_null(sceplab_dn_parse("CN=\"open", &err));
  assert_non_null(strstr(err.msg, "unterminated quote"));
  assert_null(sceplab_dn_parse("novalue", &err));
  assert_null(sceplab_dn_parse("XYZ=1", &err));
  assert_non_null(strstr(err.msg, "unknown attribute type 'XYZ'"));
}

static void csr_round_trip(void **state)
{
  sceplab_error err;
  EVP_PKEY *k = sceplab_key_generate("ec:p256", &err);
  sceplab_san sans[] = {{"upn", "u@contoso.com"}, {"dns", "dev.contoso.com"}, {"email", "u@contoso.com"},
                        {"ip", "10.1.2.3"}, {"uri", "https://contoso.com/d"}};
  const char *ekus[] = {"1.3.6.1.5.5.7.3.2", "msSmartcardLogin"};
  const char *ku[] = {"digitalSignature", "keyEncipherment"};
  sceplab_csr_params p;
  size_t len = 0;
  unsigned char *der;
  sceplab_val *v;
  (void)state;
  memset(&p, 0, sizeof(p));
  p.subject = "CN=Doe\\, John,O=Contoso";
  p.sans = sans;
  p.nsans = 5;
  p.ekus = ekus;
  p.nekus = 2;
  p.key_usage = ku;
  p.nkey_usage = 2;
  p.challenge = "pa$$ with spaces";
  p.template_name = "IntuneSCEP";
  der = sceplab_csr_build(&p, k, &len, &err);
  assert_non_null(der);
  v = sceplab_csr_parse(der, len, NULL, &err);
  assert_non_null(v);
  assert_string_equal(str_at(v, "subject"), "CN=Doe\\, John, O=Contoso");
  assert_true(bool_at(v, "signature_valid"));
  assert_string_equal(str_at(v, "key.type"), "EC");
  assert_string_equal(str_at(v, "san.0.type"), "upn");
  assert_string_equal(str_at(v, "san.0.value"), "u@contoso.com");
  assert_string_equal(str_at(v, "san.3.value"), "10.1.2.3");
  assert_string_equal(str_at(v, "eku.1.oid"), "1.3.6.1.4.1.311.20.2.2");
  assert_string_equal(str_at(v, "key_usage.1"), "keyEncipherment");
  assert_string_equal(str_at(v, "template_name"), "IntuneSCEP");
  assert_int_equal(int_at(v, "challenge_password.length"), 16);
  sceplab_val_free(v);
  free(der);
  /* bad inputs are named */
  sans[0].type = "fax";
  assert_null(sceplab_csr_build(&p, k, &len, &err));
  assert_non_null(strstr(err.msg, "SAN type 'fax'"));
  EVP_PKEY_free(k);
  assert_null(sceplab_key_generate("rsa:1000", &err));
  assert_int_equal(err.code, SCEPLAB_E_USAGE);
}

/* Builds a PKCSReq from a fresh key to the issuing CA, as a client does. */
static unsigned char *pkcsreq(EVP_PKEY *k, X509 **signer, int oaep, const char *cipher, size_t *len,
                              unsigned char nonce[SCEPLAB_NONCE_LEN])
{
  sceplab_error err;
  sceplab_csr_params c;
  sceplab_pkimsg_params p;
  size_t clen = 0;
  unsigned char *csr, *msg;
  X509 *ca = cert_fixture("pki/issuing.pem");
  X509_NAME *subj = sceplab_dn_parse("CN=device-1", &err);
  char *txid = sceplab_transaction_id(k);
  memset(&c, 0, sizeof(c));
  c.subject = "CN=device-1";
  c.challenge = "secret";
  csr = sceplab_csr_build(&c, k, &clen, &err);
  *signer = sceplab_selfsigned(k, subj, "sha256", &err);
  memset(&p, 0, sizeof(p));
  memset(nonce, 0x5a, SCEPLAB_NONCE_LEN);
  p.message_type = SCEPLAB_MSG_PKCSREQ;
  p.content = csr;
  p.content_len = clen;
  p.recipient = ca;
  p.cipher = cipher;
  p.oaep = oaep;
  p.digest = "sha256";
  p.signer_cert = *signer;
  p.signer_key = k;
  p.transaction_id = txid;
  p.sender_nonce = nonce;
  p.pki_status = -1;
  p.fail_info = -1;
  msg = sceplab_pkimsg_build(&p, len, &err);
  if(!msg)
    fail_msg("%s", err.msg);
  free(csr);
  free(txid);
  X509_free(ca);
  X509_NAME_free(subj);
  return msg;
}

static void pkcsreq_opens_with_the_ca_key(void **state)
{
  static const char *const ciphers[] = {"aes128", "aes256", "des3"};
  size_t i;
  (void)state;
  for(i = 0; i < 4; i++) {
    sceplab_error err;
    EVP_PKEY *k = sceplab_key_generate("rsa:2048", &err);
    X509 *signer;
    unsigned char nonce[SCEPLAB_NONCE_LEN];
    size_t len, kn;
    unsigned char *msg = pkcsreq(k, &signer, i == 3, ciphers[i % 3], &len, nonce);
    unsigned char *cakey = fixture("pki/issuing.key", &kn);
    sceplab_decode_opts o = {0};
    sceplab_val *v;
    char *txid = sceplab_transaction_id(k);
    o.key = cakey;
    o.keylen = kn;
    v = sceplab_pkimsg_parse(msg, len, &o, &err);
    assert_non_null(v);
    assert_string_equal(str_at(v, "message_type"), "PKCSReq");
    assert_string_equal(str_at(v, "transaction_id"), txid);
    assert_true(bool_at(v, "signature_valid"));
    if(!str_at(v, "decrypted.csr.subject"))
      fail_msg("%s: %s", ciphers[i % 3], str_at(v, "decrypted.error"));
    assert_string_equal(str_at(v, "decrypted.csr.subject"), "CN=device-1");
    if(i == 3)
      assert_string_equal(str_at(v, "envelope.recipients.0.key_encryption_algorithm.name"), "rsaesOaep");
    sceplab_val_free(v);
    free(msg);
    free(cakey);
    free(txid);
    X509_free(signer);
    EVP_PKEY_free(k);
  }
}

/* A CertRep as a server would send it, signed by the issuing CA, encrypted to the client. */
typedef struct reply_spec {
  const char *txid;
  const unsigned char *recipient_nonce;
  int status, fail_info, msgtype;
  const char *signer_cert, *signer_key;
  int issue_for_other_key;
} reply_spec;

static unsigned char *certrep(const reply_spec *r, X509 *client_cert, EVP_PKEY *client_key, size_t *len)
{
  sceplab_error err;
  X509 *ca = cert_fixture(r->signer_cert);
  EVP_PKEY *cakey = key_fixture(r->signer_key);
  X509 *issued = cert_fixture("decode/device.pem");
  EVP_PKEY *other = NULL;
  unsigned char sn[SCEPLAB_NONCE_LEN], *p7der = NULL, *msg;
  PKCS7 *p7 = PKCS7_new();
  int p7len;
  sceplab_pkimsg_params p;
  (void)client_key;
  /* the issued certificate carries the client's key unless asked otherwise */
  if(!r->issue_for_other_key) {
    X509_set_pubkey(issued, client_key);
    X509_sign(issued, cakey, EVP_sha256());
  }
  else
    other = NULL;
  PKCS7_set_type(p7, NID_pkcs7_signed);
  PKCS7_content_new(p7, NID_pkcs7_data);
  PKCS7_add_certificate(p7, issued);
  p7len = i2d_PKCS7(p7, &p7der);
  memset(sn, 0x33, sizeof(sn));
  memset(&p, 0, sizeof(p));
  p.message_type = r->msgtype ? r->msgtype : SCEPLAB_MSG_CERTREP;
  p.content = p7der;
  p.content_len = (size_t)p7len;
  p.recipient = client_cert;
  p.cipher = "aes256";
  p.digest = "sha256";
  p.signer_cert = ca;
  p.signer_key = cakey;
  p.transaction_id = r->txid;
  p.sender_nonce = sn;
  p.recipient_nonce = r->recipient_nonce;
  p.pki_status = r->status;
  p.fail_info = r->fail_info;
  p.no_content = r->status != 0;
  msg = sceplab_pkimsg_build(&p, len, &err);
  if(!msg)
    fail_msg("%s", err.msg);
  OPENSSL_free(p7der);
  PKCS7_free(p7);
  X509_free(ca);
  X509_free(issued);
  EVP_PKEY_free(cakey);
  EVP_PKEY_free(other);
  return msg;
}

/* What a client expects of the CertRep to its request: k's own, signed with signer. */
static void expect_for(sceplab_reply_expect *x, const char *txid, const unsigned char *nonce, STACK_OF(X509) *signers,
                       EVP_PKEY *k, X509 *signer)
{
  memset(x, 0, sizeof(*x));
  x->transaction_id = txid;
  x->sender_nonce = nonce;
  x->signers = signers;
  x->key = k;
  x->cert = signer;
  x->request_key = k;
}

static void strict_reply_checks(void **state)
{
  sceplab_error err;
  EVP_PKEY *k = sceplab_key_generate("rsa:2048", &err);
  X509 *signer;
  unsigned char nonce[SCEPLAB_NONCE_LEN], wrong[SCEPLAB_NONCE_LEN];
  size_t len, rlen;
  unsigned char *req = pkcsreq(k, &signer, 0, "aes128", &len, nonce);
  char *txid = sceplab_transaction_id(k);
  STACK_OF(X509) *signers = sk_X509_new_null();
  sceplab_reply_expect x;
  unsigned char *rep;
  sceplab_val *v;
  reply_spec ok = {txid, nonce, 0, -1, 0, "pki/issuing.pem", "pki/issuing.key", 0};
  reply_spec r;
  (void)state;
  sk_X509_push(signers, cert_fixture("pki/issuing.pem"));
  expect_for(&x, txid, nonce, signers, k, signer);

  rep = certrep(&ok, signer, k, &rlen);
  v = sceplab_reply_verify(rep, rlen, &x, &err);
  if(!v)
    fail_msg("%s", err.msg);
  assert_string_equal(str_at(v, "status"), "SUCCESS");
  assert_string_equal(str_at(v, "certificate.subject"), "CN=joymalya");
  assert_non_null(strstr(str_at(v, "certificate_pem"), "BEGIN CERTIFICATE"));
  sceplab_val_free(v);
  free(rep);

#define REFUSED(spec, reason)                                               \
  do {                                                                      \
    rep = certrep(&(spec), signer, k, &rlen);                               \
    assert_null(sceplab_reply_verify(rep, rlen, &x, &err));                 \
    assert_int_equal(err.code, SCEPLAB_E_CRYPTO);                           \
    if(!strstr(err.msg, "reply refused: " reason))                          \
      fail_msg("expected '%s', got '%s'", reason, err.msg);                 \
    free(rep);                                                              \
  } while(0)

  memset(wrong, 0x77, sizeof(wrong));
  r = ok; r.recipient_nonce = wrong;
  REFUSED(r, "recipient-nonce");
  r = ok; r.recipient_nonce = NULL;
  REFUSED(r, "recipient-nonce: recipientNonce attribute missing");
  r = ok; r.txid = "0000";
  REFUSED(r, "transaction-id");
  r = ok; r.signer_cert = "pki/ra-sign.pem"; r.signer_key = "pki/ra-sign.key";
  REFUSED(r, "signer");
  r = ok; r.msgtype = SCEPLAB_MSG_PKCSREQ;
  REFUSED(r, "message-type: messageType is 19");
  r = ok; r.status = 7;
  REFUSED(r, "pki-status: unknown pkiStatus '7'");
  r = ok; r.issue_for_other_key = 1;
  REFUSED(r, "public-key");

  /* a tampered signature */
  rep = certrep(&ok, signer, k, &rlen);
  rep[rlen - 20] ^= 0x01;
  assert_null(sceplab_reply_verify(rep, rlen, &x, &err));
  assert_non_null(strstr(err.msg, "reply refused: signature"));
  free(rep);

  /* FAILURE with failInfo is a verified answer, not a refusal */
  r = ok; r.status = 2; r.fail_info = 2;
  rep = certrep(&r, signer, k, &rlen);
  v = sceplab_reply_verify(rep, rlen, &x, &err);
  assert_non_null(v);
  assert_string_equal(str_at(v, "status"), "FAILURE");
  assert_string_equal(str_at(v, "fail_info"), "badRequest");
  sceplab_val_free(v);
  free(rep);
  r = ok; r.status = 3;
  rep = certrep(&r, signer, k, &rlen);
  v = sceplab_reply_verify(rep, rlen, &x, &err);
  assert_string_equal(str_at(v, "status"), "PENDING");
  sceplab_val_free(v);
  free(rep);
#undef REFUSED
  sk_X509_pop_free(signers, X509_free);
  X509_free(signer);
  EVP_PKEY_free(k);
  free(req);
  free(txid);
}

static void caps_and_ca_selection(void **state)
{
  const char *text = "renewal\r\nsha-256\r\nPOSTPKIOperation\r\nSomethingNew\r\n";
  sceplab_val *c = sceplab_caps_parse(text, strlen(text));
  size_t n;
  unsigned char *chain;
  sceplab_error err;
  sceplab_val *sel;
  (void)state;
  assert_true(bool_at(c, "renewal"));
  assert_true(bool_at(c, "sha256"));
  assert_true(bool_at(c, "post"));
  assert_false(bool_at(c, "aes"));
  assert_string_equal(str_at(c, "caps.3"), "SomethingNew");
  sceplab_val_free(c);
  c = sceplab_caps_parse("SCEPStandard\n", 13);
  assert_true(bool_at(c, "aes"));
  assert_true(bool_at(c, "post"));
  assert_true(bool_at(c, "sha256"));
  sceplab_val_free(c);
  /* NDES's answer: two RA certificates and the issuing CA */
  chain = fixture("decode/getcacert.p7b", &n);
  sel = sceplab_ca_select(chain, n, 0, &err);
  assert_non_null(sel);
  assert_string_equal(str_at(sel, "recipient"), str_at(sel, "certificates.1"));
  assert_string_equal(str_at(sel, "signer"), str_at(sel, "certificates.0"));
  assert_string_equal(str_at(sel, "ca"), str_at(sel, "certificates.2"));
  sceplab_val_free(sel);
  free(chain);
}

static void getcert_and_getcrl_content(void **state)
{
  X509 *ca = cert_fixture("pki/issuing.pem");
  ASN1_INTEGER *serial = ASN1_INTEGER_new();
  size_t len;
  unsigned char *der;
  const unsigned char *p;
  PKCS7_ISSUER_AND_SERIAL *ias;
  (void)state;
  ASN1_INTEGER_set(serial, 0x1234);
  der = sceplab_issuer_and_serial(X509_get_subject_name(ca), serial, &len);
  p = der;
  ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &p, (long)len);
  assert_non_null(ias);
  assert_int_equal(ASN1_INTEGER_get(ias->serial), 0x1234);
  assert_int_equal(X509_NAME_cmp(ias->issuer, X509_get_subject_name(ca)), 0);
  PKCS7_ISSUER_AND_SERIAL_free(ias);
  free(der);
  ASN1_INTEGER_free(serial);
  X509_free(ca);
}

/* Whether a provider key signs: not while pki/rsa_decode.c's window is left open, whose built-in
 * RSA method would take the operation and refuse it. */
static int provider_key_signs(EVP_PKEY *k)
{
  X509_REQ *req = X509_REQ_new();
  int ok = req && X509_REQ_set_pubkey(req, k) && X509_REQ_sign(req, k, EVP_sha256()) > 0;
  X509_REQ_free(req);
  return ok;
}

/* Whether the certificate's public key was decoded by OpenSSL's built-in RSA method (it then
 * belongs to no provider) rather than by a provider's decoder. */
static int builtin_key(X509 *x)
{
  EVP_PKEY *pk = X509_get0_pubkey(x);
  assert_non_null(pk);
  return EVP_PKEY_get0_provider(pk) == NULL;
}

/* The certificates the client is handed are parsed in pki/rsa_decode.c's window: GetCACert's (the
 * selection and every certificate passed back as PEM), the CertRep and the PKCS#7 inside it, the
 * CSR it describes. Their RSA keys are decoded by the built-in method, the window is closed again
 * after each parse, on success and on refusal, and none opens while another thread may use
 * OpenSSL. */
static void client_parses_in_the_window(void **state)
{
  sceplab_error err;
  EVP_PKEY *k = sceplab_key_generate("rsa:2048", &err);
  size_t n, len, rlen;
  unsigned char *chain = fixture("decode/getcacert.p7b", &n), nonce[SCEPLAB_NONCE_LEN], *req, *rep;
  sceplab_val *sel, *v;
  X509 *x, *signer;
  char *txid = sceplab_transaction_id(k);
  STACK_OF(X509) *signers = sk_X509_new_null();
  sceplab_reply_expect ex;
  reply_spec ok = {txid, nonce, 0, -1, 0, "pki/issuing.pem", "pki/issuing.key", 0};
  const char *pem;
  (void)state;
  assert_non_null(k);
  assert_true(provider_key_signs(k));
  sel = sceplab_ca_select(chain, n, 0, &err);
  assert_non_null(sel);
  assert_true(provider_key_signs(k));
  pem = str_at(sel, "recipient");
  x = sceplab_scep_cert_load((const unsigned char *)pem, strlen(pem), &err);
  assert_non_null(x);
  assert_true(builtin_key(x));
  assert_true(provider_key_signs(k));
  X509_free(x);
  /* the usual path while another thread may be using OpenSSL */
  sceplab_pki_threads(1);
  x = sceplab_scep_cert_load((const unsigned char *)pem, strlen(pem), &err);
  sceplab_pki_threads(-1);
  assert_non_null(x);
  assert_false(builtin_key(x));
  X509_free(x);
  assert_null(sceplab_scep_cert_load((const unsigned char *)"junk", 4, &err));
  assert_true(provider_key_signs(k));
  sceplab_val_free(sel);

  /* a CertRep: verified (its signer's key and the issued certificate's, decoded in the window),
   * then refused after its parse */
  req = pkcsreq(k, &signer, 0, "aes128", &len, nonce);
  x = cert_fixture("pki/issuing.pem");
  sk_X509_push(signers, x);
  expect_for(&ex, txid, nonce, signers, k, signer);
  rep = certrep(&ok, signer, k, &rlen);
  v = sceplab_reply_verify(rep, rlen, &ex, &err);
  if(!v)
    fail_msg("%s", err.msg);
  assert_string_equal(str_at(v, "status"), "SUCCESS");
  assert_true(provider_key_signs(k));
  sceplab_val_free(v);
  rep[rlen - 20] ^= 0x01;
  assert_null(sceplab_reply_verify(rep, rlen, &ex, &err));
  assert_true(provider_key_signs(k));
  assert_null(sceplab_reply_verify(rep, 10, &ex, &err));
  assert_true(provider_key_signs(k));
  free(rep);

  /* the CSR the client describes beside its profile */
  {
    sceplab_csr_params c;
    unsigned char *csr;
    size_t clen = 0;
    memset(&c, 0, sizeof(c));
    c.subject = "CN=device-1";
    csr = sceplab_csr_build(&c, k, &clen, &err);
    assert_non_null(csr);
    v = sceplab_csr_parse(csr, clen, NULL, &err);
    assert_non_null(v);
    assert_string_equal(str_at(v, "subject"), "CN=device-1");
    assert_int_equal(int_at(v, "key.bits"), 2048);
    assert_true(provider_key_signs(k));
    sceplab_val_free(v);
    free(csr);
  }
  sk_X509_pop_free(signers, X509_free);
  X509_free(signer);
  free(req);
  free(txid);
  free(chain);
  EVP_PKEY_free(k);
}

/* The client's own RSA key, in each unencrypted form --key takes, is read by OpenSSL's built-in
 * RSA method (no provider decodes it, so its public key is written without encoder and decoder
 * chains), and does what the client does with it as the provider's key does: the same PEM back,
 * the same transactionID, a PKCSReq the CA opens and verifies, a CertRep encrypted to it. An
 * encrypted or EC key still loads; a CA's keys (sceplab_key_load) stay the provider's. */
static void client_key_builtin(void **state)
{
  sceplab_error err;
  EVP_PKEY *ref = key_fixture("pki/device.key"), *k, *ec = EVP_EC_gen("P-256");
  char *ref_pem = sceplab_key_pem(ref, 0, NULL), *ref_txid = sceplab_transaction_id(ref), *s;
  unsigned char *b, nonce[SCEPLAB_NONCE_LEN], *msg, *rep, *cakey;
  size_t n, len, rlen, kn;
  int f;
  X509 *signer;
  STACK_OF(X509) *signers = sk_X509_new_null();
  sceplab_reply_expect ex;
  sceplab_decode_opts o = {0};
  sceplab_val *v;
  reply_spec ok = {ref_txid, nonce, 0, -1, 0, "pki/issuing.pem", "pki/issuing.key", 0};
  (void)state;
  assert_non_null(EVP_PKEY_get0_provider(ref));
  for(f = FORM_PKCS8_PEM; f <= FORM_TRAD_DER; f++) {
    b = key_in_form(ref, (key_form)f, &n);
    k = sceplab_key_load_builtin(b, n, NULL, &err);
    assert_non_null(k);
    assert_null(EVP_PKEY_get0_provider(k));
    assert_int_equal(1, EVP_PKEY_eq(k, ref));
    s = sceplab_key_pem(k, 0, NULL);
    assert_string_equal(s, ref_pem);
    free(s);
    s = sceplab_transaction_id(k);
    assert_string_equal(s, ref_txid);
    free(s);
    EVP_PKEY_free(k);
    free(b);
  }
  b = key_in_form(ref, FORM_ENC_PEM, &n);
  k = sceplab_key_load_builtin(b, n, "pw", &err);
  assert_non_null(k);
  assert_int_equal(1, EVP_PKEY_eq(k, ref));
  EVP_PKEY_free(k);
  assert_null(sceplab_key_load_builtin(b, n, NULL, &err));
  assert_string_equal("the key is encrypted; give its passphrase", err.msg);
  free(b);
  b = key_in_form(ec, FORM_PKCS8_PEM, &n);
  k = sceplab_key_load_builtin(b, n, NULL, &err);
  assert_non_null(k);
  assert_int_equal(1, EVP_PKEY_eq(k, ec));
  EVP_PKEY_free(k);
  free(b);

  /* the built-in key signs and opens what a client sends and receives */
  b = key_in_form(ref, FORM_TRAD_PEM, &n);
  k = sceplab_key_load_builtin(b, n, NULL, &err);
  free(b);
  assert_non_null(k);
  msg = pkcsreq(k, &signer, 0, "aes128", &len, nonce);
  cakey = fixture("pki/issuing.key", &kn);
  o.key = cakey;
  o.keylen = kn;
  v = sceplab_pkimsg_parse(msg, len, &o, &err);
  assert_non_null(v);
  assert_string_equal(str_at(v, "transaction_id"), ref_txid);
  assert_true(bool_at(v, "signature_valid"));
  assert_string_equal(str_at(v, "decrypted.csr.subject"), "CN=device-1");
  assert_true(bool_at(v, "decrypted.csr.signature_valid"));
  sceplab_val_free(v);
  sk_X509_push(signers, cert_fixture("pki/issuing.pem"));
  expect_for(&ex, ref_txid, nonce, signers, k, signer);
  rep = certrep(&ok, signer, k, &rlen);
  v = sceplab_reply_verify(rep, rlen, &ex, &err);
  if(!v)
    fail_msg("%s", err.msg);
  assert_string_equal(str_at(v, "status"), "SUCCESS");
  sceplab_val_free(v);
  free(rep);
  free(msg);
  free(cakey);
  sk_X509_pop_free(signers, X509_free);
  X509_free(signer);
  EVP_PKEY_free(k);
  EVP_PKEY_free(ec);
  EVP_PKEY_free(ref);
  free(ref_pem);
  free(ref_txid);
}

/* RFC 8894's numbers and names, both ways, from the one table the decoder and client share. */
static void scep_names(void **state)
{
  size_t i;
  int code;
  const char *name;
  (void)state;
  assert_string_equal(sceplab_scep_name(SCEPLAB_NAMES_MESSAGE_TYPE, 19), "PKCSReq");
  assert_string_equal(sceplab_scep_name(SCEPLAB_NAMES_MESSAGE_TYPE, 3), "CertRep");
  assert_string_equal(sceplab_scep_name(SCEPLAB_NAMES_PKI_STATUS, 3), "PENDING");
  assert_string_equal(sceplab_scep_name(SCEPLAB_NAMES_FAIL_INFO, 4), "badCertId");
  assert_null(sceplab_scep_name(SCEPLAB_NAMES_PKI_STATUS, 1));
  assert_int_equal(sceplab_scep_code(SCEPLAB_NAMES_MESSAGE_TYPE, "RenewalReq"), 17);
  assert_int_equal(sceplab_scep_code(SCEPLAB_NAMES_FAIL_INFO, "badTime"), 3);
  assert_int_equal(sceplab_scep_code(SCEPLAB_NAMES_FAIL_INFO, "badtime"), -1);
  for(i = 0; (name = sceplab_scep_name_at(SCEPLAB_NAMES_MESSAGE_TYPE, i, &code)) != NULL; i++)
    assert_string_equal(sceplab_scep_name(SCEPLAB_NAMES_MESSAGE_TYPE, code), name);
  assert_int_equal(i, 6);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(scep_names),
    cmocka_unit_test(key_forms),
    cmocka_unit_test(distinguished_names),
    cmocka_unit_test(csr_round_trip),
    cmocka_unit_test(pkcsreq_opens_with_the_ca_key),
    cmocka_unit_test(strict_reply_checks),
    cmocka_unit_test(caps_and_ca_selection),
    cmocka_unit_test(getcert_and_getcrl_content),
    cmocka_unit_test(client_parses_in_the_window),
    cmocka_unit_test(client_key_builtin),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
