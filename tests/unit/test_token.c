/* CertEnrollToken: the seed sample's quirks are warnings, not failures; real breakage is an error. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static void decodes_sample_with_tag_mismatch(void **state)
{
  size_t n;
  unsigned char *b64 = fixture("decode/token.b64", &n);
  sceplab_error err;
  sceplab_val *v = sceplab_token_parse(b64, n, NULL, &err);
  (void)state;
  assert_non_null(v);
  assert_false(bool_at(v, "well_formed"));
  assert_true(has_warning(v, NULL, "closed as </DeviceId>"));
  assert_string_equal(str_at(v, "device_id"), "58c120b7-a22a-428f-89de-7b0856e0c43e");
  assert_string_equal(str_at(v, "timestamp"), "2020-05-24T10:15:52.8276436Z");
  assert_int_equal(int_at(v, "request.version"), 1);
  assert_string_equal(str_at(v, "challenge.cms.type.name"), "pkcs7-envelopedData");
  assert_string_equal(str_at(v, "challenge.cms.content_encryption_algorithm.name"), "aes-256-cbc");
  assert_string_equal(str_at(v, "signature.encoding"), "hex");
  assert_string_equal(str_at(v, "signature.cms.type.name"), "pkcs7-signedData");
  assert_true(bool_at(v, "signature.cms.detached"));
  assert_null(sceplab_path(v, "challenge.value")); /* secret stays out unless asked */
  assert_int_equal(strlen(str_at(v, "signer_thumbprint")), 40);
  sceplab_val_free(v);
  free(b64);
}

static void missing_padding_and_plain_xml(void **state)
{
  size_t n;
  unsigned char *xml = fixture("decode/token.xml", &n);
  char *b64 = sceplab_b64_encode(xml, n);
  size_t len = strlen(b64);
  sceplab_error err;
  sceplab_val *a, *b;
  (void)state;
  while(len && b64[len - 1] == '=')
    b64[--len] = '\0';
  a = sceplab_token_parse((unsigned char *)b64, len, NULL, &err);
  b = sceplab_token_parse(xml, n, NULL, &err);
  assert_non_null(a);
  assert_non_null(b);
  assert_string_equal(str_at(a, "certificate_request_id"), str_at(b, "certificate_request_id"));
  sceplab_val_free(a);
  sceplab_val_free(b);
  free(b64);
  free(xml);
}

static void broken_tokens(void **state)
{
  sceplab_error err;
  sceplab_val *v;
  const char *nochal = "<CertEnrollToken><Data></Data><Signature>z!z</Signature></CertEnrollToken>";
  (void)state;
  assert_null(sceplab_token_parse((const unsigned char *)"PENlcnR$$$", 10, NULL, &err));
  assert_non_null(strstr(err.msg, "not base64"));
  assert_null(sceplab_token_parse((const unsigned char *)"<Other/>", 8, NULL, &err));
  assert_non_null(strstr(err.msg, "no <CertEnrollToken>"));
  v = sceplab_token_parse((const unsigned char *)nochal, strlen(nochal), NULL, &err);
  assert_non_null(v);
  assert_true(has_warning(v, NULL, "CertEnrollChallenge missing"));
  assert_true(has_warning(v, NULL, "neither hex nor base64"));
  sceplab_val_free(v);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(decodes_sample_with_tag_mismatch),
    cmocka_unit_test(missing_padding_and_plain_xml),
    cmocka_unit_test(broken_tokens),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
