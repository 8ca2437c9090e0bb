/* pkiMessages captured from micromdm's scepclient and scepserver, plus hand-built broken ones. */
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "helpers.h"

static sceplab_val *parse(const char *rel, const char *keyrel, const char *pass)
{
  size_t n, kn = 0;
  unsigned char *buf = fixture(rel, &n), *key = keyrel ? fixture(keyrel, &kn) : NULL;
  sceplab_decode_opts o = {0};
  sceplab_error err;
  sceplab_val *v;
  o.key = key;
  o.keylen = kn;
  o.key_pass = pass;
  v = sceplab_pkimsg_parse(buf, n, &o, &err);
  if(!v)
    fail_msg("%s: %s", rel, err.msg);
  free(buf);
  free(key);
  return v;
}

static void pkcsreq_from_peer(void **state)
{
  sceplab_val *v = parse("scep/pkcsreq.der", "scep/scepserver-ca.key", NULL);
  (void)state;
  assert_string_equal(str_at(v, "message_type"), "PKCSReq");
  assert_int_equal(int_at(v, "message_type_code"), 19);
  assert_true(bool_at(v, "signature_valid"));
  assert_int_equal(strlen(str_at(v, "sender_nonce")), 32);
  assert_non_null(str_at(v, "transaction_id"));
  assert_string_equal(str_at(v, "envelope.type.name"), "pkcs7-envelopedData");
  assert_string_equal(str_at(v, "decrypted.csr.subject"), "C=US, O=scep-client, OU=MDM, CN=scep-device-01");
  assert_true(bool_at(v, "decrypted.csr.challenge_password.present"));
  assert_null(strstr(str_at(v, "decrypted.csr.challenge_password.value"), "secret-challenge"));
  sceplab_val_free(v);
}

static void encrypted_key_needs_passphrase(void **state)
{
  sceplab_val *v = parse("scep/pkcsreq.der", "scep/scepserver-ca.enc.key", NULL);
  (void)state;
  assert_non_null(strstr(str_at(v, "decrypted.error"), "--key-pass"));
  sceplab_val_free(v);
  v = parse("scep/pkcsreq.der", "scep/scepserver-ca.enc.key", "fixture");
  assert_non_null(str_at(v, "decrypted.csr.subject"));
  sceplab_val_free(v);
  v = parse("scep/pkcsreq.der", "pki/device.key", NULL); /* a key that is not the recipient */
  assert_non_null(str_at(v, "decrypted.error"));
  sceplab_val_free(v);
}

static void certrep_success_and_failure(void **state)
{
  sceplab_val *ok = parse("scep/certrep-success.der", "scep/client.key", NULL);
  sceplab_val *req = parse("scep/pkcsreq.der", NULL, NULL);
  sceplab_val *bad = parse("scep/certrep-failure.der", NULL, NULL);
  (void)state;
  assert_string_equal(str_at(ok, "message_type"), "CertRep");
  assert_string_equal(str_at(ok, "pki_status"), "SUCCESS");
  /* The reply echoes our transaction and our nonce. */
  assert_string_equal(str_at(ok, "transaction_id"), str_at(req, "transaction_id"));
  assert_string_equal(str_at(ok, "recipient_nonce"), str_at(req, "sender_nonce"));
  assert_string_equal(str_at(ok, "decrypted.issued.certificates.0.subject"), "C=US, O=scep-client, OU=MDM, CN=scep-device-01");
  /* micromdm encrypts its replies with single DES: opened through the private legacy context. */
  assert_true(has_warning(ok, "", "single DES"));
  assert_string_equal(str_at(bad, "pki_status"), "FAILURE");
  assert_string_equal(str_at(bad, "fail_info"), "badRequest");
  assert_null(sceplab_obj_get(bad, "envelope") ? str_at(bad, "envelope.type.name") : NULL);
  sceplab_val_free(ok);
  sceplab_val_free(req);
  sceplab_val_free(bad);
}

/* Builds a SignedData with the given SCEP messageType and pkiStatus (NULL to omit). */
static unsigned char *build(const char *msgtype, const char *status, size_t *len)
{
  size_t n;
  unsigned char *certpem = fixture("pki/ra-sign.pem", &n), *keypem, *out = NULL;
  BIO *cb = BIO_new_mem_buf(certpem, (int)n), *kb, *data = BIO_new_mem_buf("x", 1);
  X509 *cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
  EVP_PKEY *key;
  CMS_ContentInfo *cms;
  CMS_SignerInfo *si;
  int dl;
  keypem = fixture("pki/ra-sign.key", &n);
  kb = BIO_new_mem_buf(keypem, (int)n);
  key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
  cms = CMS_sign(NULL, NULL, NULL, data, CMS_PARTIAL | CMS_BINARY);
  si = CMS_add1_signer(cms, cert, key, EVP_sha256(), CMS_PARTIAL);
  assert_non_null(si);
  if(msgtype)
    CMS_signed_add1_attr_by_txt(si, "2.16.840.1.113733.1.9.2", V_ASN1_PRINTABLESTRING,
                                (const unsigned char *)msgtype, (int)strlen(msgtype));
  if(status)
    CMS_signed_add1_attr_by_txt(si, "2.16.840.1.113733.1.9.3", V_ASN1_PRINTABLESTRING,
                                (const unsigned char *)status, (int)strlen(status));
  assert_true(CMS_final(cms, data, NULL, CMS_BINARY));
  dl = i2d_CMS_ContentInfo(cms, &out);
  assert_true(dl > 0);
  *len = (size_t)dl;
  CMS_ContentInfo_free(cms);
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cb);
  BIO_free(kb);
  BIO_free(data);
  free(certpem);
  free(keypem);
  return out;
}

static void strict_attributes(void **state)
{
  size_t n;
  sceplab_error err;
  unsigned char *m;
  sceplab_val *v;
  (void)state;
  m = build("99", NULL, &n);
  assert_null(sceplab_pkimsg_parse(m, n, NULL, &err));
  assert_non_null(strstr(err.msg, "unknown messageType '99'"));
  OPENSSL_free(m);
  m = build("3", "7", &n);
  assert_null(sceplab_pkimsg_parse(m, n, NULL, &err));
  assert_non_null(strstr(err.msg, "unknown pkiStatus '7'"));
  OPENSSL_free(m);
  m = build("3", NULL, &n);
  assert_null(sceplab_pkimsg_parse(m, n, NULL, &err));
  assert_non_null(strstr(err.msg, "without pkiStatus"));
  OPENSSL_free(m);
  m = build(NULL, NULL, &n);
  assert_null(sceplab_pkimsg_parse(m, n, NULL, &err));
  assert_non_null(strstr(err.msg, "messageType missing"));
  OPENSSL_free(m);
  m = build("3", "3", &n);
  v = sceplab_pkimsg_parse(m, n, NULL, &err);
  assert_non_null(v);
  assert_string_equal(str_at(v, "pki_status"), "PENDING");
  assert_true(bool_at(v, "signature_valid"));
  sceplab_val_free(v);
  /* flip a byte inside the signature value at the end of the structure */
  m[n - 10] ^= 0x55;
  v = sceplab_pkimsg_parse(m, n, NULL, &err);
  assert_non_null(v);
  assert_false(bool_at(v, "signature_valid"));
  assert_non_null(str_at(v, "signature_error"));
  sceplab_val_free(v);
  OPENSSL_free(m);
}

static void truncated(void **state)
{
  size_t n;
  unsigned char *buf = fixture("scep/pkcsreq.der", &n);
  sceplab_error err;
  (void)state;
  assert_null(sceplab_pkimsg_parse(buf, n - 40, NULL, &err));
  assert_int_equal(err.code, SCEPLAB_E_INPUT);
  free(buf);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(pkcsreq_from_peer),
    cmocka_unit_test(encrypted_key_needs_passphrase),
    cmocka_unit_test(certrep_success_and_failure),
    cmocka_unit_test(strict_attributes),
    cmocka_unit_test(truncated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
