/* The document tree: order, replacement, lookups, moves, copies, warnings. */
#include <stdio.h>
#include <string.h>

#include "helpers.h"

static void objects_keep_order_and_replace(void **state)
{
  sceplab_val *o = sceplab_val_obj(), *a = sceplab_val_arr(), *c;
  (void)state;
  sceplab_obj_set_str(o, "b", "1");
  sceplab_obj_set_str(o, "a", "2");
  sceplab_obj_set_str(o, "b", "3");
  assert_int_equal(o->u.c.n, 2);
  assert_string_equal(o->u.c.keys[0], "b");
  assert_string_equal(sceplab_obj_get_str(o, "b"), "3");
  sceplab_arr_push_str(a, "x");
  sceplab_obj_set(o, "list", a);
  assert_string_equal(str_at(o, "list.0"), "x");
  assert_null(sceplab_path(o, "list.1"));
  assert_null(sceplab_path(o, "nope.0"));
  c = sceplab_val_copy(o);
  assert_non_null(c);
  assert_string_equal(str_at(c, "list.0"), "x");
  sceplab_val_free(sceplab_obj_take(o, "list"));
  assert_null(sceplab_obj_get(o, "list"));
  assert_string_equal(str_at(c, "list.0"), "x");
  sceplab_warn(o, "w %d", 1);
  sceplab_warn(o, "w %d", 2);
  assert_true(has_warning(o, NULL, "w 2"));
  assert_false(sceplab_val_failed(o));
  sceplab_val_free(o);
  sceplab_val_free(c);
}

static void null_child_marks_failure(void **state)
{
  sceplab_val *o = sceplab_val_obj(), *inner = sceplab_val_arr();
  (void)state;
  assert_int_equal(sceplab_arr_push(inner, NULL), -1);
  assert_true(inner->failed);
  sceplab_obj_set(o, "inner", inner);
  assert_true(sceplab_val_failed(o));
  sceplab_val_free(o);
}

/* Objects large enough to be hashed behave as small ones: order kept, duplicates replaced, keys
 * found after takes (which move positions) and in copies. */
static void large_objects(void **state)
{
  sceplab_val *o = sceplab_val_obj(), *c;
  char key[32];
  int i;
  (void)state;
  for(i = 0; i < 100000; i++) {
    snprintf(key, sizeof(key), "k%d", i);
    sceplab_obj_set_int(o, key, i);
  }
  sceplab_obj_set_int(o, "k777", -1); /* replaced, not added */
  assert_int_equal(o->u.c.n, 100000);
  assert_string_equal(o->u.c.keys[99999], "k99999");
  assert_int_equal(sceplab_obj_get(o, "k777")->u.i, -1);
  assert_int_equal(sceplab_obj_get(o, "k99998")->u.i, 99998);
  assert_null(sceplab_obj_get(o, "k100000"));
  sceplab_val_free(sceplab_obj_take(o, "k5"));
  assert_null(sceplab_obj_get(o, "k5"));
  assert_int_equal(sceplab_obj_get(o, "k6")->u.i, 6);
  assert_int_equal(sceplab_obj_get(o, "k99999")->u.i, 99999);
  sceplab_obj_set_int(o, "k5", 5);
  assert_string_equal(o->u.c.keys[99999], "k5");
  c = sceplab_val_copy(o);
  assert_non_null(c);
  assert_int_equal(sceplab_obj_get(c, "k4242")->u.i, 4242);
  for(i = 0; i < 99990; i += 10000) { /* a take is O(n) (positions move): a few suffice */
    snprintf(key, sizeof(key), "k%d", i);
    sceplab_val_free(sceplab_obj_take(c, key));
  }
  assert_int_equal(c->u.c.n, 99990);
  assert_null(sceplab_obj_get(c, "k10000"));
  assert_int_equal(sceplab_obj_get(c, "k99995")->u.i, 99995);
  sceplab_val_free(c);
  sceplab_val_free(o);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(objects_keep_order_and_replace),
    cmocka_unit_test(large_objects),
    cmocka_unit_test(null_child_marks_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
