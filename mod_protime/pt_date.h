/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the mod_protime authors */

/* pt_date: calendar dates and ISO 8601 date-times, in UTC.
 *
 * Pure unit: APR only; the calendar is APR's (apr_time_exp_t). A date is
 * YYYY-MM-DD, the form of Protime's "date" field, of the clocking list's
 * window and of ProtimeSyncFrom: a day of the proleptic Gregorian calendar
 * from 0001-01-01 to 9999-12-31. As an apr_time_t, a date is its midnight,
 * UTC.
 */
#ifndef PT_DATE_H
#define PT_DATE_H

#include <apr_pools.h>
#include <apr_time.h>

#define PT_DATE_DAY apr_time_from_sec(86400)

typedef enum {
    PT_DATE_OK = 0,
    PT_DATE_MALFORMED,      /* not YYYY-MM-DD */
    PT_DATE_NO_SUCH_DAY     /* shaped so, but not in the calendar: 2026-02-30 */
} pt_date_check_t;

/* Checks the date text (which may be NULL); when it is one, and day is
 * not NULL, sets *day to its midnight. */
pt_date_check_t pt_date_parse(const char *text, apr_time_t *day);

/* The date (YYYY-MM-DD) of the day t falls on. */
const char *pt_date_format(apr_pool_t *p, apr_time_t t);

/* The midnight that starts the day t falls on. */
apr_time_t pt_date_midnight(apr_time_t t);

/* The same day of the month, years later; a 29 February becomes the
 * 1 March of a year without one. */
apr_time_t pt_date_add_years(apr_time_t day, int years);

/* Parses an ISO 8601 date-time with a UTC offset or Z, as Protime writes
 * validUntil ("2025-03-31T12:30:00+02:00", fractional seconds allowed,
 * digits past the microsecond dropped) into *out. Returns 1 on success. */
int pt_date_parse_time(const char *text, apr_time_t *out);

#endif /* PT_DATE_H */
