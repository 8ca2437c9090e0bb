/* CRS files from the Intune connector, as written and as Windows tools re-save them. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static void every_field(void **state)
{
  size_t n;
  unsigned char *buf = fixture("decode/succeed.crs", &n);
  sceplab_error err;
  sceplab_val *v = sceplab_crs_parse(buf, n, &err);
  (void)state;
  assert_non_null(v);
  assert_string_equal(str_at(v, "fields.Version"), "9");
  assert_string_equal(str_at(v, "fields.CertSerialNumber"), "310000002D6DCE18E89139A74000000000002D");
  assert_string_equal(str_at(v, "fields.IssuerCA"), "WIN-2CQQDB9STE6.joymalya.xyz\\joymalya-WIN-2CQQDB9STE6-CA");
  assert_string_equal(str_at(v, "fields.TransactionID"), "4802535d6cdeb195fce65c97aadc1163f855488e");
  assert_string_equal(str_at(v, "fields.CertExpirationDate"), "4/11/2022 4:26:36 AM");
  assert_string_equal(str_at(v, "request.canonical"),
                      "AC_d70bf40e-1822-44b4-9ee5-0cc777c5bf70/LogicalName_c51ae254_120a_4b23_8821_7ac9b77f82fd;Hash=588295043");
  assert_int_equal(int_at(v, "request.version"), 4);
  assert_string_equal(str_at(v, "hresult"), "0x00000000");
  assert_false(bool_at(v, "failed"));
  assert_int_equal(int_at(v, "upload_status"), 2);
  assert_int_equal(sceplab_obj_get(v, "fields")->u.c.n, 13);
  sceplab_val_free(v);
  free(buf);
}

static void failed_hresult(void **state)
{
  const char *xml = "<CertRequestStatus><TransactionID>ab</TransactionID><HResult>-2146875392</HResult></CertRequestStatus>";
  sceplab_error err;
  sceplab_val *v = sceplab_crs_parse((const unsigned char *)xml, strlen(xml), &err);
  (void)state;
  assert_non_null(v);
  assert_string_equal(str_at(v, "hresult"), "0x80094800");
  assert_true(bool_at(v, "failed"));
  sceplab_val_free(v);
  assert_null(sceplab_crs_parse((const unsigned char *)"<CertRequestStatus>", 19, &err));
  assert_null(sceplab_crs_parse((const unsigned char *)"<Other/>", 8, &err));
  assert_non_null(strstr(err.msg, "expected <CertRequestStatus>"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_field),
    cmocka_unit_test(failed_hresult),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
