/* Intune request identifiers: every platform's spelling gives the same canonical string. */
#include <string.h>

#include "helpers.h"

#define CANON "AC_d70bf40e-1822-44b4-9ee5-0cc777c5bf70/LogicalName_3b597a2d_27d2_45ff_bca6_57d2db6f17fb;Hash=1399397888"

static void all_forms_agree(void **state)
{
  const char *forms[] = {
    "ModelName_AC_d70bf40e-1822-44b4-9ee5-0cc777c5bf70_LogicalName_3b597a2d_27d2_45ff_bca6_57d2db6f17fb_Hash_1399397888",
    "ModelName=AC_d70bf40e-1822-44b4-9ee5-0cc777c5bf70/LogicalName_3b597a2d_27d2_45ff_bca6_57d2db6f17fb;Version=1;Hash=1399397888",
    "SCEP cert 'ModelName=AC_D70BF40E-1822-44b4-9ee5-0cc777c5bf70%2FLogicalName_3b597a2d_27d2_45ff_bca6_57d2db6f17fb;Hash=1399397888' state",
  };
  const char *expect_form[] = {"windows-uniqueid", "request-id", "url-encoded"};
  size_t i;
  (void)state;
  for(i = 0; i < 3; i++) {
    sceplab_intune_id id;
    assert_true(sceplab_intune_id_scan(forms[i], strlen(forms[i]), &id));
    assert_string_equal(id.canonical, CANON);
    assert_string_equal(id.form, expect_form[i]);
    assert_int_equal(id.hash, 1399397888);
    assert_false(id.truncated);
  }
}

static void version_negative_hash_and_elisions(void **state)
{
  const char *ios = "www.windowsintune.com.SCEP.ModelName=AC_51bad41f.../LogicalName_1892fe4c...;Hash=-912418295 in domain";
  const char *android = "ModelName=AC_51\xE2\x80\xA6%2FLogicalName_39907\xE2\x80\xA6;Hash=1677525787";
  sceplab_intune_id id;
  sceplab_error err;
  sceplab_val *v;
  (void)state;
  assert_true(sceplab_intune_id_scan(ios, strlen(ios), &id));
  assert_int_equal(id.hash, -912418295);
  assert_true(id.truncated);
  assert_string_equal(id.account, "51bad41f");
  assert_true(sceplab_intune_id_scan(android, strlen(android), &id));
  assert_string_equal(id.logical, "39907");
  assert_true(id.truncated);
  {
    const char *rid = "ModelName=AC_ab/LogicalName_cd;Version=4;Hash=5";
    v = sceplab_intune_id_parse(rid, strlen(rid), &err);
  }
  assert_non_null(v);
  assert_int_equal(int_at(v, "version"), 4);
  sceplab_val_free(v);
}

static void rejects_non_ids(void **state)
{
  const char *bad[] = {"ModelName", "ModelName=AC_/LogicalName_x;Hash=1", "ModelName_AC_ab_LogicalName_cd",
                       "ModelName=AC_ab/LogicalName_cd;Hash=", "ModelName=AC_ab/LogicalName_cd;Hash=-", "hello"};
  size_t i;
  sceplab_error err;
  (void)state;
  for(i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    sceplab_intune_id id;
    assert_false(sceplab_intune_id_scan(bad[i], strlen(bad[i]), &id));
  }
  assert_null(sceplab_intune_id_parse("hello", 5, &err));
  assert_int_equal(err.code, SCEPLAB_E_INPUT);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(all_forms_agree),
    cmocka_unit_test(version_negative_hash_and_elisions),
    cmocka_unit_test(rejects_non_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
