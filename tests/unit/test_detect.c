/* Detection: every kind is recognised from content alone, through its transport layers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static void expect(const char *rel, const char *kind, const char *layers)
{
  size_t n;
  unsigned char *buf = fixture(rel, &n);
  sceplab_error err;
  sceplab_val *v = sceplab_decode(buf, n, NULL, &err);
  if(!v)
    fail_msg("%s: %s", rel, err.msg);
  assert_string_equal(str_at(v, "kind"), kind);
  assert_string_equal(str_at(v, "layers"), layers);
  sceplab_val_free(v);
  free(buf);
}

static void every_kind(void **state)
{
  (void)state;
  expect("decode/syncml-scep.xml", "syncml", "xml");
  expect("decode/token.b64", "token", "base64,xml");
  expect("decode/token.xml", "token", "xml");
  expect("decode/device.pem", "certificates", "pem");
  expect("decode/device.der", "certificates", "der");
  expect("decode/getcacert.p7b", "certificates", "der");
  expect("decode/ndes-chain.pem", "certificates", "pem");
  expect("decode/device.csr", "csr", "pem");
  expect("decode/device.csr.der", "csr", "der");
  expect("scep/pkcsreq.der", "pkimessage", "der");
  expect("scep/pkcsreq-get.txt", "pkimessage", "message-parameter,base64,der");
  expect("scep/certrep-failure.der", "pkimessage", "der");
  expect("scep/getnextcacert.der", "certificates", "der"); /* the certificates inside the SignedData */
  expect("decode/succeed.crs", "crs", "xml");
  expect("decode/succeed-utf16.crs", "crs", "utf-16,xml");
  expect("decode/scep.mobileconfig", "mobileconfig", "xml");
  expect("decode/scep-signed.mobileconfig", "mobileconfig", "der");
}

static void text_layers(void **state)
{
  const char *id = "ModelName_AC_d70bf40e-1822-44b4-9ee5-0cc777c5bf70_LogicalName_3b_Hash_-5\n";
  sceplab_error err;
  sceplab_val *v = sceplab_decode((const unsigned char *)id, strlen(id), NULL, &err);
  size_t n;
  unsigned char *der = fixture("scep/pkcsreq.der", &n);
  char *b64 = sceplab_b64_encode(der, n), *enc = malloc(strlen(b64) * 3 + 1), *p = enc;
  size_t i;
  (void)state;
  assert_non_null(v);
  assert_string_equal(str_at(v, "kind"), "intune-id");
  assert_int_equal(int_at(v, "hash"), -5);
  sceplab_val_free(v);
  /* percent-encoded base64, as a pkiMessage appears in a URL with no message= around it */
  for(i = 0; b64[i]; i++)
    p += b64[i] == '+' ? sprintf(p, "%%2B") : b64[i] == '/' ? sprintf(p, "%%2F") : sprintf(p, "%c", b64[i]);
  v = sceplab_decode((unsigned char *)enc, strlen(enc), NULL, &err);
  assert_non_null(v);
  assert_string_equal(str_at(v, "layers"), "url-encoded,base64,der");
  sceplab_val_free(v);
  /* PEM armour around a pkiMessage (as `openssl cms -outform PEM` writes) */
  {
    char *pem = malloc(strlen(b64) + 64);
    sprintf(pem, "-----BEGIN PKCS7-----\n%s\n-----END PKCS7-----\n", b64);
    v = sceplab_decode((unsigned char *)pem, strlen(pem), NULL, &err);
    assert_non_null(v);
    assert_string_equal(str_at(v, "kind"), "pkimessage");
    assert_string_equal(str_at(v, "layers"), "pem,der");
    sceplab_val_free(v);
    free(pem);
  }
  free(b64);
  free(enc);
  free(der);
}

static void unrecognised(void **state)
{
  const char *cases[] = {"", "   \n", "hello world", "<Foo/>", "-----BEGIN RSA PRIVATE KEY-----\nAA\n", "\x30\x82\x01"};
  sceplab_error err;
  size_t i;
  (void)state;
  for(i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_null(sceplab_decode((const unsigned char *)cases[i], strlen(cases[i]), NULL, &err));
    assert_int_equal(err.code, SCEPLAB_E_INPUT);
    assert_null(strchr(err.msg, '\n'));
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_kind),
    cmocka_unit_test(text_layers),
    cmocka_unit_test(unrecognised),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
