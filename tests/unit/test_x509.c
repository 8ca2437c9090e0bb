/* Certificates and CSRs: chains from GetCACert, NDES RA key usages, UPN SANs, redacted challenges. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "helpers.h"
#include "pki/pki_int.h"

static void getcacert_chain(void **state)
{
  size_t n;
  unsigned char *buf = fixture("decode/getcacert.p7b", &n);
  sceplab_error err;
  sceplab_val *v = sceplab_certs_parse(buf, n, &err);
  (void)state;
  assert_non_null(v);
  assert_int_equal(int_at(v, "count"), 4);
  assert_string_equal(str_at(v, "certificates.0.subject"), "C=US, O=Joymalya, CN=NDES-MSCEP-RA");
  assert_string_equal(str_at(v, "certificates.0.key_usage.0"), "digitalSignature");
  assert_string_equal(str_at(v, "certificates.1.key_usage.0"), "keyEncipherment");
  assert_string_equal(str_at(v, "certificates.0.role"), "end-entity");
  assert_string_equal(str_at(v, "certificates.2.role"), "intermediate");
  assert_string_equal(str_at(v, "certificates.3.role"), "root");
  assert_true(bool_at(v, "certificates.3.self_signed"));
  assert_int_equal(int_at(v, "certificates.0.issued_by"), 2);
  assert_int_equal(int_at(v, "certificates.2.issued_by"), 3);
  assert_true(bool_at(v, "certificates.2.issuer_signature_valid"));
  assert_int_equal(strlen(str_at(v, "certificates.3.sha1")), 40);
  assert_int_equal(strlen(str_at(v, "certificates.3.sha256")), 64);
  sceplab_val_free(v);
  free(buf);
}

static void device_certificate(void **state)
{
  size_t n;
  unsigned char *pem = fixture("decode/device.pem", &n);
  unsigned char *der;
  size_t dn;
  sceplab_error err;
  sceplab_val *a = sceplab_certs_parse(pem, n, &err), *b;
  (void)state;
  der = fixture("decode/device.der", &dn);
  b = sceplab_certs_parse(der, dn, &err);
  assert_non_null(a);
  assert_non_null(b);
  assert_string_equal(str_at(a, "certificates.0.sha256"), str_at(b, "certificates.0.sha256"));
  assert_string_equal(str_at(a, "certificates.0.san.0.type"), "upn");
  assert_string_equal(str_at(a, "certificates.0.san.0.value"), "joymalya@joymalya.xyz");
  assert_string_equal(str_at(a, "certificates.0.eku.0.oid"), "1.3.6.1.5.5.7.3.2");
  assert_string_equal(str_at(a, "certificates.0.template_name"), "IntuneSCEP");
  assert_string_equal(str_at(a, "certificates.0.key.type"), "RSA");
  assert_int_equal(int_at(a, "certificates.0.key.bits"), 2048);
  assert_false(bool_at(a, "certificates.0.expired"));
  sceplab_val_free(a);
  sceplab_val_free(b);
  free(pem);
  free(der);
  pem = fixture("decode/expired.pem", &n);
  a = sceplab_certs_parse(pem, n, &err);
  assert_true(bool_at(a, "certificates.0.expired"));
  sceplab_val_free(a);
  free(pem);
}

static void csr_challenge_redacted(void **state)
{
  size_t n;
  unsigned char *buf = fixture("decode/device.csr", &n);
  sceplab_decode_opts o = {0};
  sceplab_error err;
  sceplab_val *v = sceplab_csr_parse(buf, n, &o, &err);
  (void)state;
  assert_non_null(v);
  assert_true(bool_at(v, "challenge_password.present"));
  assert_int_equal(int_at(v, "challenge_password.length"), 16);
  assert_null(strstr(str_at(v, "challenge_password.value"), "S3cret"));
  assert_true(bool_at(v, "signature_valid"));
  assert_string_equal(str_at(v, "san.0.type"), "upn");
  sceplab_val_free(v);
  o.show_secrets = 1;
  v = sceplab_csr_parse(buf, n, &o, &err);
  assert_string_equal(str_at(v, "challenge_password.value"), "S3cretChallenge!");
  sceplab_val_free(v);
  free(buf);
}

static void broken_inputs(void **state)
{
  size_t n;
  unsigned char *der = fixture("decode/device.der", &n);
  sceplab_error err;
  (void)state;
  assert_null(sceplab_certs_parse(der, n / 2, &err));
  assert_int_equal(err.code, SCEPLAB_E_INPUT);
  assert_null(sceplab_csr_parse(der, n, NULL, &err));
  assert_non_null(strstr(err.msg, "PKCS#10"));
  assert_null(sceplab_certs_parse((const unsigned char *)"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 58, &err));
  free(der);
}

/* A chain cut inside its last block (a paste, a truncated download) reads what it can and says
 * which block is missing; cut inside its only block, it is an error that says the same. */
static void pem_chain_cut_short(void **state)
{
  size_t n;
  unsigned char *pem = fixture("decode/ndes-chain.pem", &n);
  const char *last = NULL, *p = (const char *)pem;
  sceplab_error err;
  sceplab_val *v;
  (void)state;
  while((p = strstr(p, "-----BEGIN ")) != NULL)
    last = p++;
  assert_non_null(last);
  v = sceplab_certs_parse(pem, (size_t)(last - (const char *)pem) + 200, &err);
  assert_non_null(v);
  assert_int_equal(int_at(v, "count"), 3);
  assert_true(has_warning(v, "", "PEM block 4 of 4 is cut short"));
  sceplab_val_free(v);
  v = sceplab_certs_parse(pem, n, &err);
  assert_non_null(v);
  assert_null(sceplab_obj_get(v, "warnings"));
  sceplab_val_free(v);
  assert_null(sceplab_certs_parse(pem, 300, &err));
  assert_non_null(strstr(err.msg, "PEM block 1 of 1 is cut short"));
  free(pem);
}

/* pki/rsa_decode.c: a CSR parsed inside the window has an RSA key that verifies, equals the one it
 * was made with and is encrypted to; the CA's own (provider) key signs after the window closes,
 * which the built-in method left registered would refuse ("command not supported"); and no window
 * opens while another thread may use OpenSSL. */
static void rsa_decode_window(void **state)
{
  EVP_PKEY *key = EVP_RSA_gen(1024), *pub;
  X509_REQ *req = X509_REQ_new(), *back;
  unsigned char *der = NULL, secret[16] = "sixteen bytes...", enc[256], dec[256];
  const unsigned char *p;
  size_t elen = sizeof(enc), dlen = sizeof(dec);
  EVP_PKEY_CTX *ctx;
  int n, fast;
  (void)state;
  assert_non_null(key);
  assert_true(X509_REQ_set_pubkey(req, key) && X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
                                                                       MBSTRING_ASC, (const unsigned char *)"w", -1, -1, 0));
  assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
  assert_true((n = i2d_X509_REQ(req, &der)) > 0);
  p = der;
  fast = sceplab_pki_rsa_decode_enter();
  assert_int_equal(fast, 1);
  back = d2i_X509_REQ(NULL, &p, n);
  sceplab_pki_rsa_decode_leave(fast);
  assert_non_null(back);
  pub = X509_REQ_get0_pubkey(back);
  assert_int_equal(X509_REQ_verify(back, pub), 1);
  assert_int_equal(EVP_PKEY_eq(pub, key), 1);
  assert_int_equal(EVP_PKEY_get_bits(pub), 1024);
  ctx = EVP_PKEY_CTX_new(pub, NULL);
  assert_true(ctx && EVP_PKEY_encrypt_init(ctx) > 0 && EVP_PKEY_encrypt(ctx, enc, &elen, secret, sizeof(secret)) > 0);
  EVP_PKEY_CTX_free(ctx);
  ctx = EVP_PKEY_CTX_new(key, NULL);
  assert_true(ctx && EVP_PKEY_decrypt_init(ctx) > 0 && EVP_PKEY_decrypt(ctx, dec, &dlen, enc, elen) > 0);
  EVP_PKEY_CTX_free(ctx);
  assert_int_equal(dlen, sizeof(secret));
  assert_memory_equal(dec, secret, sizeof(secret));
  assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0); /* the provider key after the window */
  sceplab_pki_threads(1);
  assert_int_equal(sceplab_pki_rsa_decode_enter(), 0);
  sceplab_pki_threads(-1);
  OPENSSL_free(der);
  X509_REQ_free(back);
  X509_REQ_free(req);
  EVP_PKEY_free(key);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(getcacert_chain),
    cmocka_unit_test(device_certificate),
    cmocka_unit_test(csr_challenge_redacted),
    cmocka_unit_test(broken_inputs),
    cmocka_unit_test(pem_chain_cut_short),
    cmocka_unit_test(rsa_decode_window),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
