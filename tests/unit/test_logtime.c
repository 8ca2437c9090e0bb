/* The log reader's date/time module (src/core/logs/core/time.c): offsets as written, the day/month
 * order of a file's dates, local dates as Windows and tools write them, and IANA zones across
 * daylight saving changes, from tzdata's files and past them by their POSIX rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "../../src/core/logs/core/logtime.h"

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
  return logs_make_time(y, mo, d, h, mi, s, 0) / 1000000;
}

static void offsets(void **state)
{
  int min = 1;
  (void)state;
  /* the class of bug: "+0530" read as "+05:00" */
  assert_int_equal(logs_parse_offset("+0530", 5, &min), 5);
  assert_int_equal(min, 330);
  assert_int_equal(logs_parse_offset("+05:30", 6, &min), 6);
  assert_int_equal(min, 330);
  assert_int_equal(logs_parse_offset("-0945 rest", 10, &min), 5);
  assert_int_equal(min, -585);
  assert_int_equal(logs_parse_offset("-07", 3, &min), 3);
  assert_int_equal(min, -420);
  assert_int_equal(logs_parse_offset("Z", 1, &min), 1);
  assert_int_equal(min, 0);
  assert_int_equal(logs_parse_offset("x", 1, &min), 0);
  assert_int_equal(logs_parse_offset("+1900", 5, &min), -1);  /* beyond 18 hours */
  assert_int_equal(logs_parse_offset("+05:60", 6, &min), -1);
  assert_int_equal(logs_parse_offset("+053", 4, &min), -1);
  assert_int_equal(logs_parse_offset("+053011", 7, &min), -1);
}

static void civil(void **state)
{
  int64_t day;
  (void)state;
  for(day = -1000; day < 100000; day += 37) {
    int y, m, d;
    logs_civil_from_days(day, &y, &m, &d);
    assert_int_equal(logs_days_from_civil(y, (unsigned)m, (unsigned)d), day);
  }
  assert_true(logs_make_time(2021, 2, 29, 0, 0, 0, 0) == SCEPLAB_TIME_UNKNOWN); /* never rolled into March */
  assert_true(logs_make_time(2024, 2, 29, 0, 0, 0, 0) != SCEPLAB_TIME_UNKNOWN);
}

static void see_all(logs_dateorder *o, const char *const *dates)
{
  int i;
  memset(o, 0, sizeof(*o));
  for(i = 0; dates[i]; i++)
    logs_order_see(o, dates[i], strlen(dates[i]), (uint64_t)i + 2);
}

static void order_once_per_file(void **state)
{
  logs_dateorder o;
  char why[160];
  static const char *const us[] = {"5/24/2020 3:16:04 AM", "5/3/2020 1:00:00 PM", NULL};
  /* an en-GB export: one unambiguous date decides the ambiguous ones before it */
  static const char *const gb[] = {"05/02/2024 10:00:00", "06/02/2024 10:00:00", "13/02/2024 15:16:04", NULL};
  static const char *const de[] = {"05.02.2024 10:00:00", NULL};
  static const char *const padded[] = {"05/02/2024 10:00:00", "06/02/2024 11:00:00", NULL};
  static const char *const plain[] = {"5/2/2024 10:00:00 AM", NULL};
  static const char *const marks[] = {"\xE2\x80\x8E" "24/\xE2\x80\x8E" "05/\xE2\x80\x8E" "2020 15:16:04", NULL};
  (void)state;
  see_all(&o, us);
  logs_order_decide(&o, why, sizeof(why));
  assert_int_equal(o.order, LOGS_ORDER_MDY);
  assert_non_null(strstr(why, "5/24/2020 (line 2)"));
  see_all(&o, gb);
  logs_order_decide(&o, why, sizeof(why));
  assert_int_equal(o.order, LOGS_ORDER_DMY);
  assert_non_null(strstr(why, "13/02/2024 (line 4)"));
  see_all(&o, de);
  logs_order_decide(&o, NULL, 0);
  assert_int_equal(o.order, LOGS_ORDER_DMY);
  see_all(&o, padded);
  logs_order_decide(&o, why, sizeof(why));
  assert_int_equal(o.order, LOGS_ORDER_DMY);
  assert_non_null(strstr(why, "zero-padded"));
  see_all(&o, plain);
  logs_order_decide(&o, why, sizeof(why));
  assert_int_equal(o.order, LOGS_ORDER_MDY);
  see_all(&o, marks);
  logs_order_decide(&o, NULL, 0);
  assert_int_equal(o.order, LOGS_ORDER_DMY);
}

static void expect_local(const logs_dateorder *o, const char *text, int y, int mo, int d, int h, int mi, int s, long us)
{
  logs_civil c;
  int k = logs_parse_local(o, text, strlen(text), &c);
  if(k <= 0)
    fail_msg("'%s' not read", text);
  if(c.y != y || c.mo != mo || c.d != d || c.h != h || c.mi != mi || c.s != s || c.us != us)
    fail_msg("'%s' read as %04d-%02d-%02d %02d:%02d:%02d.%06ld", text, c.y, c.mo, c.d, c.h, c.mi, c.s, c.us);
}

static void local_dates(void **state)
{
  logs_dateorder mdy, dmy;
  logs_civil c;
  (void)state;
  memset(&mdy, 0, sizeof(mdy));
  memset(&dmy, 0, sizeof(dmy));
  mdy.order = LOGS_ORDER_MDY;
  dmy.order = LOGS_ORDER_DMY;
  expect_local(&mdy, "5/24/2020 3:16:04 AM", 2020, 5, 24, 3, 16, 4, 0);
  expect_local(&mdy, "5/24/2020 12:00:01 AM", 2020, 5, 24, 0, 0, 1, 0);
  expect_local(&mdy, "5/24/2020 12:30:00 PM", 2020, 5, 24, 12, 30, 0, 0);
  expect_local(&mdy, "5/24/2020 3:16:04 p.m.", 2020, 5, 24, 15, 16, 4, 0);
  expect_local(&mdy, "5/2/2024 10:00:00", 2024, 5, 2, 10, 0, 0, 0);
  expect_local(&dmy, "5/2/2024 10:00:00", 2024, 2, 5, 10, 0, 0, 0);
  /* a month-first file's 13/02/2024 is 13 February: the only reading there is */
  expect_local(&mdy, "13/02/2024 15:16:04", 2024, 2, 13, 15, 16, 4, 0);
  expect_local(&mdy, "24.05.2020 15:16:04", 2020, 5, 24, 15, 16, 4, 0);
  expect_local(&mdy, "2020-05-24T15:16:04.5", 2020, 5, 24, 15, 16, 4, 500000);
  expect_local(&mdy, "2020-05-24 15:16", 2020, 5, 24, 15, 16, 0, 0);
  expect_local(&dmy, "2020/05/24 15:16:04", 2020, 5, 24, 15, 16, 4, 0);
  expect_local(&mdy, "5/24/20 3:16:04 PM", 2020, 5, 24, 15, 16, 4, 0);
  expect_local(&dmy, "\xE2\x80\x8E" "24/\xE2\x80\x8E" "05/\xE2\x80\x8E" "2020 \xE2\x80\x8F" "15:16:04", 2020, 5, 24, 15, 16, 4, 0);
  assert_int_equal(logs_parse_local(&mdy, "24/05 15:16:04", 14, &c), -1);
  assert_int_equal(logs_parse_local(&mdy, "5/24/2020", 9, &c), -1);
  assert_int_equal(logs_parse_local(&mdy, "2020-05-24x15:16:04", 19, &c), -1);
}

static void written_dates(void **state)
{
  int y = 0, m = 0, d = 0;
  (void)state;
  assert_true(logs_find_date("Console log from iPhone, 2020-05-24", 35, &y, &m, &d));
  assert_int_equal(y * 10000 + m * 100 + d, 20200524);
  assert_true(logs_find_date("Saved May 24, 2020 by support", 29, &y, &m, &d));
  assert_int_equal(y * 10000 + m * 100 + d, 20200524);
  assert_true(logs_find_date("24 May 2020", 11, &y, &m, &d));
  assert_int_equal(y * 10000 + m * 100 + d, 20200524);
  assert_true(logs_find_date("Sept 3 2021", 11, &y, &m, &d));
  assert_int_equal(y * 10000 + m * 100 + d, 20210903);
  assert_false(logs_find_date("build 2020-13-45", 16, &y, &m, &d));
  assert_false(logs_find_date("v12020-05-24", 12, &y, &m, &d));
  assert_false(logs_find_date("Maybe 24 2020", 13, &y, &m, &d));
}

static logs_zone *zone(const char *name)
{
  sceplab_error err;
  logs_zone *z = logs_zone_load(name, &err);
  if(!z)
    fail_msg("%s: %s", name, err.msg);
  return z;
}

static void zones_across_dst(void **state)
{
  logs_zone *london = zone("Europe/London"), *la = zone("America/Los_Angeles"), *kolkata = zone("Asia/Kolkata");
  logs_zone *lord_howe = zone("Australia/Lord_Howe"), *sydney = zone("Australia/Sydney");
  sceplab_error err;
  (void)state;
  /* British Summer Time began 2024-03-31 at 01:00 UTC, ended 2024-10-27 at 01:00 UTC */
  assert_int_equal(logs_zone_offset_at(london, utc(2024, 3, 31, 0, 59, 59)), 0);
  assert_int_equal(logs_zone_offset_at(london, utc(2024, 3, 31, 1, 0, 0)), 60);
  assert_int_equal(logs_zone_offset_local(london, utc(2024, 3, 31, 0, 30, 0), INT64_MIN), 0);
  assert_int_equal(logs_zone_offset_local(london, utc(2024, 3, 31, 2, 30, 0), INT64_MIN), 60);
  /* 01:30 does not exist that night: read with the offset before the change */
  assert_int_equal(logs_zone_offset_local(london, utc(2024, 3, 31, 1, 30, 0), INT64_MIN), 0);
  /* 01:30 on 27 October happens twice: first in BST, then, once the log has passed it, in GMT */
  assert_int_equal(logs_zone_offset_local(london, utc(2024, 10, 27, 1, 30, 0), INT64_MIN), 60);
  assert_int_equal(logs_zone_offset_local(london, utc(2024, 10, 27, 1, 30, 0), utc(2024, 10, 27, 0, 50, 0)), 0);
  assert_int_equal(logs_zone_offset_at(la, utc(2020, 5, 24, 10, 16, 4)), -420);
  assert_int_equal(logs_zone_offset_at(la, utc(2020, 1, 24, 10, 16, 4)), -480);
  assert_int_equal(logs_zone_offset_at(kolkata, utc(2024, 7, 1, 0, 0, 0)), 330);
  /* a half-hour daylight saving change */
  assert_int_equal(logs_zone_offset_at(lord_howe, utc(2024, 1, 15, 0, 0, 0)), 660);
  assert_int_equal(logs_zone_offset_at(lord_howe, utc(2024, 7, 15, 0, 0, 0)), 630);
  /* past the transitions the file lists: its POSIX rule, northern and southern */
  assert_int_equal(logs_zone_offset_at(london, utc(2100, 7, 1, 12, 0, 0)), 60);
  assert_int_equal(logs_zone_offset_at(london, utc(2100, 12, 1, 12, 0, 0)), 0);
  assert_int_equal(logs_zone_offset_at(sydney, utc(2100, 1, 15, 0, 0, 0)), 660);
  assert_int_equal(logs_zone_offset_at(sydney, utc(2100, 7, 15, 0, 0, 0)), 600);
  assert_int_equal(logs_zone_offset_at(la, utc(2100, 7, 4, 12, 0, 0)), -420);
  logs_zone_free(london);
  logs_zone_free(la);
  logs_zone_free(kolkata);
  logs_zone_free(lord_howe);
  logs_zone_free(sydney);
  /* names are names, never paths */
  assert_null(logs_zone_load("../../etc/passwd", &err));
  assert_null(logs_zone_load("/etc/passwd", &err));
  assert_null(logs_zone_load("Europe/Nowhere", &err));
  assert_int_equal(err.code, SCEPLAB_E_USAGE);
  assert_non_null(strstr(err.msg, "Europe/Nowhere"));
  assert_false(logs_zone_name_ok("+05:30"));
  assert_true(logs_zone_name_ok("Etc/GMT+5"));
}

static void sources(void **state)
{
  (void)state;
  assert_string_equal(logs_tsrc_name(LOGS_TS_CORRELATED), "correlated");
  assert_int_equal(logs_tsrc_named("zip-entry", 9), LOGS_TS_ZIP);
  assert_int_equal(logs_tsrc_named("bogus", 5), LOGS_TS_NONE);
  assert_null(logs_tsrc_name(LOGS_TS_NONE));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(offsets), cmocka_unit_test(civil), cmocka_unit_test(order_once_per_file),
    cmocka_unit_test(local_dates), cmocka_unit_test(written_dates), cmocka_unit_test(zones_across_dst),
    cmocka_unit_test(sources),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
