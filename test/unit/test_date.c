/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* Unit tests of pt_date: dates, their arithmetic, ISO 8601 date-times. */

#include "pt_date.h"
#include "tap.h"

#include <apr_general.h>

static apr_pool_t *pool;

static int valid(const char *text)
{
    return pt_date_parse(text, NULL) == PT_DATE_OK;
}

static void test_parse(void)
{
    apr_time_t t = -1;

    ok(valid("2024-02-29"), "2024-02-29 leap day");
    ok(!valid("2023-02-29"), "2023-02-29 not a leap year");
    ok(valid("2000-02-29"), "2000-02-29 (divisible by 400)");
    ok(!valid("1900-02-29"), "1900-02-29 (century)");
    ok(!valid("2100-02-29"), "2100-02-29 (century)");
    ok(valid("1600-02-29"), "1600-02-29 (divisible by 400, before 1970)");
    ok(!valid("2026-02-30"), "2026-02-30");
    ok(valid("2026-01-31"), "2026-01-31");
    ok(!valid("2026-04-31"), "2026-04-31");
    ok(valid("2026-12-31"), "2026-12-31");
    ok(valid("1969-12-31"), "1969-12-31");
    ok(!valid("0000-01-01"), "year 0000");
    ok(valid("0001-01-01"), "year 0001");
    ok(valid("9999-12-31"), "year 9999");
    is_int(pt_date_parse("2026-13-01", NULL), PT_DATE_NO_SUCH_DAY, "month 13");
    is_int(pt_date_parse("2026-00-10", NULL), PT_DATE_NO_SUCH_DAY, "month 00");
    is_int(pt_date_parse("2026-01-00", NULL), PT_DATE_NO_SUCH_DAY, "day 00");
    is_int(pt_date_parse("2026-01-32", NULL), PT_DATE_NO_SUCH_DAY, "day 32");
    is_int(pt_date_parse("2026-1-01", NULL), PT_DATE_MALFORMED, "short month");
    is_int(pt_date_parse("2026-01-011", NULL), PT_DATE_MALFORMED,
           "11 characters");
    is_int(pt_date_parse("2026-01-0", NULL), PT_DATE_MALFORMED, "9 characters");
    is_int(pt_date_parse("", NULL), PT_DATE_MALFORMED, "empty");
    is_int(pt_date_parse(NULL, NULL), PT_DATE_MALFORMED, "NULL");
    is_int(pt_date_parse("2026-0a-01", NULL), PT_DATE_MALFORMED,
           "letter in month");
    is_int(pt_date_parse("abcd-01-01", NULL), PT_DATE_MALFORMED,
           "letters in year");
    is_int(pt_date_parse("2026/01/01", NULL), PT_DATE_MALFORMED, "slashes");
    is_int(pt_date_parse("2026-01-01T00:00", NULL), PT_DATE_MALFORMED,
           "date-time");
    is_int(pt_date_parse("+026-01-01", NULL), PT_DATE_MALFORMED,
           "sign in year");

    ok(pt_date_parse("2025-03-31", &t) == PT_DATE_OK
       && t == apr_time_from_sec(1743379200), "a date is its midnight UTC");
    ok(pt_date_parse("1970-01-01", &t) == PT_DATE_OK && t == 0, "epoch");
    ok(pt_date_parse("1969-12-31", &t) == PT_DATE_OK
       && t == -apr_time_from_sec(86400), "the day before the epoch");
    ok(pt_date_parse("0001-01-01", &t) == PT_DATE_OK
       && t == -apr_time_from_sec(62135596800LL), "0001-01-01");
    t = 42;
    pt_date_parse("2026-02-30", &t);
    is_int(t, 42, "no day is set for a date that is not one");
}

static void test_arithmetic(void)
{
    apr_time_t t;

    is_str(pt_date_format(pool, apr_time_from_sec(1743424200)), "2025-03-31",
           "format: 2025-03-31T12:30Z");
    is_str(pt_date_format(pool, apr_time_from_sec(1743465599)), "2025-03-31",
           "format: the last second of the day");
    is_str(pt_date_format(pool, -apr_time_from_sec(62135596800LL)),
           "0001-01-01", "format: year 1 in four digits");
    is_int(pt_date_midnight(apr_time_from_sec(1743424200) + 5),
           apr_time_from_sec(1743379200), "midnight of 2025-03-31T12:30Z");
    is_int(pt_date_midnight(apr_time_from_sec(1743379200)),
           apr_time_from_sec(1743379200), "a midnight is its own");

    pt_date_parse("2025-03-31", &t);
    is_str(pt_date_format(pool, pt_date_add_years(t, 1)), "2026-03-31",
           "a year after 2025-03-31");
    is_str(pt_date_format(pool, pt_date_add_years(t, 1) - PT_DATE_DAY),
           "2026-03-30", "a year after, less a day");
    pt_date_parse("2024-02-29", &t);
    is_str(pt_date_format(pool, pt_date_add_years(t, 1)), "2025-03-01",
           "a year after a 29 February: 1 March");
    is_str(pt_date_format(pool, pt_date_add_years(t, 4)), "2028-02-29",
           "four years after a 29 February: 29 February");
    pt_date_parse("1999-12-31", &t);
    is_str(pt_date_format(pool, t + PT_DATE_DAY), "2000-01-01",
           "the day after 1999-12-31");
    pt_date_parse("1960-06-15", &t);
    is_str(pt_date_format(pool, pt_date_add_years(t, 1)), "1961-06-15",
           "a year after a date before 1970");
}

static apr_time_t parsed(const char *text)
{
    apr_time_t t = -1;

    return pt_date_parse_time(text, &t) ? t : -1;
}

static void test_parse_time(void)
{
    apr_time_t base = apr_time_from_sec(1743424200); /* 2025-03-31T12:30Z */

    is_int(parsed("2025-03-31T12:30:00Z"), base, "Z");
    is_int(parsed("2025-03-31t12:30:00z"), base, "lowercase t and z");
    is_int(parsed("2025-03-31T14:30:00+02:00"), base, "+02:00");
    is_int(parsed("2025-03-31T07:00:00-05:30"), base, "-05:30");
    is_int(parsed("2025-04-01T01:30:00+13:00"), base,
           "an offset into the day before");
    is_int(parsed("2025-03-31T12:30:00.25Z"), base + 250000, "fraction");
    is_int(parsed("2025-03-31T12:30:00.1234567+00:00"), base + 123456,
           "fraction beyond microseconds");
    is_int(parsed("1970-01-01T00:00:00Z"), 0, "epoch");
    is_int(parsed("1970-01-01T00:00:00+01:00"), -apr_time_from_sec(3600),
           "an hour before the epoch");
    is_int(parsed("1969-12-31T23:00:00-02:00"), apr_time_from_sec(3600),
           "an hour after the epoch, written the day before");
    is_int(parsed("2024-02-29T00:00:00Z"), apr_time_from_sec(1709164800),
           "leap day");
    is_int(parsed("2000-03-01T00:00:00Z"), apr_time_from_sec(951868800),
           "after a 400-year leap day");
    is_int(parsed("2025-13-01T00:00:00Z"), -1, "month 13");
    is_int(parsed("2025-00-01T00:00:00Z"), -1, "month 0");
    is_int(parsed("2025-02-29T00:00:00Z"), -1, "29 February 2025");
    is_int(parsed("2025-04-31T00:00:00Z"), -1, "31 April");
    is_int(parsed("2025-03-31T24:00:00Z"), -1, "hour 24");
    is_int(parsed("2025-03-31T12:60:00Z"), -1, "minute 60");
    is_int(parsed("2025-03-31T12:30:60Z"), -1, "second 60");
    is_int(parsed("2025-03-31T12:30:00+24:00"), -1, "offset hour 24");
    is_int(parsed("2025-03-31T12:30:00+02:60"), -1, "offset minute 60");
    is_int(parsed("2025-03-31T12:30:00"), -1, "no offset");
    is_int(parsed("2025-03-31T12:30:00+0200"), -1, "offset without colon");
    is_int(parsed("2025-03-31T12:30:00+02:00x"), -1,
           "garbage after the offset");
    is_int(parsed("2025-03-31T12:30:00.Z"), -1, "empty fraction");
    is_int(parsed("2025-03-31T12:30:00Zx"), -1, "trailing garbage");
    is_int(parsed("2025-03-31 12:30:00Z"), -1, "a blank for the T");
    is_int(parsed("2025-03-31"), -1, "date only");
    is_int(parsed("garbage"), -1, "garbage");
    is_int(parsed(""), -1, "empty");
    ok(!pt_date_parse_time(NULL, &base), "NULL");
}

int main(int argc, const char *const *argv)
{
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);

    test_parse();
    test_arithmetic();
    test_parse_time();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
