/* Apple configuration profiles: the SCEP payload, plain and signed; broken plists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static sceplab_val *parse(const char *rel, int show)
{
  return decode_fixture(sceplab_mobileconfig_parse, rel, show);
}

static void scep_payload(void **state)
{
  sceplab_val *v = parse("decode/scep.mobileconfig", 0);
  (void)state;
  assert_false(bool_at(v, "signed"));
  assert_string_equal(str_at(v, "scep_payloads.0.display_name"), "SCEP Wi-Fi certificate");
  assert_string_equal(str_at(v, "scep_payloads.0.content.URL"), "https://ndes.joymalya.xyz/certsrv/mscep/mscep.dll");
  assert_int_equal(int_at(v, "scep_payloads.0.content.Keysize"), 2048);
  assert_int_equal(int_at(v, "scep_payloads.0.content.Key Usage"), 5);
  assert_string_equal(str_at(v, "scep_payloads.0.content.Subject.1.0.1"), "iPhone of Joy");
  assert_string_equal(str_at(v, "scep_payloads.0.content.SubjectAltName.ntPrincipalName"), "joymalya@joymalya.xyz");
  assert_int_equal(strlen(str_at(v, "scep_payloads.0.content.CAFingerprint")), 40);
  assert_non_null(strstr(str_at(v, "scep_payloads.0.content.Challenge"), "redacted"));
  assert_non_null(strstr(str_at(v, "plist.PayloadContent.0.PayloadContent.Challenge"), "redacted"));
  sceplab_val_free(v);
  v = parse("decode/scep.mobileconfig", 1);
  assert_string_equal(str_at(v, "scep_payloads.0.content.Challenge"), "AppleStaticChallenge-42");
  sceplab_val_free(v);
}

static void signed_profile(void **state)
{
  sceplab_val *s = parse("decode/scep-signed.mobileconfig", 0);
  (void)state;
  assert_true(bool_at(s, "signed"));
  assert_true(bool_at(s, "signature_valid"));
  assert_string_equal(str_at(s, "scep_payloads.0.content.URL"), "https://ndes.joymalya.xyz/certsrv/mscep/mscep.dll");
  sceplab_val_free(s);
}

static void broken_plists(void **state)
{
  sceplab_error err;
  char deep[8192];
  size_t i, o = 0;
  const char *bad_int = "<plist><dict><key>a</key><integer>x1</integer></dict></plist>";
  const char *nokey = "<plist><dict><string>a</string></dict></plist>";
  (void)state;
  assert_null(sceplab_mobileconfig_parse((const unsigned char *)"bplist00xxxx", 12, NULL, &err));
  assert_non_null(strstr(err.msg, "binary plist"));
  assert_null(sceplab_mobileconfig_parse((const unsigned char *)bad_int, strlen(bad_int), NULL, &err));
  assert_non_null(strstr(err.msg, "is not an integer"));
  assert_null(sceplab_mobileconfig_parse((const unsigned char *)nokey, strlen(nokey), NULL, &err));
  assert_non_null(strstr(err.msg, "without a <key>"));
  o += (size_t)snprintf(deep + o, sizeof(deep) - o, "<plist>");
  for(i = 0; i < 100; i++)
    o += (size_t)snprintf(deep + o, sizeof(deep) - o, "<array>");
  for(i = 0; i < 100; i++)
    o += (size_t)snprintf(deep + o, sizeof(deep) - o, "</array>");
  snprintf(deep + o, sizeof(deep) - o, "</plist>");
  assert_null(sceplab_mobileconfig_parse((const unsigned char *)deep, strlen(deep), NULL, &err));
  assert_non_null(strstr(err.msg, "nesting deeper"));
  assert_null(sceplab_mobileconfig_parse((const unsigned char *)"\x30\x03\x02\x01\x00", 5, NULL, &err));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(scep_payload),
    cmocka_unit_test(signed_profile),
    cmocka_unit_test(broken_plists),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
